//! # granary-conformance
//!
//! Granary's SQL behaviour, pinned as [sqllogictest] files in `conformance/suites/`, whose
//! expected results are ClickHouse's own answers (each file's header says how they were checked:
//! `conformance/tools/chdb_check.py` runs a file through chDB, the in-process ClickHouse).
//!
//! This crate holds what every runner shares: how a result is written as text ([`result_rows`],
//! ClickHouse's text form of each value with `NULL` for NULL and `(empty)` for an empty string, as
//! the sqllogictest convention has it) and how an error is written ([`ConformanceError`], in
//! ClickHouse's `Code: N. DB::Exception: ...` form so that `statement error Code: 60\.` matches
//! Granary and ClickHouse alike) and how a file is run ([`run_file`]). [`EngineDb`] runs the files
//! against the embedded engine, [`PgDb`] against a server over the PostgreSQL wire protocol,
//! [`NativeDb`] over ClickHouse's native protocol with Granary's own client.
//!
//! [sqllogictest]: https://www.sqlite.org/sqllogictest/doc/trunk/about.wiki

mod engine;
mod native;
mod pgwire;

use std::path::{Path, PathBuf};

use arrow_array::RecordBatch;
use granary_protocol::ErrorCode;
use granary_protocol::text::{TextStyle, write_value};
use granary_protocol::types::field_clickhouse_type;
use sqllogictest::{AsyncDB, DefaultColumnType, MakeConnection};

pub use engine::EngineDb;
pub use native::NativeDb;
pub use pgwire::PgDb;

/// A failed statement, as ClickHouse reports it.
#[derive(Debug, Clone, thiserror::Error)]
#[error("Code: {}. DB::Exception: {message}. ({})", .code.0, .code.name_or_number())]
pub struct ConformanceError {
    /// ClickHouse's code for the failure.
    pub code: ErrorCode,
    /// The message.
    pub message: String,
}

impl From<granary_engine::Error> for ConformanceError {
    fn from(error: granary_engine::Error) -> Self {
        ConformanceError {
            code: error.code(),
            message: error.to_string(),
        }
    }
}

/// The text rows of a result: ClickHouse's text form of every value, `NULL` for NULL and `(empty)`
/// for an empty string.
pub fn result_rows(batches: &[RecordBatch]) -> Result<Vec<Vec<String>>, ConformanceError> {
    let mut rows = Vec::new();
    for batch in batches {
        let types = batch
            .schema()
            .fields()
            .iter()
            .map(|field| field_clickhouse_type(field))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| ConformanceError {
                code: error.code(),
                message: error.to_string(),
            })?;
        for row in 0..batch.num_rows() {
            let mut values = Vec::with_capacity(batch.num_columns());
            for (column, data_type) in batch.columns().iter().zip(&types) {
                let mut text = String::new();
                write_value(&mut text, column.as_ref(), row, data_type, TextStyle::PLAIN).map_err(
                    |error| ConformanceError {
                        code: error.code(),
                        message: error.to_string(),
                    },
                )?;
                if text.is_empty() {
                    text.push_str("(empty)");
                }
                values.push(text);
            }
            rows.push(values);
        }
    }
    Ok(rows)
}

/// The suite files under `conformance/suites/`, sorted, as `(file name, path)`; only those whose
/// name contains `GRANARY_SUITE` when that variable is set.
pub fn suite_files() -> std::io::Result<Vec<(String, PathBuf)>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("suites");
    let filter = std::env::var("GRANARY_SUITE").ok();
    let mut files: Vec<(String, PathBuf)> = std::fs::read_dir(dir)?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "slt"))
        .map(|path| {
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            (name.into_owned(), path)
        })
        .filter(|(name, _)| {
            filter
                .as_ref()
                .is_none_or(|filter| name.contains(filter.as_str()))
        })
        .collect();
    files.sort();
    Ok(files)
}

/// Runs every record of the suite file at `path` on connections made by `connect`, with the
/// `labels` that `skipif`/`onlyif` records name (`granary` always; the runner's own, such as
/// `engine` or `pgwire`, for what differs by front end). Returns the failures, each prefixed with
/// the file's name; a file that does not parse is one failure.
pub async fn run_file<M>(path: &Path, labels: &[&str], connect: M) -> Vec<String>
where
    M: MakeConnection,
    M::Conn: AsyncDB<ColumnType = DefaultColumnType>,
{
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let records = match sqllogictest::parse_file::<DefaultColumnType>(path) {
        Ok(records) => records,
        Err(error) => return vec![format!("{name} does not parse: {error}")],
    };
    let mut runner = sqllogictest::Runner::new(connect);
    runner.add_label("granary");
    for label in labels {
        runner.add_label(label);
    }
    let mut failures = Vec::new();
    for record in records {
        if let Err(error) = runner.run_async(record).await {
            failures.push(format!("{name}: {}", error.display(false)));
        }
    }
    failures
}
