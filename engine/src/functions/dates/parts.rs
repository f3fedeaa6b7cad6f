//! The functions that read one part of a date or time (`toYear`, `toHour`, `toYYYYMM`,
//! `toUnixTimestamp`, ...) and those that round one down (`toStartOfMonth`, `toMonday`,
//! `toStartOfFiveMinutes`, ...), all computed from wall-clock seconds in the value's zone.

use arrow_array::{ArrayRef, Int64Array};
use arrow_schema::{DataType as ArrowType, FieldRef};
use datafusion::arrow::compute::cast;
use datafusion::common::Result as DfResult;
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};
use granary_protocol::ErrorCode;

use super::super::arguments::{argument_integer, constant_string, on_arrays, time_zone_argument};
use super::calendar::{DAY, civil_from_days, day_of_week, days_from_civil, days_in_month};
use super::column::{
    Moments, date_array, date_field, datetime_array, datetime_field, has_time, is_moment,
    local_to_utc, not_a_moment, type_zone, typed_field,
};
use crate::Error;

/// A part of a date or time, or a rounding of one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Part {
    Year,
    Quarter,
    Month,
    DayOfMonth,
    DayOfWeek,
    DayOfYear,
    Hour,
    Minute,
    Second,
    YearMonth,
    YearMonthDay,
    YearMonthDayTime,
    UnixTimestamp,
    StartOfYear,
    StartOfQuarter,
    StartOfMonth,
    LastDayOfMonth,
    Monday,
    /// Sunday-based unless the mode argument's lowest bit is set.
    StartOfWeek,
    StartOfDay,
    StartOfHour,
    StartOfMinute,
    StartOfFiveMinutes,
    StartOfTenMinutes,
    StartOfFifteenMinutes,
}

/// What a part function returns.
enum Output {
    /// A number of the given Arrow and ClickHouse type.
    Number(ArrowType, &'static str),
    /// A `Date` (day numbers).
    Date,
    /// A `DateTime` in the argument's zone (wall-clock seconds, read back as instants).
    DateTime,
}

impl Part {
    const ALL: [Part; 25] = [
        Part::Year,
        Part::Quarter,
        Part::Month,
        Part::DayOfMonth,
        Part::DayOfWeek,
        Part::DayOfYear,
        Part::Hour,
        Part::Minute,
        Part::Second,
        Part::YearMonth,
        Part::YearMonthDay,
        Part::YearMonthDayTime,
        Part::UnixTimestamp,
        Part::StartOfYear,
        Part::StartOfQuarter,
        Part::StartOfMonth,
        Part::LastDayOfMonth,
        Part::Monday,
        Part::StartOfWeek,
        Part::StartOfDay,
        Part::StartOfHour,
        Part::StartOfMinute,
        Part::StartOfFiveMinutes,
        Part::StartOfTenMinutes,
        Part::StartOfFifteenMinutes,
    ];

    /// The ClickHouse name and its case-insensitive aliases.
    fn names(self) -> (&'static str, &'static [&'static str]) {
        match self {
            Part::Year => ("toYear", &["year"]),
            Part::Quarter => ("toQuarter", &["quarter"]),
            Part::Month => ("toMonth", &["month"]),
            Part::DayOfMonth => ("toDayOfMonth", &["day", "dayofmonth"]),
            Part::DayOfWeek => ("toDayOfWeek", &[]),
            Part::DayOfYear => ("toDayOfYear", &["dayofyear"]),
            Part::Hour => ("toHour", &["hour"]),
            Part::Minute => ("toMinute", &["minute"]),
            Part::Second => ("toSecond", &["second"]),
            Part::YearMonth => ("toYYYYMM", &[]),
            Part::YearMonthDay => ("toYYYYMMDD", &[]),
            Part::YearMonthDayTime => ("toYYYYMMDDhhmmss", &[]),
            Part::UnixTimestamp => ("toUnixTimestamp", &[]),
            Part::StartOfYear => ("toStartOfYear", &[]),
            Part::StartOfQuarter => ("toStartOfQuarter", &[]),
            Part::StartOfMonth => ("toStartOfMonth", &[]),
            Part::LastDayOfMonth => ("toLastDayOfMonth", &[]),
            Part::Monday => ("toMonday", &[]),
            Part::StartOfWeek => ("toStartOfWeek", &[]),
            Part::StartOfDay => ("toStartOfDay", &[]),
            Part::StartOfHour => ("toStartOfHour", &[]),
            Part::StartOfMinute => ("toStartOfMinute", &[]),
            Part::StartOfFiveMinutes => ("toStartOfFiveMinutes", &["toStartOfFiveMinute"]),
            Part::StartOfTenMinutes => ("toStartOfTenMinutes", &[]),
            Part::StartOfFifteenMinutes => ("toStartOfFifteenMinutes", &[]),
        }
    }

    fn output(self) -> Output {
        match self {
            Part::Year | Part::DayOfYear => Output::Number(ArrowType::UInt16, "UInt16"),
            Part::Quarter
            | Part::Month
            | Part::DayOfMonth
            | Part::DayOfWeek
            | Part::Hour
            | Part::Minute
            | Part::Second => Output::Number(ArrowType::UInt8, "UInt8"),
            Part::YearMonth | Part::YearMonthDay | Part::UnixTimestamp => {
                Output::Number(ArrowType::UInt32, "UInt32")
            }
            Part::YearMonthDayTime => Output::Number(ArrowType::UInt64, "UInt64"),
            Part::StartOfYear
            | Part::StartOfQuarter
            | Part::StartOfMonth
            | Part::LastDayOfMonth
            | Part::Monday
            | Part::StartOfWeek => Output::Date,
            Part::StartOfDay
            | Part::StartOfHour
            | Part::StartOfMinute
            | Part::StartOfFiveMinutes
            | Part::StartOfTenMinutes
            | Part::StartOfFifteenMinutes => Output::DateTime,
        }
    }

    /// Whether the part needs a time of day (a `Date` has no hour).
    fn needs_time(self) -> bool {
        matches!(self, Part::Hour | Part::Minute | Part::Second)
    }

    /// The part of wall-clock `seconds`: a number, a day number ([`Output::Date`]) or wall-clock
    /// seconds ([`Output::DateTime`]). `monday_first` is for [`Part::StartOfWeek`].
    pub fn of(self, seconds: i64, monday_first: bool) -> i64 {
        let days = seconds.div_euclid(DAY);
        let time = seconds.rem_euclid(DAY);
        let civil = || civil_from_days(days);
        let round = |step: i64| seconds - seconds.rem_euclid(step);
        match self {
            Part::Year => civil().0,
            Part::Quarter => i64::from((civil().1 - 1) / 3 + 1),
            Part::Month => i64::from(civil().1),
            Part::DayOfMonth => i64::from(civil().2),
            Part::DayOfWeek => i64::from(day_of_week(days)),
            Part::DayOfYear => days - days_from_civil(civil().0, 1, 1) + 1,
            Part::Hour => time / 3600,
            Part::Minute => time / 60 % 60,
            Part::Second => time % 60,
            Part::YearMonth => {
                let (year, month, _) = civil();
                year * 100 + i64::from(month)
            }
            Part::YearMonthDay => {
                let (year, month, day) = civil();
                year * 10_000 + i64::from(month) * 100 + i64::from(day)
            }
            Part::YearMonthDayTime => {
                let (year, month, day) = civil();
                let date = year * 10_000 + i64::from(month) * 100 + i64::from(day);
                date * 1_000_000 + time / 3600 * 10_000 + time / 60 % 60 * 100 + time % 60
            }
            // Takes instants, not wall-clock seconds: see `invoke_with_args`.
            Part::UnixTimestamp => seconds,
            Part::StartOfYear => days_from_civil(civil().0, 1, 1),
            Part::StartOfQuarter => {
                let (year, month, _) = civil();
                days_from_civil(year, (month - 1) / 3 * 3 + 1, 1)
            }
            Part::StartOfMonth => {
                let (year, month, _) = civil();
                days_from_civil(year, month, 1)
            }
            Part::LastDayOfMonth => {
                let (year, month, _) = civil();
                days_from_civil(year, month, days_in_month(year, month))
            }
            Part::Monday => days - i64::from(day_of_week(days)) + 1,
            Part::StartOfWeek if monday_first => days - i64::from(day_of_week(days)) + 1,
            Part::StartOfWeek => days - i64::from(day_of_week(days) % 7),
            Part::StartOfDay => days * DAY,
            Part::StartOfHour => round(3600),
            Part::StartOfMinute => round(60),
            Part::StartOfFiveMinutes => round(300),
            Part::StartOfTenMinutes => round(600),
            Part::StartOfFifteenMinutes => round(900),
        }
    }
}

/// The functions of this module.
pub fn functions() -> Vec<ScalarUDF> {
    Part::ALL
        .into_iter()
        .map(|part| {
            ScalarUDF::new_from_impl(PartFunction {
                part,
                aliases: part.names().1.iter().map(|a| a.to_string()).collect(),
                signature: Signature::variadic_any(Volatility::Immutable),
            })
        })
        .collect()
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct PartFunction {
    part: Part,
    aliases: Vec<String>,
    signature: Signature,
}

impl PartFunction {
    /// Checks the arguments: a date or time, then a mode (`toStartOfWeek`) or a time zone.
    fn check(&self, types: &[ArrowType]) -> Result<(), Error> {
        let name = self.name();
        let extra = match self.part {
            Part::StartOfWeek => 2,
            _ => 1,
        };
        let Some(first) = types.first() else {
            return Err(arguments(name, 1, 0));
        };
        if types.len() > 1 + extra {
            return Err(arguments(name, 1 + extra, types.len()));
        }
        if !is_moment(first)
            || (self.part.needs_time() && !has_time(first) && *first != ArrowType::Null)
        {
            return Err(not_a_moment(name, first));
        }
        Ok(())
    }

    /// The index of the time zone argument, if any.
    fn zone_index(&self) -> usize {
        match self.part {
            Part::StartOfWeek => 2,
            _ => 1,
        }
    }
}

fn arguments(function: &str, expected: usize, got: usize) -> Error {
    Error::query(
        ErrorCode::NUMBER_OF_ARGUMENTS_DOESNT_MATCH,
        format!(
            "Number of arguments for function {function} doesn't match: passed {got}, should be at most {expected}"
        ),
    )
}

impl ScalarUDFImpl for PartFunction {
    fn name(&self) -> &str {
        self.part.names().0
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
        self.check(&types)?;
        let nullable = args.arg_fields[0].is_nullable() || types[0] == ArrowType::Null;
        Ok(match self.part.output() {
            Output::Number(data_type, clickhouse) => {
                typed_field(self.name(), data_type, clickhouse, nullable)
            }
            Output::Date => date_field(self.name(), nullable),
            Output::DateTime => {
                let tz = constant_string(&args, self.zone_index())
                    .map(Into::into)
                    .or_else(|| type_zone(&types[0]));
                datetime_field(self.name(), tz, nullable)
            }
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let name = self.name();
        let monday_first = match (self.part, args.args.get(1)) {
            (Part::StartOfWeek, Some(mode)) => argument_integer(mode, name, "mode")? & 1 == 1,
            _ => false,
        };
        let zone = time_zone_argument(&args.args, self.zone_index(), name)?;
        let part = self.part;
        on_arrays(&args.args[..1], args.number_rows, |arrays| {
            let moments = Moments::read(&arrays[0], name, zone.as_deref())?;
            let result: ArrayRef = match part.output() {
                Output::Number(data_type, _) => {
                    let values: Int64Array = if part == Part::UnixTimestamp {
                        moments.utc()
                    } else {
                        moments
                            .local()
                            .unary(|seconds| part.of(seconds, monday_first))
                    };
                    cast(&values, &data_type)?
                }
                Output::Date => date_array(
                    &moments
                        .local()
                        .unary(|seconds| part.of(seconds, monday_first)),
                ),
                Output::DateTime => {
                    let utc = local_to_utc(&moments.local(), &moments.zone, |seconds| {
                        part.of(seconds, monday_first)
                    });
                    datetime_array(utc, moments.tz.clone())
                }
            };
            Ok(result)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wall(text: &str) -> i64 {
        super::super::calendar::parse_wall_time(text)
            .unwrap()
            .local_seconds()
    }

    #[test]
    fn parts_match_clickhouse() {
        let t = wall("2024-02-29 13:14:15");
        let parts = [
            (Part::Year, 2024),
            (Part::Quarter, 1),
            (Part::Month, 2),
            (Part::DayOfMonth, 29),
            (Part::DayOfWeek, 4),
            (Part::DayOfYear, 60),
            (Part::Hour, 13),
            (Part::Minute, 14),
            (Part::Second, 15),
            (Part::YearMonth, 202_402),
            (Part::YearMonthDay, 20_240_229),
            (Part::YearMonthDayTime, 20_240_229_131_415),
        ];
        for (part, expected) in parts {
            assert_eq!(part.of(t, false), expected, "{part:?}");
        }
    }

    #[test]
    fn roundings_match_clickhouse() {
        let t = wall("2024-03-03 13:14:15");
        let day = |text: &str| wall(text) / DAY;
        assert_eq!(Part::StartOfYear.of(t, false), day("2024-01-01"));
        assert_eq!(Part::StartOfQuarter.of(t, false), day("2024-01-01"));
        assert_eq!(Part::StartOfMonth.of(t, false), day("2024-03-01"));
        assert_eq!(Part::LastDayOfMonth.of(t, false), day("2024-03-31"));
        // 2024-03-03 is a Sunday.
        assert_eq!(Part::Monday.of(t, false), day("2024-02-26"));
        assert_eq!(Part::StartOfWeek.of(t, false), day("2024-03-03"));
        assert_eq!(Part::StartOfWeek.of(t, true), day("2024-02-26"));
        assert_eq!(Part::StartOfDay.of(t, false), wall("2024-03-03"));
        assert_eq!(
            Part::StartOfFiveMinutes.of(t, false),
            wall("2024-03-03 13:10:00")
        );
        assert_eq!(
            Part::StartOfFifteenMinutes.of(t, false),
            wall("2024-03-03 13:00:00")
        );
        let before_epoch = wall("1969-12-31 23:59:59");
        assert_eq!(
            Part::StartOfHour.of(before_epoch, false),
            wall("1969-12-31 23:00:00")
        );
    }
}
