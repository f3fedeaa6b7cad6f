//! ClickHouse data types: parsing and printing of type names, and their Arrow representation.
//!
//! [`DataType`] is the one description of a column type shared by disk, engine and wire. It prints
//! in ClickHouse's canonical spelling (`Decimal(9, 2)`, `DateTime64(3, 'UTC')`,
//! `Enum8('a' = 1, 'b' = 2)`), so `DataType::parse(s)?.to_string() == s` for every canonical name;
//! aliases (`BIGINT`, `Decimal32(2)`, `VARCHAR(255)`) parse to the type ClickHouse would print.

mod aggregate;
mod arrow;
mod parse;

use std::fmt;

pub use aggregate::{AggregateFunction, FunctionCall};
pub(crate) use arrow::child;
pub use arrow::{
    CLICKHOUSE_TYPE_KEY, datetime64_unit, field_clickhouse_type, field_for, tuple_element_name,
};

use crate::error::Result;

/// A ClickHouse column type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DataType {
    /// `UInt8`.
    UInt8,
    /// `UInt16`.
    UInt16,
    /// `UInt32`.
    UInt32,
    /// `UInt64`.
    UInt64,
    /// `UInt128`, little-endian over 16 bytes.
    UInt128,
    /// `UInt256`, little-endian over 32 bytes.
    UInt256,
    /// `Int8`.
    Int8,
    /// `Int16`.
    Int16,
    /// `Int32`.
    Int32,
    /// `Int64`.
    Int64,
    /// `Int128`.
    Int128,
    /// `Int256`.
    Int256,
    /// `Float32`.
    Float32,
    /// `Float64`.
    Float64,
    /// `Bool`: a UInt8 of 0 or 1 on the wire.
    Bool,
    /// `String`: arbitrary bytes.
    String,
    /// `FixedString(N)`: exactly N bytes per row.
    FixedString(usize),
    /// `Date`: days since 1970-01-01 as UInt16.
    Date,
    /// `Date32`: days since 1970-01-01 as Int32.
    Date32,
    /// `DateTime[('tz')]`: seconds since the epoch as UInt32.
    DateTime(Option<String>),
    /// `DateTime64(p[, 'tz'])`: ticks of 10^-p seconds as Int64.
    DateTime64(u8, Option<String>),
    /// `Decimal(P, S)`: unscaled integer of 4, 8, 16 or 32 bytes by precision.
    Decimal(u8, u8),
    /// `UUID`: two UInt64 halves, each little-endian, high half first.
    Uuid,
    /// `IPv4`: UInt32.
    IPv4,
    /// `IPv6`: 16 bytes in network order.
    IPv6,
    /// `Enum8(...)`: items sorted by value.
    Enum8(Vec<(String, i8)>),
    /// `Enum16(...)`: items sorted by value.
    Enum16(Vec<(String, i16)>),
    /// `Nullable(T)`.
    Nullable(Box<DataType>),
    /// `LowCardinality(T)`.
    LowCardinality(Box<DataType>),
    /// `Array(T)`.
    Array(Box<DataType>),
    /// `Tuple(...)`: element names are all present (named tuple) or all absent.
    Tuple(Vec<TupleElement>),
    /// `Map(K, V)`.
    Map(Box<DataType>, Box<DataType>),
    /// `AggregateFunction(f, T...)`: one serialized state per row.
    AggregateFunction(AggregateFunction),
    /// `SimpleAggregateFunction(f, T)`: encoded exactly as T.
    SimpleAggregateFunction(FunctionCall, Box<DataType>),
    /// `Nothing`: the type of a bare NULL (only inside `Nullable` or `Array` in practice).
    Nothing,
}

/// One element of a `Tuple`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TupleElement {
    /// The element name of a named tuple.
    pub name: Option<String>,
    /// The element type.
    pub data_type: DataType,
}

/// Width of the unscaled integer of a `Decimal(P, S)` on disk and on the wire.
pub fn decimal_bytes(precision: u8) -> usize {
    match precision {
        0..=9 => 4,
        10..=18 => 8,
        19..=38 => 16,
        _ => 32,
    }
}

/// The revision from which `DateTime('tz')` keeps its time zone on the wire.
pub const REVISION_DATETIME_TIME_ZONE: u64 = 54337;

impl DataType {
    /// Parses a ClickHouse type name (canonical spelling or an alias ClickHouse accepts).
    pub fn parse(text: &str) -> Result<DataType> {
        parse::parse_type(text)
    }

    /// The name to send in a block for a peer at the given negotiated revision (0 = Native format):
    /// below revision 54337 `DateTime('tz')` is sent as plain `DateTime`, as ClickHouse does.
    pub fn wire_name(&self, revision: u64) -> String {
        if revision >= REVISION_DATETIME_TIME_ZONE {
            return self.to_string();
        }
        self.without_datetime_time_zone().to_string()
    }

    fn without_datetime_time_zone(&self) -> DataType {
        match self {
            DataType::DateTime(Some(_)) => DataType::DateTime(None),
            other => other.map_children(&|child| child.without_datetime_time_zone()),
        }
    }

    /// A copy with `f` applied to each directly nested type (leaves are cloned unchanged).
    fn map_children(&self, f: &dyn Fn(&DataType) -> DataType) -> DataType {
        match self {
            DataType::Nullable(inner) => DataType::Nullable(Box::new(f(inner))),
            DataType::LowCardinality(inner) => DataType::LowCardinality(Box::new(f(inner))),
            DataType::Array(inner) => DataType::Array(Box::new(f(inner))),
            DataType::Map(key, value) => DataType::Map(Box::new(f(key)), Box::new(f(value))),
            DataType::Tuple(elements) => DataType::Tuple(
                elements
                    .iter()
                    .map(|e| TupleElement {
                        name: e.name.clone(),
                        data_type: f(&e.data_type),
                    })
                    .collect(),
            ),
            DataType::SimpleAggregateFunction(call, inner) => {
                DataType::SimpleAggregateFunction(call.clone(), Box::new(f(inner)))
            }
            DataType::AggregateFunction(function) => {
                DataType::AggregateFunction(AggregateFunction {
                    arguments: function.arguments.iter().map(f).collect(),
                    ..function.clone()
                })
            }
            leaf => leaf.clone(),
        }
    }

    /// True for `Nullable(T)`.
    pub fn is_nullable(&self) -> bool {
        matches!(self, DataType::Nullable(_))
    }

    /// The type without an outer `Nullable`.
    pub fn strip_nullable(&self) -> &DataType {
        match self {
            DataType::Nullable(inner) => inner,
            other => other,
        }
    }

    /// Whether `Nullable(self)` is a valid type (ClickHouse forbids composite types inside Nullable).
    pub fn can_be_inside_nullable(&self) -> bool {
        !matches!(
            self,
            DataType::Nullable(_)
                | DataType::LowCardinality(_)
                | DataType::Array(_)
                | DataType::Tuple(_)
                | DataType::Map(..)
                | DataType::AggregateFunction(_)
                | DataType::SimpleAggregateFunction(..)
        )
    }

    /// Whether `LowCardinality(self)` is a valid type: numbers, strings, dates, `DateTime`, UUID and
    /// IPs, or `Nullable` of those (ClickHouse refuses decimals, enums and `DateTime64`; it allows
    /// `Bool` only with a setting, which Granary does not offer).
    pub fn can_be_inside_low_cardinality(&self) -> bool {
        matches!(
            self.strip_nullable(),
            DataType::UInt8
                | DataType::UInt16
                | DataType::UInt32
                | DataType::UInt64
                | DataType::UInt128
                | DataType::UInt256
                | DataType::Int8
                | DataType::Int16
                | DataType::Int32
                | DataType::Int64
                | DataType::Int128
                | DataType::Int256
                | DataType::Float32
                | DataType::Float64
                | DataType::String
                | DataType::FixedString(_)
                | DataType::Date
                | DataType::Date32
                | DataType::DateTime(_)
                | DataType::Uuid
                | DataType::IPv4
                | DataType::IPv6
        )
    }

    /// Bytes per row for types whose values all have one size (numbers, dates, decimals, UUID, ...).
    pub fn fixed_width(&self) -> Option<usize> {
        Some(match self {
            DataType::UInt8 | DataType::Int8 | DataType::Bool | DataType::Enum8(_) => 1,
            DataType::UInt16 | DataType::Int16 | DataType::Date | DataType::Enum16(_) => 2,
            DataType::UInt32
            | DataType::Int32
            | DataType::Float32
            | DataType::Date32
            | DataType::DateTime(_)
            | DataType::IPv4 => 4,
            DataType::UInt64 | DataType::Int64 | DataType::Float64 | DataType::DateTime64(..) => 8,
            DataType::UInt128 | DataType::Int128 | DataType::Uuid | DataType::IPv6 => 16,
            DataType::UInt256 | DataType::Int256 => 32,
            DataType::Decimal(precision, _) => decimal_bytes(*precision),
            DataType::FixedString(n) => *n,
            _ => return None,
        })
    }
}

impl std::str::FromStr for DataType {
    type Err = crate::Error;

    fn from_str(text: &str) -> Result<DataType> {
        DataType::parse(text)
    }
}

/// Writes `text` as a single-quoted ClickHouse string literal (`'` and `\` escaped with `\`).
pub(crate) fn write_quoted(f: &mut fmt::Formatter<'_>, text: &str) -> fmt::Result {
    f.write_str("'")?;
    for ch in text.chars() {
        match ch {
            '\'' => f.write_str("\\'")?,
            '\\' => f.write_str("\\\\")?,
            other => write!(f, "{other}")?,
        }
    }
    f.write_str("'")
}

/// Writes an identifier, back-quoted when it is not a plain `[A-Za-z_][A-Za-z0-9_]*` word.
pub(crate) fn write_identifier(f: &mut fmt::Formatter<'_>, name: &str) -> fmt::Result {
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if plain {
        return f.write_str(name);
    }
    f.write_str("`")?;
    for ch in name.chars() {
        match ch {
            '`' => f.write_str("\\`")?,
            '\\' => f.write_str("\\\\")?,
            other => write!(f, "{other}")?,
        }
    }
    f.write_str("`")
}

fn write_enum<V: fmt::Display>(
    f: &mut fmt::Formatter<'_>,
    family: &str,
    items: &[(String, V)],
) -> fmt::Result {
    write!(f, "{family}(")?;
    for (index, (name, value)) in items.iter().enumerate() {
        if index > 0 {
            f.write_str(", ")?;
        }
        write_quoted(f, name)?;
        write!(f, " = {value}")?;
    }
    f.write_str(")")
}

impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataType::UInt8 => f.write_str("UInt8"),
            DataType::UInt16 => f.write_str("UInt16"),
            DataType::UInt32 => f.write_str("UInt32"),
            DataType::UInt64 => f.write_str("UInt64"),
            DataType::UInt128 => f.write_str("UInt128"),
            DataType::UInt256 => f.write_str("UInt256"),
            DataType::Int8 => f.write_str("Int8"),
            DataType::Int16 => f.write_str("Int16"),
            DataType::Int32 => f.write_str("Int32"),
            DataType::Int64 => f.write_str("Int64"),
            DataType::Int128 => f.write_str("Int128"),
            DataType::Int256 => f.write_str("Int256"),
            DataType::Float32 => f.write_str("Float32"),
            DataType::Float64 => f.write_str("Float64"),
            DataType::Bool => f.write_str("Bool"),
            DataType::String => f.write_str("String"),
            DataType::FixedString(n) => write!(f, "FixedString({n})"),
            DataType::Date => f.write_str("Date"),
            DataType::Date32 => f.write_str("Date32"),
            DataType::DateTime(None) => f.write_str("DateTime"),
            DataType::DateTime(Some(tz)) => {
                f.write_str("DateTime(")?;
                write_quoted(f, tz)?;
                f.write_str(")")
            }
            DataType::DateTime64(precision, None) => write!(f, "DateTime64({precision})"),
            DataType::DateTime64(precision, Some(tz)) => {
                write!(f, "DateTime64({precision}, ")?;
                write_quoted(f, tz)?;
                f.write_str(")")
            }
            DataType::Decimal(precision, scale) => write!(f, "Decimal({precision}, {scale})"),
            DataType::Uuid => f.write_str("UUID"),
            DataType::IPv4 => f.write_str("IPv4"),
            DataType::IPv6 => f.write_str("IPv6"),
            DataType::Enum8(items) => write_enum(f, "Enum8", items),
            DataType::Enum16(items) => write_enum(f, "Enum16", items),
            DataType::Nullable(inner) => write!(f, "Nullable({inner})"),
            DataType::LowCardinality(inner) => write!(f, "LowCardinality({inner})"),
            DataType::Array(inner) => write!(f, "Array({inner})"),
            DataType::Tuple(elements) => {
                f.write_str("Tuple(")?;
                for (index, element) in elements.iter().enumerate() {
                    if index > 0 {
                        f.write_str(", ")?;
                    }
                    if let Some(name) = &element.name {
                        write_identifier(f, name)?;
                        f.write_str(" ")?;
                    }
                    write!(f, "{}", element.data_type)?;
                }
                f.write_str(")")
            }
            DataType::Map(key, value) => write!(f, "Map({key}, {value})"),
            DataType::AggregateFunction(function) => write!(f, "{function}"),
            DataType::SimpleAggregateFunction(call, inner) => {
                write!(f, "SimpleAggregateFunction({call}, {inner})")
            }
            DataType::Nothing => f.write_str("Nothing"),
        }
    }
}
