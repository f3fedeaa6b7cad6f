//! Settings lists in Query packets, in both encodings (`native-protocol.md` §5.3): name, flags and
//! text from revision 54429 on; before it, a typed binary value whose width depends on the
//! setting, so a reader must know every name it may meet.

use crate::error::{Error, Result};
use crate::io::{Cursor, write_string, write_var_uint};
use crate::packet::revision;

/// The client insists: a server that does not know the setting must refuse the query.
pub const IMPORTANT: u64 = 1;
/// A user-defined setting; query parameters travel with this flag.
pub const CUSTOM: u64 = 2;

/// Most entries one settings list may hold.
const SETTINGS_MAX: usize = 10_000;

/// One entry of a settings list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    /// The setting's name.
    pub name: String,
    /// [`IMPORTANT`], [`CUSTOM`] bits.
    pub flags: u64,
    /// The value's text form (`1000`, `zstd`, a quoted literal for query parameters).
    pub value: String,
}

impl Setting {
    /// A setting with no flags.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Setting {
        Setting {
            name: name.into(),
            flags: 0,
            value: value.into(),
        }
    }

    /// True when the client marked the setting important.
    pub fn is_important(&self) -> bool {
        self.flags & IMPORTANT != 0
    }
}

/// How an old (binary-settings) client writes a setting's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BinaryKind {
    /// Integers, booleans, seconds, milliseconds, `max_threads`: a VarUInt.
    Number,
    /// Strings, enum-like names, chars and floats: a String.
    Text,
}

/// Settings of ClickHouse 18.16 whose binary value is a String: floats, strings, chars and the
/// enum-like settings (ClickHouse 18.16 `dbms/src/Interpreters/Settings.h`, `SettingsCommon.h`).
const BINARY_TEXT_SETTINGS: &[&str] = &[
    "load_balancing",
    "totals_mode",
    "network_compression_method",
    "distributed_product_mode",
    "send_logs_level",
    "read_overflow_mode",
    "result_overflow_mode",
    "group_by_overflow_mode",
    "sort_overflow_mode",
    "timeout_overflow_mode",
    "set_overflow_mode",
    "join_overflow_mode",
    "transfer_overflow_mode",
    "distinct_overflow_mode",
    "join_default_strictness",
    "format_csv_delimiter",
    "format_schema",
    "totals_auto_threshold",
    "input_format_allow_errors_ratio",
    "count_distinct_implementation",
    "insert_deduplication_token",
    "distributed_ddl_output_mode",
    "default_database_engine",
    "date_time_input_format",
    "background_pool_size_ratio",
    "session_timezone",
];

/// Settings of ClickHouse 18.16 whose binary value is a VarUInt, beyond the `max_*`, `min_*`,
/// `*_timeout*`, `enable_*`, `use_*`, `allow_*`, `input_format_*`, `output_format_*`, `log_*`,
/// `force_*`, `optimize_*` and `*_ms` families that are all numbers or booleans.
const BINARY_NUMBER_SETTINGS: &[&str] = &[
    "readonly",
    "extremes",
    "priority",
    "compile",
    "distributed_connections_pool_size",
    "connections_with_failover_max_tries",
    "connect_timeout_with_failover_ms",
    "replace_running_query",
    "background_pool_size",
    "background_schedule_pool_size",
    "skip_unavailable_shards",
    "distributed_group_by_no_merge",
    "merge_tree_min_rows_for_concurrent_read",
    "merge_tree_min_rows_for_seek",
    "merge_tree_coarse_index_granularity",
    "merge_tree_max_rows_to_use_cache",
    "merge_tree_uniform_read_distribution",
    "mysql_max_rows_to_insert",
    "interactive_delay",
    "poll_interval",
    "fsync_metadata",
    "join_use_nulls",
    "preferred_block_size_bytes",
    "preferred_max_column_in_block_size_bytes",
    "insert_quorum",
    "insert_quorum_timeout",
    "select_sequential_consistency",
    "table_function_remote_max_addresses",
    "read_backoff_min_latency_ms",
    "read_backoff_max_throughput",
    "read_backoff_min_interval_between_events_ms",
    "read_backoff_min_events",
    "memory_tracker_fault_probability",
    "enable_http_compression",
    "http_zlib_compression_level",
    "http_native_compression_disable_checksumming_on_decompress",
    "send_progress_in_http_headers",
    "http_headers_progress_interval_ms",
    "insert_deduplicate",
    "insert_distributed_sync",
    "insert_distributed_timeout",
    "insert_allow_materialized_columns",
    "insert_null_as_default",
    "distributed_ddl_task_timeout",
    "stream_flush_interval_ms",
    "prefer_localhost_replica",
    "empty_result_for_aggregation_by_empty_set",
    "allow_distributed_ddl",
    "odbc_max_field_size",
    "parallel_replicas_count",
    "parallel_replica_offset",
    "experimental_use_processors",
    "low_cardinality_allow_in_native_format",
    "low_cardinality_max_dictionary_size",
    "low_cardinality_use_single_dictionary_for_part",
    "decimal_check_overflow",
    "prefer_column_name_to_alias",
    "asterisk_left_columns_only",
    "http_max_multipart_form_data_size",
    "calculate_text_stack_trace",
    "format_csv_allow_single_quotes",
    "format_csv_allow_double_quotes",
    "aggregation_memory_efficient_merge_threads",
    "group_by_two_level_threshold",
    "group_by_two_level_threshold_bytes",
    "distributed_aggregation_memory_efficient",
    "partial_merge_join",
    "join_any_take_last_row",
    "connect_timeout",
    "send_timeout",
    "receive_timeout",
    "tcp_keep_alive_timeout",
    "queue_max_wait_ms",
    "distributed_directory_monitor_sleep_time_ms",
    "insert_block_size",
    "mark_cache_min_lifetime",
    "ttl_only_drop_parts",
    "async_insert",
    "wait_for_async_insert",
];

const BINARY_NUMBER_PREFIXES: &[&str] = &[
    "max_",
    "min_",
    "enable_",
    "use_",
    "allow_",
    "input_format_",
    "output_format_",
    "log_",
    "force_",
    "optimize_",
    "send_",
    "joined_",
];

fn binary_kind(name: &str) -> Option<BinaryKind> {
    if BINARY_TEXT_SETTINGS.contains(&name) {
        return Some(BinaryKind::Text);
    }
    if BINARY_NUMBER_SETTINGS.contains(&name)
        || BINARY_NUMBER_PREFIXES
            .iter()
            .any(|prefix| name.starts_with(prefix))
        || name.ends_with("_ms")
        || name.contains("timeout")
    {
        return Some(BinaryKind::Number);
    }
    None
}

/// Reads a settings list (ended by an empty name) as the negotiated `revision` writes it.
pub fn read_settings(input: &mut Cursor<'_>, revision: u64) -> Result<Vec<Setting>> {
    let mut settings = Vec::new();
    loop {
        let name = input.read_str("setting name")?;
        if name.is_empty() {
            return Ok(settings);
        }
        if settings.len() >= SETTINGS_MAX {
            return Err(Error::incorrect(format!(
                "more than {SETTINGS_MAX} settings in one packet"
            )));
        }
        let setting = if revision >= revision::SETTINGS_AS_STRINGS {
            let flags = input.read_var_uint("setting flags")?;
            let value = input.read_str("setting value")?;
            Setting {
                name: name.to_string(),
                flags,
                value: value.to_string(),
            }
        } else {
            let value = match binary_kind(name) {
                Some(BinaryKind::Number) => input.read_var_uint("setting value")?.to_string(),
                Some(BinaryKind::Text) => input.read_str("setting value")?.to_string(),
                None => {
                    return Err(Error::Setting(format!(
                        "Unknown setting {name}: an old client sends it in a binary form \
                         Granary cannot skip"
                    )));
                }
            };
            Setting::new(name, value)
        };
        settings.push(setting);
    }
}

/// Writes a settings list for the negotiated `revision`. Binary (old) peers get only the settings
/// whose form is known; an unknown important one is an error, an unknown other one is dropped.
pub fn write_settings(out: &mut Vec<u8>, settings: &[Setting], revision: u64) -> Result<()> {
    for setting in settings {
        if revision >= revision::SETTINGS_AS_STRINGS {
            write_string(out, setting.name.as_bytes());
            write_var_uint(out, setting.flags);
            write_string(out, setting.value.as_bytes());
            continue;
        }
        match binary_kind(&setting.name) {
            Some(BinaryKind::Number) => {
                let number: u64 = setting.value.parse().map_err(|_| {
                    Error::Setting(format!(
                        "setting {} = {:?} is not a number",
                        setting.name, setting.value
                    ))
                })?;
                write_string(out, setting.name.as_bytes());
                write_var_uint(out, number);
            }
            Some(BinaryKind::Text) => {
                write_string(out, setting.name.as_bytes());
                write_string(out, setting.value.as_bytes());
            }
            None if setting.is_important() => {
                return Err(Error::Setting(format!(
                    "the server (revision {revision}) cannot receive the important setting {}",
                    setting.name
                )));
            }
            None => {}
        }
    }
    write_string(out, b"");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_settings_round_trip_with_flags() {
        let settings = vec![
            Setting {
                name: "insert_deduplication_token".into(),
                flags: IMPORTANT,
                value: "batch-0001".into(),
            },
            Setting::new("max_threads", "4"),
        ];
        let mut out = Vec::new();
        write_settings(&mut out, &settings, revision::GRANARY).unwrap();
        let read = read_settings(&mut Cursor::new(&out), revision::GRANARY).unwrap();
        assert_eq!(read, settings);
    }

    #[test]
    fn binary_settings_follow_the_type_of_each_name() {
        let mut out = Vec::new();
        write_string(&mut out, b"allow_experimental_low_cardinality_type");
        write_var_uint(&mut out, 1);
        write_string(&mut out, b"send_logs_level");
        write_string(&mut out, b"debug");
        write_string(&mut out, b"");
        let read = read_settings(&mut Cursor::new(&out), 54412).unwrap();
        assert_eq!(
            read,
            vec![
                Setting::new("allow_experimental_low_cardinality_type", "1"),
                Setting::new("send_logs_level", "debug"),
            ]
        );
        let mut again = Vec::new();
        write_settings(&mut again, &read, 54412).unwrap();
        assert_eq!(again, out);
    }

    #[test]
    fn an_unknown_binary_setting_cannot_be_skipped() {
        let mut out = Vec::new();
        write_string(&mut out, b"no_such_setting_anywhere");
        write_var_uint(&mut out, 1);
        write_string(&mut out, b"");
        let err = read_settings(&mut Cursor::new(&out), 54412).unwrap_err();
        assert_eq!(err.code(), crate::ErrorCode::UNKNOWN_SETTING);
    }
}
