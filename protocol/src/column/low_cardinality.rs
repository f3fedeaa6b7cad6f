//! `LowCardinality(T)`: a dictionary-encoded column.
//!
//! Prefix (in the `.dict` substream): UInt64 keys version `1` ("shared dictionaries with additional
//! keys"). Data, per chunk: UInt64 serialization type (index width code | `HasAdditionalKeys` |
//! `NeedUpdateDictionary`), UInt64 key count, the keys as a column of T without `Nullable`, UInt64
//! row count, then one index per row. Granary writes ClickHouse's dictionary layout: position 0 is
//! the default value (for a nullable T: 0 is NULL and 1 the default), then values in first-seen order;
//! it never writes a global dictionary, so every chunk (and every MergeTree granule) decodes alone.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::Int32Type;
use arrow_array::{
    Array, ArrayRef, DictionaryArray, Int32Array, UInt32Array, make_array, new_null_array,
};
use arrow_buffer::{BooleanBuffer, NullBuffer, ScalarBuffer};
use arrow_data::ArrayData;
use arrow_schema::DataType as ArrowType;

use super::{Decoder, Encoder};
use crate::ErrorCode;
use crate::error::{Error, Result};
use crate::types::DataType;

/// The keys-serialization version Granary writes and reads.
const KEYS_VERSION_SHARED_WITH_ADDITIONAL_KEYS: u64 = 1;
const NEED_GLOBAL_DICTIONARY: u64 = 1 << 8;
const HAS_ADDITIONAL_KEYS: u64 = 1 << 9;
const NEED_UPDATE_DICTIONARY: u64 = 1 << 10;
const INDEX_WIDTH_MASK: u64 = 0xff;

pub(super) fn encode_prefix(enc: &mut Encoder<'_>) {
    enc.out()
        .extend_from_slice(&KEYS_VERSION_SHARED_WITH_ADDITIONAL_KEYS.to_le_bytes());
}

pub(super) fn decode_prefix(dec: &mut Decoder<'_, '_>) -> Result<()> {
    let version = dec.input()?.read_u64("LowCardinality keys version")?;
    if version != KEYS_VERSION_SHARED_WITH_ADDITIONAL_KEYS {
        return Err(Error::NotImplemented(format!(
            "LowCardinality keys serialization version {version}"
        )));
    }
    Ok(())
}

/// The bytes of each entry of `data` (a column of the dictionary type), for deduplication.
fn entry_bytes(data: &ArrayData) -> Result<Vec<&[u8]>> {
    let count = data.len();
    let offset = data.offset();
    match data.data_type() {
        ArrowType::Utf8 | ArrowType::Binary => {
            let offsets: &[i32] = &data.buffer::<i32>(0)[offset..=offset + count];
            let values = data.buffers()[1].as_slice();
            Ok(offsets
                .windows(2)
                .map(|w| &values[w[0] as usize..w[1] as usize])
                .collect())
        }
        ArrowType::LargeUtf8 | ArrowType::LargeBinary => {
            let offsets: &[i64] = &data.buffer::<i64>(0)[offset..=offset + count];
            let values = data.buffers()[1].as_slice();
            Ok(offsets
                .windows(2)
                .map(|w| &values[w[0] as usize..w[1] as usize])
                .collect())
        }
        other => {
            let width = match other {
                ArrowType::FixedSizeBinary(width) => *width as usize,
                primitive => primitive.primitive_width().ok_or_else(|| {
                    Error::type_mismatch(
                        "LowCardinality values",
                        "a string, binary or fixed-width array",
                        primitive,
                    )
                })?,
            };
            let values = &data.buffers()[0].as_slice()[offset * width..(offset + count) * width];
            Ok(values.chunks_exact(width).collect())
        }
    }
}

/// The smallest index width code (0 = UInt8 ... 3 = UInt64) that can address `key_count` keys.
fn index_width_code(key_count: usize) -> u64 {
    match key_count {
        0..=0x100 => 0,
        0x101..=0x1_0000 => 1,
        0x1_0001..=0x1_0000_0000 => 2,
        _ => 3,
    }
}

/// The distinct candidates of a column and, per row, which candidate it holds: a dictionary's
/// values and keys, or a plain array's rows themselves.
struct Candidates {
    values: ArrayRef,
    /// Per row, the candidate index; `None` for plain arrays, where it is the row itself.
    keys: Option<Vec<usize>>,
    nulls: Option<NullBuffer>,
}

impl Candidates {
    fn of(array: &dyn Array) -> Result<Candidates> {
        let candidates = match array.data_type() {
            ArrowType::Dictionary(_, _) => {
                let dictionary = array.as_any_dictionary();
                Candidates {
                    values: dictionary.values().clone(),
                    keys: Some(dictionary.normalized_keys()),
                    nulls: dictionary.keys().logical_nulls(),
                }
            }
            _ => Candidates {
                values: make_array(array.to_data()),
                keys: None,
                nulls: array.logical_nulls(),
            },
        };
        let values = match candidates.values.data_type() {
            ArrowType::Utf8View | ArrowType::BinaryView => {
                view_to_binary(candidates.values.as_ref())?
            }
            _ => candidates.values,
        };
        Ok(Candidates {
            values,
            ..candidates
        })
    }
}

pub(super) fn encode(enc: &mut Encoder<'_>, inner: &DataType, array: &dyn Array) -> Result<()> {
    let rows = array.len();
    if rows == 0 {
        return Ok(());
    }
    let nullable = inner.is_nullable();
    let key_type = inner.strip_nullable();
    let key_arrow = key_type.to_arrow();
    let candidates = Candidates::of(array)?;
    let values = &candidates.values;
    let byte_like = matches!(key_type, DataType::String);
    let compatible = values.data_type() == &key_arrow
        || (byte_like
            && matches!(
                values.data_type(),
                ArrowType::Utf8 | ArrowType::LargeUtf8 | ArrowType::Binary | ArrowType::LargeBinary
            ));
    if !compatible {
        return Err(Error::type_mismatch(
            format!("column of type LowCardinality({inner})"),
            format!("Arrow {key_arrow} values (plain or dictionary-encoded)"),
            array.data_type(),
        ));
    }

    // ClickHouse's layout: the default value first (after the NULL slot of a nullable dictionary),
    // then each distinct value in the order rows first use it.
    let data = values.to_data();
    let entries = entry_bytes(&data)?;
    let default_count: u32 = if nullable { 2 } else { 1 };
    let null_index = if nullable { 0 } else { default_count - 1 };
    let default_bytes = vec![0u8; key_type.fixed_width().unwrap_or(0)];
    let mut positions: HashMap<&[u8], u32> = HashMap::new();
    positions.insert(&default_bytes, default_count - 1);
    let mut selected: Vec<u32> = Vec::new();
    let mut memo: Vec<u32> = vec![u32::MAX; entries.len()];
    let mut index_of = |entry: usize| -> u32 {
        if memo[entry] == u32::MAX {
            let next = default_count + selected.len() as u32;
            memo[entry] = *positions.entry(entries[entry]).or_insert_with(|| {
                selected.push(entry as u32);
                next
            });
        }
        memo[entry]
    };
    let is_null = |row: usize| {
        candidates
            .nulls
            .as_ref()
            .is_some_and(|nulls| nulls.is_null(row))
    };
    let indexes: Vec<u32> = match &candidates.keys {
        Some(keys) => keys
            .iter()
            .enumerate()
            .map(|(row, key)| {
                if is_null(row) {
                    null_index
                } else {
                    index_of(*key)
                }
            })
            .collect(),
        None => (0..rows)
            .map(|row| {
                if is_null(row) {
                    null_index
                } else {
                    index_of(row)
                }
            })
            .collect(),
    };

    let key_count = default_count as usize + selected.len();
    let width_code = index_width_code(key_count);
    let out = enc.out();
    out.extend_from_slice(
        &(width_code | HAS_ADDITIONAL_KEYS | NEED_UPDATE_DICTIONARY).to_le_bytes(),
    );
    out.extend_from_slice(&(key_count as u64).to_le_bytes());
    enc.encode(
        key_type,
        new_null_array(&key_arrow, default_count as usize).as_ref(),
    )?;
    let chosen = arrow_select::take::take(values.as_ref(), &UInt32Array::from(selected), None)?;
    enc.encode(key_type, chosen.as_ref())?;
    let out = enc.out();
    out.extend_from_slice(&(rows as u64).to_le_bytes());
    match width_code {
        0 => write_indexes::<1>(out, &indexes),
        1 => write_indexes::<2>(out, &indexes),
        2 => write_indexes::<4>(out, &indexes),
        _ => write_indexes::<8>(out, &indexes),
    }
    Ok(())
}

/// Appends each index as a `W`-byte little-endian integer.
fn write_indexes<const W: usize>(out: &mut Vec<u8>, indexes: &[u32]) {
    let start = out.len();
    out.resize(start + indexes.len() * W, 0);
    for (bytes, index) in out[start..].chunks_exact_mut(W).zip(indexes) {
        bytes.copy_from_slice(&u64::from(*index).to_le_bytes()[..W]);
    }
}

/// Reads `W`-byte indexes, checks each against `key_count`, and appends `key_base + index` to `keys`
/// (and, for a nullable dictionary, whether the row is valid: index 0 is NULL).
fn read_indexes<const W: usize>(
    bytes: &[u8],
    key_count: usize,
    key_base: usize,
    keys: &mut Vec<i32>,
    valid: Option<&mut Vec<bool>>,
) -> Result<()> {
    let base = i32::try_from(key_base).ok().filter(|base| {
        i32::try_from(key_count)
            .ok()
            .and_then(|count| base.checked_add(count))
            .is_some()
    });
    let (Some(base), Ok(key_count)) = (base, u64::try_from(key_count)) else {
        return Err(Error::TooLarge {
            what: "LowCardinality keys in one column chunk",
            size: (key_base as u64).saturating_add(key_count as u64),
            max: i32::MAX as u64,
            code: ErrorCode::TOO_LARGE_ARRAY_SIZE,
        });
    };
    let start = keys.len();
    let mut largest = 0u64;
    keys.extend(bytes.chunks_exact(W).map(|chunk| {
        let mut word = [0u8; 8];
        word[..W].copy_from_slice(chunk);
        let index = u64::from_le_bytes(word);
        largest = largest.max(index);
        base.wrapping_add(index as i32)
    }));
    if largest >= key_count {
        return Err(Error::incorrect(format!(
            "LowCardinality index {largest} past {key_count} keys"
        )));
    }
    if let Some(valid) = valid {
        valid.extend(keys[start..].iter().map(|key| *key != base));
    }
    Ok(())
}

/// Copies a string/binary view array into a plain binary array (views have no contiguous offsets).
fn view_to_binary(values: &dyn Array) -> Result<ArrayRef> {
    let mut rows: Vec<Option<Vec<u8>>> = Vec::with_capacity(values.len());
    super::bytes::for_each_bytes(values, |_, bytes| {
        rows.push(bytes.map(<[u8]>::to_vec));
        Ok(())
    })?;
    Ok(Arc::new(arrow_array::BinaryArray::from_iter(rows)))
}

pub(super) fn decode(dec: &mut Decoder<'_, '_>, inner: &DataType, rows: usize) -> Result<ArrayRef> {
    let nullable = inner.is_nullable();
    let key_type = inner.strip_nullable();
    let mut key_columns: Vec<ArrayRef> = Vec::new();
    // Sized per chunk once its indexes are in hand: `rows` comes from the input (a block's row
    // count) and the input may hold far fewer.
    let mut keys: Vec<i32> = Vec::new();
    // In a nullable dictionary index 0 of each chunk stands for NULL.
    let mut valid: Vec<bool> = Vec::new();
    let mut key_base = 0usize;
    while keys.len() < rows {
        let input = dec.input()?;
        let serialization = input.read_u64("LowCardinality serialization type")?;
        let width_code = serialization & INDEX_WIDTH_MASK;
        let known = INDEX_WIDTH_MASK
            | NEED_GLOBAL_DICTIONARY
            | HAS_ADDITIONAL_KEYS
            | NEED_UPDATE_DICTIONARY;
        if width_code > 3 || serialization & !known != 0 {
            return Err(Error::incorrect(format!(
                "LowCardinality serialization type 0x{serialization:x}"
            )));
        }
        if serialization & NEED_GLOBAL_DICTIONARY != 0 {
            return Err(Error::NotImplemented(
                "LowCardinality columns with a global dictionary".into(),
            ));
        }
        if serialization & HAS_ADDITIONAL_KEYS == 0 {
            return Err(Error::incorrect(
                "LowCardinality chunk has no keys and there is no global dictionary",
            ));
        }
        let key_count = input.read_u64("LowCardinality key count")?;
        // Every key takes at least one byte (a fixed-width key its width), so a count past the
        // input is corrupt, and nothing is sized by it before this check.
        input.expect_items(
            key_count,
            super::min_row_bytes(key_type).max(1),
            "LowCardinality keys",
        )?;
        let key_count = usize::try_from(key_count)
            .map_err(|_| Error::incorrect(format!("LowCardinality key count {key_count}")))?;
        key_columns.push(dec.decode(key_type, key_count)?);
        let input = dec.input()?;
        let index_count = input.read_u64("LowCardinality row count")?;
        let rows_left = (rows - keys.len()) as u64;
        if index_count == 0 || index_count > rows_left {
            return Err(Error::incorrect(format!(
                "LowCardinality chunk of {index_count} rows where {rows_left} remain"
            )));
        }
        let width = 1usize << width_code;
        let bytes = input.take_items(index_count as usize, width, "LowCardinality indexes")?;
        // Now the indexes are known to be here, so the rows they cover can be sized.
        keys.reserve(index_count as usize);
        if nullable {
            valid.reserve(index_count as usize);
        }
        let valid = nullable.then_some(&mut valid);
        match width {
            1 => read_indexes::<1>(bytes, key_count, key_base, &mut keys, valid)?,
            2 => read_indexes::<2>(bytes, key_count, key_base, &mut keys, valid)?,
            4 => read_indexes::<4>(bytes, key_count, key_base, &mut keys, valid)?,
            _ => read_indexes::<8>(bytes, key_count, key_base, &mut keys, valid)?,
        }
        key_base += key_count;
    }
    let values = match key_columns.len() {
        0 => new_null_array(&key_type.to_arrow(), 0),
        1 => key_columns.remove(0),
        _ => {
            let parts: Vec<&dyn Array> = key_columns.iter().map(|column| column.as_ref()).collect();
            arrow_select::concat::concat(&parts)?
        }
    };
    let nulls = nullable.then(|| NullBuffer::new(BooleanBuffer::from(valid)));
    let keys = Int32Array::new(ScalarBuffer::from(keys), nulls);
    Ok(Arc::new(DictionaryArray::<Int32Type>::try_new(
        keys, values,
    )?))
}
