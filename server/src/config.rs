//! The server's configuration: defaults, then a TOML file (`--config`), then environment variables
//! and command-line flags (clap reads both), later sources winning.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::Parser;
use serde::{Deserialize, Serialize};

use crate::auth::UserConfig;
use crate::error::{Error, Result};

/// Command-line flags; each can also come from its environment variable.
#[derive(Debug, Parser)]
#[command(
    name = "granary-server",
    version,
    about = "Granary: a ClickHouse-compatible columnar database"
)]
pub struct Flags {
    /// A TOML configuration file.
    #[arg(long, env = "GRANARY_CONFIG")]
    pub config: Option<PathBuf>,
    /// The data directory.
    #[arg(long, env = "GRANARY_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Address of the PostgreSQL wire protocol listener (port 0 picks a free port).
    #[arg(long, env = "GRANARY_PG_ADDR")]
    pub pg_addr: Option<SocketAddr>,
    /// Address of the ClickHouse native protocol listener (port 0 picks a free port).
    #[arg(long, env = "GRANARY_NATIVE_ADDR")]
    pub native_addr: Option<SocketAddr>,
    /// Print the effective configuration as TOML and exit.
    #[arg(long)]
    pub print_config: bool,
    /// Reads a password from standard input and prints its SCRAM-SHA-256 secret, for a user's
    /// `password_scram_sha256` in the configuration file.
    #[arg(long)]
    pub hash_password: bool,
}

/// The effective configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where databases, tables and parts live.
    pub data_dir: PathBuf,
    /// The PostgreSQL wire protocol listener.
    pub pg_addr: SocketAddr,
    /// The ClickHouse native protocol listener.
    pub native_addr: SocketAddr,
    /// The largest packet a native-protocol client may send (an INSERT block is one), in bytes.
    pub native_packet_bytes_max: usize,
    /// How long a shutdown waits for running queries, in seconds.
    pub shutdown_timeout_seconds: u64,
    /// Most client connections open at once, over all front ends (ClickHouse's
    /// `max_connections`); one more is refused with a clear error.
    pub max_connections: usize,
    /// What all queries together may hold, in bytes (ClickHouse's `max_server_memory_usage`;
    /// 0: 90% of the machine's memory).
    pub max_server_memory_usage: usize,
    /// A query's default `max_memory_usage`, in bytes (0: half the machine's memory); a `SET` or
    /// a statement's `SETTINGS` overrides it.
    pub max_memory_usage: usize,
    /// Background merge threads (ClickHouse's `background_pool_size`).
    pub background_pool_size: usize,
    /// The merge selector's first sleep after a round that found nothing, in ms (ClickHouse's
    /// `merge_selecting_sleep_ms`).
    pub merge_selecting_sleep_ms: u64,
    /// Its longest sleep, in ms (`max_merge_selecting_sleep_ms`).
    pub max_merge_selecting_sleep_ms: u64,
    /// Users (`[users.NAME]`); none: `default` without a password.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub users: BTreeMap<String, UserConfig>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            data_dir: PathBuf::from("data"),
            pg_addr: SocketAddr::from(([127, 0, 0, 1], 5432)),
            native_addr: SocketAddr::from(([127, 0, 0, 1], 9000)),
            native_packet_bytes_max: 1 << 30,
            shutdown_timeout_seconds: 30,
            max_connections: 4096,
            max_server_memory_usage: 0,
            max_memory_usage: 0,
            background_pool_size: 2,
            merge_selecting_sleep_ms: 5_000,
            max_merge_selecting_sleep_ms: 60_000,
            users: BTreeMap::new(),
        }
    }
}

impl Config {
    /// The configuration `flags` describe: their file, then their values.
    pub fn from_flags(flags: &Flags) -> Result<Config> {
        let mut config = match &flags.config {
            Some(path) => Config::from_file(path)?,
            None => Config::default(),
        };
        if let Some(data_dir) = &flags.data_dir {
            config.data_dir = data_dir.clone();
        }
        if let Some(addr) = flags.pg_addr {
            config.pg_addr = addr;
        }
        if let Some(addr) = flags.native_addr {
            config.native_addr = addr;
        }
        Ok(config)
    }

    /// Reads a TOML file; keys it does not set keep their defaults.
    pub fn from_file(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Config {
            message: format!("cannot read {}: {source}", path.display()),
        })?;
        toml::from_str(&text).map_err(|error| Error::Config {
            message: format!("{}: {error}", path.display()),
        })
    }

    /// The database options the configuration implies.
    pub fn database_options(&self) -> granary_engine::DatabaseOptions {
        let mut options = granary_engine::DatabaseOptions::default();
        options.merges.threads = self.background_pool_size.max(1);
        options.max_server_memory_usage = self.max_server_memory_usage;
        options.max_memory_usage = self.max_memory_usage;
        options.merges.sleep_min = std::time::Duration::from_millis(self.merge_selecting_sleep_ms);
        options.merges.sleep_max = std::time::Duration::from_millis(
            self.max_merge_selecting_sleep_ms
                .max(self.merge_selecting_sleep_ms),
        );
        options
    }

    /// The configuration as TOML (`--print-config`).
    pub fn to_toml(&self) -> Result<String> {
        toml::to_string(self).map_err(|error| Error::Config {
            message: error.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_set_what_they_name_and_flags_win() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("granary.toml");
        std::fs::write(
            &path,
            "data_dir = \"/var/lib/granary\"\npg_addr = \"0.0.0.0:6432\"\n",
        )
        .unwrap();
        let flags = Flags::parse_from([
            "granary-server",
            "--config",
            path.to_str().unwrap(),
            "--pg-addr",
            "127.0.0.1:0",
        ]);
        let config = Config::from_flags(&flags).unwrap();
        assert_eq!(config.data_dir, PathBuf::from("/var/lib/granary"));
        assert_eq!(config.pg_addr, "127.0.0.1:0".parse().unwrap());
        assert_eq!(config.native_addr, Config::default().native_addr);
        let printed = config.to_toml().unwrap();
        assert_eq!(toml::from_str::<Config>(&printed).unwrap(), config);
    }

    #[test]
    fn users_are_read_with_their_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("granary.toml");
        let secret = crate::auth::ScramSecret::new("s3cret").to_string();
        std::fs::write(
            &path,
            format!(
                "[users.alice]\npassword_scram_sha256 = \"{secret}\"\n[users.reader]\nreadonly = true\n"
            ),
        )
        .unwrap();
        let config = Config::from_file(&path).unwrap();
        let users = crate::auth::Users::from_config(&config.users).unwrap();
        assert!(users.get("alice").unwrap().secret.is_some());
        assert!(users.get("reader").unwrap().readonly);
        assert!(
            users.get("default").is_none(),
            "configured users replace default"
        );
        let printed = config.to_toml().unwrap();
        assert_eq!(toml::from_str::<Config>(&printed).unwrap(), config);
        let none = crate::auth::Users::from_config(&BTreeMap::new()).unwrap();
        assert!(none.get("default").unwrap().secret.is_none());
    }

    #[test]
    fn unknown_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("granary.toml");
        std::fs::write(&path, "pg_port = 5432\n").unwrap();
        let error = Config::from_file(&path).unwrap_err().to_string();
        assert!(error.contains("pg_port"), "{error}");
    }
}
