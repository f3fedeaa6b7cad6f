//! Fixed-width values: integers, floats, Bool, dates, DateTime, DateTime64, decimals, IPv4.
//!
//! Two generic bodies cover them all: [`same`] where the wire value is the Arrow native value
//! (a straight copy on a little-endian machine) and [`converted`] where it differs (`Date` is a
//! UInt16 on the wire and an Int32 in Arrow, `Decimal(9, 2)` an Int32 and an i128, ...).

use std::sync::Arc;

use arrow_array::types::*;
use arrow_array::{Array, ArrayRef, ArrowPrimitiveType, BooleanArray, PrimitiveArray};
use arrow_buffer::{ArrowNativeType, BooleanBuffer, Buffer, MutableBuffer, ScalarBuffer, i256};

use super::{Decoder, Encoder, expect_arrow_type};
use crate::error::{Error, Result};
use crate::types::{DataType, datetime64_unit};

/// A value with a fixed little-endian layout on the wire.
pub(crate) trait WireValue: Copy + Default + std::fmt::Display {
    const WIDTH: usize;
    fn read(bytes: &[u8]) -> Self;
    fn write(self, out: &mut Vec<u8>);
}

macro_rules! wire_value {
    ($($t:ty),*) => {$(
        impl WireValue for $t {
            const WIDTH: usize = std::mem::size_of::<$t>();
            #[inline]
            fn read(bytes: &[u8]) -> Self {
                let mut array = [0u8; std::mem::size_of::<$t>()];
                array.copy_from_slice(&bytes[..Self::WIDTH]);
                <$t>::from_le_bytes(array)
            }
            #[inline]
            fn write(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
        }
    )*};
}
wire_value!(u8, u16, u32, u64, i8, i16, i32, i64, i128);

impl WireValue for i256 {
    const WIDTH: usize = 32;
    fn read(bytes: &[u8]) -> Self {
        let mut array = [0u8; 32];
        array.copy_from_slice(&bytes[..32]);
        i256::from_le_bytes(array)
    }
    fn write(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
}

/// Dispatch only: one line per ClickHouse type, naming the Arrow type and, for converted types,
/// the wire type and the two conversions.
pub(super) fn encode(enc: &mut Encoder<'_>, data_type: &DataType, array: &dyn Array) -> Result<()> {
    expect_arrow_type(data_type, array)?;
    match data_type {
        DataType::UInt8 => same::<UInt8Type>(enc, array),
        DataType::UInt16 => same::<UInt16Type>(enc, array),
        DataType::UInt32 | DataType::IPv4 => same::<UInt32Type>(enc, array),
        DataType::UInt64 => same::<UInt64Type>(enc, array),
        DataType::Int8 => same::<Int8Type>(enc, array),
        DataType::Int16 => same::<Int16Type>(enc, array),
        DataType::Int32 => same::<Int32Type>(enc, array),
        DataType::Int64 => same::<Int64Type>(enc, array),
        DataType::Float32 => same::<Float32Type>(enc, array),
        DataType::Float64 => same::<Float64Type>(enc, array),
        DataType::Date32 => same::<Date32Type>(enc, array),
        DataType::Bool => encode_bool(enc, array),
        DataType::Date => {
            converted::<Date32Type, u16>(enc, data_type, array, |v| u16::try_from(v).ok())
        }
        DataType::DateTime(_) => {
            converted::<TimestampSecondType, u32>(enc, data_type, array, |v| u32::try_from(v).ok())
        }
        DataType::DateTime64(precision, _) => {
            let factor = datetime64_unit(*precision).1;
            match datetime64_unit(*precision).0 {
                arrow_schema::TimeUnit::Second => same::<TimestampSecondType>(enc, array),
                arrow_schema::TimeUnit::Millisecond => {
                    scaled_down::<TimestampMillisecondType>(enc, data_type, array, factor)
                }
                arrow_schema::TimeUnit::Microsecond => {
                    scaled_down::<TimestampMicrosecondType>(enc, data_type, array, factor)
                }
                arrow_schema::TimeUnit::Nanosecond => {
                    scaled_down::<TimestampNanosecondType>(enc, data_type, array, factor)
                }
            }
        }
        DataType::Decimal(precision, _) => match precision {
            0..=9 => {
                converted::<Decimal128Type, i32>(enc, data_type, array, |v| i32::try_from(v).ok())
            }
            10..=18 => {
                converted::<Decimal128Type, i64>(enc, data_type, array, |v| i64::try_from(v).ok())
            }
            19..=38 => same::<Decimal128Type>(enc, array),
            _ => same::<Decimal256Type>(enc, array),
        },
        other => Err(Error::Logical(format!(
            "type {other} is not a fixed-width number"
        ))),
    }
}

/// Dispatch only, mirroring [`encode`].
pub(super) fn decode(
    dec: &mut Decoder<'_, '_>,
    data_type: &DataType,
    rows: usize,
) -> Result<ArrayRef> {
    let arrow_type = data_type.to_arrow();
    let array: ArrayRef = match data_type {
        DataType::UInt8 => Arc::new(read_same::<UInt8Type>(dec, rows)?),
        DataType::UInt16 => Arc::new(read_same::<UInt16Type>(dec, rows)?),
        DataType::UInt32 | DataType::IPv4 => Arc::new(read_same::<UInt32Type>(dec, rows)?),
        DataType::UInt64 => Arc::new(read_same::<UInt64Type>(dec, rows)?),
        DataType::Int8 => Arc::new(read_same::<Int8Type>(dec, rows)?),
        DataType::Int16 => Arc::new(read_same::<Int16Type>(dec, rows)?),
        DataType::Int32 => Arc::new(read_same::<Int32Type>(dec, rows)?),
        DataType::Int64 => Arc::new(read_same::<Int64Type>(dec, rows)?),
        DataType::Float32 => Arc::new(read_same::<Float32Type>(dec, rows)?),
        DataType::Float64 => Arc::new(read_same::<Float64Type>(dec, rows)?),
        DataType::Date32 => Arc::new(read_same::<Date32Type>(dec, rows)?),
        DataType::Bool => decode_bool(dec, rows)?,
        DataType::Date => Arc::new(read_converted::<u16, Date32Type>(dec, rows, i32::from)?),
        DataType::DateTime(_) => Arc::new(
            read_converted::<u32, TimestampSecondType>(dec, rows, i64::from)?
                .with_data_type(arrow_type),
        ),
        DataType::DateTime64(precision, _) => {
            let (unit, factor) = datetime64_unit(*precision);
            let array: ArrayRef = match unit {
                arrow_schema::TimeUnit::Second => Arc::new(
                    read_same::<TimestampSecondType>(dec, rows)?.with_data_type(arrow_type),
                ),
                arrow_schema::TimeUnit::Millisecond => Arc::new(
                    read_converted::<i64, TimestampMillisecondType>(dec, rows, |v| {
                        v.wrapping_mul(factor)
                    })?
                    .with_data_type(arrow_type),
                ),
                arrow_schema::TimeUnit::Microsecond => Arc::new(
                    read_converted::<i64, TimestampMicrosecondType>(dec, rows, |v| {
                        v.wrapping_mul(factor)
                    })?
                    .with_data_type(arrow_type),
                ),
                arrow_schema::TimeUnit::Nanosecond => Arc::new(
                    read_converted::<i64, TimestampNanosecondType>(dec, rows, |v| {
                        v.wrapping_mul(factor)
                    })?
                    .with_data_type(arrow_type),
                ),
            };
            array
        }
        DataType::Decimal(precision, _) => match precision {
            0..=9 => Arc::new(
                read_converted::<i32, Decimal128Type>(dec, rows, i128::from)?
                    .with_data_type(arrow_type),
            ),
            10..=18 => Arc::new(
                read_converted::<i64, Decimal128Type>(dec, rows, i128::from)?
                    .with_data_type(arrow_type),
            ),
            19..=38 => Arc::new(read_same::<Decimal128Type>(dec, rows)?.with_data_type(arrow_type)),
            _ => Arc::new(read_same::<Decimal256Type>(dec, rows)?.with_data_type(arrow_type)),
        },
        other => {
            return Err(Error::Logical(format!(
                "type {other} is not a fixed-width number"
            )));
        }
    };
    Ok(array)
}

/// Wire value = Arrow native value: copy the values buffer. Values under NULLs are written as they
/// are, as ClickHouse does (a `Nullable` column keeps whatever its nested column holds there).
fn same<T: ArrowPrimitiveType>(enc: &mut Encoder<'_>, array: &dyn Array) -> Result<()> {
    let array = downcast::<T>(array)?;
    enc.out().extend_from_slice(values_as_bytes(array.values()));
    Ok(())
}

fn values_as_bytes<N: ArrowNativeType>(values: &[N]) -> &[u8] {
    use arrow_buffer::ToByteSlice;
    values.to_byte_slice()
}

/// Wire value differs from the Arrow native value; `narrow` returns `None` for a value the wire type
/// cannot hold (an out-of-range error names it; under a NULL the default is written instead).
fn converted<T, W>(
    enc: &mut Encoder<'_>,
    data_type: &DataType,
    array: &dyn Array,
    narrow: impl Fn(T::Native) -> Option<W>,
) -> Result<()>
where
    T: ArrowPrimitiveType,
    W: WireValue,
{
    let array = downcast::<T>(array)?;
    let out = enc.out();
    out.reserve(array.len() * W::WIDTH);
    for (index, value) in array.values().iter().enumerate() {
        let wire = match narrow(*value) {
            Some(wire) => wire,
            None if array.is_null(index) => W::default(),
            None => {
                return Err(Error::ValueOutOfRange {
                    value: format!("{value:?}"),
                    type_name: data_type.to_string(),
                });
            }
        };
        wire.write(out);
    }
    Ok(())
}

/// `DateTime64(p)` whose Arrow unit is finer than 10^-p s: ticks = value / factor, rounded down
/// (as ClickHouse truncates to the column's precision).
fn scaled_down<T>(
    enc: &mut Encoder<'_>,
    data_type: &DataType,
    array: &dyn Array,
    factor: i64,
) -> Result<()>
where
    T: ArrowPrimitiveType<Native = i64>,
{
    converted::<T, i64>(enc, data_type, array, |v| Some(v.div_euclid(factor)))
}

fn downcast<T: ArrowPrimitiveType>(array: &dyn Array) -> Result<&PrimitiveArray<T>> {
    array
        .as_any()
        .downcast_ref::<PrimitiveArray<T>>()
        .ok_or_else(|| Error::type_mismatch("fixed-width column", T::DATA_TYPE, array.data_type()))
}

/// Reads `rows` values whose wire layout is the Arrow native layout: one copy into an aligned buffer.
fn read_same<T: ArrowPrimitiveType>(
    dec: &mut Decoder<'_, '_>,
    rows: usize,
) -> Result<PrimitiveArray<T>> {
    let width = std::mem::size_of::<T::Native>();
    let bytes = dec.input()?.take_items(rows, width, "fixed-width column")?;
    let mut buffer = MutableBuffer::new(bytes.len());
    buffer.extend_from_slice(bytes);
    let values = ScalarBuffer::<T::Native>::new(Buffer::from(buffer), 0, rows);
    Ok(PrimitiveArray::<T>::try_new(values, None)?)
}

/// Reads `rows` wire values of type `W` and widens each to the Arrow native value.
fn read_converted<W, T>(
    dec: &mut Decoder<'_, '_>,
    rows: usize,
    widen: impl Fn(W) -> T::Native,
) -> Result<PrimitiveArray<T>>
where
    W: WireValue,
    T: ArrowPrimitiveType,
{
    let bytes = dec
        .input()?
        .take_items(rows, W::WIDTH, "fixed-width column")?;
    let values: Vec<T::Native> = bytes
        .chunks_exact(W::WIDTH)
        .map(|chunk| widen(W::read(chunk)))
        .collect();
    Ok(PrimitiveArray::<T>::try_new(
        ScalarBuffer::from(values),
        None,
    )?)
}

fn encode_bool(enc: &mut Encoder<'_>, array: &dyn Array) -> Result<()> {
    let array = array
        .as_any()
        .downcast_ref::<BooleanArray>()
        .ok_or_else(|| Error::type_mismatch("Bool column", "Arrow Boolean", array.data_type()))?;
    let out = enc.out();
    out.reserve(array.len());
    out.extend(array.values().iter().map(u8::from));
    Ok(())
}

fn decode_bool(dec: &mut Decoder<'_, '_>, rows: usize) -> Result<ArrayRef> {
    let bytes = dec.input()?.take(rows, "Bool column")?;
    let bits = BooleanBuffer::collect_bool(rows, |index| bytes[index] != 0);
    Ok(Arc::new(BooleanArray::new(bits, None)))
}
