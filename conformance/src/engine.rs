//! The suites against the embedded engine.

use futures::StreamExt;
use granary_engine::{Database, Session};
use sqllogictest::{DBOutput, DefaultColumnType};

use crate::{ConformanceError, result_rows};

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
pub(crate) fn column_type(data_type: &arrow_schema::DataType) -> DefaultColumnType {
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
