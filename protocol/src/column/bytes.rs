//! Byte values: `String` (VarUInt length + bytes per row), the fixed-size binaries (`FixedString(N)`,
//! 128/256-bit integers, `IPv6`, `UUID`) and aggregate-function states.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{BinaryViewType, StringViewType};
use arrow_array::types::{ByteArrayType, GenericStringType};
use arrow_array::{
    Array, ArrayRef, BinaryArray, FixedSizeBinaryArray, GenericByteArray, StringArray,
};
use arrow_buffer::{ArrowNativeType, Buffer, OffsetBuffer, ScalarBuffer};
use arrow_schema::DataType as ArrowType;

use super::{Decoder, Encoder, aggregate_state};
use crate::ErrorCode;
use crate::error::{Error, Result};
use crate::io::write_var_uint;
use crate::types::{AggregateFunction, DataType};

/// Calls `row` with the bytes of each row (`None` for a NULL without bytes under it) of any Arrow
/// string or binary array.
pub(crate) fn for_each_bytes(
    array: &dyn Array,
    mut row: impl FnMut(usize, Option<&[u8]>) -> Result<()>,
) -> Result<()> {
    fn generic<T: ByteArrayType>(
        array: &GenericByteArray<T>,
        row: &mut impl FnMut(usize, Option<&[u8]>) -> Result<()>,
    ) -> Result<()> {
        let offsets = array.value_offsets();
        let data = array.value_data();
        for index in 0..array.len() {
            let start = offsets[index].as_usize();
            let end = offsets[index + 1].as_usize();
            if array.is_null(index) && start == end {
                row(index, None)?;
            } else {
                row(index, Some(&data[start..end]))?;
            }
        }
        Ok(())
    }
    match array.data_type() {
        ArrowType::Utf8 => generic(array.as_string::<i32>(), &mut row),
        ArrowType::LargeUtf8 => generic(array.as_string::<i64>(), &mut row),
        ArrowType::Binary => generic(array.as_binary::<i32>(), &mut row),
        ArrowType::LargeBinary => generic(array.as_binary::<i64>(), &mut row),
        ArrowType::Utf8View => {
            let view = array.as_byte_view::<StringViewType>();
            (0..view.len()).try_for_each(|index| {
                row(
                    index,
                    view.is_valid(index).then(|| view.value(index).as_bytes()),
                )
            })
        }
        ArrowType::BinaryView => {
            let view = array.as_byte_view::<BinaryViewType>();
            (0..view.len())
                .try_for_each(|index| row(index, view.is_valid(index).then(|| view.value(index))))
        }
        other => Err(Error::type_mismatch(
            "String column",
            "an Arrow string or binary array",
            other,
        )),
    }
}

pub(super) fn encode_string(enc: &mut Encoder<'_>, array: &dyn Array) -> Result<()> {
    let out = enc.out();
    if let Some(strings) = array.as_any().downcast_ref::<StringArray>() {
        // The common case, without per-row dispatch.
        out.reserve(strings.value_data().len() + strings.len());
        let data = strings.value_data();
        // Values under NULLs are written as they are, as ClickHouse does.
        for window in strings.value_offsets().windows(2) {
            let bytes = &data[window[0] as usize..window[1] as usize];
            write_var_uint(out, bytes.len() as u64);
            out.extend_from_slice(bytes);
        }
        return Ok(());
    }
    for_each_bytes(array, |_, bytes| {
        let bytes = bytes.unwrap_or_default();
        write_var_uint(out, bytes.len() as u64);
        out.extend_from_slice(bytes);
        Ok(())
    })
}

/// Reads a VarUInt at `position` of `bytes`, advancing it; `Err(true)` when `bytes` end inside it,
/// `Err(false)` when it is malformed (longer than 10 bytes, or past 64 bits).
#[inline]
fn var_uint_at(bytes: &[u8], position: &mut usize) -> std::result::Result<u64, bool> {
    let first = *bytes.get(*position).ok_or(true)?;
    if first < 0x80 {
        *position += 1;
        return Ok(u64::from(first));
    }
    let mut value = 0u64;
    for index in 0..crate::io::VAR_UINT_BYTES_MAX {
        let byte = *bytes.get(*position + index).ok_or(true)?;
        if index == crate::io::VAR_UINT_BYTES_MAX - 1 && byte > 1 {
            return Err(false);
        }
        value |= u64::from(byte & 0x7f) << (7 * index);
        if byte & 0x80 == 0 {
            *position += index + 1;
            return Ok(value);
        }
    }
    Err(false)
}

/// Reads `rows` VarUInt-prefixed values into Arrow offsets and one data buffer: a first pass over
/// the lengths sizes everything exactly, a second copies the bytes.
fn read_byte_rows(
    dec: &mut Decoder<'_, '_>,
    rows: usize,
    what: &'static str,
) -> Result<(OffsetBuffer<i32>, Buffer)> {
    let input = dec.input()?;
    let source = input.rest();
    let truncated = |position: usize| Error::UnexpectedEof {
        what,
        needed: position.saturating_add(1),
        remaining: source.len(),
    };
    // Each row takes at least its one-byte length: more rows than bytes is corrupt input.
    if rows > source.len() {
        return Err(truncated(rows));
    }
    let mut offsets: Vec<i32> = Vec::with_capacity(rows + 1);
    offsets.push(0);
    let mut position = 0usize;
    let mut total = 0usize;
    for _ in 0..rows {
        let length = var_uint_at(source, &mut position).map_err(|truncated_here| {
            if truncated_here {
                // The length needs at least one byte more than there is.
                truncated(source.len())
            } else {
                Error::incorrect(format!("{what}: VarUInt length longer than 10 bytes"))
            }
        })?;
        if length > (source.len() - position) as u64 {
            return Err(truncated(source.len()));
        }
        position += length as usize;
        total += length as usize;
        let end = i32::try_from(total).map_err(|_| Error::TooLarge {
            what: "bytes in one String column chunk",
            size: total as u64,
            max: i32::MAX as u64,
            code: ErrorCode::TOO_LARGE_STRING_SIZE,
        })?;
        offsets.push(end);
    }
    let mut data = Vec::with_capacity(total);
    let mut position = 0usize;
    for window in offsets.windows(2) {
        let length = (window[1] - window[0]) as usize;
        if var_uint_at(source, &mut position).is_err() {
            return Err(Error::Logical(
                "a String length read in the first pass is gone".into(),
            ));
        }
        data.extend_from_slice(&source[position..position + length]);
        position += length;
    }
    input.take(position, what)?;
    Ok((
        OffsetBuffer::new(ScalarBuffer::from(offsets)),
        Buffer::from_vec(data),
    ))
}

pub(super) fn decode_string(dec: &mut Decoder<'_, '_>, rows: usize) -> Result<ArrayRef> {
    let (offsets, data) = read_byte_rows(dec, rows, "String column")?;
    let strings = GenericByteArray::<GenericStringType<i32>>::try_new(offsets, data, None).map_err(|_| {
        Error::incorrect("String column holds bytes that are not valid UTF-8 (Granary keeps String values as UTF-8 text)")
    })?;
    Ok(Arc::new(strings))
}

/// `AggregateFunction` column: each row's state bytes, concatenated (no length prefix on the wire).
pub(super) fn encode_states(
    enc: &mut Encoder<'_>,
    data_type: &DataType,
    array: &dyn Array,
) -> Result<()> {
    let out = enc.out();
    for_each_bytes(array, |index, bytes| match bytes {
        Some(bytes) => {
            out.extend_from_slice(bytes);
            Ok(())
        }
        None => Err(Error::incorrect(format!(
            "row {index} of a {data_type} column is NULL, not a state"
        ))),
    })
}

/// Splits the concatenated states of `rows` rows by reading each state's own framing.
pub(super) fn decode_states(
    dec: &mut Decoder<'_, '_>,
    function: &AggregateFunction,
    rows: usize,
) -> Result<ArrayRef> {
    let input = dec.input()?;
    let mut offsets: Vec<i32> = Vec::with_capacity(rows.min(input.remaining()) + 1);
    offsets.push(0);
    let start = input.rest();
    let mut total = 0usize;
    for _ in 0..rows {
        let length = aggregate_state::state_length(function, input.rest())?;
        input.take(length, "aggregate function state")?;
        total += length;
        offsets.push(i32::try_from(total).map_err(|_| Error::TooLarge {
            what: "bytes of aggregate states in one column chunk",
            size: total as u64,
            max: i32::MAX as u64,
            code: ErrorCode::TOO_LARGE_STRING_SIZE,
        })?);
    }
    let data = Buffer::from_slice_ref(&start[..total]);
    let states = BinaryArray::try_new(OffsetBuffer::new(ScalarBuffer::from(offsets)), data, None)?;
    Ok(Arc::new(states))
}

fn fixed_binary<'a>(
    data_type: &DataType,
    array: &'a dyn Array,
    width: usize,
) -> Result<&'a FixedSizeBinaryArray> {
    match array.as_any().downcast_ref::<FixedSizeBinaryArray>() {
        Some(binary) if binary.value_length() as usize == width => Ok(binary),
        _ => Err(Error::type_mismatch(
            format!("column of type {data_type}"),
            format!("Arrow FixedSizeBinary({width})"),
            array.data_type(),
        )),
    }
}

/// Writes each row's `width` bytes through `row` (values under NULLs as they are).
fn write_fixed_rows(
    out: &mut Vec<u8>,
    binary: &FixedSizeBinaryArray,
    width: usize,
    row: impl Fn(&[u8], &mut Vec<u8>),
) {
    out.reserve(binary.len() * width);
    let start = binary.offset() * width;
    for bytes in binary.value_data()[start..start + binary.len() * width].chunks_exact(width) {
        row(bytes, out);
    }
}

pub(super) fn encode_fixed_binary(
    enc: &mut Encoder<'_>,
    data_type: &DataType,
    array: &dyn Array,
) -> Result<()> {
    let width = data_type.fixed_width().unwrap_or_default();
    let binary = fixed_binary(data_type, array, width)?;
    let start = binary.offset() * width;
    enc.out()
        .extend_from_slice(&binary.value_data()[start..start + binary.len() * width]);
    Ok(())
}

/// `FixedString(N)` from `FixedSizeBinary(N)`, or from strings of at most N bytes (zero-padded, as
/// ClickHouse pads them).
pub(super) fn encode_fixed_string(
    enc: &mut Encoder<'_>,
    width: usize,
    array: &dyn Array,
) -> Result<()> {
    if let ArrowType::FixedSizeBinary(_) = array.data_type() {
        return encode_fixed_binary(enc, &DataType::FixedString(width), array);
    }
    let out = enc.out();
    for_each_bytes(array, |_, bytes| {
        let bytes = bytes.unwrap_or_default();
        if bytes.len() > width {
            return Err(Error::TooLarge {
                what: "bytes of a value for FixedString",
                size: bytes.len() as u64,
                max: width as u64,
                code: ErrorCode::TOO_LARGE_STRING_SIZE,
            });
        }
        out.extend_from_slice(bytes);
        out.resize(out.len() + width - bytes.len(), 0);
        Ok(())
    })
}

pub(super) fn decode_fixed_binary(
    dec: &mut Decoder<'_, '_>,
    data_type: &DataType,
    rows: usize,
) -> Result<ArrayRef> {
    let width = data_type.fixed_width().unwrap_or_default();
    let bytes = dec
        .input()?
        .take_items(rows, width, "fixed-size binary column")?;
    let binary = FixedSizeBinaryArray::try_new(width as i32, Buffer::from_slice_ref(bytes), None)?;
    Ok(Arc::new(binary))
}

/// UUID: Arrow holds the RFC 4122 (text-order) bytes; the wire holds each 8-byte half reversed.
fn swap_uuid_halves(bytes: &[u8], out: &mut Vec<u8>) {
    out.extend(bytes[..8].iter().rev());
    out.extend(bytes[8..16].iter().rev());
}

pub(super) fn encode_uuid(enc: &mut Encoder<'_>, array: &dyn Array) -> Result<()> {
    let binary = fixed_binary(&DataType::Uuid, array, 16)?;
    write_fixed_rows(enc.out(), binary, 16, swap_uuid_halves);
    Ok(())
}

pub(super) fn decode_uuid(dec: &mut Decoder<'_, '_>, rows: usize) -> Result<ArrayRef> {
    let bytes = dec.input()?.take_items(rows, 16, "UUID column")?;
    let mut swapped = Vec::with_capacity(bytes.len());
    for chunk in bytes.chunks_exact(16) {
        swap_uuid_halves(chunk, &mut swapped);
    }
    Ok(Arc::new(FixedSizeBinaryArray::try_new(
        16,
        Buffer::from_vec(swapped),
        None,
    )?))
}
