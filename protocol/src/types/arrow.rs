//! The Arrow representation of each ClickHouse type, and the ClickHouse type of an Arrow field.
//!
//! | ClickHouse | Arrow |
//! |---|---|
//! | `UInt8..UInt64`, `Int8..Int64`, `Float32/64` | the same primitive |
//! | `UInt128`, `Int128`, `UInt256`, `Int256` | `FixedSizeBinary(16 / 32)`, little-endian |
//! | `Bool` | `Boolean` |
//! | `String` | `Utf8` (decoding checks UTF-8; encoding also takes `LargeUtf8`, views and binaries) |
//! | `FixedString(N)` | `FixedSizeBinary(N)` |
//! | `Date`, `Date32` | `Date32` |
//! | `DateTime[(tz)]` | `Timestamp(Second, tz)` |
//! | `DateTime64(p[, tz])` | `Timestamp(s/ms/us/ns, tz)`, the finest unit that holds 10^-p s |
//! | `Decimal(P, S)` | `Decimal128(P, S)` for P ≤ 38, else `Decimal256(P, S)` |
//! | `UUID` | `FixedSizeBinary(16)` in RFC 4122 (text) byte order |
//! | `IPv4` / `IPv6` | `UInt32` / `FixedSizeBinary(16)` in network order |
//! | `Enum8/16` | `Dictionary(Int8/Int16, Utf8)`: keys index the items in value order |
//! | `Nullable(T)` | T's type in a nullable field |
//! | `LowCardinality(T)` | `Dictionary(Int32, T)` (nullable keys for `LowCardinality(Nullable(T))`) |
//! | `Array(T)` | `List(T)` |
//! | `Tuple(...)` | `Struct` (unnamed elements are called `1`, `2`, ...) |
//! | `Map(K, V)` | `Map(entries: Struct(keys, values))` |
//! | `AggregateFunction(...)` | `Binary`, one serialized state per row |
//! | `SimpleAggregateFunction(f, T)` | T's type |
//! | `Nothing` | `Null` |
//!
//! Every field made here carries the exact ClickHouse type name in its metadata under
//! [`CLICKHOUSE_TYPE_KEY`], so `UInt8` vs `Bool`, `Date` vs `Date32` or an enum's items survive.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_schema::{DataType as ArrowType, Field, Fields, TimeUnit};

use super::{DataType, TupleElement};
use crate::error::{Error, Result};

/// The Arrow field-metadata key holding a column's ClickHouse type name.
pub const CLICKHOUSE_TYPE_KEY: &str = "clickhouse.type";

/// The Arrow unit of `DateTime64(precision)` and the factor from ClickHouse ticks to that unit.
pub fn datetime64_unit(precision: u8) -> (TimeUnit, i64) {
    match precision {
        0 => (TimeUnit::Second, 1),
        1..=3 => (TimeUnit::Millisecond, 10i64.pow(3 - u32::from(precision))),
        4..=6 => (TimeUnit::Microsecond, 10i64.pow(6 - u32::from(precision))),
        _ => (
            TimeUnit::Nanosecond,
            10i64.pow(9 - u32::from(precision.min(9))),
        ),
    }
}

/// An Arrow field named `name` for a column of type `data_type`, with the type name in its metadata.
pub fn field_for(name: &str, data_type: &DataType) -> Field {
    let metadata = HashMap::from([(CLICKHOUSE_TYPE_KEY.to_string(), data_type.to_string())]);
    Field::new(name, data_type.to_arrow(), data_type.arrow_nullable()).with_metadata(metadata)
}

/// The ClickHouse type of an Arrow field: the name in its metadata if present, else inferred.
pub fn field_clickhouse_type(field: &Field) -> Result<DataType> {
    match field.metadata().get(CLICKHOUSE_TYPE_KEY) {
        Some(name) => DataType::parse(name),
        None => DataType::from_arrow(field.data_type(), field.is_nullable()),
    }
}

/// A nested Arrow field (list item, struct child, map entry) for `data_type`.
pub(crate) fn child(name: &str, data_type: &DataType) -> Field {
    Field::new(name, data_type.to_arrow(), data_type.arrow_nullable())
}

/// The Arrow name of the `index`-th element of a tuple (ClickHouse numbers unnamed elements from 1).
pub fn tuple_element_name(element: &TupleElement, index: usize) -> String {
    element
        .name
        .clone()
        .unwrap_or_else(|| (index + 1).to_string())
}

impl DataType {
    /// The Arrow type holding this type's values (nullability is the field's, see [`Self::arrow_nullable`]).
    pub fn to_arrow(&self) -> ArrowType {
        match self {
            DataType::UInt8 => ArrowType::UInt8,
            DataType::UInt16 => ArrowType::UInt16,
            DataType::UInt32 | DataType::IPv4 => ArrowType::UInt32,
            DataType::UInt64 => ArrowType::UInt64,
            DataType::Int8 => ArrowType::Int8,
            DataType::Int16 => ArrowType::Int16,
            DataType::Int32 => ArrowType::Int32,
            DataType::Int64 => ArrowType::Int64,
            DataType::Float32 => ArrowType::Float32,
            DataType::Float64 => ArrowType::Float64,
            DataType::UInt128 | DataType::Int128 | DataType::Uuid | DataType::IPv6 => {
                ArrowType::FixedSizeBinary(16)
            }
            DataType::UInt256 | DataType::Int256 => ArrowType::FixedSizeBinary(32),
            DataType::FixedString(n) => ArrowType::FixedSizeBinary(*n as i32),
            DataType::Bool => ArrowType::Boolean,
            DataType::String => ArrowType::Utf8,
            DataType::Date | DataType::Date32 => ArrowType::Date32,
            DataType::DateTime(tz) => {
                ArrowType::Timestamp(TimeUnit::Second, tz.as_deref().map(Arc::from))
            }
            DataType::DateTime64(precision, tz) => {
                ArrowType::Timestamp(datetime64_unit(*precision).0, tz.as_deref().map(Arc::from))
            }
            DataType::Decimal(precision, scale) if *precision <= 38 => {
                ArrowType::Decimal128(*precision, *scale as i8)
            }
            DataType::Decimal(precision, scale) => ArrowType::Decimal256(*precision, *scale as i8),
            DataType::Enum8(_) => {
                ArrowType::Dictionary(Box::new(ArrowType::Int8), Box::new(ArrowType::Utf8))
            }
            DataType::Enum16(_) => {
                ArrowType::Dictionary(Box::new(ArrowType::Int16), Box::new(ArrowType::Utf8))
            }
            DataType::Nullable(inner) => inner.to_arrow(),
            DataType::LowCardinality(inner) => ArrowType::Dictionary(
                Box::new(ArrowType::Int32),
                Box::new(inner.strip_nullable().to_arrow()),
            ),
            DataType::Array(inner) => ArrowType::List(Arc::new(child("item", inner))),
            DataType::Tuple(elements) => ArrowType::Struct(
                elements
                    .iter()
                    .enumerate()
                    .map(|(index, element)| {
                        child(&tuple_element_name(element, index), &element.data_type)
                    })
                    .collect::<Fields>(),
            ),
            DataType::Map(key, value) => {
                let entries = ArrowType::Struct(Fields::from(vec![
                    child("keys", key),
                    child("values", value),
                ]));
                ArrowType::Map(Arc::new(Field::new("entries", entries, false)), false)
            }
            DataType::AggregateFunction(_) => ArrowType::Binary,
            DataType::SimpleAggregateFunction(_, inner) => inner.to_arrow(),
            DataType::Nothing => ArrowType::Null,
        }
    }

    /// Whether the Arrow field of this type is nullable.
    pub fn arrow_nullable(&self) -> bool {
        match self {
            DataType::Nullable(_) | DataType::Nothing => true,
            DataType::LowCardinality(inner) | DataType::SimpleAggregateFunction(_, inner) => {
                inner.arrow_nullable()
            }
            _ => false,
        }
    }

    /// The ClickHouse type for Arrow data that carries no ClickHouse type name (e.g. a pyarrow table).
    pub fn from_arrow(arrow: &ArrowType, nullable: bool) -> Result<DataType> {
        let base = match arrow {
            ArrowType::UInt8 => DataType::UInt8,
            ArrowType::UInt16 => DataType::UInt16,
            ArrowType::UInt32 => DataType::UInt32,
            ArrowType::UInt64 => DataType::UInt64,
            ArrowType::Int8 => DataType::Int8,
            ArrowType::Int16 => DataType::Int16,
            ArrowType::Int32 => DataType::Int32,
            ArrowType::Int64 => DataType::Int64,
            ArrowType::Float32 => DataType::Float32,
            ArrowType::Float64 => DataType::Float64,
            ArrowType::Boolean => DataType::Bool,
            ArrowType::Utf8
            | ArrowType::LargeUtf8
            | ArrowType::Utf8View
            | ArrowType::Binary
            | ArrowType::LargeBinary
            | ArrowType::BinaryView => DataType::String,
            ArrowType::FixedSizeBinary(n) if *n > 0 => DataType::FixedString(*n as usize),
            ArrowType::Date32 => DataType::Date32,
            ArrowType::Date64 => DataType::DateTime64(3, None),
            ArrowType::Timestamp(unit, tz) => {
                let tz = tz.as_ref().map(|tz| tz.to_string());
                match unit {
                    TimeUnit::Second => DataType::DateTime(tz),
                    TimeUnit::Millisecond => DataType::DateTime64(3, tz),
                    TimeUnit::Microsecond => DataType::DateTime64(6, tz),
                    TimeUnit::Nanosecond => DataType::DateTime64(9, tz),
                }
            }
            ArrowType::Decimal128(precision, scale) | ArrowType::Decimal256(precision, scale)
                if (1..=76).contains(precision) && *scale >= 0 && (*scale as u8) <= *precision =>
            {
                DataType::Decimal(*precision, *scale as u8)
            }
            ArrowType::Dictionary(_, values) => {
                let inner = DataType::from_arrow(values, nullable)?;
                if !inner.can_be_inside_low_cardinality() {
                    return Err(Error::NotImplemented(format!(
                        "dictionary-encoded Arrow values of type {values}"
                    )));
                }
                return Ok(DataType::LowCardinality(Box::new(inner)));
            }
            ArrowType::List(item)
            | ArrowType::LargeList(item)
            | ArrowType::FixedSizeList(item, _) => DataType::Array(Box::new(DataType::from_arrow(
                item.data_type(),
                item.is_nullable(),
            )?)),
            ArrowType::Struct(fields) => DataType::Tuple(
                fields
                    .iter()
                    .map(|field| {
                        Ok(TupleElement {
                            name: Some(field.name().clone()),
                            data_type: field_clickhouse_type(field)?,
                        })
                    })
                    .collect::<Result<_>>()?,
            ),
            ArrowType::Map(entries, _) => match entries.data_type() {
                ArrowType::Struct(fields) if fields.len() == 2 => DataType::Map(
                    Box::new(field_clickhouse_type(&fields[0])?),
                    Box::new(field_clickhouse_type(&fields[1])?),
                ),
                other => {
                    return Err(Error::incorrect(format!(
                        "Arrow map entries of type {other}"
                    )));
                }
            },
            ArrowType::Null => return Ok(DataType::Nullable(Box::new(DataType::Nothing))),
            other => {
                return Err(Error::NotImplemented(format!(
                    "a ClickHouse type for Arrow type {other}"
                )));
            }
        };
        if nullable && base.can_be_inside_nullable() {
            return Ok(DataType::Nullable(Box::new(base)));
        }
        Ok(base)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_metadata_keeps_the_exact_clickhouse_type() {
        for name in [
            "UInt8",
            "Bool",
            "Date",
            "Date32",
            "DateTime('Asia/Tokyo')",
            "DateTime64(2, 'UTC')",
            "Enum8('a' = 1, 'b' = 2)",
            "LowCardinality(Nullable(String))",
            "AggregateFunction(uniqCombined(15), UInt64)",
            "SimpleAggregateFunction(max, Nullable(Int32))",
            "Map(String, Tuple(a UInt8, b Array(IPv6)))",
            "Nullable(Nothing)",
        ] {
            let data_type = DataType::parse(name).unwrap();
            let field = field_for("c", &data_type);
            assert_eq!(field_clickhouse_type(&field).unwrap(), data_type, "{name}");
        }
    }

    #[test]
    fn arrow_types_follow_the_table() {
        let parse = |name: &str| DataType::parse(name).unwrap();
        assert_eq!(
            parse("DateTime64(2)").to_arrow(),
            ArrowType::Timestamp(TimeUnit::Millisecond, None)
        );
        assert_eq!(
            parse("DateTime64(7, 'UTC')").to_arrow(),
            ArrowType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()))
        );
        assert_eq!(
            parse("Decimal(38, 2)").to_arrow(),
            ArrowType::Decimal128(38, 2)
        );
        assert_eq!(
            parse("Decimal(39, 2)").to_arrow(),
            ArrowType::Decimal256(39, 2)
        );
        assert!(parse("LowCardinality(Nullable(String))").arrow_nullable());
        assert!(!parse("Array(Nullable(Int8))").arrow_nullable());
        assert_eq!(datetime64_unit(2), (TimeUnit::Millisecond, 10));
        assert_eq!(datetime64_unit(5), (TimeUnit::Microsecond, 10));
    }

    #[test]
    fn types_are_inferred_for_plain_arrow_fields() {
        let infer = |arrow: ArrowType, nullable: bool| {
            DataType::from_arrow(&arrow, nullable).unwrap().to_string()
        };
        assert_eq!(infer(ArrowType::Int64, false), "Int64");
        assert_eq!(infer(ArrowType::LargeUtf8, true), "Nullable(String)");
        assert_eq!(
            infer(
                ArrowType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                false
            ),
            "DateTime64(6, 'UTC')"
        );
        assert_eq!(
            infer(
                ArrowType::Dictionary(Box::new(ArrowType::Int16), Box::new(ArrowType::Utf8)),
                true
            ),
            "LowCardinality(Nullable(String))"
        );
        let list = ArrowType::List(Arc::new(Field::new("item", ArrowType::Float64, true)));
        assert_eq!(infer(list, true), "Array(Nullable(Float64))");
        assert!(DataType::from_arrow(&ArrowType::Float16, false).is_err());
    }
}
