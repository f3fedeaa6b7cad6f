//! Arrow values rendered in the notation of the vectors' `.json` files, and comparison with them.

use arrow_array::cast::AsArray;
use arrow_array::types::*;
use arrow_array::{Array, ArrayRef};
use granary_protocol::DataType;
use serde_json::{Value, json};

fn integer(text: String) -> Value {
    // The vectors write integers below 2^63 in magnitude as numbers and larger ones as strings.
    match text.parse::<i64>() {
        Ok(value) if value != i64::MIN => json!(value),
        _ => json!(text),
    }
}

fn float(value: f64) -> Value {
    if value.is_nan() {
        json!("nan")
    } else if value.is_infinite() {
        json!(if value > 0.0 { "inf" } else { "-inf" })
    } else {
        json!(value)
    }
}

fn bytes(value: &[u8]) -> Value {
    match std::str::from_utf8(value) {
        Ok(text) if text.chars().all(|c| !c.is_control()) => json!(text),
        _ => json!({ "hex": hex::encode(value) }),
    }
}

fn uuid_text(value: &[u8]) -> String {
    let h = hex::encode(value);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// The value of `row` of `array` (decoded as `data_type`) in the vectors' notation.
pub fn value_at(data_type: &DataType, array: &ArrayRef, row: usize) -> Value {
    if array.is_null(row) && !matches!(data_type, DataType::LowCardinality(_)) {
        return Value::Null;
    }
    match data_type {
        DataType::Nullable(inner) | DataType::SimpleAggregateFunction(_, inner) => {
            value_at(inner, array, row)
        }
        DataType::UInt8 => json!(array.as_primitive::<UInt8Type>().value(row)),
        DataType::UInt16 => json!(array.as_primitive::<UInt16Type>().value(row)),
        DataType::UInt32 | DataType::IPv4 => json!(array.as_primitive::<UInt32Type>().value(row)),
        DataType::UInt64 => integer(array.as_primitive::<UInt64Type>().value(row).to_string()),
        DataType::Int8 => json!(array.as_primitive::<Int8Type>().value(row)),
        DataType::Int16 => json!(array.as_primitive::<Int16Type>().value(row)),
        DataType::Int32 => json!(array.as_primitive::<Int32Type>().value(row)),
        DataType::Int64 => integer(array.as_primitive::<Int64Type>().value(row).to_string()),
        DataType::UInt128 => integer(
            u128::from_le_bytes(array.as_fixed_size_binary().value(row).try_into().unwrap())
                .to_string(),
        ),
        DataType::Int128 => integer(
            i128::from_le_bytes(array.as_fixed_size_binary().value(row).try_into().unwrap())
                .to_string(),
        ),
        DataType::UInt256 | DataType::Int256 => {
            let le: [u8; 32] = array.as_fixed_size_binary().value(row).try_into().unwrap();
            let signed = arrow_buffer::i256::from_le_bytes(le);
            if matches!(data_type, DataType::Int256) || signed >= arrow_buffer::i256::ZERO {
                integer(signed.to_string())
            } else {
                // Unsigned value with the top bit set: render 2^256 + signed via u128 halves.
                let (low, high) = (
                    u128::from_le_bytes(le[..16].try_into().unwrap()),
                    u128::from_le_bytes(le[16..].try_into().unwrap()),
                );
                json!(big_unsigned(high, low))
            }
        }
        DataType::Float32 => float(f64::from(array.as_primitive::<Float32Type>().value(row))),
        DataType::Float64 => float(array.as_primitive::<Float64Type>().value(row)),
        DataType::Bool => json!(array.as_boolean().value(row)),
        DataType::String => bytes(array.as_string::<i32>().value(row).as_bytes()),
        DataType::FixedString(_) => bytes(array.as_fixed_size_binary().value(row)),
        DataType::Date | DataType::Date32 => json!(array.as_primitive::<Date32Type>().value(row)),
        DataType::DateTime(_) => json!(array.as_primitive::<TimestampSecondType>().value(row)),
        DataType::DateTime64(precision, _) => {
            let (_, factor) = granary_protocol::types::datetime64_unit(*precision);
            let raw = match array.data_type() {
                arrow_schema::DataType::Timestamp(arrow_schema::TimeUnit::Second, _) => {
                    array.as_primitive::<TimestampSecondType>().value(row)
                }
                arrow_schema::DataType::Timestamp(arrow_schema::TimeUnit::Millisecond, _) => {
                    array.as_primitive::<TimestampMillisecondType>().value(row)
                }
                arrow_schema::DataType::Timestamp(arrow_schema::TimeUnit::Microsecond, _) => {
                    array.as_primitive::<TimestampMicrosecondType>().value(row)
                }
                _ => array.as_primitive::<TimestampNanosecondType>().value(row),
            };
            integer((raw / factor).to_string())
        }
        DataType::Decimal(precision, scale) => {
            let unscaled = if *precision <= 38 {
                array
                    .as_primitive::<Decimal128Type>()
                    .value(row)
                    .to_string()
            } else {
                array
                    .as_primitive::<Decimal256Type>()
                    .value(row)
                    .to_string()
            };
            json!(format!("{unscaled}e-{scale}"))
        }
        DataType::Uuid => json!(uuid_text(array.as_fixed_size_binary().value(row))),
        DataType::IPv6 => json!(hex::encode(array.as_fixed_size_binary().value(row))),
        DataType::Enum8(items) => {
            let key = array.as_dictionary::<Int8Type>().keys().value(row);
            json!(items[key as usize].1)
        }
        DataType::Enum16(items) => {
            let key = array.as_dictionary::<Int16Type>().keys().value(row);
            json!(items[key as usize].1)
        }
        DataType::LowCardinality(inner)
            if !matches!(array.data_type(), arrow_schema::DataType::Dictionary(..)) =>
        {
            value_at(inner, array, row)
        }
        DataType::LowCardinality(inner) => {
            let dictionary = array.as_dictionary::<Int32Type>();
            if dictionary.keys().is_null(row) {
                return Value::Null;
            }
            let key = dictionary.keys().value(row) as usize;
            value_at(inner.strip_nullable(), dictionary.values(), key)
        }
        DataType::Array(inner) => {
            let list = array.as_list::<i32>();
            let items = list.value(row);
            Value::Array(
                (0..items.len())
                    .map(|i| value_at(inner, &items, i))
                    .collect(),
            )
        }
        DataType::Map(key, value) => {
            let map = array.as_map();
            let entries = map.value(row);
            let keys = entries.column(0);
            let values = entries.column(1);
            Value::Array(
                (0..entries.len())
                    .map(|i| json!([value_at(key, keys, i), value_at(value, values, i)]))
                    .collect(),
            )
        }
        DataType::Tuple(elements) => {
            let tuple = array.as_struct();
            Value::Array(
                elements
                    .iter()
                    .enumerate()
                    .map(|(i, e)| value_at(&e.data_type, tuple.column(i), row))
                    .collect(),
            )
        }
        DataType::AggregateFunction(_) => {
            json!({ "state_hex": hex::encode(array.as_binary::<i32>().value(row)) })
        }
        DataType::Nothing => Value::Null,
    }
}

fn big_unsigned(high: u128, low: u128) -> String {
    // Decimal rendering of high * 2^128 + low by repeated division of base-2^32 limbs.
    let mut limbs: Vec<u64> = [
        high >> 96,
        (high >> 64) & 0xffff_ffff,
        (high >> 32) & 0xffff_ffff,
        high & 0xffff_ffff,
        low >> 96,
        (low >> 64) & 0xffff_ffff,
        (low >> 32) & 0xffff_ffff,
        low & 0xffff_ffff,
    ]
    .iter()
    .map(|limb| *limb as u64)
    .collect();
    let mut digits = Vec::new();
    while limbs.iter().any(|limb| *limb != 0) {
        let mut remainder = 0u64;
        for limb in limbs.iter_mut() {
            let current = (remainder << 32) | *limb;
            *limb = current / 10;
            remainder = current % 10;
        }
        digits.push(char::from(b'0' + remainder as u8));
    }
    if digits.is_empty() {
        return "0".into();
    }
    digits.iter().rev().collect()
}

/// Whether an actual value equals an expected one from the vectors (numbers compared as numbers,
/// `{"hex": ...}` compared with text by bytes).
pub fn same(expected: &Value, actual: &Value) -> bool {
    match (expected, actual) {
        (Value::Number(e), Value::Number(a)) => e == a || e.as_f64() == a.as_f64(),
        (Value::String(e), Value::Number(a)) | (Value::Number(a), Value::String(e)) => {
            e == &a.to_string()
        }
        (Value::Object(e), Value::String(a)) if e.contains_key("hex") => {
            e["hex"] == json!(hex::encode(a.as_bytes()))
        }
        (Value::String(e), Value::Object(a)) if a.contains_key("hex") => {
            a["hex"] == json!(hex::encode(e.as_bytes()))
        }
        (Value::Array(e), Value::Array(a)) => {
            e.len() == a.len() && e.iter().zip(a).all(|(e, a)| same(e, a))
        }
        // Aggregate states are checked byte for byte by re-encoding, not by their decoded form.
        (Value::Object(_), Value::Object(a)) if a.contains_key("state_hex") => true,
        _ => expected == actual,
    }
}

/// Asserts that every expected value of a decoded column matches.
pub fn assert_column(context: &str, data_type: &DataType, array: &ArrayRef, expected: &[Value]) {
    for (row, expected) in expected.iter().enumerate() {
        if expected
            .as_str()
            .is_some_and(|text| text.starts_with("... "))
        {
            break; // a truncated listing
        }
        let actual = value_at(data_type, array, row);
        assert!(
            same(expected, &actual),
            "{context} row {row}: expected {expected}, decoded {actual}"
        );
    }
}
