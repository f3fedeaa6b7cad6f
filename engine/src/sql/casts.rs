//! `CAST(x AS T)`, `CAST(x, 'T')` and `x::T` with ClickHouse type names, as the conversion
//! functions of the target type (`toUInt32(x)`, `toDateTime(x, 'UTC')`,
//! `toNullable(toInt32(x))`...), so that a cast converts as ClickHouse does: wrapping integers,
//! truncating floats and decimals, reading dates in the target zone. SQL-standard names ClickHouse
//! accepts (`INTEGER`, `BIGINT`, `TEXT`) are its types; names it does not know and types without
//! a conversion function here (`Bool`, arrays, ...) stay DataFusion's casts.

use datafusion::sql::sqlparser::ast::{Expr, Value};
use granary_protocol::DataType;

use super::rewrite::function_call;
use crate::functions::decimals::DECIMAL_OF_PRECISION;

/// ClickHouse's type names, for reading them in any case (`FLOAT64` is `Float64`).
const TYPE_NAMES: &[&str] = &[
    "UInt8",
    "UInt16",
    "UInt32",
    "UInt64",
    "Int8",
    "Int16",
    "Int32",
    "Int64",
    "Float32",
    "Float64",
    "String",
    "Date",
    "Date32",
    "DateTime",
    "DateTime64",
    "Decimal",
    "Decimal32",
    "Decimal64",
    "Decimal128",
    "Decimal256",
    "Nullable",
    "LowCardinality",
    "UUID",
    "Array",
];

/// ClickHouse's spelling of a type name (`DECIMAL(10,2)` is `Decimal(10, 2)`); the name as given
/// when it is not a ClickHouse type.
pub fn type_name(text: &str) -> String {
    DataType::parse(text)
        .or_else(|_| DataType::parse(&canonical_case(text)))
        .map_or_else(|_| text.to_string(), |data_type| data_type.to_string())
}

/// The conversion `CAST(operand AS type_name)` is, when Granary converts to that type itself.
pub fn conversion(operand: Expr, type_name: &str) -> Option<Expr> {
    let data_type = DataType::parse(type_name)
        .or_else(|_| DataType::parse(&canonical_case(type_name)))
        .ok()?;
    to_type(operand, &data_type)
}

fn to_type(operand: Expr, data_type: &DataType) -> Option<Expr> {
    let number = |value: u64| Expr::value(Value::Number(value.to_string(), false));
    let text = |value: &str| Expr::value(Value::SingleQuotedString(value.to_string()));
    Some(match data_type {
        DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64
        | DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::Float32
        | DataType::Float64 => function_call(&format!("to{data_type}"), vec![operand]),
        DataType::String => function_call("toString", vec![operand]),
        DataType::Date => function_call("toDate", vec![operand]),
        DataType::Uuid => function_call("toUUID", vec![operand]),
        DataType::Date32 => function_call("toDate32", vec![operand]),
        DataType::DateTime(zone) => {
            let mut args = vec![operand];
            args.extend(zone.as_deref().map(text));
            function_call("toDateTime", args)
        }
        DataType::DateTime64(precision, zone) => {
            let mut args = vec![operand, number(u64::from(*precision))];
            args.extend(zone.as_deref().map(text));
            function_call("toDateTime64", args)
        }
        DataType::Decimal(precision, scale) => function_call(
            DECIMAL_OF_PRECISION,
            vec![
                operand,
                number(u64::from(*precision)),
                number(u64::from(*scale)),
            ],
        ),
        DataType::Nullable(inner) => function_call("toNullable", vec![to_type(operand, inner)?]),
        DataType::LowCardinality(inner) => to_type(operand, inner)?,
        // An array literal: each element converted.
        DataType::Array(inner) => match operand {
            Expr::Array(mut array) => {
                array.elem = array
                    .elem
                    .into_iter()
                    .map(|element| to_type(element, inner))
                    .collect::<Option<Vec<_>>>()?;
                Expr::Array(array)
            }
            _ => return None,
        },
        _ => return None,
    })
}

/// `type_name` with every word that is a ClickHouse type name in another case spelled as
/// ClickHouse does (`sqlparser` writes `Float64` as `FLOAT64`); quoted text is left alone.
fn canonical_case(type_name: &str) -> String {
    let mut out = String::with_capacity(type_name.len());
    let mut word = String::new();
    let mut quoted = false;
    let flush = |word: &mut String, out: &mut String| {
        let canonical = TYPE_NAMES
            .iter()
            .find(|name| name.eq_ignore_ascii_case(word));
        out.push_str(canonical.copied().unwrap_or(word));
        word.clear();
    };
    for c in type_name.chars() {
        if !quoted && c.is_ascii_alphanumeric() {
            word.push(c);
            continue;
        }
        flush(&mut word, &mut out);
        if c == '\'' {
            quoted = !quoted;
        }
        out.push(c);
    }
    flush(&mut word, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn converted(operand: &str, type_name: &str) -> Option<String> {
        let operand = Expr::Identifier(operand.into());
        conversion(operand, type_name).map(|expr| expr.to_string())
    }

    #[test]
    fn casts_of_array_literals_convert_each_element() {
        let literal = crate::sql::parser::parse_expression("['a', NULL]").unwrap();
        assert_eq!(
            conversion(literal, "Array(Nullable(STRING))").map(|e| e.to_string()),
            Some("[toNullable(toString('a')), toNullable(toString(NULL))]".to_string())
        );
        assert_eq!(converted("x", "Array(String)"), None);
    }

    #[test]
    fn casts_are_conversion_functions() {
        assert_eq!(converted("x", "UInt32").as_deref(), Some("toUInt32(x)"));
        assert_eq!(converted("x", "FLOAT64").as_deref(), Some("toFloat64(x)"));
        assert_eq!(
            converted("x", "Nullable(INT32)").as_deref(),
            Some("toNullable(toInt32(x))")
        );
        assert_eq!(
            converted("x", "DateTime64(3, 'Asia/Tokyo')").as_deref(),
            Some("toDateTime64(x, 3, 'Asia/Tokyo')")
        );
        assert_eq!(
            converted("x", "Decimal(10, 2)").as_deref(),
            Some("toDecimalOfPrecision(x, 10, 2)")
        );
        assert_eq!(
            converted("x", "LowCardinality(String)").as_deref(),
            Some("toString(x)")
        );
        // ClickHouse's aliases of SQL-standard names too.
        assert_eq!(converted("x", "INTEGER").as_deref(), Some("toInt32(x)"));
        assert_eq!(converted("x", "Bool"), None);
        assert_eq!(converted("x", "Array(UInt8)"), None);
    }

    #[test]
    fn type_names_are_read_in_any_case() {
        assert_eq!(canonical_case("FLOAT64"), "Float64");
        assert_eq!(
            canonical_case("DATETIME('Europe/Berlin')"),
            "DateTime('Europe/Berlin')"
        );
        assert_eq!(canonical_case("nullable(uint8)"), "Nullable(UInt8)");
    }
}
