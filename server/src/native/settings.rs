//! The settings a native Query carries. Granary knows the ones it honours; as ClickHouse does, it
//! skips any other unless the client marked it important, which refuses the query with
//! UNKNOWN_SETTING (so a client that needs `insert_deduplication_token` honoured can insist).

use granary_engine::Session;
use granary_protocol::ErrorCode;
use granary_protocol::compress::Method;
use granary_protocol::packet::server::Exception;
use granary_protocol::packet::settings::Setting;

use super::exception;

/// What the settings of one query ask of the front end.
#[derive(Debug, Clone)]
pub struct QuerySettings {
    /// How result blocks are compressed when the query asked for compression.
    pub compression: Method,
}

impl Default for QuerySettings {
    fn default() -> Self {
        QuerySettings {
            compression: Method::Lz4,
        }
    }
}

/// Settings the engine session honours for the query's duration besides its limits
/// (`max_execution_time`, `max_result_rows`, ...: [`granary_engine::exec::limits::NAMES`]).
const SESSION_SETTINGS: &[&str] = &["insert_deduplication_token", "readonly"];

/// The session settings a query changed, to put back when it ends.
#[derive(Debug, Default)]
pub struct Restore(Vec<(String, Option<String>)>);

impl Restore {
    /// Puts the session's settings back as they were before the query.
    pub fn apply(self, session: &mut Session) {
        for (name, value) in self.0.into_iter().rev() {
            if let Err(error) = session.set_setting(&name, value.as_deref()) {
                tracing::warn!(%error, name, "cannot restore a setting after a query");
            }
        }
    }
}

/// Applies `settings` to the query: session ones to `session` (recorded in `restore`, which undoes
/// them, also after an error), front-end ones to the returned [`QuerySettings`].
pub fn apply(
    session: &mut Session,
    settings: &[Setting],
    restore: &mut Restore,
) -> Result<QuerySettings, Exception> {
    let mut query = QuerySettings::default();
    let mut zstd_level = 1;
    let mut method = None;
    for setting in settings {
        let name = setting.name.as_str();
        let value = setting.value.as_str();
        let invalid = |expected: &str| {
            exception::new(
                ErrorCode::BAD_ARGUMENTS,
                &format!("setting {name} = {value:?}: expected {expected}"),
            )
        };
        match name {
            _ if SESSION_SETTINGS.contains(&name)
                || granary_engine::exec::limits::NAMES.contains(&name) =>
            {
                let previous = session.setting(name).map(str::to_string);
                session
                    .set_setting(name, Some(value))
                    .map_err(|error| super::exception::from_engine(&error))?;
                restore.0.push((name.to_string(), previous));
            }
            "network_compression_method" => {
                method = Some(match value.to_ascii_lowercase().as_str() {
                    "lz4" | "lz4hc" => "lz4",
                    "zstd" => "zstd",
                    "none" => "none",
                    _ => {
                        return Err(exception::new(
                            ErrorCode::UNKNOWN_COMPRESSION_METHOD,
                            &format!("Unknown compression method: {value}"),
                        ));
                    }
                });
            }
            "network_zstd_compression_level" => {
                zstd_level = value.parse().map_err(|_| invalid("an integer"))?;
            }
            _ if setting.is_important() => {
                return Err(exception::new(
                    ErrorCode::UNKNOWN_SETTING,
                    &format!(
                        "Setting {name} is neither a builtin setting nor started with the prefix \
                         'custom_' registered for user-defined settings, or Granary does not \
                         honour it (the client marked it important)"
                    ),
                ));
            }
            _ => tracing::debug!(name, value, "setting skipped: Granary does not honour it"),
        }
    }
    query.compression = match method {
        Some("zstd") => Method::Zstd(zstd_level),
        Some("none") => Method::None,
        _ => Method::Lz4,
    };
    Ok(query)
}
