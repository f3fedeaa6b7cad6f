//! ClickHouse types as PostgreSQL types (the mapping is the engine's, shared with its catalogs:
//! `granary_engine::postgres::types`), values in PostgreSQL's text format, and the ClickHouse type
//! of a parameter whose place implies none.

use arrow_array::Array;
use granary_engine::postgres;
use granary_protocol::text::{TextStyle, value_to_string};
use granary_protocol::types::DataType;
use pgwire::api::Type;

/// How values are written for PostgreSQL clients: NULL is the protocol's own NULL, strings as they are.
const STYLE: TextStyle = TextStyle {
    null: "NULL",
    escape_top_level: false,
};

/// The PostgreSQL type of a ClickHouse type (the table is the engine's: [`postgres::types`]).
pub fn pg_type(data_type: &DataType) -> Type {
    Type::from_oid(postgres::types::oid(data_type)).unwrap_or(Type::TEXT)
}

/// `pg_type.typlen` of a type Granary sends: its fixed width, or −1.
pub fn type_size(pg_type: &Type) -> i16 {
    postgres::types::type_size(pg_type.oid())
}

/// The type modifier (`atttypmod`) of a ClickHouse type.
pub fn type_modifier(data_type: &DataType) -> i32 {
    postgres::types::type_modifier(data_type)
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
        _ => match postgres::types::by_oid(pg_type.oid()) {
            // An array type: an Array of its element's type (element types of the values are
            // not looked at).
            Some(array) if array.element != 0 => {
                let element = Type::from_oid(array.element).unwrap_or(Type::TEXT);
                DataType::Array(Box::new(DataType::Nullable(Box::new(parameter_type(
                    &element, None,
                )))))
            }
            _ => DataType::String,
        },
    }
}

/// The text of one value (`None` for NULL).
pub fn text_value(
    array: &dyn Array,
    row: usize,
    data_type: &DataType,
) -> granary_protocol::Result<Option<String>> {
    // A NullArray (the column of a bare NULL) has no validity bitmap: every value is NULL.
    if array.is_null(row) || *array.data_type() == arrow_schema::DataType::Null {
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
