//! `primary.idx`: for each mark, the primary-key values of the granule's first row (the final mark:
//! the last row), row-major, each serialized with ClickHouse's `serializeBinary` — the Native
//! encoding of one value, except that `Nullable` writes a NULL flag and then the value only when it
//! is not NULL, and `LowCardinality` writes its dictionary value.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::Int32Type;
use arrow_array::{Array, ArrayRef};
use granary_protocol::DataType;
use granary_protocol::column::{read_native, write_native};
use granary_protocol::io::Cursor;

use crate::error::{Error, Result};

/// The type of a key column's values in the index: `LowCardinality` is transparent there.
pub fn index_value_type(data_type: &DataType) -> DataType {
    match data_type {
        DataType::LowCardinality(inner) => (**inner).clone(),
        other => other.clone(),
    }
}

/// Appends `serializeBinary` of `array[row]` (a column of type `data_type`) to `out`.
pub fn serialize_binary(
    data_type: &DataType,
    array: &ArrayRef,
    row: usize,
    out: &mut Vec<u8>,
) -> Result<()> {
    match data_type {
        DataType::LowCardinality(inner) => {
            let dictionary = array.as_dictionary_opt::<Int32Type>().ok_or_else(|| {
                Error::Logical(format!(
                    "a {data_type} key column is {}, not a dictionary",
                    array.data_type()
                ))
            })?;
            if dictionary.is_null(row) {
                out.push(1);
                return Ok(());
            }
            let key = dictionary.keys().value(row) as usize;
            serialize_binary(inner, dictionary.values(), key, out)
        }
        DataType::Nullable(inner) => {
            let null = array.is_null(row);
            out.push(u8::from(null));
            if !null {
                serialize_binary(inner, array, row, out)?;
            }
            Ok(())
        }
        other => Ok(write_native(other, array.slice(row, 1).as_ref(), out)?),
    }
}

/// Copies one serialized value from `input` into the Native bulk layout of its column
/// (`null_map` for a Nullable column, `values` for the values).
fn take_value(
    data_type: &DataType,
    input: &mut Cursor<'_>,
    null_map: &mut Vec<u8>,
    values: &mut Vec<u8>,
) -> Result<()> {
    match data_type {
        DataType::Nullable(inner) => {
            let null = input.read_u8("primary key NULL flag")? != 0;
            null_map.push(u8::from(null));
            if null {
                // The Native layout needs a value under the NULL: the type's default.
                match inner.fixed_width() {
                    Some(width) => values.resize(values.len() + width, 0),
                    None => values.push(0),
                }
                return Ok(());
            }
            take_value(inner, input, &mut Vec::new(), values)
        }
        DataType::String => {
            let bytes = input.read_bytes("primary key string")?;
            granary_protocol::io::write_string(values, bytes);
            Ok(())
        }
        other => {
            let width = other.fixed_width().ok_or_else(|| {
                Error::Logical(format!("type {other} cannot be in a primary key"))
            })?;
            values.extend_from_slice(input.take(width, "primary key value")?);
            Ok(())
        }
    }
}

/// Parses `primary.idx` of `entries` rows into one array per key column (of [`index_value_type`]).
pub fn deserialize_binary(
    part: &str,
    bytes: &[u8],
    key_types: &[DataType],
    entries: usize,
) -> Result<Vec<ArrayRef>> {
    let types: Vec<DataType> = key_types.iter().map(index_value_type).collect();
    let mut columns: Vec<(Vec<u8>, Vec<u8>)> = vec![(Vec::new(), Vec::new()); types.len()];
    let mut input = Cursor::new(bytes);
    for _ in 0..entries {
        for (data_type, (null_map, values)) in types.iter().zip(columns.iter_mut()) {
            take_value(data_type, &mut input, null_map, values)
                .map_err(|e| Error::corrupted(part, format!("primary.idx: {e}")))?;
        }
    }
    if !input.is_empty() {
        return Err(Error::corrupted(
            part,
            format!(
                "primary.idx: {} bytes after {entries} entries",
                input.remaining()
            ),
        ));
    }
    types
        .iter()
        .zip(columns)
        .map(|(data_type, (null_map, values))| {
            let bulk = [null_map, values].concat();
            let array: ArrayRef = read_native(data_type, entries, &mut Cursor::new(&bulk))?;
            Ok(Arc::clone(&array))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{DictionaryArray, Int32Array, StringArray, UInt16Array};

    #[test]
    fn values_serialize_as_clickhouse_serialize_binary() {
        let mut out = Vec::new();
        let date: ArrayRef = Arc::new(arrow_array::Date32Array::from(vec![8401]));
        serialize_binary(&DataType::Date, &date, 0, &mut out).unwrap();
        assert_eq!(out, 8401u16.to_le_bytes());
        out.clear();
        let strings: ArrayRef = Arc::new(StringArray::from(vec![Some("ab"), None]));
        let nullable = DataType::parse("Nullable(String)").unwrap();
        serialize_binary(&nullable, &strings, 0, &mut out).unwrap();
        serialize_binary(&nullable, &strings, 1, &mut out).unwrap();
        assert_eq!(out, [0, 2, b'a', b'b', 1]);
        out.clear();
        let lc = DataType::parse("LowCardinality(String)").unwrap();
        let dictionary: ArrayRef = Arc::new(
            DictionaryArray::<Int32Type>::try_new(
                Int32Array::from(vec![1, 0]),
                Arc::new(StringArray::from(vec!["x", "yz"])),
            )
            .unwrap(),
        );
        serialize_binary(&lc, &dictionary, 0, &mut out).unwrap();
        assert_eq!(out, [2, b'y', b'z']);
    }

    #[test]
    fn an_index_reads_back_per_column() {
        let types = [
            DataType::UInt16,
            DataType::parse("Nullable(String)").unwrap(),
        ];
        let keys: ArrayRef = Arc::new(UInt16Array::from(vec![1993, 1994]));
        let names: ArrayRef = Arc::new(StringArray::from(vec![None, Some("b")]));
        let mut bytes = Vec::new();
        for row in 0..2 {
            serialize_binary(&types[0], &keys, row, &mut bytes).unwrap();
            serialize_binary(&types[1], &names, row, &mut bytes).unwrap();
        }
        let columns = deserialize_binary("p", &bytes, &types, 2).unwrap();
        assert_eq!(
            columns[0]
                .as_primitive::<arrow_array::types::UInt16Type>()
                .values(),
            &[1993, 1994]
        );
        assert!(columns[1].is_null(0));
        assert_eq!(columns[1].as_string::<i32>().value(1), "b");
        assert!(deserialize_binary("p", &bytes[..bytes.len() - 1], &types, 2).is_err());
    }
}
