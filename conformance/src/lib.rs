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
//! Granary and ClickHouse alike). [`EngineDb`] runs the files against the embedded engine; the
//! server's front ends get their own runners over the same files.
//!
//! [sqllogictest]: https://www.sqlite.org/sqllogictest/doc/trunk/about.wiki

use std::path::{Path, PathBuf};

use arrow_array::RecordBatch;
use futures::StreamExt;
use granary_engine::{Database, Session};
use granary_protocol::ErrorCode;
use granary_protocol::text::{TextStyle, write_value};
use granary_protocol::types::field_clickhouse_type;
use sqllogictest::{DBOutput, DefaultColumnType};

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

/// The suite files under `conformance/suites/`, sorted.
pub fn suite_files() -> std::io::Result<Vec<PathBuf>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("suites");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "slt"))
        .collect();
    files.sort();
    Ok(files)
}

/// Runs suite files against an embedded [`Database`], one session per file.
#[derive(Debug)]
pub struct EngineDb {
    session: Session,
}

impl EngineDb {
    /// A runner on a new session of `database`.
    pub fn new(database: &Database) -> EngineDb {
        EngineDb {
            session: database.session(),
        }
    }
}

#[async_trait::async_trait]
impl sqllogictest::AsyncDB for EngineDb {
    type Error = ConformanceError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, ConformanceError> {
        let mut result = self.session.execute(sql).await?;
        let schema = result.schema();
        let mut batches = Vec::new();
        while let Some(batch) = result.next().await {
            batches.push(batch?);
        }
        if schema.fields().is_empty() {
            return Ok(DBOutput::StatementComplete(result.written_rows()));
        }
        let types = schema
            .fields()
            .iter()
            .map(|field| column_type(field.data_type()))
            .collect();
        Ok(DBOutput::Rows {
            types,
            rows: result_rows(&batches)?,
        })
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "granary-engine"
    }

    async fn sleep(duration: std::time::Duration) {
        tokio::time::sleep(duration).await;
    }
}

/// The sqllogictest column type of an Arrow type: `I` integers, `R` floats and decimals, `T` the
/// rest.
fn column_type(data_type: &arrow_schema::DataType) -> DefaultColumnType {
    use arrow_schema::DataType as A;
    match data_type {
        A::Int8 | A::Int16 | A::Int32 | A::Int64 | A::UInt8 | A::UInt16 | A::UInt32 | A::UInt64 => {
            DefaultColumnType::Integer
        }
        A::Float16 | A::Float32 | A::Float64 | A::Decimal128(..) | A::Decimal256(..) => {
            DefaultColumnType::FloatingPoint
        }
        A::Dictionary(_, values) => column_type(values),
        _ => DefaultColumnType::Text,
    }
}
