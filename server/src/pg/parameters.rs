//! The values of a `Bind`: each parameter read in its format (text, or binary by its declared
//! type) and typed by its place in the statement, or by its declared type where the place implies
//! none — PostgreSQL's rules, including the spellings clients send for dates, timestamps and
//! booleans (`2024-02-29 +00`, `2024-02-29T13:45:56.123+00:00`, `TRUE`).

use bytes::Bytes;
use granary_engine::Parameter;
use granary_protocol::DataType;
use pgwire::api::Type;

use super::binary::{self, Refusal};
use super::composite;
use super::types::parameter_type;

/// How the client sent one parameter, and what the statement expects of it.
#[derive(Debug)]
pub struct Slot<'a> {
    /// The bytes (`None` is NULL).
    pub bytes: Option<&'a Bytes>,
    /// Whether the bytes are in binary format.
    pub binary: bool,
    /// The PostgreSQL type the bytes are in: declared by the client at Parse, or the one Granary
    /// described.
    pub pg_type: &'a Type,
    /// The type the parameter's place implies, if any.
    pub target: Option<&'a DataType>,
}

/// The engine parameter of one slot.
pub fn parameter(slot: &Slot<'_>) -> Result<Parameter, Refusal> {
    let array = granary_engine::postgres::types::by_oid(slot.pg_type.oid())
        .is_some_and(|pg_type| pg_type.element != 0);
    let text = match slot.bytes {
        None => None,
        Some(bytes) if slot.binary && array => {
            Some(composite::clickhouse_array_from_binary(bytes)?)
        }
        Some(bytes) if slot.binary => Some(binary::decode(slot.pg_type, bytes)?),
        Some(bytes) => Some(String::from_utf8(bytes.to_vec()).map_err(|_| Refusal {
            sqlstate: "22021",
            message: "a parameter is not valid UTF-8".to_string(),
        })?),
    };
    let data_type = match slot.target {
        Some(target) => target.strip_nullable().clone(),
        None => parameter_type(slot.pg_type, text.as_deref()),
    };
    let value = match text {
        Some(text)
            if matches!(data_type, DataType::Array(_)) && text.trim_start().starts_with('{') =>
        {
            Some(composite::clickhouse_array(&text)?)
        }
        other => other.map(|text| normalized(&data_type, text)),
    };
    Ok(Parameter { value, data_type })
}

/// `text` in the spelling ClickHouse reads for `data_type`.
pub(super) fn normalized(data_type: &DataType, text: String) -> String {
    match data_type.strip_nullable() {
        DataType::Date | DataType::Date32 => text
            .trim()
            .split([' ', 'T'])
            .next()
            .unwrap_or_default()
            .to_string(),
        DataType::DateTime(_) | DataType::DateTime64(..) => binary::timestamp_without_zone(&text),
        // An inet of one address may carry its full prefix length (`10.0.0.1/32`).
        DataType::IPv4 => text.trim().trim_end_matches("/32").to_string(),
        DataType::IPv6 => text.trim().trim_end_matches("/128").to_string(),
        DataType::Bool => match text.trim().to_ascii_lowercase().as_str() {
            "t" | "true" | "y" | "yes" | "on" | "1" => "true".to_string(),
            "f" | "false" | "n" | "no" | "off" | "0" => "false".to_string(),
            _ => text,
        },
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(value: &str, pg_type: &Type, target: Option<&DataType>) -> Parameter {
        let bytes = Bytes::from(value.to_string());
        parameter(&Slot {
            bytes: Some(&bytes),
            binary: false,
            pg_type,
            target,
        })
        .unwrap()
    }

    #[test]
    fn client_spellings_are_read_for_their_target() {
        // pgjdbc's setDate and setTimestamp, node-postgres's Date, booleans as TRUE.
        let date = text("2024-02-29 +00", &Type::UNKNOWN, Some(&DataType::Date));
        assert_eq!(date.value.as_deref(), Some("2024-02-29"));
        let at = text(
            "2024-02-29T13:45:56.123+00:00",
            &Type::UNKNOWN,
            Some(&DataType::DateTime64(3, None)),
        );
        assert_eq!(at.value.as_deref(), Some("2024-02-29 13:45:56.123"));
        let flag = text("TRUE", &Type::UNKNOWN, Some(&DataType::Bool));
        assert_eq!(flag.value.as_deref(), Some("true"));
    }

    #[test]
    fn untargeted_parameters_take_their_declared_type() {
        assert_eq!(text("5", &Type::INT2, None).data_type, DataType::Int16);
        assert_eq!(text("x", &Type::UNKNOWN, None).data_type, DataType::String);
        assert_eq!(
            text("12.50", &Type::NUMERIC, None).data_type,
            DataType::Decimal(38, 2)
        );
        // The place wins over the declaration: an int8 for an Int32 column is an Int32.
        assert_eq!(
            text("7", &Type::INT8, Some(&DataType::Int32)).data_type,
            DataType::Int32
        );
    }

    #[test]
    fn binary_parameters_are_read_by_their_type() {
        let bytes = Bytes::from(42i64.to_be_bytes().to_vec());
        let value = parameter(&Slot {
            bytes: Some(&bytes),
            binary: true,
            pg_type: &Type::INT8,
            target: Some(&DataType::UInt64),
        })
        .unwrap();
        assert_eq!(value.value.as_deref(), Some("42"));
        assert_eq!(value.data_type, DataType::UInt64);
        let null = parameter(&Slot {
            bytes: None,
            binary: true,
            pg_type: &Type::INT8,
            target: None,
        })
        .unwrap();
        assert_eq!(null.value, None);
    }
}
