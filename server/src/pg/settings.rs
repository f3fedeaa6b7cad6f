//! PostgreSQL session settings that clients set and read (`SET application_name = 'x'`,
//! `SET extra_float_digits = 3`, `SHOW TimeZone`...): kept per connection by the front end, since
//! they describe the client's conversation rather than the query engine. Other `SET`s are
//! ClickHouse settings and go to the engine.
//!
//! Values are stored as given; output is always ISO dates and UTF8 whatever `DateStyle` says, and a
//! `client_encoding` other than UTF8 is refused (22023), as pg-compat.md asks.

use std::collections::BTreeMap;

use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};

/// Settings the front end keeps, with their values at connection start (lower-case names).
const DEFAULTS: &[(&str, &str)] = &[
    ("application_name", ""),
    ("bytea_output", "hex"),
    ("client_encoding", "UTF8"),
    ("client_min_messages", "notice"),
    ("datestyle", "ISO, MDY"),
    ("default_transaction_isolation", "read committed"),
    ("default_transaction_read_only", "off"),
    ("extra_float_digits", "1"),
    ("idle_in_transaction_session_timeout", "0"),
    ("intervalstyle", "postgres"),
    ("jit", "off"),
    ("lock_timeout", "0"),
    ("search_path", "\"$user\", public"),
    ("standard_conforming_strings", "on"),
    ("statement_timeout", "0"),
    ("timezone", "UTC"),
    ("transaction_isolation", "read committed"),
];

/// Settings that are durations in milliseconds, written with or without a unit.
const TIMEOUTS: &[&str] = &[
    "idle_in_transaction_session_timeout",
    "lock_timeout",
    "statement_timeout",
];

/// Units of a duration setting, in milliseconds, largest first (as PostgreSQL shows them).
const UNITS: &[(&str, f64)] = &[
    ("d", 86_400_000.0),
    ("h", 3_600_000.0),
    ("min", 60_000.0),
    ("s", 1_000.0),
    ("ms", 1.0),
    ("us", 0.001),
];

/// A duration setting's value in milliseconds: `5000`, `'5s'`, `'1.5min'`, `'100 ms'`
/// (PostgreSQL's forms; rounded to a millisecond, at most i32::MAX as in PostgreSQL).
fn milliseconds(value: &str) -> Option<u64> {
    let text = value.trim();
    let number_end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == '+'))
        .unwrap_or(text.len());
    let number: f64 = text[..number_end].parse().ok()?;
    let unit = text[number_end..].trim();
    let scale = if unit.is_empty() {
        1.0
    } else {
        UNITS.iter().find(|(name, _)| *name == unit)?.1
    };
    let milliseconds = (number * scale).round();
    (milliseconds.is_finite() && (0.0..=f64::from(i32::MAX)).contains(&milliseconds))
        .then_some(milliseconds as u64)
}

/// Milliseconds as PostgreSQL's `SHOW` writes them: in the largest unit that divides them.
fn show_milliseconds(milliseconds: u64) -> String {
    if milliseconds == 0 {
        return "0".to_string();
    }
    UNITS
        .iter()
        .filter(|(_, scale)| *scale >= 1.0)
        .find(|(_, scale)| milliseconds.is_multiple_of(*scale as u64))
        .map(|(unit, scale)| format!("{}{unit}", milliseconds / (*scale as u64)))
        .unwrap_or_else(|| format!("{milliseconds}ms"))
}

/// Settings that can be shown but not set.
const READ_ONLY: &[(&str, &str)] = &[
    ("integer_datetimes", "on"),
    ("server_encoding", "UTF8"),
    ("server_version_num", "150000"),
];

/// One connection's settings, shared by its handlers and its catalog queries
/// (`current_setting`, `set_config`).
#[derive(Debug)]
pub struct SharedSettings(std::sync::Mutex<PgSettings>);

impl SharedSettings {
    pub fn new(server_version: &str) -> SharedSettings {
        SharedSettings(std::sync::Mutex::new(PgSettings::new(server_version)))
    }

    /// The settings, for as long as the guard lives (never across an await).
    pub fn lock(&self) -> std::sync::MutexGuard<'_, PgSettings> {
        // The settings stay consistent if a holder panicked: every change is one insert.
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl granary_engine::postgres::PgSettingsAccess for SharedSettings {
    fn get(&self, name: &str) -> Option<String> {
        self.lock().value(name)
    }

    fn set(&self, name: &str, value: &str) -> granary_engine::Result<String> {
        let mut settings = self.lock();
        let name = name.to_ascii_lowercase();
        if !PgSettings::known(&name) {
            let message = if settings.value(&name).is_some() {
                format!("parameter \"{name}\" cannot be changed")
            } else {
                format!("unrecognized configuration parameter \"{name}\"")
            };
            let code = if settings.value(&name).is_some() {
                granary_protocol::ErrorCode::BAD_ARGUMENTS
            } else {
                granary_protocol::ErrorCode::UNKNOWN_SETTING
            };
            return Err(granary_engine::Error::query(code, message));
        }
        settings.set(&name, value.to_string()).map_err(|refusal| {
            granary_engine::Error::query(
                granary_protocol::ErrorCode::BAD_ARGUMENTS,
                refusal.message,
            )
        })?;
        Ok(settings.value(&name).unwrap_or_default())
    }
}

/// What a statement about settings asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// `SET name = value` (done; the value as stored).
    Set,
    /// `SHOW name`: the name and the value.
    Show(String, String),
}

/// Why a settings statement is refused: SQLSTATE and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub sqlstate: &'static str,
    pub message: String,
}

/// One connection's PostgreSQL settings.
#[derive(Debug, Clone)]
pub struct PgSettings {
    values: BTreeMap<String, String>,
    server_version: String,
}

impl PgSettings {
    /// The settings of a new connection.
    pub fn new(server_version: &str) -> PgSettings {
        PgSettings {
            values: DEFAULTS
                .iter()
                .map(|(name, value)| (name.to_string(), value.to_string()))
                .collect(),
            server_version: server_version.to_string(),
        }
    }

    fn known(name: &str) -> bool {
        DEFAULTS.iter().any(|(known, _)| *known == name)
    }

    /// Handles `statement` if it sets, resets or shows a setting kept here; `None` leaves it to the
    /// engine.
    pub fn handle(&mut self, statement: &str) -> Option<Result<Request, Refusal>> {
        let tokens = Tokenizer::new(&PostgreSqlDialect {}, statement)
            .tokenize()
            .ok()?;
        let words: Vec<Token> = tokens
            .into_iter()
            .filter(|token| !matches!(token, Token::Whitespace(_) | Token::SemiColon))
            .collect();
        let word = |index: usize| match words.get(index) {
            Some(Token::Word(word)) => Some(word.value.to_ascii_lowercase()),
            _ => None,
        };
        match word(0)?.as_str() {
            "set" => {
                let mut at = 1;
                if matches!(word(at).as_deref(), Some("session" | "local")) {
                    at += 1;
                }
                let (name, value_at) = if word(at).as_deref() == Some("time")
                    && word(at + 1).as_deref() == Some("zone")
                {
                    ("timezone".to_string(), at + 2)
                } else {
                    let name = word(at)?;
                    let assign = words.get(at + 1)?;
                    let is_assign = *assign == Token::Eq
                        || matches!(assign, Token::Word(w) if w.value.eq_ignore_ascii_case("to"));
                    if !is_assign {
                        return None;
                    }
                    (name, at + 2)
                };
                if !PgSettings::known(&name) {
                    return None;
                }
                let value = words[value_at..]
                    .iter()
                    .filter(|token| **token != Token::Comma)
                    .map(|token| match token {
                        Token::SingleQuotedString(text) => text.clone(),
                        Token::Word(word) => word.value.clone(),
                        other => other.to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join(", ");
                Some(self.set(&name, value))
            }
            "reset" => {
                let name = word(1)?;
                if name == "all" {
                    *self = PgSettings::new(&self.server_version);
                    return Some(Ok(Request::Set));
                }
                let default = DEFAULTS.iter().find(|(known, _)| *known == name)?.1;
                self.values.insert(name, default.to_string());
                Some(Ok(Request::Set))
            }
            "show" => {
                let name = match (word(1)?.as_str(), word(2).as_deref()) {
                    ("time", Some("zone")) => "timezone".to_string(),
                    (name, _) => name.to_string(),
                };
                let value = self.value(&name)?;
                Some(Ok(Request::Show(name, value)))
            }
            _ => None,
        }
    }

    fn set(&mut self, name: &str, value: String) -> Result<Request, Refusal> {
        if name == "client_encoding" {
            let plain = value
                .trim_matches('\'')
                .to_ascii_uppercase()
                .replace('-', "");
            if !matches!(plain.as_str(), "UTF8" | "UNICODE") {
                return Err(Refusal {
                    sqlstate: "22023",
                    message: format!(
                        "client encoding \"{value}\" is not supported: Granary speaks UTF8"
                    ),
                });
            }
        }
        let mut value = if value.eq_ignore_ascii_case("default") {
            DEFAULTS
                .iter()
                .find(|(known, _)| *known == name)
                .map_or(value, |(_, default)| default.to_string())
        } else {
            value
        };
        if TIMEOUTS.contains(&name) {
            let Some(milliseconds) = milliseconds(&value) else {
                return Err(Refusal {
                    sqlstate: "22023",
                    message: format!(
                        "invalid value for parameter \"{name}\": \"{value}\" (valid units are \
                         \"us\", \"ms\", \"s\", \"min\", \"h\" and \"d\")"
                    ),
                });
            };
            value = show_milliseconds(milliseconds);
        }
        self.values.insert(name.to_string(), value);
        Ok(Request::Set)
    }

    /// `statement_timeout`, which the engine's session enforces as it does
    /// `max_execution_time` (`None`: 0, no timeout).
    pub fn statement_timeout(&self) -> Option<std::time::Duration> {
        self.values
            .get("statement_timeout")
            .and_then(|value| milliseconds(value))
            .filter(|milliseconds| *milliseconds > 0)
            .map(std::time::Duration::from_millis)
    }

    /// The value of a setting (kept here or read-only), if it is one of them.
    pub fn value(&self, name: &str) -> Option<String> {
        let name = name.to_ascii_lowercase();
        if name == "server_version" {
            return Some(self.server_version.clone());
        }
        self.values.get(&name).cloned().or_else(|| {
            READ_ONLY
                .iter()
                .find(|(known, _)| *known == name)
                .map(|(_, value)| value.to_string())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_settings_are_kept_and_shown() {
        let mut settings = PgSettings::new("15.0 (Granary 0.1.0)");
        assert_eq!(
            settings.handle("SET application_name = 'psql'"),
            Some(Ok(Request::Set))
        );
        assert_eq!(
            settings.handle("SET SESSION extra_float_digits TO 3;"),
            Some(Ok(Request::Set))
        );
        assert_eq!(
            settings.handle("SET TIME ZONE 'Europe/Paris'"),
            Some(Ok(Request::Set))
        );
        assert_eq!(
            settings.handle("show APPLICATION_NAME"),
            Some(Ok(Request::Show("application_name".into(), "psql".into())))
        );
        assert_eq!(settings.value("extra_float_digits").as_deref(), Some("3"));
        assert_eq!(settings.value("TimeZone").as_deref(), Some("Europe/Paris"));
        assert_eq!(settings.handle("RESET timezone"), Some(Ok(Request::Set)));
        assert_eq!(settings.value("timezone").as_deref(), Some("UTC"));
        assert_eq!(
            settings.handle("SHOW server_version"),
            Some(Ok(Request::Show(
                "server_version".into(),
                "15.0 (Granary 0.1.0)".into()
            )))
        );
    }

    #[test]
    fn timeouts_take_postgresqls_units_and_show_as_it_does() {
        let mut settings = PgSettings::new("15.0");
        assert_eq!(settings.statement_timeout(), None);
        for (given, shown, millis) in [
            ("5000", "5s", 5000),
            ("'1500'", "1500ms", 1500),
            ("'2min'", "2min", 120_000),
            ("'1.5s'", "1500ms", 1500),
            ("'100 ms'", "100ms", 100),
        ] {
            assert_eq!(
                settings.handle(&format!("SET statement_timeout = {given}")),
                Some(Ok(Request::Set)),
                "{given}"
            );
            assert_eq!(settings.value("statement_timeout").as_deref(), Some(shown));
            assert_eq!(
                settings.statement_timeout(),
                Some(std::time::Duration::from_millis(millis))
            );
        }
        assert_eq!(
            settings.handle("SET statement_timeout = 0"),
            Some(Ok(Request::Set))
        );
        assert_eq!(settings.statement_timeout(), None);
        for bad in ["'abc'", "'5 parsecs'", "-1", "'99999999999'"] {
            assert!(
                matches!(
                    settings.handle(&format!("SET statement_timeout = {bad}")),
                    Some(Err(Refusal {
                        sqlstate: "22023",
                        ..
                    }))
                ),
                "{bad}"
            );
        }
        assert_eq!(settings.value("statement_timeout").as_deref(), Some("0"));
    }

    #[test]
    fn other_settings_go_to_the_engine_and_other_encodings_are_refused() {
        let mut settings = PgSettings::new("15.0");
        assert_eq!(settings.handle("SET max_threads = 1"), None);
        assert_eq!(settings.handle("SHOW TABLES"), None);
        assert_eq!(settings.handle("SELECT 1"), None);
        assert_eq!(
            settings.handle("SET client_encoding = 'UTF-8'"),
            Some(Ok(Request::Set))
        );
        let refused = settings.handle("SET client_encoding = 'LATIN1'");
        assert!(matches!(
            refused,
            Some(Err(Refusal {
                sqlstate: "22023",
                ..
            }))
        ));
    }
}
