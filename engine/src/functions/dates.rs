//! Date functions: `toYYYYMM`, `toYYYYMMDD`, `toDate`.
//!
//! Dates follow ClickHouse: a `DateTime` without a time zone is read in UTC (Granary's server time
//! zone), one with a zone in that zone.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
    TimestampSecondType,
};
use arrow_array::{Array, ArrayRef, Date32Array, PrimitiveArray, UInt32Array};
use arrow_schema::{DataType as ArrowType, Field, FieldRef, TimeUnit};
use datafusion::common::{Result as DfResult, exec_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};
use granary_protocol::types::CLICKHOUSE_TYPE_KEY;

/// The functions of this module.
pub fn functions() -> Vec<ScalarUDF> {
    [DatePart::YearMonth, DatePart::YearMonthDay, DatePart::Date]
        .into_iter()
        .map(|part| {
            ScalarUDF::new_from_impl(DateFunction {
                part,
                signature: Signature::any(1, Volatility::Immutable),
            })
        })
        .collect()
}

/// What a date function extracts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum DatePart {
    /// `toYYYYMM`: year * 100 + month, UInt32.
    YearMonth,
    /// `toYYYYMMDD`: year * 10000 + month * 100 + day, UInt32.
    YearMonthDay,
    /// `toDate`: the day, as a ClickHouse `Date`.
    Date,
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct DateFunction {
    part: DatePart,
    signature: Signature,
}

impl ScalarUDFImpl for DateFunction {
    fn name(&self) -> &str {
        match self.part {
            DatePart::YearMonth => "toYYYYMM",
            DatePart::YearMonthDay => "toYYYYMMDD",
            DatePart::Date => "toDate",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[ArrowType]) -> DfResult<ArrowType> {
        match arg_types {
            [ArrowType::Date32 | ArrowType::Timestamp(..) | ArrowType::Null] => {}
            [ArrowType::Utf8 | ArrowType::LargeUtf8 | ArrowType::Utf8View]
                if self.part == DatePart::Date => {}
            [other] => {
                return plan_err!(
                    "function {} takes a Date or DateTime, not {other}",
                    self.name()
                );
            }
            _ => return plan_err!("function {} takes one argument", self.name()),
        }
        Ok(match self.part {
            DatePart::YearMonth | DatePart::YearMonthDay => ArrowType::UInt32,
            DatePart::Date => ArrowType::Date32,
        })
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> DfResult<FieldRef> {
        let types: Vec<ArrowType> = args
            .arg_fields
            .iter()
            .map(|field| field.data_type().clone())
            .collect();
        let data_type = self.return_type(&types)?;
        let nullable = args.arg_fields.iter().any(|field| field.is_nullable());
        let clickhouse = match self.part {
            DatePart::YearMonth | DatePart::YearMonthDay => "UInt32",
            DatePart::Date => "Date",
        };
        Ok(Arc::new(
            Field::new(self.name(), data_type, nullable).with_metadata(HashMap::from([(
                CLICKHOUSE_TYPE_KEY.to_string(),
                clickhouse.to_string(),
            )])),
        ))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let [argument] = args.args.as_slice() else {
            return exec_err!("function {} takes one argument", self.name());
        };
        let is_scalar = matches!(argument, ColumnarValue::Scalar(_));
        let array = argument.to_array(args.number_rows)?;
        let days = days_of(&array)?;
        let result: ArrayRef = match self.part {
            DatePart::Date => Arc::new(days),
            DatePart::YearMonth => Arc::new(civil_numbers(&days, |y, m, _| y * 100 + m)),
            DatePart::YearMonthDay => {
                Arc::new(civil_numbers(&days, |y, m, d| y * 10_000 + m * 100 + d))
            }
        };
        if is_scalar {
            let scalar = datafusion::common::ScalarValue::try_from_array(&result, 0)?;
            return Ok(ColumnarValue::Scalar(scalar));
        }
        Ok(ColumnarValue::Array(result))
    }
}

/// Days since 1970-01-01 of each value (in the value's time zone for timestamps).
fn days_of(array: &ArrayRef) -> DfResult<Date32Array> {
    let seconds_to_days = |seconds: i64, offset: i64| (seconds + offset).div_euclid(86_400) as i32;
    match array.data_type() {
        ArrowType::Date32 => Ok(array.as_primitive::<Date32Type>().clone()),
        ArrowType::Null => Ok(Date32Array::new_null(array.len())),
        ArrowType::Utf8 | ArrowType::LargeUtf8 | ArrowType::Utf8View => {
            let cast = datafusion::arrow::compute::cast(array, &ArrowType::Date32)?;
            Ok(cast.as_primitive::<Date32Type>().clone())
        }
        ArrowType::Timestamp(unit, tz) => {
            let zone: Option<arrow_array::timezone::Tz> = match tz {
                Some(tz) if !matches!(tz.as_ref(), "UTC" | "+00:00" | "Etc/UTC") => {
                    Some(tz.parse()?)
                }
                _ => None,
            };
            let per_second = match unit {
                TimeUnit::Second => 1,
                TimeUnit::Millisecond => 1_000,
                TimeUnit::Microsecond => 1_000_000,
                TimeUnit::Nanosecond => 1_000_000_000,
            };
            let seconds: PrimitiveArray<arrow_array::types::Int64Type> = match unit {
                TimeUnit::Second => array
                    .as_primitive::<TimestampSecondType>()
                    .reinterpret_cast(),
                TimeUnit::Millisecond => array
                    .as_primitive::<TimestampMillisecondType>()
                    .reinterpret_cast(),
                TimeUnit::Microsecond => array
                    .as_primitive::<TimestampMicrosecondType>()
                    .reinterpret_cast(),
                TimeUnit::Nanosecond => array
                    .as_primitive::<TimestampNanosecondType>()
                    .reinterpret_cast(),
            };
            Ok(seconds.unary(|ticks| {
                let seconds = ticks.div_euclid(per_second);
                let offset = zone.as_ref().map_or(0, |zone| utc_offset(zone, seconds));
                seconds_to_days(seconds, offset)
            }))
        }
        other => exec_err!("a Date or DateTime argument was expected, not {other}"),
    }
}

/// The offset from UTC of `zone` at the instant `seconds`, in seconds.
fn utc_offset(zone: &arrow_array::timezone::Tz, seconds: i64) -> i64 {
    use chrono::{Offset, TimeZone};
    match chrono::DateTime::from_timestamp(seconds, 0) {
        Some(instant) => i64::from(
            zone.offset_from_utc_datetime(&instant.naive_utc())
                .fix()
                .local_minus_utc(),
        ),
        None => 0,
    }
}

/// Applies `f(year, month, day)` to each day number.
fn civil_numbers(days: &Date32Array, f: impl Fn(u32, u32, u32) -> u32) -> UInt32Array {
    days.unary(|days| {
        let (year, month, day) = civil_from_days(i64::from(days));
        f(year.max(0) as u32, month, day)
    })
}

/// The proleptic Gregorian (year, month, day) of a day number (days since 1970-01-01), by
/// Howard Hinnant's `civil_from_days`.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates_match_the_calendar() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(15_901), (2013, 7, 15));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
    }

    #[test]
    fn timestamps_are_read_in_their_time_zone() {
        // 2024-01-31 23:30:00 UTC is already February in Berlin.
        let instant = 1_706_743_800i64;
        let utc: ArrayRef = Arc::new(arrow_array::TimestampSecondArray::from(vec![instant]));
        let berlin: ArrayRef = Arc::new(
            arrow_array::TimestampSecondArray::from(vec![instant]).with_timezone("Europe/Berlin"),
        );
        let month =
            |array: &ArrayRef| civil_numbers(&days_of(array).unwrap(), |y, m, _| y * 100 + m);
        assert_eq!(month(&utc).value(0), 202_401);
        assert_eq!(month(&berlin).value(0), 202_402);
    }
}
