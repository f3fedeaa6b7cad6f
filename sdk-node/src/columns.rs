//! Columns between JavaScript and Arrow.
//!
//! In: each column arrives in one form `index.js` chose — a TypedArray's bytes with its element
//! kind (`int8` … `uint64`, `float32`, `float64`; one copy, no per-value work), or a plain array
//! of strings, numbers, bigints, booleans or dates (ms since the epoch), nulls allowed, or arrays
//! (Array columns) and objects or Maps (Map columns) of those, flattened with offsets. Numbers
//! that are all integers become Int64 so that the client converts them to the table's integer
//! type exactly; bigints become Int64, or UInt64 when one exceeds Int64.
//!
//! Out: each result column is numbers (up to 32-bit integers and floats), bigints (Int64),
//! unsigned bigints (UInt64), booleans, dates (DateTime/DateTime64, ms since the epoch) or
//! strings — ClickHouse's text form for every other type — with a null mask where it has NULLs.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type, UInt16Type,
    UInt32Type, UInt64Type,
};
use arrow_array::{
    Array, ArrayRef, BooleanArray, Float32Array, Float64Array, Int8Array, Int16Array, Int32Array,
    Int64Array, PrimitiveArray, RecordBatch, StringArray, TimestampMillisecondArray, UInt8Array,
    UInt16Array, UInt32Array, UInt64Array,
};
use arrow_array::{ListArray, MapArray, StructArray};
use arrow_buffer::{NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow_cast::cast;
use arrow_schema::{DataType as ArrowType, Field, Fields, TimeUnit};
use granary_protocol::text::{TextStyle, value_to_string};
use granary_protocol::types::field_clickhouse_type;
use granary_protocol::{DataType, ErrorCode};
use napi::bindgen_prelude::{
    BigInt, BigInt64Array, BigUint64Array, Float64Array as JsF64, Uint8Array,
};
use napi_derive::napi;

use crate::errors::client_error;

/// One column of an insert, in the form `index.js` chose for it.
#[napi(object)]
pub struct ColumnInput {
    /// The table's column.
    pub name: String,
    /// `int8` … `uint64`, `float32`, `float64` (in `bytes`), or `string`, `number`, `bigint`,
    /// `boolean`, `date` (in the field of that name).
    pub kind: String,
    /// A TypedArray's bytes (little-endian values).
    pub bytes: Option<Uint8Array>,
    pub strings: Option<Vec<Option<String>>>,
    /// Numbers, or dates as ms since the epoch.
    pub numbers: Option<Vec<Option<f64>>>,
    pub bigints: Option<Vec<Option<BigInt>>>,
    pub booleans: Option<Vec<Option<bool>>>,
    /// `list`: the items; `map`: the keys and the values (with `bytes` holding Int32 offsets).
    pub children: Option<Vec<ColumnInput>>,
    /// `list`, `map`: 1 where the value is NULL.
    pub nulls: Option<Uint8Array>,
}

/// One column of a result.
#[napi(object)]
pub struct ColumnOutput {
    pub name: String,
    /// The ClickHouse type.
    #[napi(js_name = "type")]
    pub type_name: String,
    /// `number`, `bigint`, `ubigint`, `boolean`, `date` or `string`: which field holds the values.
    pub kind: String,
    pub numbers: Option<JsF64>,
    pub bigints: Option<BigInt64Array>,
    pub ubigints: Option<BigUint64Array>,
    pub strings: Option<Vec<String>>,
    /// 1 where the value is NULL; absent without NULLs.
    pub nulls: Option<Uint8Array>,
}

/// The columns as one batch (every column the same length).
pub(crate) fn batch(columns: Vec<ColumnInput>) -> napi::Result<RecordBatch> {
    let mut named = Vec::with_capacity(columns.len());
    for column in columns {
        let array = array(&column)?;
        named.push((column.name, array));
    }
    if named.is_empty() {
        return Err(client_error(
            ErrorCode::BAD_ARGUMENTS,
            "an insert needs at least one column",
        ));
    }
    let rows = named[0].1.len();
    if let Some((name, array)) = named.iter().find(|(_, array)| array.len() != rows) {
        return Err(client_error(
            ErrorCode::SIZES_OF_COLUMNS_DOESNT_MATCH,
            format!(
                "column {name} has {} values, column {} has {rows}",
                array.len(),
                named[0].0
            ),
        ));
    }
    RecordBatch::try_from_iter(named)
        .map_err(|error| client_error(ErrorCode::BAD_ARGUMENTS, error.to_string()))
}

fn missing(column: &ColumnInput, field: &str) -> napi::Error {
    client_error(
        ErrorCode::BAD_ARGUMENTS,
        format!(
            "column {} of kind {} has no {field}",
            column.name, column.kind
        ),
    )
}

/// Little-endian values of `N` bytes each, decoded by `read`.
fn decode<T, const N: usize>(column: &ColumnInput, read: fn([u8; N]) -> T) -> napi::Result<Vec<T>> {
    let bytes = column
        .bytes
        .as_ref()
        .ok_or_else(|| missing(column, "bytes"))?;
    let bytes: &[u8] = bytes;
    if !bytes.len().is_multiple_of(N) {
        return Err(client_error(
            ErrorCode::BAD_ARGUMENTS,
            format!(
                "column {}: {} bytes is not a whole number of values",
                column.name,
                bytes.len()
            ),
        ));
    }
    Ok(bytes
        .chunks_exact(N)
        .map(|chunk| {
            read(
                chunk
                    .try_into()
                    .unwrap_or_else(|_| unreachable!("chunks of N")),
            )
        })
        .collect())
}

fn array(column: &ColumnInput) -> napi::Result<ArrayRef> {
    macro_rules! typed {
        ($array:ty, $native:ty) => {
            Arc::new(<$array>::from(decode::<$native, { size_of::<$native>() }>(
                column,
                <$native>::from_le_bytes,
            )?)) as ArrayRef
        };
    }
    Ok(match column.kind.as_str() {
        "int8" => typed!(Int8Array, i8),
        "uint8" => typed!(UInt8Array, u8),
        "int16" => typed!(Int16Array, i16),
        "uint16" => typed!(UInt16Array, u16),
        "int32" => typed!(Int32Array, i32),
        "uint32" => typed!(UInt32Array, u32),
        "int64" => typed!(Int64Array, i64),
        "uint64" => typed!(UInt64Array, u64),
        "float32" => typed!(Float32Array, f32),
        "float64" => typed!(Float64Array, f64),
        "string" => {
            let values = column
                .strings
                .as_ref()
                .ok_or_else(|| missing(column, "strings"))?;
            Arc::new(StringArray::from_iter(values.iter().map(Option::as_deref)))
        }
        "boolean" => {
            let values = column
                .booleans
                .as_ref()
                .ok_or_else(|| missing(column, "booleans"))?;
            Arc::new(BooleanArray::from(values.clone()))
        }
        "date" => {
            let values = column
                .numbers
                .as_ref()
                .ok_or_else(|| missing(column, "numbers"))?;
            Arc::new(TimestampMillisecondArray::from_iter(
                values.iter().map(|value| value.map(|ms| ms as i64)),
            ))
        }
        "number" => {
            let values = column
                .numbers
                .as_ref()
                .ok_or_else(|| missing(column, "numbers"))?;
            // 2^53: beyond it a double no longer holds every integer.
            let integral = values
                .iter()
                .flatten()
                .all(|value| value.fract() == 0.0 && value.abs() <= 9_007_199_254_740_992.0);
            if integral {
                Arc::new(Int64Array::from_iter(
                    values.iter().map(|value| value.map(|v| v as i64)),
                ))
            } else {
                Arc::new(Float64Array::from(values.clone()))
            }
        }
        "bigint" => {
            let values = column
                .bigints
                .as_ref()
                .ok_or_else(|| missing(column, "bigints"))?;
            bigints(column, values)?
        }
        "list" | "map" => nested(column)?,
        other => {
            return Err(client_error(
                ErrorCode::BAD_ARGUMENTS,
                format!("column {}: unknown kind {other}", column.name),
            ));
        }
    })
}

/// A `list` (Array) or `map` (Map) column: Int32 offsets in `bytes`, the items (or the keys and
/// the values) in `children`.
fn nested(column: &ColumnInput) -> napi::Result<ArrayRef> {
    let offsets = decode::<i32, 4>(column, i32::from_le_bytes)?;
    let children = column.children.as_deref().unwrap_or_default();
    let bad = |reason: &str| {
        client_error(
            ErrorCode::BAD_ARGUMENTS,
            format!("column {}: {reason}", column.name),
        )
    };
    let rows = offsets
        .len()
        .checked_sub(1)
        .ok_or_else(|| bad("no offsets"))?;
    let offsets = OffsetBuffer::new(ScalarBuffer::from(offsets));
    let nulls = match &column.nulls {
        Some(nulls) if nulls.len() != rows => return Err(bad("a null mask of another length")),
        Some(nulls) => Some(NullBuffer::from(
            nulls.iter().map(|null| *null == 0).collect::<Vec<bool>>(),
        )),
        None => None,
    };
    let arrow = |error: arrow_schema::ArrowError| bad(&error.to_string());
    match (column.kind.as_str(), children) {
        ("list", [items]) => {
            let items = array(items)?;
            let field = Arc::new(Field::new("item", items.data_type().clone(), true));
            Ok(Arc::new(
                ListArray::try_new(field, offsets, items, nulls).map_err(arrow)?,
            ))
        }
        ("map", [keys, values]) => {
            let (keys, values) = (array(keys)?, array(values)?);
            let entries = StructArray::try_new(
                Fields::from(vec![
                    Field::new("key", keys.data_type().clone(), false),
                    Field::new("value", values.data_type().clone(), true),
                ]),
                vec![keys, values],
                None,
            )
            .map_err(arrow)?;
            let field = Arc::new(Field::new("entries", entries.data_type().clone(), false));
            Ok(Arc::new(
                MapArray::try_new(field, offsets, entries, nulls, false).map_err(arrow)?,
            ))
        }
        _ => Err(bad("a list needs one child column, a map two")),
    }
}

/// BigInts as Int64, or as UInt64 when one is above Int64's range (then none may be negative).
fn bigints(column: &ColumnInput, values: &[Option<BigInt>]) -> napi::Result<ArrayRef> {
    let out_of_range = || {
        client_error(
            ErrorCode::VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE,
            format!("column {}: a bigint outside the 64-bit range", column.name),
        )
    };
    let mut signed = Vec::with_capacity(values.len());
    let mut fits_signed = true;
    for value in values {
        match value {
            None => signed.push(None),
            Some(value) => {
                let (number, lossless) = value.get_i64();
                if !lossless || (number < 0) != value.sign_bit {
                    fits_signed = false;
                    break;
                }
                signed.push(Some(number));
            }
        }
    }
    if fits_signed {
        return Ok(Arc::new(Int64Array::from(signed)));
    }
    let mut unsigned = Vec::with_capacity(values.len());
    for value in values {
        match value {
            None => unsigned.push(None),
            Some(value) => {
                let (negative, number, lossless) = value.get_u64();
                if negative || !lossless {
                    return Err(out_of_range());
                }
                unsigned.push(Some(number));
            }
        }
    }
    Ok(Arc::new(UInt64Array::from(unsigned)))
}

/// Result batches (of one schema) as columns.
pub(crate) fn outputs(
    schema: &arrow_schema::Schema,
    batches: &[RecordBatch],
) -> napi::Result<Vec<ColumnOutput>> {
    let mut columns = Vec::with_capacity(schema.fields().len());
    for (index, field) in schema.fields().iter().enumerate() {
        let parts: Vec<&dyn Array> = batches
            .iter()
            .map(|batch| batch.column(index).as_ref())
            .collect();
        let whole = arrow_select_concat(&parts)?;
        let clickhouse = field_clickhouse_type(field).map_err(crate::errors::to_js)?;
        columns.push(output(field.name(), &clickhouse, &whole)?);
    }
    Ok(columns)
}

fn arrow_select_concat(parts: &[&dyn Array]) -> napi::Result<ArrayRef> {
    match parts {
        [] => Err(client_error(
            ErrorCode::LOGICAL_ERROR,
            "no batches to concatenate",
        )),
        [one] => Ok(arrow_array::make_array(one.to_data())),
        _ => arrow_select::concat::concat(parts)
            .map_err(|error| client_error(ErrorCode::LOGICAL_ERROR, error.to_string())),
    }
}

fn output(name: &str, clickhouse: &DataType, array: &ArrayRef) -> napi::Result<ColumnOutput> {
    let nulls = array.logical_nulls().map(|nulls| {
        Uint8Array::from(
            nulls
                .iter()
                .map(|valid| u8::from(!valid))
                .collect::<Vec<u8>>(),
        )
    });
    let mut column = ColumnOutput {
        name: name.to_string(),
        type_name: clickhouse.to_string(),
        kind: String::new(),
        numbers: None,
        bigints: None,
        ubigints: None,
        strings: None,
        nulls,
    };
    fn as_f64<T: arrow_array::ArrowPrimitiveType>(array: &ArrayRef) -> JsF64
    where
        T::Native: Into<f64>,
    {
        let values: &PrimitiveArray<T> = array.as_primitive();
        JsF64::from(
            values
                .values()
                .iter()
                .map(|&v| v.into())
                .collect::<Vec<f64>>(),
        )
    }
    match array.data_type() {
        ArrowType::Int8 => column.numbers = Some(as_f64::<Int8Type>(array)),
        ArrowType::Int16 => column.numbers = Some(as_f64::<Int16Type>(array)),
        ArrowType::Int32 => column.numbers = Some(as_f64::<Int32Type>(array)),
        ArrowType::UInt8 => column.numbers = Some(as_f64::<UInt8Type>(array)),
        ArrowType::UInt16 => column.numbers = Some(as_f64::<UInt16Type>(array)),
        // IPv4 travels as UInt32; it reads as its dotted text.
        ArrowType::UInt32 if !matches!(clickhouse.strip_nullable(), DataType::IPv4) => {
            column.numbers = Some(as_f64::<UInt32Type>(array))
        }
        ArrowType::Float32 => column.numbers = Some(as_f64::<Float32Type>(array)),
        ArrowType::Float64 => column.numbers = Some(as_f64::<Float64Type>(array)),
        ArrowType::Int64 => {
            let values = array.as_primitive::<Int64Type>();
            column.bigints = Some(BigInt64Array::from(values.values().to_vec()));
        }
        ArrowType::UInt64 => {
            let values = array.as_primitive::<UInt64Type>();
            column.ubigints = Some(BigUint64Array::from(values.values().to_vec()));
        }
        ArrowType::Boolean => {
            let values = array.as_boolean();
            column.numbers = Some(JsF64::from(
                values
                    .values()
                    .iter()
                    .map(|v| f64::from(u8::from(v)))
                    .collect::<Vec<f64>>(),
            ));
            column.kind = "boolean".to_string();
        }
        ArrowType::Timestamp(_, _) => {
            let millis = cast(array, &ArrowType::Timestamp(TimeUnit::Millisecond, None))
                .map_err(|error| client_error(ErrorCode::LOGICAL_ERROR, error.to_string()))?;
            let millis = millis.as_primitive::<arrow_array::types::TimestampMillisecondType>();
            column.numbers = Some(JsF64::from(
                millis
                    .values()
                    .iter()
                    .map(|&ms| ms as f64)
                    .collect::<Vec<f64>>(),
            ));
            column.kind = "date".to_string();
        }
        _ => {
            let mut strings = Vec::with_capacity(array.len());
            for row in 0..array.len() {
                strings.push(if array.is_null(row) {
                    String::new()
                } else {
                    value_to_string(array.as_ref(), row, clickhouse, TextStyle::PLAIN)
                        .map_err(crate::errors::to_js)?
                });
            }
            column.strings = Some(strings);
            column.kind = "string".to_string();
        }
    }
    if column.kind.is_empty() {
        column.kind = if column.bigints.is_some() {
            "bigint"
        } else if column.ubigints.is_some() {
            "ubigint"
        } else {
            "number"
        }
        .to_string();
    }
    Ok(column)
}
