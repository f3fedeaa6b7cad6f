//! ClickHouse types as PostgreSQL types, and values in PostgreSQL's text format.
//!
//! | ClickHouse | PostgreSQL |
//! |---|---|
//! | Int8, UInt8, Int16 | int2 |
//! | UInt16, Int32 | int4 |
//! | UInt32, Int64 | int8 |
//! | UInt64, (U)Int128/256, Decimal | numeric (so every value round-trips) |
//! | Float32, Float64 | float4, float8 (`Infinity`, `NaN` spelled as PostgreSQL does) |
//! | Bool | bool (`t`/`f`) |
//! | String, FixedString, Enum, IPv4/6, Array, Tuple, Map | text (ClickHouse's text form) |
//! | UUID | uuid |
//! | Date, Date32 | date |
//! | DateTime, DateTime64 | timestamp (the wall clock in the column's zone) |
//!
//! Nullable and LowCardinality are their inner type. Binary results arrive with the extended
//! protocol.

use arrow_array::Array;
use granary_protocol::text::{TextStyle, value_to_string};
use granary_protocol::types::DataType;
use pgwire::api::Type;

/// How values are written for PostgreSQL clients: NULL is the protocol's own NULL, strings as they are.
const STYLE: TextStyle = TextStyle {
    null: "NULL",
    escape_top_level: false,
};

/// The PostgreSQL type of a ClickHouse type.
pub fn pg_type(data_type: &DataType) -> Type {
    match data_type {
        DataType::Nullable(inner) | DataType::LowCardinality(inner) => pg_type(inner),
        DataType::Int8 | DataType::UInt8 | DataType::Int16 => Type::INT2,
        DataType::UInt16 | DataType::Int32 => Type::INT4,
        DataType::UInt32 | DataType::Int64 => Type::INT8,
        DataType::UInt64
        | DataType::Int128
        | DataType::UInt128
        | DataType::Int256
        | DataType::UInt256
        | DataType::Decimal(..) => Type::NUMERIC,
        DataType::Float32 => Type::FLOAT4,
        DataType::Float64 => Type::FLOAT8,
        DataType::Bool => Type::BOOL,
        DataType::Uuid => Type::UUID,
        DataType::Date | DataType::Date32 => Type::DATE,
        DataType::DateTime(_) | DataType::DateTime64(..) => Type::TIMESTAMP,
        _ => Type::TEXT,
    }
}

/// `pg_type.typlen` of a type Granary sends: its fixed width, or −1.
pub fn type_size(pg_type: &Type) -> i16 {
    match *pg_type {
        Type::BOOL => 1,
        Type::INT2 => 2,
        Type::INT4 | Type::FLOAT4 | Type::DATE => 4,
        Type::INT8 | Type::FLOAT8 | Type::TIMESTAMP | Type::TIMESTAMPTZ => 8,
        Type::UUID => 16,
        _ => -1,
    }
}

/// The type modifier (`atttypmod`) of a ClickHouse type: a numeric's precision and scale, a
/// timestamp's fractional digits; −1 for none.
pub fn type_modifier(data_type: &DataType) -> i32 {
    let numeric = |precision: i32, scale: i32| (precision << 16 | scale) + 4;
    match data_type {
        DataType::Nullable(inner) | DataType::LowCardinality(inner) => type_modifier(inner),
        DataType::UInt64 => numeric(20, 0),
        DataType::Int128 | DataType::UInt128 => numeric(39, 0),
        DataType::Int256 => numeric(77, 0),
        DataType::UInt256 => numeric(78, 0),
        DataType::Decimal(precision, scale) => numeric(i32::from(*precision), i32::from(*scale)),
        DataType::DateTime(_) => 0,
        DataType::DateTime64(precision, _) => i32::from((*precision).min(6)),
        _ => -1,
    }
}

/// The ClickHouse type a parameter of PostgreSQL type `pg_type` has when its place implies none.
pub fn parameter_type(pg_type: &Type, text: Option<&str>) -> DataType {
    match *pg_type {
        Type::BOOL => DataType::Bool,
        Type::INT2 => DataType::Int16,
        Type::INT4 => DataType::Int32,
        Type::INT8 => DataType::Int64,
        Type::FLOAT4 => DataType::Float32,
        Type::FLOAT8 => DataType::Float64,
        Type::DATE => DataType::Date32,
        Type::TIMESTAMP => DataType::DateTime64(6, None),
        Type::TIMESTAMPTZ => DataType::DateTime64(6, Some("UTC".to_string())),
        Type::UUID => DataType::Uuid,
        Type::NUMERIC => {
            // The value's own scale, within Decimal(38, s); wider numbers as Float64.
            let scale = text
                .and_then(|text| text.split_once('.'))
                .map_or(0, |(_, fraction)| fraction.len());
            let digits = text.map_or(0, |text| text.chars().filter(char::is_ascii_digit).count());
            match u8::try_from(scale) {
                Ok(scale) if digits <= 38 => DataType::Decimal(38, scale),
                _ => DataType::Float64,
            }
        }
        _ => DataType::String,
    }
}

/// The text of one value (`None` for NULL).
pub fn text_value(
    array: &dyn Array,
    row: usize,
    data_type: &DataType,
) -> granary_protocol::Result<Option<String>> {
    if array.is_null(row) {
        return Ok(None);
    }
    let text = value_to_string(array, row, data_type, STYLE)?;
    let plain = match data_type {
        DataType::Nullable(inner) | DataType::LowCardinality(inner) => inner.as_ref(),
        other => other,
    };
    Ok(Some(match plain {
        DataType::Bool => if text == "true" { "t" } else { "f" }.to_string(),
        DataType::Float32 | DataType::Float64 => match text.as_str() {
            "inf" => "Infinity".to_string(),
            "-inf" => "-Infinity".to_string(),
            "nan" | "-nan" => "NaN".to_string(),
            _ => text,
        },
        _ => text,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn unsigned_64_bit_values_are_numeric_and_exact() {
        assert_eq!(pg_type(&DataType::UInt64), Type::NUMERIC);
        let array: Arc<dyn Array> = Arc::new(arrow_array::UInt64Array::from(vec![u64::MAX]));
        assert_eq!(
            text_value(array.as_ref(), 0, &DataType::UInt64)
                .unwrap()
                .as_deref(),
            Some("18446744073709551615")
        );
    }

    #[test]
    fn booleans_and_special_floats_are_spelled_as_postgresql_does() {
        let flags: Arc<dyn Array> = Arc::new(arrow_array::BooleanArray::from(vec![true, false]));
        assert_eq!(
            text_value(flags.as_ref(), 0, &DataType::Bool)
                .unwrap()
                .as_deref(),
            Some("t")
        );
        assert_eq!(
            text_value(flags.as_ref(), 1, &DataType::Bool)
                .unwrap()
                .as_deref(),
            Some("f")
        );
        let floats: Arc<dyn Array> = Arc::new(arrow_array::Float64Array::from(vec![
            f64::INFINITY,
            f64::NAN,
            1.5,
        ]));
        let texts: Vec<_> = (0..3)
            .map(|row| {
                text_value(floats.as_ref(), row, &DataType::Float64)
                    .unwrap()
                    .unwrap()
            })
            .collect();
        assert_eq!(texts, ["Infinity", "NaN", "1.5"]);
    }
}
