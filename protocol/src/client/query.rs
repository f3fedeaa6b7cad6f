//! A running query's answer, read packet by packet: the header block gives the schema, then Data
//! blocks become Arrow batches while Progress packets add up, until EndOfStream (or an
//! Exception, which becomes [`Error::Server`]).

use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::{Schema, SchemaRef};
use futures::Stream;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::Mutex;

use super::{Connection, unexpected};
use crate::compress::Method;
use crate::error::{Error, Result};
use crate::packet::Context;
use crate::packet::client::kind;
use crate::packet::server::{ProfileInfo, Progress, ServerPacket};
use crate::packet::settings::{self, Setting};

/// A callback given the progress totals of a query each time they grow.
pub type ProgressCallback<'a> = Box<dyn FnMut(&Progress) + Send + 'a>;

/// What a query sends besides its text.
#[derive(Default)]
pub struct QueryOptions<'a> {
    /// Settings for this query (`max_threads`, `max_execution_time`, ...).
    pub settings: Vec<Setting>,
    /// Values of the query's `{name:Type}` parameters, as text.
    pub parameters: Vec<(String, String)>,
    /// The query id; the server makes one up when empty.
    pub query_id: String,
    /// Called with the totals so far after each Progress packet.
    pub on_progress: Option<ProgressCallback<'a>>,
}

impl std::fmt::Debug for QueryOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryOptions")
            .field("settings", &self.settings)
            .field("parameters", &self.parameters)
            .field("query_id", &self.query_id)
            .finish_non_exhaustive()
    }
}

/// What a finished query did, from the server's Progress and ProfileInfo packets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Progress totals: rows and bytes read and written.
    pub progress: Progress,
    /// Result statistics (rows, blocks, bytes), when the server sent them.
    pub profile: Option<ProfileInfo>,
}

/// A query's result: the schema, then batches as they arrive.
pub struct QueryStream<'a> {
    connection: &'a mut Connection,
    context: Context,
    schema: SchemaRef,
    summary: Summary,
    on_progress: Option<ProgressCallback<'a>>,
    /// EndOfStream or an Exception has been read, or the connection failed.
    finished: bool,
}

impl std::fmt::Debug for QueryStream<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryStream")
            .field("schema", &self.schema)
            .field("summary", &self.summary)
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

impl<'a> QueryStream<'a> {
    /// Sends the query and reads up to its header block (or its end, for a statement without a
    /// result).
    pub(super) async fn start(
        connection: &'a mut Connection,
        sql: &str,
        options: QueryOptions<'a>,
        compression: Option<Method>,
    ) -> Result<QueryStream<'a>> {
        let parameters = options
            .parameters
            .into_iter()
            .map(|(name, value)| Setting {
                flags: settings::CUSTOM,
                ..Setting::new(name, quote_parameter(&value))
            })
            .collect();
        connection
            .send_query(
                sql,
                &options.query_id,
                options.settings,
                parameters,
                compression,
            )
            .await?;
        let context = Context {
            compression: compression.is_some(),
            ..Context::new(connection.revision)
                .with_block_bytes_max(connection.reader.packet_bytes_max())
        };
        let mut stream = QueryStream {
            connection,
            context,
            schema: Arc::new(Schema::empty()),
            summary: Summary::default(),
            on_progress: options.on_progress,
            finished: false,
        };
        if let Some(header) = stream.next_block().await? {
            stream.schema = header.schema();
        }
        Ok(stream)
    }

    /// The result's columns, each field carrying its ClickHouse type; empty for statements
    /// without a result.
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// Progress totals so far.
    pub fn progress(&self) -> &Progress {
        &self.summary.progress
    }

    /// What the query did; complete once the stream has ended.
    pub fn summary(&self) -> Summary {
        self.summary
    }

    /// The next batch of rows, or `None` at the end of the result.
    pub async fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        loop {
            match self.next_block().await? {
                None => return Ok(None),
                Some(batch) if batch.num_rows() == 0 => {}
                Some(batch) => return Ok(Some(batch)),
            }
        }
    }

    /// The next Data block (header, rows or the empty block at the end), or `None` at the end.
    async fn next_block(&mut self) -> Result<Option<RecordBatch>> {
        while !self.finished {
            let packet = match self.connection.receive(&self.context).await {
                Ok(packet) => packet,
                Err(error) => {
                    self.finished = true;
                    return Err(error);
                }
            };
            match packet {
                ServerPacket::Data(data) => {
                    if !data.block.is_end_marker() {
                        return Ok(Some(data.block.batch));
                    }
                }
                ServerPacket::Progress(increment) => {
                    self.summary.progress.add(&increment);
                    if let Some(callback) = self.on_progress.as_mut() {
                        callback(&self.summary.progress);
                    }
                }
                ServerPacket::ProfileInfo(profile) => self.summary.profile = Some(profile),
                ServerPacket::EndOfStream => self.end(),
                ServerPacket::Exception(exception) => {
                    self.end();
                    return Err(Error::Server(Box::new(exception)));
                }
                // Not part of the result rows: totals and extremes (not requested by this
                // client), logs, counters, column descriptions, time zone notices.
                ServerPacket::Totals(_)
                | ServerPacket::Extremes(_)
                | ServerPacket::Log(_)
                | ServerPacket::ProfileEvents(_)
                | ServerPacket::TableColumns(..)
                | ServerPacket::TimezoneUpdate(_) => {}
                other @ (ServerPacket::Hello(_) | ServerPacket::Pong) => {
                    self.finished = true;
                    return Err(unexpected(&other, "a query's answer"));
                }
            }
        }
        Ok(None)
    }

    /// The answer has been read to its end: the connection can take the next query.
    fn end(&mut self) {
        self.finished = true;
        self.connection.busy = false;
    }

    /// Asks the server to stop the query and reads what it still sends, up to the end.
    pub async fn cancel(mut self) -> Result<Summary> {
        if !self.finished {
            self.cancel_handle().cancel().await?;
            while self.next_block().await?.is_some() {}
        }
        Ok(self.summary)
    }

    /// A handle that cancels this query from another task; the stream then ends early.
    pub fn cancel_handle(&self) -> CancelHandle {
        CancelHandle {
            writer: self.connection.writer.clone(),
        }
    }

    /// Reads every remaining batch.
    pub async fn collect(mut self) -> Result<Vec<RecordBatch>> {
        let mut batches = Vec::new();
        while let Some(batch) = self.next_batch().await? {
            batches.push(batch);
        }
        Ok(batches)
    }

    /// The batches as a [`futures::Stream`].
    pub fn into_stream(self) -> impl Stream<Item = Result<RecordBatch>> + 'a {
        futures::stream::unfold(Some(self), |state| async move {
            let mut stream = state?;
            match stream.next_batch().await {
                Ok(Some(batch)) => Some((Ok(batch), Some(stream))),
                Ok(None) => None,
                Err(error) => Some((Err(error), None)),
            }
        })
    }
}

/// Cancels a running query from anywhere (see [`QueryStream::cancel_handle`]).
#[derive(Debug, Clone)]
pub struct CancelHandle {
    writer: Arc<Mutex<OwnedWriteHalf>>,
}

impl CancelHandle {
    /// Sends Cancel; the query's stream ends once the server has stopped it.
    pub async fn cancel(&self) -> Result<()> {
        let mut writer = self.writer.lock().await;
        let io = |source| Error::Io {
            context: "writing to the server",
            source,
        };
        writer.write_all(&[kind::CANCEL as u8]).await.map_err(io)?;
        writer.flush().await.map_err(io)
    }
}

/// A parameter value as the Query packet carries it: ClickHouse parses parameter values sent
/// over the native protocol as quoted field values, so strings travel quoted.
fn quote_parameter(value: &str) -> String {
    let mut quoted = String::with_capacity(value.len() + 2);
    crate::text::write_quoted(value, &mut quoted);
    quoted
}
