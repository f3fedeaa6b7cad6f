//! `Enum8` / `Enum16`: the Int8 / Int16 value of each row on the wire; in Arrow a dictionary whose
//! values are the item names in value order and whose keys index them.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{ArrowDictionaryKeyType, Int8Type, Int16Type};
use arrow_array::{Array, ArrayRef, DictionaryArray, PrimitiveArray, StringArray};
use arrow_schema::DataType as ArrowType;

use super::bytes::for_each_bytes;
use super::fixed::WireValue;
use super::{Decoder, Encoder};
use crate::error::{Error, Result};
use crate::types::DataType;

/// An enum item value: `i8` for Enum8, `i16` for Enum16.
pub(crate) trait EnumValue:
    WireValue + Into<i64> + TryFrom<i64> + Ord + std::hash::Hash
{
    /// The Arrow key type of the enum's dictionary.
    type Key: ArrowDictionaryKeyType;
    fn key(index: usize) -> <Self::Key as arrow_array::ArrowPrimitiveType>::Native;
}

impl EnumValue for i8 {
    type Key = Int8Type;
    fn key(index: usize) -> i8 {
        index as i8
    }
}

impl EnumValue for i16 {
    type Key = Int16Type;
    fn key(index: usize) -> i16 {
        index as i16
    }
}

fn unknown_element(data_type: &DataType, element: impl std::fmt::Display) -> Error {
    Error::UnknownEnumElement {
        element: element.to_string(),
        type_name: data_type.to_string(),
    }
}

/// Accepts the enum's own dictionary (or any dictionary of names), plain names, or raw values.
pub(super) fn encode<V: EnumValue>(
    enc: &mut Encoder<'_>,
    data_type: &DataType,
    items: &[(String, V)],
    array: &dyn Array,
) -> Result<()> {
    let by_name: HashMap<&[u8], V> = items
        .iter()
        .map(|(name, value)| (name.as_bytes(), *value))
        .collect();
    // Under a NULL ClickHouse writes the enum's default: its first item.
    let null_value = items.first().map(|(_, value)| *value).unwrap_or_default();
    let mut values: Vec<V> = Vec::with_capacity(array.len());
    match array.data_type() {
        ArrowType::Dictionary(_, _) => {
            let dictionary = array.as_any_dictionary();
            // Entries that no row uses may be anything; a used entry must name an item.
            let mut entries: Vec<std::result::Result<V, String>> =
                Vec::with_capacity(dictionary.values().len());
            for_each_bytes(dictionary.values().as_ref(), |_, name| {
                let name = name.unwrap_or_default();
                entries.push(
                    by_name
                        .get(name)
                        .copied()
                        .ok_or_else(|| String::from_utf8_lossy(name).into_owned()),
                );
                Ok(())
            })?;
            let keys_valid = dictionary.keys().logical_nulls();
            for (row, key) in dictionary.normalized_keys().into_iter().enumerate() {
                if keys_valid.as_ref().is_some_and(|nulls| nulls.is_null(row)) {
                    values.push(null_value);
                    continue;
                }
                match entries.get(key) {
                    Some(Ok(value)) => values.push(*value),
                    Some(Err(name)) => return Err(unknown_element(data_type, format!("'{name}'"))),
                    None => {
                        return Err(Error::incorrect(format!(
                            "dictionary key {key} past the dictionary"
                        )));
                    }
                }
            }
        }
        ArrowType::Int8 | ArrowType::Int16 => {
            let raw: Vec<Option<i64>> = match array.data_type() {
                ArrowType::Int8 => array
                    .as_primitive::<Int8Type>()
                    .iter()
                    .map(|v| v.map(i64::from))
                    .collect(),
                _ => array
                    .as_primitive::<Int16Type>()
                    .iter()
                    .map(|v| v.map(i64::from))
                    .collect(),
            };
            for value in raw {
                let Some(value) = value else {
                    values.push(null_value);
                    continue;
                };
                match items.iter().find(|(_, item)| (*item).into() == value) {
                    Some((_, item)) => values.push(*item),
                    None => return Err(unknown_element(data_type, value)),
                }
            }
        }
        _ => for_each_bytes(array, |_, name| {
            values.push(match name {
                Some(name) => by_name.get(name).copied().ok_or_else(|| {
                    unknown_element(data_type, format!("'{}'", String::from_utf8_lossy(name)))
                })?,
                None => null_value,
            });
            Ok(())
        })?,
    }
    let out = enc.out();
    out.reserve(values.len() * V::WIDTH);
    for value in values {
        value.write(out);
    }
    Ok(())
}

pub(super) fn decode<V: EnumValue>(
    dec: &mut Decoder<'_, '_>,
    items: &[(String, V)],
    rows: usize,
) -> Result<ArrayRef> {
    let bytes = dec.input()?.take_items(rows, V::WIDTH, "enum column")?;
    let position: HashMap<V, usize> = items
        .iter()
        .enumerate()
        .map(|(index, (_, value))| (*value, index))
        .collect();
    let mut keys = Vec::with_capacity(rows);
    for (row, chunk) in bytes.chunks_exact(V::WIDTH).enumerate() {
        let value = V::read(chunk);
        let index = match position.get(&value) {
            Some(index) => *index,
            // Under a NULL of a Nullable enum any value may stand.
            None if dec
                .valid_rows
                .as_ref()
                .is_some_and(|valid| !valid.value(row)) =>
            {
                0
            }
            None => {
                return Err(Error::incorrect(format!(
                    "value {value} is not an item of the enum"
                )));
            }
        };
        keys.push(V::key(index));
    }
    let names = StringArray::from_iter_values(items.iter().map(|(name, _)| name.as_str()));
    let keys = PrimitiveArray::<V::Key>::from_iter_values(keys);
    Ok(Arc::new(DictionaryArray::<V::Key>::try_new(
        keys,
        Arc::new(names),
    )?))
}
