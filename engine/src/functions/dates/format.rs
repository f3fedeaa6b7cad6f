//! `formatDateTime(t, format[, zone])`: a date or time written by a MySQL-style format, with
//! ClickHouse's set of `%` specifiers (`%M` is the month's name, `%i` the minutes, `%f` the
//! microseconds).

use std::fmt::Write;
use std::sync::Arc;

use arrow_array::builder::StringBuilder;
use arrow_array::{Array, ArrayRef};
use arrow_schema::{DataType as ArrowType, Field, FieldRef};
use datafusion::common::Result as DfResult;
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};
use granary_protocol::ErrorCode;

use super::super::arguments::{argument_string, constant_string, on_arrays, time_zone_argument};
use super::calendar::{DAY, civil_from_days, day_of_week, days_from_civil, iso_week};
use super::column::{Moments, is_moment, not_a_moment};
use crate::Error;

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const WEEKDAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

/// A piece of a format: text to copy or a specifier.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Field(char),
}

/// Splits a format into pieces; an unknown or unfinished specifier is an error.
fn parse_format(format: &str) -> Result<Vec<Piece>, Error> {
    const FIELDS: &str = "abcCdDefFgGhHiIjklmMnpQrRsStTuVwWyYz%";
    let mut pieces = Vec::new();
    let mut text = String::new();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            text.push(c);
            continue;
        }
        match chars.next() {
            Some(field) if FIELDS.contains(field) => {
                if !text.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut text)));
                }
                pieces.push(Piece::Field(field));
            }
            other => {
                return Err(Error::query(
                    ErrorCode::BAD_ARGUMENTS,
                    format!(
                        "Incorrect syntax '{format}', symbol is not supported '{}' for function formatDateTime",
                        other.map(String::from).unwrap_or_default()
                    ),
                ));
            }
        }
    }
    if !text.is_empty() {
        pieces.push(Piece::Text(text));
    }
    Ok(pieces)
}

/// Writes one value: wall-clock `seconds`, `micros` of the second, `offset` from UTC in seconds.
fn write_value(out: &mut String, pieces: &[Piece], seconds: i64, micros: i64, offset: i64) {
    let days = seconds.div_euclid(DAY);
    let time = seconds.rem_euclid(DAY);
    let (year, month, day) = civil_from_days(days);
    let (hour, minute, second) = (time / 3600, time / 60 % 60, time % 60);
    let hour12 = match hour % 12 {
        0 => 12,
        h => h,
    };
    let weekday = day_of_week(days);
    for piece in pieces {
        let _ = match piece {
            Piece::Text(text) => out.write_str(text),
            Piece::Field(field) => match field {
                'a' => out.write_str(&WEEKDAYS[weekday as usize - 1][..3]),
                'W' => out.write_str(WEEKDAYS[weekday as usize - 1]),
                'b' => out.write_str(&MONTHS[month as usize - 1][..3]),
                'M' => out.write_str(MONTHS[month as usize - 1]),
                'c' | 'm' => write!(out, "{month:02}"),
                'C' => write!(out, "{:02}", year.div_euclid(100)),
                'd' => write!(out, "{day:02}"),
                'e' => write!(out, "{day}"),
                'D' => write!(out, "{month:02}/{day:02}/{:02}", year.rem_euclid(100)),
                'f' => write!(out, "{micros:06}"),
                'F' => write!(out, "{year:04}-{month:02}-{day:02}"),
                'G' => write!(out, "{:04}", iso_week(days).0),
                'g' => write!(out, "{:02}", iso_week(days).0.rem_euclid(100)),
                'V' => write!(out, "{:02}", iso_week(days).1),
                'H' | 'k' => write!(out, "{hour:02}"),
                'h' | 'I' | 'l' => write!(out, "{hour12:02}"),
                'i' => write!(out, "{minute:02}"),
                'j' => write!(out, "{:03}", days - days_from_civil(year, 1, 1) + 1),
                'n' => out.write_char('\n'),
                't' => out.write_char('\t'),
                'p' => out.write_str(if hour < 12 { "AM" } else { "PM" }),
                'Q' => write!(out, "{}", (month - 1) / 3 + 1),
                'r' => write!(
                    out,
                    "{hour12:02}:{minute:02} {}",
                    if hour < 12 { "AM" } else { "PM" }
                ),
                'R' => write!(out, "{hour:02}:{minute:02}"),
                's' | 'S' => write!(out, "{second:02}"),
                'T' => write!(out, "{hour:02}:{minute:02}:{second:02}"),
                'u' => write!(out, "{weekday}"),
                'w' => write!(out, "{}", weekday % 7),
                'y' => write!(out, "{:02}", year.rem_euclid(100)),
                'Y' => write!(out, "{year:04}"),
                'z' => {
                    let sign = if offset < 0 { '-' } else { '+' };
                    let offset = offset.abs();
                    write!(out, "{sign}{:02}{:02}", offset / 3600, offset / 60 % 60)
                }
                '%' => out.write_char('%'),
                other => unreachable!("specifier %{other} passed parse_format"),
            },
        };
    }
}

/// The function of this module.
pub fn function() -> ScalarUDF {
    ScalarUDF::new_from_impl(FormatDateTime {
        aliases: vec!["DATE_FORMAT".to_string(), "date_format".to_string()],
        signature: Signature::variadic_any(Volatility::Immutable),
    })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct FormatDateTime {
    aliases: Vec<String>,
    signature: Signature,
}

impl ScalarUDFImpl for FormatDateTime {
    fn name(&self) -> &str {
        "formatDateTime"
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
        if !(2..=3).contains(&types.len()) {
            return Err(Error::query(
                ErrorCode::NUMBER_OF_ARGUMENTS_DOESNT_MATCH,
                format!(
                    "Number of arguments for function formatDateTime doesn't match: passed {}, should be 2 or 3",
                    types.len()
                ),
            )
            .into());
        }
        if !is_moment(&types[0]) {
            return Err(not_a_moment(self.name(), &types[0]).into());
        }
        if let Some(format) = constant_string(&args, 1) {
            parse_format(&format)?;
        }
        Ok(Arc::new(Field::new(
            self.name(),
            ArrowType::Utf8,
            args.arg_fields[0].is_nullable(),
        )))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let pieces = parse_format(&argument_string(&args.args[1], self.name(), "format")?)?;
        let zone = time_zone_argument(&args.args, 2, self.name())?;
        on_arrays(&args.args[..1], args.number_rows, |arrays| {
            let moments = Moments::read(&arrays[0], self.name(), zone.as_deref())?;
            let utc = moments.utc();
            let mut strings = StringBuilder::with_capacity(utc.len(), utc.len() * 20);
            let mut text = String::new();
            for row in 0..utc.len() {
                if utc.is_null(row) {
                    strings.append_null();
                    continue;
                }
                let instant = utc.value(row);
                let ticks = moments.ticks.value(row);
                let micros = ticks.rem_euclid(moments.per_second) * 1_000_000 / moments.per_second;
                let offset = moments.zone.offset(instant);
                text.clear();
                write_value(&mut text, &pieces, instant + offset, micros, offset);
                strings.append_value(&text);
            }
            Ok(Arc::new(strings.finish()) as ArrayRef)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::functions::dates::calendar::parse_wall_time;

    fn format(format: &str, text: &str, micros: i64, offset: i64) -> String {
        let seconds = parse_wall_time(text).unwrap().local_seconds();
        let mut out = String::new();
        write_value(
            &mut out,
            &parse_format(format).unwrap(),
            seconds,
            micros,
            offset,
        );
        out
    }

    #[test]
    fn formats_match_clickhouse() {
        // Expected strings from chDB 4.4.
        assert_eq!(
            format(
                "%Y %m %d %H %i %S %M %y %e %j %F %T %D %p %I %a %b %w %u %h %l %k %s %R %%",
                "2024-02-29 03:04:05",
                0,
                0
            ),
            "2024 02 29 03 04 05 February 24 29 060 2024-02-29 03:04:05 02/29/24 AM 03 Thu Feb 4 4 03 03 03 05 03:04 %"
        );
        assert_eq!(
            format(
                "%l|%k|%C|%G|%V|%f|%r|%z|%Q|%W|%c|%g",
                "2024-03-05 15:04:05",
                123_000,
                9 * 3600
            ),
            "03|15|20|2024|10|123000|03:04 PM|+0900|1|Tuesday|03|24"
        );
    }

    #[test]
    fn unknown_specifiers_are_refused() {
        assert!(parse_format("%B").is_err());
        assert!(parse_format("50%").is_err());
        assert_eq!(parse_format("%%").unwrap(), vec![Piece::Field('%')]);
    }
}
