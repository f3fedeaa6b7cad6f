//! Date and time columns read as instants and wall-clock seconds, the arguments date functions take
//! as constants (units, time zones, formats), and the fields and arrays of their results.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Int64Type, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType,
};
use arrow_array::{Array, ArrayRef, Date32Array, Int64Array, PrimitiveArray, TimestampSecondArray};
use arrow_schema::{DataType as ArrowType, Field, FieldRef, TimeUnit};
use datafusion::common::Result as DfResult;
use granary_protocol::ErrorCode;
use granary_protocol::types::CLICKHOUSE_TYPE_KEY;

use super::calendar::{DAY, Zone};
use crate::Error;

/// A column of dates or times: each value's ticks since the epoch and how to read them.
pub struct Moments {
    /// Ticks since 1970-01-01 00:00:00 UTC (a date counts from its midnight); NULLs kept.
    pub ticks: Int64Array,
    /// Ticks per second.
    pub per_second: i64,
    /// The zone the values are read in.
    pub zone: Zone,
    /// The time zone name the column's type carries.
    pub tz: Option<Arc<str>>,
    /// Whether the values have a time of day (`DateTime`, `DateTime64`) or are dates.
    pub has_time: bool,
}

impl Moments {
    /// Reads a `Date`, `Date32`, `DateTime` or `DateTime64` column; `zone`, when given, replaces
    /// the column's own time zone (the optional time zone argument of many date functions).
    pub fn read(array: &ArrayRef, function: &str, zone: Option<&str>) -> DfResult<Moments> {
        let (ticks, per_second, tz, has_time): (Int64Array, i64, Option<Arc<str>>, bool) =
            match array.data_type() {
                ArrowType::Date32 => (
                    array
                        .as_primitive::<Date32Type>()
                        .unary(|days| i64::from(days) * DAY),
                    1,
                    None,
                    false,
                ),
                ArrowType::Null => (Int64Array::new_null(array.len()), 1, None, false),
                ArrowType::Timestamp(unit, tz) => {
                    let (ticks, per_second) = timestamp_ticks(array, *unit);
                    (ticks, per_second, tz.clone(), true)
                }
                other => return Err(not_a_moment(function, other).into()),
            };
        let tz = zone.map(Arc::from).or(tz);
        // A date is a calendar day: it is read as such in any zone.
        let zone = if has_time {
            Zone::of(tz.as_deref())?
        } else {
            Zone::Utc
        };
        Ok(Moments {
            ticks,
            per_second,
            zone,
            tz,
            has_time,
        })
    }

    /// Whole seconds since the epoch of each value.
    pub fn utc(&self) -> Int64Array {
        match self.per_second {
            1 => self.ticks.clone(),
            per_second => self.ticks.unary(|ticks| ticks.div_euclid(per_second)),
        }
    }

    /// The wall-clock seconds of each value in its zone (seconds since the epoch as if the zone
    /// were UTC).
    pub fn local(&self) -> Int64Array {
        let utc = self.utc();
        match &self.zone {
            Zone::Utc => utc,
            zone => utc.unary(|seconds| zone.local(seconds)),
        }
    }
}

/// The ticks of a timestamp column and the ticks per second of its unit.
fn timestamp_ticks(array: &ArrayRef, unit: TimeUnit) -> (Int64Array, i64) {
    match unit {
        TimeUnit::Second => (
            array
                .as_primitive::<TimestampSecondType>()
                .reinterpret_cast::<Int64Type>(),
            1,
        ),
        TimeUnit::Millisecond => (
            array
                .as_primitive::<TimestampMillisecondType>()
                .reinterpret_cast::<Int64Type>(),
            1_000,
        ),
        TimeUnit::Microsecond => (
            array
                .as_primitive::<TimestampMicrosecondType>()
                .reinterpret_cast::<Int64Type>(),
            1_000_000,
        ),
        TimeUnit::Nanosecond => (
            array
                .as_primitive::<TimestampNanosecondType>()
                .reinterpret_cast::<Int64Type>(),
            1_000_000_000,
        ),
    }
}

/// Whether `data_type` holds dates or times.
pub fn is_moment(data_type: &ArrowType) -> bool {
    matches!(
        data_type,
        ArrowType::Date32 | ArrowType::Timestamp(..) | ArrowType::Null
    )
}

/// Whether `data_type` holds times of day.
pub fn has_time(data_type: &ArrowType) -> bool {
    matches!(data_type, ArrowType::Timestamp(..))
}

/// The error for an argument that is not a date or time.
pub fn not_a_moment(function: &str, data_type: &ArrowType) -> Error {
    Error::query(
        ErrorCode::ILLEGAL_TYPE_OF_ARGUMENT,
        format!(
            "Illegal type {} of argument of function {function}. Should be Date, Date32, DateTime or DateTime64",
            clickhouse_name(data_type)
        ),
    )
}

/// The ClickHouse name of an Arrow type, for messages.
pub fn clickhouse_name(data_type: &ArrowType) -> String {
    granary_protocol::DataType::from_arrow(data_type, false)
        .map(|t| t.to_string())
        .unwrap_or_else(|_| data_type.to_string())
}

/// The time zone name of a timestamp type.
pub fn type_zone(data_type: &ArrowType) -> Option<Arc<str>> {
    match data_type {
        ArrowType::Timestamp(_, tz) => tz.clone(),
        _ => None,
    }
}

/// The result field of a function returning ClickHouse type `clickhouse` held as `data_type`.
pub fn typed_field(name: &str, data_type: ArrowType, clickhouse: &str, nullable: bool) -> FieldRef {
    Arc::new(
        Field::new(name, data_type, nullable).with_metadata(HashMap::from([(
            CLICKHOUSE_TYPE_KEY.to_string(),
            clickhouse.to_string(),
        )])),
    )
}

/// The field of a `Date` result.
pub fn date_field(name: &str, nullable: bool) -> FieldRef {
    typed_field(name, ArrowType::Date32, "Date", nullable)
}

/// The field of a `DateTime[(tz)]` result.
pub fn datetime_field(name: &str, tz: Option<Arc<str>>, nullable: bool) -> FieldRef {
    Arc::new(Field::new(
        name,
        ArrowType::Timestamp(TimeUnit::Second, tz),
        nullable,
    ))
}

/// Day numbers as a date column.
pub fn date_array(days: &Int64Array) -> ArrayRef {
    let days: Date32Array = days.unary(|days| days as i32);
    Arc::new(days)
}

/// Seconds since the epoch as a `DateTime` column in zone `tz`.
pub fn datetime_array(seconds: Int64Array, tz: Option<Arc<str>>) -> ArrayRef {
    let seconds: TimestampSecondArray = seconds.reinterpret_cast();
    Arc::new(seconds.with_timezone_opt(tz))
}

/// Wall-clock seconds mapped by `f` and read back as instants in `zone`.
pub fn local_to_utc(local: &Int64Array, zone: &Zone, f: impl Fn(i64) -> i64) -> Int64Array {
    match zone {
        Zone::Utc => local.unary(f),
        zone => local.unary(|seconds| zone.utc(f(seconds))),
    }
}

/// An Int64 column of `array`'s integers or truncated floats (NULLs kept).
pub fn integers(array: &ArrayRef) -> DfResult<Int64Array> {
    let cast = datafusion::arrow::compute::cast(array, &ArrowType::Int64)?;
    let values: &PrimitiveArray<Int64Type> = cast.as_primitive();
    Ok(values.clone())
}
