//! The date functions that take a unit name: `date_trunc` (`dateTrunc`) and `dateDiff`
//! (`date_diff`).
//!
//! As in ClickHouse, `date_trunc` returns a `DateTime` for units up to a day and a `Date` from a
//! week on, and `dateDiff` counts the unit boundaries crossed between its arguments (so
//! `dateDiff('year', '2023-12-31', '2024-01-01')` is 1), reading both in the same zone.

use std::sync::Arc;

use arrow_array::{ArrayRef, Int64Array};
use arrow_schema::{DataType as ArrowType, FieldRef};
use datafusion::arrow::compute::kernels::arity::binary;
use datafusion::common::Result as DfResult;
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};
use granary_protocol::ErrorCode;
use granary_protocol::types::{DataType, field_for};

use super::super::arguments::{argument_string, constant_string, on_arrays, time_zone_argument};
use super::calendar::{DAY, civil_from_days};
use super::column::{
    Moments, date_array, date_field, datetime_array, datetime_field, has_time, is_moment,
    local_to_utc, not_a_moment, type_zone,
};
use super::parts::Part;
use crate::Error;

/// A unit of time as `date_trunc` and `dateDiff` name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    Second,
    Minute,
    Hour,
    Day,
    Week,
    Month,
    Quarter,
    Year,
}

impl Unit {
    /// The unit a name means, in ClickHouse's spellings (any case, plurals, abbreviations).
    fn parse(name: &str) -> Option<Unit> {
        Some(match name.to_ascii_lowercase().as_str() {
            "second" | "seconds" | "ss" | "s" => Unit::Second,
            "minute" | "minutes" | "mi" | "n" => Unit::Minute,
            "hour" | "hours" | "hh" | "h" => Unit::Hour,
            "day" | "days" | "dd" | "d" => Unit::Day,
            "week" | "weeks" | "wk" | "ww" => Unit::Week,
            "month" | "months" | "mm" | "m" => Unit::Month,
            "quarter" | "quarters" | "qq" | "q" => Unit::Quarter,
            "year" | "years" | "yyyy" | "yy" => Unit::Year,
            _ => return None,
        })
    }

    /// The unit named by a function's first argument.
    fn of(name: Option<String>, function: &str) -> Result<Unit, Error> {
        let name = name.ok_or_else(|| {
            Error::query(
                ErrorCode::ILLEGAL_TYPE_OF_ARGUMENT,
                format!("The first argument of function {function} must be a constant string naming a unit"),
            )
        })?;
        Unit::parse(&name).ok_or_else(|| {
            Error::query(
                ErrorCode::BAD_ARGUMENTS,
                format!("Function {function} does not support '{name}' unit"),
            )
        })
    }

    /// Whether `date_trunc` to this unit gives a `Date` (else a `DateTime`).
    fn truncates_to_date(self) -> bool {
        matches!(self, Unit::Week | Unit::Month | Unit::Quarter | Unit::Year)
    }

    /// The rounding `date_trunc` does (a second is already whole in a `DateTime`).
    fn truncation(self) -> Option<Part> {
        Some(match self {
            Unit::Second => return None,
            Unit::Minute => Part::StartOfMinute,
            Unit::Hour => Part::StartOfHour,
            Unit::Day => Part::StartOfDay,
            Unit::Week => Part::Monday,
            Unit::Month => Part::StartOfMonth,
            Unit::Quarter => Part::StartOfQuarter,
            Unit::Year => Part::StartOfYear,
        })
    }

    /// The number of this unit's boundaries from the epoch to wall-clock `seconds`.
    fn ordinal(self, seconds: i64) -> i64 {
        let days = seconds.div_euclid(DAY);
        let civil = || civil_from_days(days);
        match self {
            Unit::Second => seconds,
            Unit::Minute => seconds.div_euclid(60),
            Unit::Hour => seconds.div_euclid(3600),
            Unit::Day => days,
            // Weeks start on Monday; 1970-01-01 was a Thursday.
            Unit::Week => (days + 3).div_euclid(7),
            Unit::Month => {
                let (year, month, _) = civil();
                year * 12 + i64::from(month) - 1
            }
            Unit::Quarter => {
                let (year, month, _) = civil();
                year * 4 + i64::from(month - 1) / 3
            }
            Unit::Year => civil().0,
        }
    }
}

/// The functions of this module.
pub fn functions() -> Vec<ScalarUDF> {
    vec![
        ScalarUDF::new_from_impl(DateTrunc {
            aliases: vec!["dateTrunc".to_string()],
            signature: Signature::variadic_any(Volatility::Immutable),
        }),
        ScalarUDF::new_from_impl(DateDiff {
            aliases: vec!["date_diff".to_string()],
            signature: Signature::variadic_any(Volatility::Immutable),
        }),
    ]
}

fn check_arguments(function: &str, types: &[ArrowType], moments: usize) -> Result<(), Error> {
    let (least, most) = (1 + moments, 2 + moments);
    if !(least..=most).contains(&types.len()) {
        return Err(Error::query(
            ErrorCode::NUMBER_OF_ARGUMENTS_DOESNT_MATCH,
            format!(
                "Number of arguments for function {function} doesn't match: passed {}, should be {least} or {most}",
                types.len()
            ),
        ));
    }
    for data_type in &types[1..=moments] {
        if !is_moment(data_type) {
            return Err(not_a_moment(function, data_type));
        }
    }
    Ok(())
}

/// `date_trunc(unit, t[, zone])`.
#[derive(Debug, PartialEq, Eq, Hash)]
struct DateTrunc {
    aliases: Vec<String>,
    signature: Signature,
}

impl ScalarUDFImpl for DateTrunc {
    fn name(&self) -> &str {
        "date_trunc"
    }

    fn aliases(&self) -> &[String] {
        &self.aliases
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[ArrowType]) -> DfResult<ArrowType> {
        crate::functions::typed_by_fields(self.name())
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> DfResult<FieldRef> {
        let types = super::super::argument_types(&args);
        check_arguments(self.name(), &types, 1)?;
        let unit = Unit::of(constant_string(&args, 0), self.name())?;
        let nullable = args.arg_fields[1].is_nullable();
        if unit.truncates_to_date() {
            return Ok(date_field(self.name(), nullable));
        }
        if matches!(unit, Unit::Second | Unit::Minute | Unit::Hour) && !has_time(&types[1]) {
            return Err(not_a_moment(self.name(), &types[1]).into());
        }
        let tz = constant_string(&args, 2)
            .map(Into::into)
            .or_else(|| type_zone(&types[1]));
        if let ArrowType::Timestamp(unit, _) = &types[1]
            && *unit != arrow_schema::TimeUnit::Second
        {
            // Truncating a DateTime64 keeps it a DateTime64, with no fraction.
            let data_type = DataType::DateTime64(0, tz.map(|tz: Arc<str>| tz.to_string()));
            return Ok(Arc::new(
                field_for(self.name(), &data_type).with_nullable(nullable),
            ));
        }
        Ok(datetime_field(self.name(), tz, nullable))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let unit = Unit::of(
            Some(argument_string(&args.args[0], self.name(), "unit")?),
            self.name(),
        )?;
        let zone = time_zone_argument(&args.args, 2, self.name())?;
        on_arrays(&args.args[1..2], args.number_rows, |arrays| {
            let moments = Moments::read(&arrays[0], self.name(), zone.as_deref())?;
            let local = moments.local();
            let result: ArrayRef = match unit.truncation() {
                Some(part) if unit.truncates_to_date() => {
                    date_array(&local.unary(|seconds| part.of(seconds, true)))
                }
                Some(part) => datetime_array(
                    local_to_utc(&local, &moments.zone, |seconds| part.of(seconds, true)),
                    moments.tz.clone(),
                ),
                None => datetime_array(moments.utc(), moments.tz.clone()),
            };
            Ok(result)
        })
    }
}

/// `dateDiff(unit, start, end[, zone])`: Int64.
#[derive(Debug, PartialEq, Eq, Hash)]
struct DateDiff {
    aliases: Vec<String>,
    signature: Signature,
}

impl ScalarUDFImpl for DateDiff {
    fn name(&self) -> &str {
        "dateDiff"
    }

    fn aliases(&self) -> &[String] {
        &self.aliases
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[ArrowType]) -> DfResult<ArrowType> {
        crate::functions::typed_by_fields(self.name())
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> DfResult<FieldRef> {
        let types = super::super::argument_types(&args);
        check_arguments(self.name(), &types, 2)?;
        Unit::of(constant_string(&args, 0), self.name())?;
        Ok(super::super::propagated_field(
            self.name(),
            ArrowType::Int64,
            &ReturnFieldArgs {
                arg_fields: &args.arg_fields[1..3],
                scalar_arguments: &args.scalar_arguments[1..3],
            },
        ))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let unit = Unit::of(
            Some(argument_string(&args.args[0], self.name(), "unit")?),
            self.name(),
        )?;
        let zone = time_zone_argument(&args.args, 3, self.name())?;
        on_arrays(&args.args[1..3], args.number_rows, |arrays| {
            let start = Moments::read(&arrays[0], self.name(), zone.as_deref())?;
            let end = Moments::read(&arrays[1], self.name(), zone.as_deref())?;
            let ordinals = |moments: &Moments| -> Int64Array {
                let seconds = if unit == Unit::Second {
                    moments.utc()
                } else {
                    moments.local()
                };
                seconds.unary(|seconds| unit.ordinal(seconds))
            };
            let difference: Int64Array =
                binary(&ordinals(&end), &ordinals(&start), |end, start| {
                    end.wrapping_sub(start)
                })?;
            Ok(Arc::new(difference) as ArrayRef)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::functions::dates::calendar::parse_wall_time;

    fn diff(unit: &str, start: &str, end: &str) -> i64 {
        let unit = Unit::parse(unit).unwrap();
        let seconds = |text| parse_wall_time(text).unwrap().local_seconds();
        unit.ordinal(seconds(end)) - unit.ordinal(seconds(start))
    }

    #[test]
    fn differences_count_boundaries_as_clickhouse_does() {
        assert_eq!(diff("day", "2024-01-01", "2024-03-01"), 60);
        assert_eq!(diff("month", "2024-01-31", "2024-02-01"), 1);
        assert_eq!(diff("year", "2023-12-31", "2024-01-01"), 1);
        assert_eq!(diff("week", "2024-01-07", "2024-01-08"), 1);
        assert_eq!(diff("week", "2024-01-01", "2024-01-07"), 0);
        assert_eq!(
            diff("hour", "2024-01-01 00:00:00", "2024-01-02 03:00:00"),
            27
        );
        assert_eq!(
            diff("minute", "2024-01-01 00:00:59", "2024-01-01 00:01:00"),
            1
        );
        assert_eq!(diff("quarter", "2024-03-31", "2024-04-01"), 1);
        assert_eq!(diff("MONTHS", "2024-05-01", "2024-02-01"), -3);
        assert!(Unit::parse("fortnight").is_none());
    }
}
