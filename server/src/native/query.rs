//! One native Query, as `native-protocol.md` §7 lays out the conversation: the external-tables
//! blocks are read first, then either the INSERT block exchange (header, client blocks each
//! written as one insert, ProfileEvents after each, EndOfStream) or the statement runs and its
//! result streams back (header, data blocks with Progress, ProfileInfo, an empty block,
//! EndOfStream). An Exception ends a query; the connection stays usable because whatever the
//! client still sends for that query is read and dropped.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_array::types::Int8Type;
use arrow_array::{
    ArrayRef, DictionaryArray, Int64Array, RecordBatch, RecordBatchOptions, StringArray,
    TimestampSecondArray, UInt64Array,
};
use arrow_schema::{Schema, SchemaRef};
use futures::StreamExt;
use granary_engine::{Inserter, QueryResult};
use granary_protocol::ErrorCode;
use granary_protocol::compress::Method;
use granary_protocol::packet::client::{ClientPacket, Query, STAGE_COMPLETE};
use granary_protocol::packet::server::{Exception, ProfileInfo, Progress, ServerPacket};
use granary_protocol::packet::{Context, Data, revision};
use granary_protocol::types::{DataType, field_clickhouse_type, field_for};

use super::Connection;
use super::exception::{self, from_engine, from_protocol};
use super::settings::{self, QuerySettings, Restore};

/// How often a running SELECT reports progress (ClickHouse's `interactive_delay`).
const PROGRESS_INTERVAL: Duration = Duration::from_millis(100);

type ProtocolResult<T> = granary_protocol::Result<T>;

fn io(source: std::io::Error) -> granary_protocol::Error {
    granary_protocol::Error::Io {
        context: "writing to the client",
        source,
    }
}

/// Runs `query`. `Err` only for failures of the connection itself (the caller closes it); a
/// failing query is answered with an Exception and `Ok`.
pub async fn run(connection: &mut Connection, query: Query) -> ProtocolResult<()> {
    // A compressed INSERT block may decompress to at most the packet bound (the config's
    // native_packet_bytes_max), checked frame by frame before anything is allocated.
    let context = Context {
        compression: query.compression,
        ..Context::new(connection.revision)
            .with_block_bytes_max(connection.reader.packet_bytes_max())
    };
    let external_tables = read_external_tables(connection, &context).await?;
    let mut restore = Restore::default();
    let outcome = match settings::apply(&mut connection.session, &query.settings, &mut restore) {
        Err(exception) => Err(exception),
        Ok(_) if external_tables => Err(exception::new(
            ErrorCode::NOT_IMPLEMENTED,
            "external tables are not supported by Granary",
        )),
        Ok(_) if query.stage != STAGE_COMPLETE => Err(exception::new(
            ErrorCode::NOT_IMPLEMENTED,
            &format!("processing stage {} (only Complete, 2)", query.stage),
        )),
        Ok(settings) => execute(connection, &query, &context, &settings).await?,
    };
    restore.apply(&mut connection.session);
    if let Err(exception) = outcome {
        tracing::debug!(peer = %connection.peer, code = exception.code, "query failed: {}", exception.message);
        connection
            .send(&[ServerPacket::Exception(exception)])
            .await
            .map_err(io)?;
    }
    Ok(())
}

/// Reads Data packets up to the empty block that ends the external tables; true if any table
/// came (Granary does not support them; the query then fails).
async fn read_external_tables(
    connection: &mut Connection,
    context: &Context,
) -> ProtocolResult<bool> {
    let mut any = false;
    loop {
        match connection
            .reader
            .read(|input| ClientPacket::decode(input, context))
            .await?
        {
            ClientPacket::Data(data) if data.block.is_end_marker() => return Ok(any),
            ClientPacket::Data(_) => any = true,
            ClientPacket::Ping => connection.send(&[ServerPacket::Pong]).await.map_err(io)?,
            ClientPacket::Cancel | ClientPacket::KeepAlive => {}
            ClientPacket::Query(_) => {
                return Err(granary_protocol::Error::UnexpectedPacket {
                    got: "Query".to_string(),
                    expected: "Data (external tables)",
                    from: "client",
                });
            }
        }
    }
}

/// Runs the statement; `Ok(Err(..))` is a query failure to report.
async fn execute(
    connection: &mut Connection,
    query: &Query,
    context: &Context,
    settings: &QuerySettings,
) -> ProtocolResult<Result<(), Exception>> {
    let parameters: Vec<(String, String)> = query
        .parameters
        .iter()
        .map(|parameter| (parameter.name.clone(), parameter.value.clone()))
        .collect();
    let sql = match granary_engine::sql::query_parameters::substitute(&query.sql, &parameters) {
        Ok(sql) => sql,
        Err(error) => return Ok(Err(from_engine(&error))),
    };
    let method = context.compression.then_some(settings.compression);
    match connection.session.insert_blocks(&sql) {
        Err(error) => return Ok(Err(from_engine(&error))),
        Ok(Some(inserter)) => return insert(connection, inserter, context, method).await,
        Ok(None) => {}
    }
    let started = Instant::now();
    // The engine's session bounds the statement (max_execution_time, max_result_rows, ...).
    match connection.session.execute(&sql).await {
        Err(error) => Ok(Err(from_engine(&error))),
        Ok(result) => stream(connection, result, context, method, started).await,
    }
}

/// Streams a statement's result: the header before any row, then each batch as a Data block,
/// watching the socket for Cancel between blocks.
async fn stream(
    connection: &mut Connection,
    mut result: QueryResult,
    context: &Context,
    method: Option<Method>,
    started: Instant,
) -> ProtocolResult<Result<(), Exception>> {
    let schema = result.schema();
    let mut progress = ProgressTracker::new(started);
    if schema.fields().is_empty() {
        // DDL, SET, INSERT with its rows in the query: no block exchange.
        while let Some(batch) = result.next().await {
            if let Err(error) = batch {
                return Ok(Err(from_engine(&error)));
            }
        }
        let mut packets = Vec::new();
        if result.written_rows() > 0 {
            packets.push(ServerPacket::Progress(progress.update(&result)));
        }
        packets.push(ServerPacket::EndOfStream);
        connection.send(&packets).await.map_err(io)?;
        return Ok(Ok(()));
    }
    let header = match header_block(&schema) {
        Ok(header) => header,
        Err(error) => return Ok(Err(from_protocol(&error))),
    };
    send_data(connection, &header, method).await?;
    let mut profile = ProfileInfo {
        calculated_rows_before_limit: true,
        ..ProfileInfo::default()
    };
    loop {
        let next = tokio::select! {
            batch = result.next() => batch,
            packet = connection.reader.read(|input| ClientPacket::decode(input, context)) => {
                match packet? {
                    ClientPacket::Cancel => {
                        tracing::debug!(peer = %connection.peer, "query cancelled by the client");
                        connection.send(&[ServerPacket::EndOfStream]).await.map_err(io)?;
                        return Ok(Ok(()));
                    }
                    ClientPacket::Ping => {
                        connection.send(&[ServerPacket::Pong]).await.map_err(io)?;
                        continue;
                    }
                    ClientPacket::KeepAlive => continue,
                    other => {
                        return Err(granary_protocol::Error::UnexpectedPacket {
                            got: format!("{other:?}").chars().take(40).collect(),
                            expected: "Cancel or Ping while a query runs",
                            from: "client",
                        });
                    }
                }
            }
        };
        let Some(batch) = next else { break };
        let batch = match batch {
            Ok(batch) => batch,
            Err(error) => return Ok(Err(from_engine(&error))),
        };
        if batch.num_rows() == 0 {
            continue;
        }
        profile.rows += batch.num_rows() as u64;
        profile.blocks += 1;
        profile.bytes += batch.get_array_memory_size() as u64;
        if progress.due() {
            let packet = ServerPacket::Progress(progress.update(&result));
            connection.send(&[packet]).await.map_err(io)?;
        }
        send_data(connection, &Data::new(batch), method).await?;
    }
    let end = empty_batch(Arc::new(Schema::empty()));
    let mut out = Vec::new();
    let closing = [
        ServerPacket::ProfileInfo(profile),
        ServerPacket::Progress(progress.update(&result)),
        ServerPacket::Data(Data::new(end)),
        ServerPacket::EndOfStream,
    ];
    for packet in &closing {
        packet.encode(&mut out, connection.revision, method)?;
    }
    connection.send_bytes(&out).await.map_err(io)?;
    Ok(Ok(()))
}

async fn send_data(
    connection: &mut Connection,
    data: &Data,
    method: Option<Method>,
) -> ProtocolResult<()> {
    let mut out = Vec::new();
    ServerPacket::Data(data.clone()).encode(&mut out, connection.revision, method)?;
    connection.send_bytes(&out).await.map_err(io)
}

/// The header block: every result column with its ClickHouse type, no rows.
fn header_block(schema: &SchemaRef) -> ProtocolResult<Data> {
    let fields = schema
        .fields()
        .iter()
        .map(|field| Ok(field_for(field.name(), &field_clickhouse_type(field)?)))
        .collect::<ProtocolResult<Vec<_>>>()?;
    Ok(Data::new(empty_batch(Arc::new(Schema::new(fields)))))
}

fn empty_batch(schema: SchemaRef) -> RecordBatch {
    let arrays: Vec<ArrayRef> = schema
        .fields()
        .iter()
        .map(|field| arrow_array::new_empty_array(field.data_type()))
        .collect();
    RecordBatch::try_new_with_options(
        schema,
        arrays,
        &RecordBatchOptions::new().with_row_count(Some(0)),
    )
    .unwrap_or_else(|_| unreachable!("empty arrays of the schema's own types"))
}

/// Progress increments since the last packet.
struct ProgressTracker {
    last: Instant,
    sent_at: Instant,
    read_rows: u64,
    read_bytes: u64,
    written_rows: u64,
}

impl ProgressTracker {
    fn new(started: Instant) -> Self {
        ProgressTracker {
            last: started,
            sent_at: started,
            read_rows: 0,
            read_bytes: 0,
            written_rows: 0,
        }
    }

    fn due(&self) -> bool {
        self.sent_at.elapsed() >= PROGRESS_INTERVAL
    }

    fn update(&mut self, result: &QueryResult) -> Progress {
        let now = Instant::now();
        let progress = Progress {
            read_rows: result.read_rows().saturating_sub(self.read_rows),
            read_bytes: result.read_bytes().saturating_sub(self.read_bytes),
            written_rows: result.written_rows().saturating_sub(self.written_rows),
            elapsed_ns: now.duration_since(self.last).as_nanos() as u64,
            ..Progress::default()
        };
        self.read_rows = result.read_rows();
        self.read_bytes = result.read_bytes();
        self.written_rows = result.written_rows();
        self.last = now;
        self.sent_at = now;
        progress
    }
}

/// The INSERT exchange: header, then each client block written as one insert (ProfileEvents after
/// each from 54456), then EndOfStream — and no Progress, which clickhouse-client 18.16 refuses.
async fn insert(
    connection: &mut Connection,
    mut inserter: Inserter,
    context: &Context,
    method: Option<Method>,
) -> ProtocolResult<Result<(), Exception>> {
    let fields: Vec<_> = inserter
        .columns()
        .iter()
        .map(|(name, data_type)| field_for(name, data_type))
        .collect();
    let header = Data::new(empty_batch(Arc::new(Schema::new(fields))));
    send_data(connection, &header, method).await?;
    let events = connection.revision >= revision::PROFILE_EVENTS_IN_INSERT;
    let mut rows = 0u64;
    loop {
        let packet = connection
            .reader
            .read(|input| ClientPacket::decode(input, context))
            .await?;
        let block = match packet {
            ClientPacket::Data(data) if data.block.is_end_marker() => break,
            ClientPacket::Data(data) => data.block.batch,
            // ClickHouse treats Cancel during INSERT as the end of the data: the blocks already
            // written stay (each is its own deduplicated insert).
            ClientPacket::Cancel => break,
            ClientPacket::Ping => {
                connection.send(&[ServerPacket::Pong]).await.map_err(io)?;
                continue;
            }
            ClientPacket::KeepAlive => continue,
            ClientPacket::Query(_) => {
                return Err(granary_protocol::Error::UnexpectedPacket {
                    got: "Query".to_string(),
                    expected: "Data (INSERT blocks)",
                    from: "client",
                });
            }
        };
        let block_rows = block.num_rows() as u64;
        let written = match check_block_types(&block, inserter.columns()) {
            Err(exception) => Err(exception),
            Ok(()) => inserter
                .write_block(block)
                .await
                .map_err(|error| from_engine(&error)),
        };
        if let Err(exception) = written {
            // As ClickHouse does: the Exception first (a client waiting for the block's
            // ProfileEvents learns of it at once), then the rest of the data is read and dropped.
            tracing::debug!(peer = %connection.peer, code = exception.code, "insert block refused: {}", exception.message);
            connection
                .send(&[ServerPacket::Exception(exception)])
                .await
                .map_err(io)?;
            skip_data(connection, context).await?;
            return Ok(Ok(()));
        }
        rows += block_rows;
        if events {
            let packet = ServerPacket::ProfileEvents(profile_events(block_rows));
            connection.send(&[packet]).await.map_err(io)?;
        }
    }
    if let Err(error) = inserter.finish().await {
        return Ok(Err(from_engine(&error)));
    }
    tracing::debug!(peer = %connection.peer, rows, "native insert done");
    let mut packets = Vec::new();
    if events {
        packets.push(ServerPacket::ProfileEvents(profile_events(0)));
    }
    packets.push(ServerPacket::EndOfStream);
    connection.send(&packets).await.map_err(io)?;
    Ok(Ok(()))
}

/// Reads and drops the client's INSERT blocks up to the end marker after a failed block, so that
/// the connection stays usable (ClickHouse's `skipData`).
async fn skip_data(connection: &mut Connection, context: &Context) -> ProtocolResult<()> {
    loop {
        match connection
            .reader
            .read(|input| ClientPacket::decode(input, context))
            .await?
        {
            ClientPacket::Data(data) if data.block.is_end_marker() => return Ok(()),
            ClientPacket::Cancel => return Ok(()),
            _ => {}
        }
    }
}

/// A block's columns must have the header's types; LowCardinality and plain versions of a type
/// are interchangeable, as ClickHouse's native reader converts them.
fn check_block_types(block: &RecordBatch, columns: &[(String, DataType)]) -> Result<(), Exception> {
    for field in block.schema().fields() {
        let Some((_, expected)) = columns.iter().find(|(name, _)| name == field.name()) else {
            return Err(exception::new(
                ErrorCode::NO_SUCH_COLUMN_IN_TABLE,
                &format!("No such column {} in the INSERT's columns", field.name()),
            ));
        };
        let actual = field_clickhouse_type(field).map_err(|error| from_protocol(&error))?;
        if without_low_cardinality(&actual) != without_low_cardinality(expected) {
            return Err(exception::new(
                ErrorCode::TYPE_MISMATCH,
                &format!(
                    "Type mismatch for column {}: the table has {expected}, the block has {actual}",
                    field.name()
                ),
            ));
        }
    }
    Ok(())
}

fn without_low_cardinality(data_type: &DataType) -> DataType {
    match data_type {
        DataType::LowCardinality(inner) => without_low_cardinality(inner),
        DataType::Array(inner) => DataType::Array(Box::new(without_low_cardinality(inner))),
        DataType::Nullable(inner) => DataType::Nullable(Box::new(without_low_cardinality(inner))),
        other => other.clone(),
    }
}

/// A ProfileEvents block (`native-protocol.md` §6.7); ClickHouse's never has zero rows.
fn profile_events(inserted_rows: u64) -> Data {
    let types = [
        ("host_name", "String"),
        ("current_time", "DateTime"),
        ("thread_id", "UInt64"),
        ("type", "Enum8('increment' = 1, 'gauge' = 2)"),
        ("name", "String"),
        ("value", "Int64"),
    ];
    let fields: Vec<_> = types
        .iter()
        .map(|(name, data_type)| {
            let data_type =
                DataType::parse(data_type).unwrap_or_else(|_| unreachable!("a valid type name"));
            field_for(name, &data_type)
        })
        .collect();
    let now = chrono::Utc::now().timestamp();
    let kinds = DictionaryArray::<Int8Type>::new(
        arrow_array::Int8Array::from(vec![0]),
        Arc::new(StringArray::from(vec!["increment"])),
    );
    let arrays: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(vec![super::DISPLAY_NAME])),
        Arc::new(TimestampSecondArray::from(vec![now])),
        Arc::new(UInt64Array::from(vec![0u64])),
        Arc::new(kinds),
        Arc::new(StringArray::from(vec!["InsertedRows"])),
        Arc::new(Int64Array::from(vec![inserted_rows as i64])),
    ];
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)
        .unwrap_or_else(|error| unreachable!("the ProfileEvents columns agree: {error}"));
    Data::new(batch)
}
