//! The limits one query runs under — ClickHouse's query-complexity settings — resolved once per
//! statement from its own `SETTINGS` clause, else the session's `SET`s, else the defaults, so
//! every front end (embedded, native, HTTP, PostgreSQL) gets the same ones:
//!
//! | setting | enforced by | error |
//! |---|---|---|
//! | `max_execution_time` (or PostgreSQL's `statement_timeout`) | the statement and its result stream | TIMEOUT_EXCEEDED (159) |
//! | `max_memory_usage` | the query's memory pool ([`super::memory`]) | MEMORY_LIMIT_EXCEEDED (241) |
//! | `max_result_rows`, `result_overflow_mode` | the result stream | TOO_MANY_ROWS_OR_BYTES (396) |
//! | `max_rows_to_read` | each scan (its selected rows) and the rows read so far | TOO_MANY_ROWS (158) |
//! | `force_primary_key` | each MergeTree scan that reads | INDEX_NOT_USED (277) |
//!
//! Scans find the limits as a session-config extension.

use std::time::Duration;

use granary_protocol::ErrorCode;

use crate::error::{Error, Result};

/// The settings this module reads (a statement's SETTINGS clause naming others leaves them to
/// their own owners).
pub const NAMES: &[&str] = &[
    "max_execution_time",
    "max_memory_usage",
    "max_result_rows",
    "result_overflow_mode",
    "max_rows_to_read",
    "read_overflow_mode",
    "force_primary_key",
];

/// What happens when a result outgrows `max_result_rows`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Overflow {
    /// The query fails.
    #[default]
    Throw,
    /// The result ends after the block that crossed the limit (so it can hold more rows than
    /// the limit, as ClickHouse's does).
    Break,
}

/// One statement's limits.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryLimits {
    /// `max_execution_time`; `None`: unlimited.
    pub execution_time: Option<Duration>,
    /// `max_memory_usage` in bytes; `None`: the database's default, `Some(0)`: the server's
    /// limit only.
    pub memory: Option<u64>,
    /// `max_result_rows`; `None`: unlimited.
    pub result_rows: Option<u64>,
    /// `result_overflow_mode`.
    pub result_overflow: Overflow,
    /// `max_rows_to_read`; `None`: unlimited.
    pub rows_to_read: Option<u64>,
    /// `force_primary_key`: a scan of a table with a primary key must narrow it.
    pub force_primary_key: bool,
}

impl QueryLimits {
    /// The limits given by `lookup` (the statement's value of a setting, else the session's);
    /// `statement_timeout` stands in for an unset `max_execution_time`.
    pub fn resolve(
        lookup: impl Fn(&str) -> Option<String>,
        statement_timeout: Option<Duration>,
    ) -> Result<QueryLimits> {
        let positive = |name: &str| -> Result<Option<u64>> {
            match lookup(name) {
                None => Ok(None),
                Some(text) => Ok(Some(unsigned(name, &text)?).filter(|value| *value > 0)),
            }
        };
        let execution_time = match lookup("max_execution_time") {
            None => statement_timeout,
            Some(text) => {
                let seconds: f64 = text.trim().parse().map_err(|_| {
                    Error::query(
                        ErrorCode::CANNOT_PARSE_NUMBER,
                        format!("max_execution_time must be a number of seconds, not {text}"),
                    )
                })?;
                (seconds > 0.0 && seconds.is_finite())
                    .then(|| Duration::from_secs_f64(seconds.min(1e9)))
            }
        };
        let memory = match lookup("max_memory_usage") {
            None => None,
            Some(text) => Some(text.trim().parse::<u64>().map_err(|_| {
                Error::query(
                    ErrorCode::CANNOT_PARSE_NUMBER,
                    format!("max_memory_usage must be a number of bytes, not {text}"),
                )
            })?),
        };
        let result_overflow = match lookup("result_overflow_mode").as_deref().map(str::trim) {
            None | Some("throw") => Overflow::Throw,
            Some("break") => Overflow::Break,
            Some(other) => return Err(overflow_mode("result_overflow_mode", other)),
        };
        match lookup("read_overflow_mode").as_deref().map(str::trim) {
            None | Some("throw") => {}
            Some("break") => {
                // ClickHouse answers from the rows read until then: an answer that is not the
                // query's, which Granary does not give.
                return Err(Error::not_implemented(
                    "read_overflow_mode = 'break' (a query past max_rows_to_read fails instead)",
                ));
            }
            Some(other) => return Err(overflow_mode("read_overflow_mode", other)),
        }
        let force_primary_key = match lookup("force_primary_key") {
            None => false,
            Some(text) => flag("force_primary_key", &text)?,
        };
        Ok(QueryLimits {
            execution_time,
            memory,
            result_rows: positive("max_result_rows")?,
            result_overflow,
            rows_to_read: positive("max_rows_to_read")?,
            force_primary_key,
        })
    }

    /// TOO_MANY_ROWS when a scan is to read `rows` (or has read them) past `max_rows_to_read`.
    pub fn check_rows_to_read(&self, rows: u64) -> Result<()> {
        match self.rows_to_read {
            Some(limit) if rows > limit => Err(Error::query(
                ErrorCode::TOO_MANY_ROWS,
                format!(
                    "Limit for rows (controlled by 'max_rows_to_read' setting) exceeded, max \
                     rows: {}, current rows: {}",
                    readable_quantity(limit),
                    readable_quantity(rows)
                ),
            )),
            _ => Ok(()),
        }
    }

    /// TOO_MANY_ROWS_OR_BYTES for a result of `rows` past `max_result_rows` (thrown, not broken
    /// off).
    pub fn result_exceeded(&self, rows: u64) -> Option<Error> {
        let limit = self.result_rows?;
        (rows > limit && self.result_overflow == Overflow::Throw).then(|| {
            Error::query(
                ErrorCode::TOO_MANY_ROWS_OR_BYTES,
                format!(
                    "Limit for result exceeded, max rows: {}, current rows: {}",
                    readable_quantity(limit),
                    readable_quantity(rows)
                ),
            )
        })
    }
}

fn unsigned(name: &str, text: &str) -> Result<u64> {
    text.trim().parse::<u64>().map_err(|_| {
        Error::query(
            ErrorCode::CANNOT_PARSE_NUMBER,
            format!("{name} must be a non-negative integer, not {text}"),
        )
    })
}

fn flag(name: &str, text: &str) -> Result<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "0" | "false" => Ok(false),
        "1" | "true" => Ok(true),
        _ => Err(Error::query(
            ErrorCode::CANNOT_PARSE_BOOL,
            format!("{name} must be 0 or 1, not {text}"),
        )),
    }
}

fn overflow_mode(name: &str, value: &str) -> Error {
    Error::query(
        ErrorCode::UNKNOWN_OVERFLOW_MODE,
        format!("Unexpected value of {name}: '{value}', must be one of 'throw', 'break'"),
    )
}

/// A count as ClickHouse's `formatReadableQuantity` writes it: `10.00`, `8.19 thousand`.
pub fn readable_quantity(value: u64) -> String {
    const UNITS: [&str; 7] = [
        "",
        " thousand",
        " million",
        " billion",
        " trillion",
        " quadrillion",
        " quintillion",
    ];
    let mut scaled = value as f64;
    let mut unit = 0;
    while scaled >= 1000.0 && unit + 1 < UNITS.len() {
        scaled /= 1000.0;
        unit += 1;
    }
    format!("{scaled:.2}{}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(pairs: &[(&str, &str)]) -> Result<QueryLimits> {
        QueryLimits::resolve(
            |name| {
                pairs
                    .iter()
                    .find(|(key, _)| *key == name)
                    .map(|(_, value)| value.to_string())
            },
            None,
        )
    }

    #[test]
    fn zero_means_unlimited_and_the_statement_timeout_stands_in() {
        let limits = resolve(&[("max_result_rows", "0"), ("max_rows_to_read", "0")]).unwrap();
        assert_eq!(limits, QueryLimits::default());
        let timeout = Some(Duration::from_millis(1500));
        let limits = QueryLimits::resolve(|_| None, timeout).unwrap();
        assert_eq!(limits.execution_time, timeout);
        let limits = QueryLimits::resolve(
            |name| (name == "max_execution_time").then(|| "0".to_string()),
            timeout,
        )
        .unwrap();
        assert_eq!(
            limits.execution_time, None,
            "an explicit 0 lifts the timeout"
        );
    }

    #[test]
    fn values_are_checked() {
        let code = |pairs| resolve(pairs).unwrap_err().code();
        assert_eq!(
            code(&[("max_result_rows", "-1")]),
            ErrorCode::CANNOT_PARSE_NUMBER
        );
        assert_eq!(
            code(&[("result_overflow_mode", "any")]),
            ErrorCode::UNKNOWN_OVERFLOW_MODE
        );
        assert_eq!(
            code(&[("read_overflow_mode", "break")]),
            ErrorCode::NOT_IMPLEMENTED
        );
        assert_eq!(
            code(&[("force_primary_key", "2")]),
            ErrorCode::CANNOT_PARSE_BOOL
        );
        let limits = resolve(&[
            ("force_primary_key", "true"),
            ("result_overflow_mode", "break"),
        ])
        .unwrap();
        assert!(limits.force_primary_key);
        assert_eq!(limits.result_overflow, Overflow::Break);
    }

    #[test]
    fn errors_say_what_clickhouse_says() {
        let limits = resolve(&[("max_rows_to_read", "8191"), ("max_result_rows", "10")]).unwrap();
        assert!(limits.check_rows_to_read(8191).is_ok());
        assert_eq!(
            limits.check_rows_to_read(100_000).unwrap_err().to_string(),
            "Limit for rows (controlled by 'max_rows_to_read' setting) exceeded, max rows: 8.19 \
             thousand, current rows: 100.00 thousand"
        );
        assert!(limits.result_exceeded(10).is_none());
        assert_eq!(
            limits.result_exceeded(100).unwrap().to_string(),
            "Limit for result exceeded, max rows: 10.00, current rows: 100.00"
        );
    }
}
