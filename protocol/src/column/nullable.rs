//! `Nullable(T)`: a null map (one byte per row, 1 = NULL) in its own substream, then T's data for
//! every row. Under a NULL the nested value is whatever the column holds there (ClickHouse writes
//! what it has, usually the default; readers ignore it), so a decoded column re-encodes byte-exact.

use arrow_array::{Array, ArrayRef, make_array};
use arrow_buffer::{BooleanBuffer, NullBuffer};

use super::{Decoder, Encoder, Substream};
use crate::error::Result;
use crate::types::DataType;

pub(super) fn encode(enc: &mut Encoder<'_>, inner: &DataType, array: &dyn Array) -> Result<()> {
    let rows = array.len();
    enc.nested(Substream::NullMap, |enc| {
        write_null_map(enc.out(), array.logical_nulls(), rows)
    });
    // The nested values are written as they stand, NULL rows included.
    enc.encode(inner, array)
}

pub(super) fn decode<'a>(
    dec: &mut Decoder<'_, 'a>,
    inner: &DataType,
    rows: usize,
) -> Result<ArrayRef> {
    let map: &'a [u8] = dec.nested(Substream::NullMap, |dec| {
        dec.input().and_then(|input| input.take(rows, "null map"))
    })?;
    let valid = BooleanBuffer::collect_bool(rows, |index| map[index] == 0);
    dec.valid_rows = Some(valid.clone());
    let values = dec.decode(inner, rows);
    dec.valid_rows = None;
    let values = values?;
    if valid.count_set_bits() == rows {
        return Ok(values);
    }
    if matches!(inner, DataType::Nothing) {
        return Ok(values);
    }
    let nulls = NullBuffer::new(valid);
    let data = values
        .into_data()
        .into_builder()
        .nulls(Some(nulls))
        .build()?;
    Ok(make_array(data))
}

/// Appends one byte per row, 1 for NULL, expanding the validity bitmap 64 rows at a time.
fn write_null_map(out: &mut Vec<u8>, nulls: Option<NullBuffer>, rows: usize) {
    let start = out.len();
    out.resize(start + rows, 0);
    let Some(nulls) = nulls else { return };
    let map = &mut out[start..];
    let chunks = nulls.inner().bit_chunks();
    for (chunk_index, word) in chunks.iter().enumerate() {
        let bytes = &mut map[chunk_index * 64..chunk_index * 64 + 64];
        for (bit, byte) in bytes.iter_mut().enumerate() {
            *byte = (((word >> bit) & 1) ^ 1) as u8;
        }
    }
    let done = chunks.chunk_len() * 64;
    let word = chunks.remainder_bits();
    for bit in 0..chunks.remainder_len() {
        map[done + bit] = (((word >> bit) & 1) ^ 1) as u8;
    }
}
