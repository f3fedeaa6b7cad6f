//! The suites over ClickHouse's native protocol, through Granary's own client
//! (`granary_protocol::client`) on a running server. Result blocks arrive as Arrow batches whose
//! fields carry their ClickHouse types, so their text is written exactly as the engine runner
//! writes it; errors are the server's Exceptions with their codes.

use granary_protocol::client::{Client, Options, RetryPolicy};
use sqllogictest::{DBOutput, DefaultColumnType};

use crate::engine::column_type;
use crate::{ConformanceError, result_rows};

/// One native-protocol connection to a server.
#[derive(Debug)]
pub struct NativeDb {
    client: Client,
}

impl NativeDb {
    /// Connects to the server's native listener at `address` (`host:port`) as `user`, in
    /// `database`. A connection failure is not retried: a runner wants to see it.
    pub async fn connect(
        address: &str,
        user: &str,
        database: &str,
    ) -> Result<NativeDb, ConformanceError> {
        let options = Options {
            user: user.to_string(),
            database: database.to_string(),
            retry: RetryPolicy::never(),
            ..Options::new(address)
        };
        let client = Client::connect(options).await.map_err(client_error)?;
        Ok(NativeDb { client })
    }
}

#[async_trait::async_trait]
impl sqllogictest::AsyncDB for NativeDb {
    type Error = ConformanceError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, ConformanceError> {
        let mut stream = self.client.query(sql).await.map_err(client_error)?;
        let schema = stream.schema();
        let mut batches = Vec::new();
        while let Some(batch) = stream.next_batch().await.map_err(client_error)? {
            batches.push(batch);
        }
        if schema.fields().is_empty() {
            return Ok(DBOutput::StatementComplete(
                stream.summary().progress.written_rows,
            ));
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
        "granary-native"
    }

    async fn sleep(duration: std::time::Duration) {
        tokio::time::sleep(duration).await;
    }
}

/// A client error as ClickHouse reports it: the server's code and text, or the client's own
/// classification of a connection or protocol failure.
fn client_error(error: granary_protocol::Error) -> ConformanceError {
    match &error {
        granary_protocol::Error::Server(exception) => ConformanceError {
            code: error.code(),
            message: exception
                .text()
                .trim_end_matches(&format!(" ({})", error.code().name_or_number()))
                .to_string(),
        },
        _ => ConformanceError {
            code: error.code(),
            message: format!("client error: {error}"),
        },
    }
}
