//! The proleptic Gregorian calendar on day numbers, time zones, and ClickHouse's text forms of
//! dates and times.

use std::str::FromStr;

use arrow_array::timezone::Tz;
use chrono::{Offset, TimeZone};
use granary_protocol::ErrorCode;

use crate::Error;

/// Seconds in a day.
pub const DAY: i64 = 86_400;

/// The (year, month, day) of a day number (days since 1970-01-01), by Howard Hinnant's
/// `civil_from_days`.
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

/// The day number of a (year, month, day); the inverse of [`civil_from_days`].
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    debug_assert!((1..=12).contains(&month), "month {month}");
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let month_from_march = i64::from((month + 9) % 12);
    let day_of_year = (153 * month_from_march + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Whether `year` has a 29th of February.
pub fn is_leap_year(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

/// The number of days of a month.
pub fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// The ISO day of the week of a day number: Monday 1 ... Sunday 7 (1970-01-01 was a Thursday).
pub fn day_of_week(days: i64) -> u32 {
    ((days + 3).rem_euclid(7) + 1) as u32
}

/// The ISO 8601 (week-based year, week) of a day number.
pub fn iso_week(days: i64) -> (i64, u32) {
    // The week belongs to the year of its Thursday.
    let thursday = days - i64::from(day_of_week(days)) + 4;
    let (year, _, _) = civil_from_days(thursday);
    let week = (thursday - days_from_civil(year, 1, 1)) / 7 + 1;
    (year, week as u32)
}

/// A time zone in which wall-clock times are read: UTC (Granary's server time zone, used for a
/// `DateTime` without one) or a named zone or fixed offset.
#[derive(Debug, Clone)]
pub enum Zone {
    Utc,
    Named(Tz),
}

impl Zone {
    /// The zone of a `DateTime`'s time zone name, UTC when it has none.
    pub fn of(name: Option<&str>) -> Result<Zone, Error> {
        match name {
            None | Some("UTC" | "+00:00" | "Etc/UTC" | "Z") => Ok(Zone::Utc),
            Some(name) => Tz::from_str(name).map(Zone::Named).map_err(|_| {
                Error::query(
                    ErrorCode::BAD_ARGUMENTS,
                    format!("Unknown time zone '{name}'"),
                )
            }),
        }
    }

    /// Whether wall-clock time is UTC, so that no per-value offset is needed.
    pub fn is_utc(&self) -> bool {
        matches!(self, Zone::Utc)
    }

    /// The offset from UTC at the instant `utc` (seconds since the epoch), in seconds.
    pub fn offset(&self, utc: i64) -> i64 {
        match self {
            Zone::Utc => 0,
            Zone::Named(zone) => match chrono::DateTime::from_timestamp(utc, 0) {
                Some(instant) => i64::from(
                    zone.offset_from_utc_datetime(&instant.naive_utc())
                        .fix()
                        .local_minus_utc(),
                ),
                None => 0,
            },
        }
    }

    /// The wall-clock seconds (as if the zone were UTC) of the instant `utc`.
    pub fn local(&self, utc: i64) -> i64 {
        utc + self.offset(utc)
    }

    /// The instant whose wall-clock time is `local`; in a daylight-saving gap or overlap, the one
    /// with the offset in force just after it, as ClickHouse's date lookup does.
    pub fn utc(&self, local: i64) -> i64 {
        match self {
            Zone::Utc => local,
            Zone::Named(_) => {
                let guess = local - self.offset(local);
                local - self.offset(guess)
            }
        }
    }
}

/// A date and time read from text, as wall-clock parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WallTime {
    pub days: i64,
    pub seconds: i64,
    /// Nanoseconds of the fractional second.
    pub nanos: u32,
}

impl WallTime {
    /// Seconds since the epoch if the wall clock were UTC.
    pub fn local_seconds(&self) -> i64 {
        self.days * DAY + self.seconds
    }
}

/// Reads `YYYY-MM-DD`, `YYYY-MM-DD hh:mm:ss[.fraction]` or the same with `T` between date and time
/// (surrounding spaces allowed); `None` when the text is not such a date or names no real day.
pub fn parse_wall_time(text: &str) -> Option<WallTime> {
    let text = text.trim();
    let bytes = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| -> Option<u32> {
        let part = bytes.get(range)?;
        part.iter().all(u8::is_ascii_digit).then(|| {
            part.iter()
                .fold(0u32, |value, digit| value * 10 + u32::from(digit - b'0'))
        })
    };
    if bytes.len() < 10 || bytes[4] != b'-' || bytes[7] != b'-' {
        return None;
    }
    let (year, month, day) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(i64::from(year), month) {
        return None;
    }
    let days = days_from_civil(i64::from(year), month, day);
    if bytes.len() == 10 {
        return Some(WallTime {
            days,
            seconds: 0,
            nanos: 0,
        });
    }
    if bytes.len() < 19
        || !matches!(bytes[10], b' ' | b'T')
        || bytes[13] != b':'
        || bytes[16] != b':'
    {
        return None;
    }
    let (hour, minute, second) = (digits(11..13)?, digits(14..16)?, digits(17..19)?);
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let nanos = match &bytes[19..] {
        [] => 0,
        [b'.', fraction @ ..]
            if !fraction.is_empty() && fraction.iter().all(u8::is_ascii_digit) =>
        {
            let mut nanos = 0u32;
            for position in 0..9 {
                let digit = fraction
                    .get(position)
                    .map_or(0, |digit| u32::from(digit - b'0'));
                nanos = nanos * 10 + digit;
            }
            nanos
        }
        _ => return None,
    };
    Some(WallTime {
        days,
        seconds: i64::from(hour * 3600 + minute * 60 + second),
        nanos,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates_match_the_calendar() {
        for (days, date) in [
            (0, (1970, 1, 1)),
            (15_901, (2013, 7, 15)),
            (-1, (1969, 12, 31)),
            (19_782, (2024, 2, 29)),
            (-25_567, (1900, 1, 1)),
        ] {
            assert_eq!(civil_from_days(days), date);
            assert_eq!(days_from_civil(date.0, date.1, date.2), days);
        }
        for days in -800_000..800_000 {
            let (year, month, day) = civil_from_days(days);
            assert_eq!(days_from_civil(year, month, day), days);
        }
    }

    #[test]
    fn weeks_follow_iso_8601() {
        assert_eq!(day_of_week(days_from_civil(2024, 2, 29)), 4);
        assert_eq!(day_of_week(days_from_civil(2024, 3, 3)), 7);
        assert_eq!(iso_week(days_from_civil(2024, 3, 5)), (2024, 10));
        assert_eq!(iso_week(days_from_civil(2021, 1, 3)), (2020, 53));
        assert_eq!(iso_week(days_from_civil(2024, 12, 30)), (2025, 1));
    }

    #[test]
    fn wall_times_are_read_strictly() {
        let read = |text| parse_wall_time(text).map(|t| (t.local_seconds(), t.nanos));
        assert_eq!(read("2024-02-29 13:14:15"), Some((1_709_212_455, 0)));
        assert_eq!(read("2024-02-29T13:14:15"), Some((1_709_212_455, 0)));
        assert_eq!(read("2024-02-29"), Some((1_709_164_800, 0)));
        assert_eq!(
            read("2024-02-29 13:14:15.12"),
            Some((1_709_212_455, 120_000_000))
        );
        for bad in [
            "2024-02-30",
            "2023-02-29 00:00:00",
            "abc",
            "2024-13-01",
            "2024-01-01 24:00:00",
            "2024-01-01 1",
        ] {
            assert_eq!(read(bad), None, "{bad}");
        }
    }

    #[test]
    fn zones_convert_both_ways() {
        let berlin = Zone::of(Some("Europe/Berlin")).unwrap();
        // 2024-01-31 23:30:00 UTC is 00:30 on 1 February in Berlin.
        let instant = 1_706_743_800;
        assert_eq!(berlin.local(instant), instant + 3600);
        assert_eq!(berlin.utc(instant + 3600), instant);
        assert!(Zone::of(Some("Nowhere/Else")).is_err());
        assert!(Zone::of(None).unwrap().is_utc());
    }
}
