//! `Array(T)` and `Map(K, V)`: sizes in their own substream (cumulative offsets on the wire, per-row
//! counts in MergeTree), then all elements of all rows as one column. A `Map` is
//! `Array(Tuple(keys K, values V))`.

use std::sync::Arc;

use arrow_array::{Array, ArrayRef, ListArray, MapArray, StructArray};
use arrow_buffer::{OffsetBuffer, ScalarBuffer};
use arrow_schema::{DataType as ArrowType, Field, Fields};

use super::{ArraySizes, Decoder, Encoder, Substream, ZERO_WIDTH_ROWS_MAX, min_row_bytes};
use crate::ErrorCode;
use crate::error::{Error, Result};
use crate::types::DataType;

/// Writes the sizes of rows `[offsets[0], offsets[last])` in the encoder's variant.
fn encode_sizes(enc: &mut Encoder<'_>, offsets: &[i32]) {
    let sizes = enc.sizes;
    enc.nested(Substream::ArraySizes, |enc| {
        let out = enc.out();
        out.reserve((offsets.len().saturating_sub(1)) * 8);
        let base = offsets.first().copied().unwrap_or(0);
        for window in offsets.windows(2) {
            let value = match sizes {
                ArraySizes::Offsets => (window[1] - base) as u64,
                ArraySizes::Sizes => (window[1] - window[0]) as u64,
            };
            out.extend_from_slice(&value.to_le_bytes());
        }
    });
}

/// The element count of decoded offsets, bounded by [`ZERO_WIDTH_ROWS_MAX`] when the elements take
/// no bytes (`Array(Tuple())`): otherwise the elements' own input bounds it.
fn element_count(offsets: &OffsetBuffer<i32>, elements: &[&DataType]) -> Result<usize> {
    let count = offsets.last().copied().unwrap_or(0) as usize;
    let width = elements
        .iter()
        .map(|element| min_row_bytes(element))
        .sum::<usize>();
    if width == 0 && count > ZERO_WIDTH_ROWS_MAX {
        return Err(Error::TooLarge {
            what: "array elements that take no bytes, in one column chunk",
            size: count as u64,
            max: ZERO_WIDTH_ROWS_MAX as u64,
            code: ErrorCode::TOO_LARGE_ARRAY_SIZE,
        });
    }
    Ok(count)
}

/// Reads the sizes of `rows` rows and returns Arrow offsets (starting at 0).
fn decode_sizes(dec: &mut Decoder<'_, '_>, rows: usize) -> Result<OffsetBuffer<i32>> {
    let sizes = dec.sizes;
    let bytes = dec.nested(Substream::ArraySizes, |dec| {
        dec.input()
            .and_then(|input| input.take_items(rows, 8, "array sizes"))
    })?;
    let mut offsets = Vec::with_capacity(rows + 1);
    offsets.push(0i32);
    let mut end = 0u64;
    for chunk in bytes.chunks_exact(8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let value = u64::from_le_bytes(word);
        end = match sizes {
            ArraySizes::Offsets if value < end => {
                return Err(Error::incorrect(format!(
                    "array offsets decrease: {value} after {end}"
                )));
            }
            ArraySizes::Offsets => value,
            ArraySizes::Sizes => end
                .checked_add(value)
                .ok_or_else(|| Error::incorrect("array sizes overflow"))?,
        };
        let offset = i32::try_from(end).map_err(|_| Error::TooLarge {
            what: "array elements in one column chunk",
            size: end,
            max: i32::MAX as u64,
            code: ErrorCode::TOO_LARGE_ARRAY_SIZE,
        })?;
        offsets.push(offset);
    }
    Ok(OffsetBuffer::new(ScalarBuffer::from(offsets)))
}

pub(super) fn encode_array(
    enc: &mut Encoder<'_>,
    inner: &DataType,
    array: &dyn Array,
) -> Result<()> {
    let list = array.as_any().downcast_ref::<ListArray>().ok_or_else(|| {
        Error::type_mismatch(
            format!("column of type Array({inner})"),
            "Arrow List",
            array.data_type(),
        )
    })?;
    let offsets = list.value_offsets();
    encode_sizes(enc, offsets);
    let start = offsets.first().copied().unwrap_or(0) as usize;
    let end = offsets.last().copied().unwrap_or(0) as usize;
    let elements = list.values().slice(start, end - start);
    enc.nested(Substream::ArrayElements, |enc| {
        enc.encode(inner, elements.as_ref())
    })
}

pub(super) fn decode_array(
    dec: &mut Decoder<'_, '_>,
    inner: &DataType,
    rows: usize,
) -> Result<ArrayRef> {
    let offsets = decode_sizes(dec, rows)?;
    let element_count = element_count(&offsets, &[inner])?;
    let elements = dec.nested(Substream::ArrayElements, |dec| {
        dec.decode(inner, element_count)
    })?;
    let item = Arc::new(crate::types::child("item", inner));
    Ok(Arc::new(ListArray::try_new(item, offsets, elements, None)?))
}

pub(super) fn encode_map(
    enc: &mut Encoder<'_>,
    key: &DataType,
    value: &DataType,
    array: &dyn Array,
) -> Result<()> {
    let map = array.as_any().downcast_ref::<MapArray>().ok_or_else(|| {
        Error::type_mismatch(
            format!("column of type Map({key}, {value})"),
            "Arrow Map",
            array.data_type(),
        )
    })?;
    let offsets = map.value_offsets();
    encode_sizes(enc, offsets);
    let start = offsets.first().copied().unwrap_or(0) as usize;
    let end = offsets.last().copied().unwrap_or(0) as usize;
    let keys = map.keys().slice(start, end - start);
    let values = map.values().slice(start, end - start);
    enc.nested(Substream::ArrayElements, |enc| {
        enc.nested(Substream::TupleElement("keys".into()), |enc| {
            enc.encode(key, keys.as_ref())
        })?;
        enc.nested(Substream::TupleElement("values".into()), |enc| {
            enc.encode(value, values.as_ref())
        })
    })
}

pub(super) fn decode_map(
    dec: &mut Decoder<'_, '_>,
    key: &DataType,
    value: &DataType,
    rows: usize,
) -> Result<ArrayRef> {
    let offsets = decode_sizes(dec, rows)?;
    let entry_count = element_count(&offsets, &[key, value])?;
    let (keys, values) = dec.nested(
        Substream::ArrayElements,
        |dec| -> Result<(ArrayRef, ArrayRef)> {
            let keys = dec.nested(Substream::TupleElement("keys".into()), |dec| {
                dec.decode(key, entry_count)
            })?;
            let values = dec.nested(Substream::TupleElement("values".into()), |dec| {
                dec.decode(value, entry_count)
            })?;
            Ok((keys, values))
        },
    )?;
    let ArrowType::Map(entries_field, sorted) =
        DataType::Map(Box::new(key.clone()), Box::new(value.clone())).to_arrow()
    else {
        return Err(Error::Logical("Map does not map to an Arrow map".into()));
    };
    let ArrowType::Struct(fields) = entries_field.data_type() else {
        return Err(Error::Logical("Arrow map entries are not a struct".into()));
    };
    let fields: Fields = fields.clone();
    let entries = StructArray::try_new(fields, vec![keys, values], None)?;
    let entries_field: Arc<Field> = entries_field.clone();
    Ok(Arc::new(MapArray::try_new(
        entries_field,
        offsets,
        entries,
        None,
        sorted,
    )?))
}
