//! MergeTree table settings (`SETTINGS name = value, ...` of CREATE TABLE): the ones Granary acts
//! on, the ones it accepts because its behaviour already matches them, and a clear
//! `UNKNOWN_SETTING` for anything else.

use granary_protocol::ErrorCode;
use granary_protocol::compress::BlockSizes;

use crate::error::{Error, Result};
use crate::storage::dedup::DedupWindows;

/// A setting's value as written: a number (kept as text) or a string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettingValue {
    /// `1`, `8192`, `0.5`, `-1`.
    Number(String),
    /// `'...'`.
    String(String),
}

impl SettingValue {
    fn unsigned(&self, name: &str) -> Result<u64> {
        let text = match self {
            SettingValue::Number(text) => text.as_str(),
            SettingValue::String(text) => text.as_str(),
        };
        match text {
            "true" => return Ok(1),
            "false" => return Ok(0),
            _ => {}
        }
        text.parse::<u64>().map_err(|_| {
            Error::query(
                ErrorCode::CANNOT_PARSE_NUMBER,
                format!("setting {name} takes an unsigned integer, not {text}"),
            )
        })
    }
}

/// The settings a MergeTree table runs with.
#[derive(Debug, Clone)]
pub struct MergeTreeSettings {
    /// Most rows per granule.
    pub index_granularity: usize,
    /// Target bytes per granule (adaptive granularity; 0 = fixed granules).
    pub index_granularity_bytes: usize,
    /// Compressed block sizes of column files.
    pub block_sizes: BlockSizes,
    /// Recent insert ids remembered for deduplication.
    pub dedup_windows: DedupWindows,
}

impl Default for MergeTreeSettings {
    fn default() -> Self {
        MergeTreeSettings {
            index_granularity: 8192,
            index_granularity_bytes: 10 * 1024 * 1024,
            block_sizes: BlockSizes::default(),
            dedup_windows: DedupWindows::default(),
        }
    }
}

/// Settings accepted without changing anything: Granary already behaves as they ask, or they
/// tune ClickHouse machinery Granary does not have. Each is listed with why.
const ACCEPTED: &[(&str, &str)] = &[
    (
        "fsync_after_insert",
        "Granary always fsyncs parts before acknowledging",
    ),
    (
        "fsync_part_directory",
        "Granary always fsyncs part directories",
    ),
    ("min_bytes_for_wide_part", "Granary writes Wide parts only"),
    ("min_rows_for_wide_part", "Granary writes Wide parts only"),
    (
        "auto_statistics_types",
        "Granary collects no column statistics",
    ),
    ("storage_policy", "one local disk"),
    ("parts_to_delay_insert", "inserts are not throttled"),
    ("parts_to_throw_insert", "inserts are not throttled"),
    ("max_parts_in_total", "inserts are not throttled"),
    ("merge_with_ttl_timeout", "no TTL"),
    (
        "old_parts_lifetime",
        "replaced parts go once no query holds them",
    ),
    (
        "enable_mixed_granularity_parts",
        "parts always use adaptive marks (.mrk2)",
    ),
    ("replicated_deduplication_window", "no replication"),
];

impl MergeTreeSettings {
    /// The settings for `pairs` (CREATE TABLE's SETTINGS clause).
    pub fn from_pairs(pairs: &[(String, SettingValue)]) -> Result<MergeTreeSettings> {
        let mut settings = MergeTreeSettings::default();
        for (name, value) in pairs {
            match name.as_str() {
                "index_granularity" => {
                    settings.index_granularity = value.unsigned(name)? as usize;
                    if settings.index_granularity == 0 {
                        return Err(Error::query(
                            ErrorCode::BAD_ARGUMENTS,
                            "index_granularity must be positive",
                        ));
                    }
                }
                "index_granularity_bytes" => {
                    settings.index_granularity_bytes = value.unsigned(name)? as usize
                }
                "min_compress_block_size" => {
                    settings.block_sizes.min_bytes = value.unsigned(name)? as usize
                }
                "max_compress_block_size" => {
                    settings.block_sizes.max_bytes = value.unsigned(name)?.max(1) as usize
                }
                "non_replicated_deduplication_window" => {
                    settings.dedup_windows.hash_blocks = value.unsigned(name)? as usize
                }
                "deduplication_token_window" => {
                    settings.dedup_windows.token_blocks = value.unsigned(name)? as usize
                }
                "allow_nullable_key" if value.unsigned(name)? == 0 => {}
                "allow_nullable_key" => {
                    return Err(Error::not_implemented(
                        "allow_nullable_key = 1 (Nullable keys)",
                    ));
                }
                other if ACCEPTED.iter().any(|(accepted, _)| *accepted == other) => {}
                other => {
                    return Err(Error::query(
                        ErrorCode::UNKNOWN_SETTING,
                        format!("unknown MergeTree setting {other}"),
                    ));
                }
            }
        }
        Ok(settings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_settings_apply_and_unknown_ones_are_refused() {
        let pairs = vec![
            (
                "index_granularity".to_string(),
                SettingValue::Number("1024".into()),
            ),
            (
                "auto_statistics_types".to_string(),
                SettingValue::String(String::new()),
            ),
            (
                "non_replicated_deduplication_window".to_string(),
                SettingValue::Number("100".into()),
            ),
        ];
        let settings = MergeTreeSettings::from_pairs(&pairs).unwrap();
        assert_eq!(settings.index_granularity, 1024);
        assert_eq!(settings.dedup_windows.hash_blocks, 100);
        let unknown = vec![("bogus".to_string(), SettingValue::Number("1".into()))];
        let error = MergeTreeSettings::from_pairs(&unknown).unwrap_err();
        assert_eq!(error.code(), ErrorCode::UNKNOWN_SETTING);
        let zero = vec![(
            "index_granularity".to_string(),
            SettingValue::Number("0".into()),
        )];
        assert_eq!(
            MergeTreeSettings::from_pairs(&zero).unwrap_err().code(),
            ErrorCode::BAD_ARGUMENTS
        );
    }
}
