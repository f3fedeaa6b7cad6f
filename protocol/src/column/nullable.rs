//! `Nullable(T)`: a null map (one byte per row, 1 = NULL) in its own substream, then T's data for
//! every row, with the default value at NULL positions.

use arrow_array::{Array, ArrayRef, make_array};
use arrow_buffer::{BooleanBuffer, NullBuffer};

use super::{Decoder, Encoder, Substream};
use crate::error::Result;
use crate::types::DataType;

pub(super) fn encode(enc: &mut Encoder<'_>, inner: &DataType, array: &dyn Array) -> Result<()> {
    let rows = array.len();
    enc.nested(Substream::NullMap, |enc| {
        let out = enc.out();
        match array.logical_nulls() {
            Some(nulls) => out.extend(nulls.iter().map(|valid| u8::from(!valid))),
            None => out.resize(out.len() + rows, 0),
        }
    });
    // The inner encoders write the default value wherever the array has a null.
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
