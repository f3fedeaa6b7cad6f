//! ClickHouse types as PostgreSQL types: the OID a client sees for each, its `typlen`, the type
//! modifier, and `format_type`'s name — one table for the wire (RowDescription) and the catalogs
//! (`pg_attribute`, `pg_type`).
//!
//! | ClickHouse | PostgreSQL |
//! |---|---|
//! | Int8, UInt8, Int16 | int2 |
//! | UInt16, Int32 | int4 |
//! | UInt32, Int64 | int8 |
//! | UInt64, (U)Int128/256, Decimal | numeric (so every value round-trips) |
//! | Float32, Float64 | float4, float8 |
//! | Bool | bool |
//! | String, FixedString, Enum, ... | text (ClickHouse's text form) |
//! | IPv4, IPv6 | inet |
//! | Array(T), Array(Array(T)) | T's array type (multidimensional when nested) |
//! | Map, Tuple | json |
//! | UUID | uuid |
//! | Date, Date32 | date |
//! | DateTime, DateTime64 | timestamp (the wall clock in the column's zone) |
//!
//! Nullable and LowCardinality are their inner type.

use granary_protocol::DataType;

/// A builtin PostgreSQL type: OID, name, `typlen`, `typcategory`, element type (arrays), array type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PgType {
    /// The OID, as PostgreSQL's.
    pub oid: u32,
    /// `typname`.
    pub name: &'static str,
    /// `typlen`: the fixed width, or −1.
    pub len: i16,
    /// `typcategory`.
    pub category: char,
    /// `typelem`: the element type of an array type (0 otherwise).
    pub element: u32,
    /// `typarray`: the array type of this type (0 for arrays).
    pub array: u32,
}

const fn scalar(oid: u32, name: &'static str, len: i16, category: char, array: u32) -> PgType {
    PgType {
        oid,
        name,
        len,
        category,
        element: 0,
        array,
    }
}

const fn array_of(oid: u32, name: &'static str, element: u32) -> PgType {
    PgType {
        oid,
        name,
        len: -1,
        category: 'A',
        element,
        array: 0,
    }
}

pub const BOOL: u32 = 16;
pub const BYTEA: u32 = 17;
pub const INT8: u32 = 20;
pub const INT2: u32 = 21;
pub const INT4: u32 = 23;
pub const TEXT: u32 = 25;
pub const JSON: u32 = 114;
pub const INET: u32 = 869;
pub const OID: u32 = 26;
pub const OID_ARRAY: u32 = 1028;

/// The field metadata key by which a catalog query's result column names its PostgreSQL type
/// (as an OID in decimal) where the ClickHouse type's own mapping would differ: OID columns are
/// `UInt32`, which is `int8` elsewhere, but clients expect `oid` and `oid[]` there.
pub const PG_TYPE_METADATA: &str = "granary.pg_type";
pub const FLOAT4: u32 = 700;
pub const FLOAT8: u32 = 701;
pub const BPCHAR: u32 = 1042;
pub const VARCHAR: u32 = 1043;
pub const DATE: u32 = 1082;
pub const TIMESTAMP: u32 = 1114;
pub const TIMESTAMPTZ: u32 = 1184;
pub const NUMERIC: u32 = 1700;
pub const UUID: u32 = 2950;

/// The builtin types Granary's values and catalogs use (PostgreSQL 15's OIDs and facts).
pub const TYPES: &[PgType] = &[
    scalar(BOOL, "bool", 1, 'B', 1000),
    scalar(BYTEA, "bytea", -1, 'U', 1001),
    scalar(18, "char", 1, 'Z', 1002),
    scalar(19, "name", 64, 'S', 1003),
    scalar(INT8, "int8", 8, 'N', 1016),
    scalar(INT2, "int2", 2, 'N', 1005),
    scalar(INT4, "int4", 4, 'N', 1007),
    scalar(TEXT, "text", -1, 'S', 1009),
    scalar(OID, "oid", 4, 'N', OID_ARRAY),
    scalar(JSON, "json", -1, 'U', 199),
    scalar(FLOAT4, "float4", 4, 'N', 1021),
    scalar(FLOAT8, "float8", 8, 'N', 1022),
    scalar(INET, "inet", -1, 'I', 1041),
    scalar(BPCHAR, "bpchar", -1, 'S', 1014),
    scalar(VARCHAR, "varchar", -1, 'S', 1015),
    scalar(DATE, "date", 4, 'D', 1182),
    scalar(1083, "time", 8, 'D', 1183),
    scalar(TIMESTAMP, "timestamp", 8, 'D', 1115),
    scalar(TIMESTAMPTZ, "timestamptz", 8, 'D', 1185),
    scalar(NUMERIC, "numeric", -1, 'N', 1231),
    scalar(UUID, "uuid", 16, 'U', 2951),
    array_of(1000, "_bool", BOOL),
    array_of(1001, "_bytea", BYTEA),
    array_of(1002, "_char", 18),
    array_of(1003, "_name", 19),
    array_of(1005, "_int2", INT2),
    array_of(1007, "_int4", INT4),
    array_of(1009, "_text", TEXT),
    array_of(1014, "_bpchar", BPCHAR),
    array_of(1015, "_varchar", VARCHAR),
    array_of(1016, "_int8", INT8),
    array_of(1021, "_float4", FLOAT4),
    array_of(1022, "_float8", FLOAT8),
    array_of(OID_ARRAY, "_oid", OID),
    array_of(1041, "_inet", INET),
    array_of(1115, "_timestamp", TIMESTAMP),
    array_of(1182, "_date", DATE),
    array_of(1183, "_time", 1083),
    array_of(1185, "_timestamptz", TIMESTAMPTZ),
    array_of(1231, "_numeric", NUMERIC),
    array_of(199, "_json", JSON),
    array_of(2951, "_uuid", UUID),
];

/// The builtin type of an OID.
pub fn by_oid(oid: u32) -> Option<&'static PgType> {
    TYPES.iter().find(|pg_type| pg_type.oid == oid)
}

/// The OID of the PostgreSQL type a ClickHouse type is sent as.
pub fn oid(data_type: &DataType) -> u32 {
    match data_type {
        DataType::Nullable(inner) | DataType::LowCardinality(inner) => oid(inner),
        DataType::Int8 | DataType::UInt8 | DataType::Int16 => INT2,
        DataType::UInt16 | DataType::Int32 => INT4,
        DataType::UInt32 | DataType::Int64 => INT8,
        DataType::UInt64
        | DataType::Int128
        | DataType::UInt128
        | DataType::Int256
        | DataType::UInt256
        | DataType::Decimal(..) => NUMERIC,
        DataType::Float32 => FLOAT4,
        DataType::Float64 => FLOAT8,
        DataType::Bool => BOOL,
        DataType::Uuid => UUID,
        DataType::Date | DataType::Date32 => DATE,
        DataType::DateTime(_) | DataType::DateTime64(..) => TIMESTAMP,
        // Nested arrays are multidimensional arrays of the innermost element's array type.
        DataType::Array(inner) => {
            let mut element = inner.as_ref();
            while let DataType::Array(deeper) = element.strip_nullable() {
                element = deeper;
            }
            by_oid(oid(element)).map_or(TEXT, |pg_type| pg_type.array)
        }
        DataType::Map(..) | DataType::Tuple(_) => JSON,
        DataType::IPv4 | DataType::IPv6 => INET,
        _ => TEXT,
    }
}

/// `typlen` of a type by OID: its fixed width, or −1.
pub fn type_size(oid: u32) -> i16 {
    by_oid(oid).map_or(-1, |pg_type| pg_type.len)
}

/// The type modifier (`atttypmod`) of a ClickHouse type: a numeric's precision and scale, a
/// timestamp's fractional digits; −1 for none.
pub fn type_modifier(data_type: &DataType) -> i32 {
    let numeric = |precision: i32, scale: i32| (precision << 16 | scale) + 4;
    match data_type {
        DataType::Nullable(inner) | DataType::LowCardinality(inner) | DataType::Array(inner) => {
            type_modifier(inner)
        }
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

/// `format_type(oid, typmod)`: the SQL name of a type with its modifier, as psql's `\d` shows it.
pub fn format_type(oid: u32, modifier: i32) -> Option<String> {
    let pg_type = by_oid(oid)?;
    if pg_type.element != 0 {
        return format_type(pg_type.element, modifier).map(|name| format!("{name}[]"));
    }
    let with_modifier = |name: &str| {
        if modifier >= 4 {
            format!("{name}({})", modifier - 4)
        } else {
            name.to_string()
        }
    };
    Some(match oid {
        BOOL => "boolean".to_string(),
        INT2 => "smallint".to_string(),
        INT4 => "integer".to_string(),
        INT8 => "bigint".to_string(),
        FLOAT4 => "real".to_string(),
        FLOAT8 => "double precision".to_string(),
        VARCHAR => with_modifier("character varying"),
        BPCHAR => with_modifier("character"),
        NUMERIC if modifier >= 4 => {
            let value = modifier - 4;
            format!("numeric({},{})", value >> 16, value & 0xffff)
        }
        TIMESTAMP | TIMESTAMPTZ | 1083 => {
            let zone = if oid == TIMESTAMPTZ {
                "with time zone"
            } else {
                "without time zone"
            };
            let base = if oid == 1083 { "time" } else { "timestamp" };
            if modifier >= 0 {
                format!("{base}({modifier}) {zone}")
            } else {
                format!("{base} {zone}")
            }
        }
        18 => "\"char\"".to_string(),
        _ => pg_type.name.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_are_named_as_psql_shows_them() {
        assert_eq!(format_type(INT4, -1).as_deref(), Some("integer"));
        assert_eq!(
            format_type(NUMERIC, type_modifier(&DataType::UInt64)).as_deref(),
            Some("numeric(20,0)")
        );
        assert_eq!(
            format_type(TIMESTAMP, type_modifier(&DataType::DateTime64(3, None))).as_deref(),
            Some("timestamp(3) without time zone")
        );
        assert_eq!(format_type(1007, -1).as_deref(), Some("integer[]"));
        assert_eq!(format_type(123_456, -1), None);
        let nested = DataType::Array(Box::new(DataType::Array(Box::new(DataType::Nullable(
            Box::new(DataType::String),
        )))));
        assert_eq!(format_type(oid(&nested), -1).as_deref(), Some("text[]"));
        let tuple = DataType::Tuple(Vec::new());
        assert_eq!(format_type(oid(&tuple), -1).as_deref(), Some("json"));
    }

    #[test]
    fn every_array_type_has_its_element_and_back() {
        for pg_type in TYPES.iter().filter(|t| t.array != 0) {
            let array = by_oid(pg_type.array).unwrap();
            assert_eq!(array.element, pg_type.oid, "{}", pg_type.name);
        }
    }
}
