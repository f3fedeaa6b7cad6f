//! Granary's async native-protocol client, which the SDKs wrap: connect, query (a stream of Arrow
//! batches with progress), execute, insert blocks exactly once, ping, cancel. It speaks the same
//! packets as the server through [`crate::packet`]; there is no second codec.
//!
//! ```text
//!   Client ──connect──▶ Hello ⇄ Hello, addendum
//!     ├─ query(sql)  ─▶ Query, empty Data ◀─ header, Data*, Progress*, ..., EndOfStream  (QueryStream)
//!     ├─ execute(sql) ─▶ the same, answer drained
//!     ├─ insert(table, batches) ─▶ per block n: Query (token <t>:<n>) ◀─ header ─▶ Data, empty ◀─ EndOfStream
//!     │     └─ a broken connection: reconnect, go on from the first unacknowledged block (retry)
//!     ├─ BatchReceiver::spawn ─▶ query(sql) in a task, batches through a channel (the SDKs)
//!     └─ ping ─▶ Ping ◀─ Pong
//! ```
//!
//! One query runs at a time per client. A [`QueryStream`] dropped before its end leaves the
//! connection mid-answer; the next call then opens a new connection.

mod channel;
mod insert;
mod query;
mod retry;
mod text_values;

use std::sync::Arc;
use std::time::Duration;

use arrow_array::{RecordBatch, RecordBatchOptions};
use arrow_schema::Schema;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::Mutex;

use crate::compress::Method;
use crate::connection::{PACKET_BYTES_MAX, PacketReader};
use crate::error::{Error, Result};
use crate::packet::client::{
    Addendum, ClientHello, ClientInfo, ClientPacket, Query, STAGE_COMPLETE, kind,
};
use crate::packet::server::{ServerHello, ServerPacket};
use crate::packet::settings::Setting;
use crate::packet::{Context, Data, revision};

pub use channel::BatchReceiver;
pub use insert::{
    BLOCK_ROWS_DEFAULT, InsertOptions, InsertProgress, InsertProgressCallback, InsertSummary,
    blocks,
};
pub use query::{CancelHandle, ProgressCallback, QueryOptions, QueryStream, Summary};
pub use retry::RetryPolicy;

/// The client's name in its Hello and ClientInfo.
pub const CLIENT_NAME: &str = "Granary Rust client";
/// The ClickHouse version the client reports (goes with revision 54468).
const CLIENT_VERSION: (u64, u64, u64) = (24, 8, 1);

/// How to reach and talk to a server.
#[derive(Debug, Clone)]
pub struct Options {
    /// `host:port` of the native protocol listener.
    pub address: String,
    /// The user (`default` when empty).
    pub user: String,
    /// The user's password.
    pub password: String,
    /// The database queries run in; the user's default when empty.
    pub database: String,
    /// How Data blocks are compressed in both directions; `None` sends them plain.
    pub compression: Option<Method>,
    /// The revision the client advertises. 54468 suits Granary; against a real ClickHouse use
    /// [`revision::TIMEZONE_UPDATES`] (54464) or lower, since this client cannot read sparse
    /// columns (`native-protocol.md` §8.2).
    pub revision: u64,
    /// How long opening a connection (TCP and handshake) may take.
    pub connect_timeout: Duration,
    /// How long the client waits for the server's next packet.
    pub receive_timeout: Duration,
    /// The largest packet accepted from the server, in bytes, and the largest block once
    /// decompressed.
    pub packet_bytes_max: usize,
    /// Retries of connection failures (connecting, and inserts, which resend with their token).
    pub retry: RetryPolicy,
}

impl Options {
    /// Options for the server at `address` with the defaults: user `default`, LZ4 compression,
    /// revision 54468, 10 s to connect, 300 s between packets, [`RetryPolicy::default`].
    pub fn new(address: impl Into<String>) -> Options {
        Options {
            address: address.into(),
            user: "default".to_string(),
            password: String::new(),
            database: String::new(),
            compression: Some(Method::Lz4),
            revision: revision::GRANARY,
            connect_timeout: Duration::from_secs(10),
            receive_timeout: Duration::from_secs(300),
            packet_bytes_max: PACKET_BYTES_MAX,
            retry: RetryPolicy::default(),
        }
    }
}

/// A client of one server; it keeps one connection and reopens it when it breaks.
#[derive(Debug)]
pub struct Client {
    options: Options,
    connection: Option<Connection>,
}

/// An open, logged-in connection.
#[derive(Debug)]
pub(crate) struct Connection {
    reader: PacketReader<OwnedReadHalf>,
    writer: Arc<Mutex<OwnedWriteHalf>>,
    server: ServerHello,
    /// The negotiated revision.
    revision: u64,
    /// A query's answer has not been read to its end: the connection cannot take another query.
    busy: bool,
    receive_timeout: Duration,
}

impl Client {
    /// Connects (retrying connection failures per `options.retry`) and logs in.
    pub async fn connect(options: Options) -> Result<Client> {
        let mut client = Client {
            options,
            connection: None,
        };
        let policy = client.options.retry.clone();
        let mut attempt = 0;
        loop {
            attempt += 1;
            match Connection::open(&client.options).await {
                Ok(connection) => {
                    client.connection = Some(connection);
                    return Ok(client);
                }
                Err(error) if error.is_retryable() && attempt < policy.attempts => {
                    tokio::time::sleep(policy.backoff(attempt)).await;
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// The options the client was made with.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// The server's Hello: its name, version, revision, time zone and display name.
    pub fn server(&self) -> Option<&ServerHello> {
        self.connection
            .as_ref()
            .map(|connection| &connection.server)
    }

    /// The open connection, reopened if it broke or was left mid-answer.
    async fn ready(&mut self) -> Result<&mut Connection> {
        if self
            .connection
            .as_ref()
            .is_some_and(|connection| connection.busy)
        {
            self.connection = None;
        }
        if self.connection.is_none() {
            self.connection = Some(Connection::open(&self.options).await?);
        }
        self.connection()
    }

    fn connection(&mut self) -> Result<&mut Connection> {
        self.connection
            .as_mut()
            .ok_or_else(|| Error::Logical("the client has no connection".to_string()))
    }

    /// Runs `operation` on a ready connection; a connection failure drops the connection so the
    /// next call reconnects.
    async fn on_connection<T>(
        &mut self,
        operation: impl AsyncFnOnce(&mut Connection) -> Result<T>,
    ) -> Result<T> {
        let connection = self.ready().await?;
        let outcome = operation(connection).await;
        if outcome.as_ref().is_err_and(Error::is_retryable) {
            self.connection = None;
        }
        outcome
    }

    /// Sends Ping and waits for Pong.
    pub async fn ping(&mut self) -> Result<()> {
        self.on_connection(async |connection| {
            let mut out = Vec::new();
            ClientPacket::encode_bare(&mut out, kind::PING);
            connection.send(&out).await?;
            loop {
                match connection
                    .receive(&Context::new(connection.revision))
                    .await?
                {
                    ServerPacket::Pong => return Ok(()),
                    ServerPacket::Exception(exception) => {
                        return Err(Error::Server(Box::new(exception)));
                    }
                    // A late packet of an earlier exchange, or a time zone notice: not the answer.
                    ServerPacket::Progress(_)
                    | ServerPacket::Log(_)
                    | ServerPacket::ProfileEvents(_)
                    | ServerPacket::TimezoneUpdate(_) => {}
                    other => return Err(unexpected(&other, "Pong")),
                }
            }
        })
        .await
    }

    /// Runs a statement and reads its whole answer, dropping any rows; what it read and wrote.
    pub async fn execute(&mut self, sql: &str) -> Result<Summary> {
        self.execute_with(sql, QueryOptions::default()).await
    }

    /// [`Client::execute`] with settings, parameters and a query id.
    pub async fn execute_with(&mut self, sql: &str, options: QueryOptions<'_>) -> Result<Summary> {
        let mut stream = self.query_with(sql, options).await?;
        while stream.next_batch().await?.is_some() {}
        Ok(stream.summary())
    }

    /// Runs a query; its result arrives as a stream of Arrow batches.
    pub async fn query(&mut self, sql: &str) -> Result<QueryStream<'_>> {
        self.query_with(sql, QueryOptions::default()).await
    }

    /// [`Client::query`] with settings, parameters, a query id and a progress callback.
    pub async fn query_with<'a>(
        &'a mut self,
        sql: &str,
        options: QueryOptions<'a>,
    ) -> Result<QueryStream<'a>> {
        let compression = self.options.compression;
        // A failure leaves the connection busy unless the server ended the answer; a busy
        // connection is replaced by the next call.
        let connection = self.ready().await?;
        QueryStream::start(connection, sql, options, compression).await
    }

    /// Inserts `batches` into `table` exactly once. The batches are cut into blocks of at most
    /// `options.block_rows` rows ([`insert::blocks`]); each block is one INSERT (one part) with
    /// its own token derived from the insert's (the given one, else a fresh one). After a
    /// connection failure the insert goes on from the first block the server has not
    /// acknowledged, with the same token, so a block that was written but not acknowledged is
    /// dropped by the server rather than written twice. Calling `insert` again with the same
    /// token, rows and `block_rows` writes nothing new. Batches name their columns; arrays are
    /// converted to the table's types where Arrow can do it losslessly.
    pub async fn insert(
        &mut self,
        table: &str,
        batches: &[RecordBatch],
        options: &InsertOptions,
    ) -> Result<InsertSummary> {
        let token = options.token();
        let blocks = insert::blocks(batches, options.block_rows)?;
        let compression = self.options.compression;
        let policy = self.options.retry.clone();
        let mut written = 0;
        let mut attempts = 0;
        // Tries since the last one that got a block written: the retry budget is per block.
        let mut failures = 0;
        loop {
            attempts += 1;
            let before = written;
            let outcome = self
                .on_connection(async |connection| {
                    insert::run(
                        connection,
                        table,
                        &blocks,
                        &mut written,
                        options,
                        &token,
                        compression,
                    )
                    .await
                })
                .await;
            match outcome {
                Ok(()) => {
                    return Ok(InsertSummary {
                        rows: blocks.iter().map(|block| block.num_rows() as u64).sum(),
                        blocks: blocks.len(),
                        attempts,
                        token,
                    });
                }
                Err(error) if error.is_retryable() => {
                    failures = if written > before { 1 } else { failures + 1 };
                    if failures >= policy.attempts {
                        return Err(error);
                    }
                    tokio::time::sleep(policy.backoff(failures)).await;
                }
                Err(error) => return Err(error),
            }
        }
    }
}

fn unexpected(packet: &ServerPacket, expected: &'static str) -> Error {
    Error::UnexpectedPacket {
        got: packet.name().to_string(),
        expected,
        from: "server",
    }
}

/// A Data packet body holding the zero-column block that ends external tables and INSERT data.
fn end_marker() -> Data {
    let batch = RecordBatch::try_new_with_options(
        Arc::new(Schema::empty()),
        Vec::new(),
        &RecordBatchOptions::new().with_row_count(Some(0)),
    )
    .unwrap_or_else(|error| unreachable!("an empty batch is valid: {error}"));
    Data::new(batch)
}

impl Connection {
    /// Opens a TCP connection and logs in.
    async fn open(options: &Options) -> Result<Connection> {
        let connect = || async {
            let socket = TcpStream::connect(&options.address)
                .await
                .map_err(|source| Error::Connect {
                    address: options.address.clone(),
                    source,
                })?;
            let _ = socket.set_nodelay(true);
            Connection::handshake(socket, options).await
        };
        match tokio::time::timeout(options.connect_timeout, connect()).await {
            Ok(connection) => connection,
            Err(_) => Err(Error::Connect {
                address: options.address.clone(),
                source: std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("no answer within {:?}", options.connect_timeout),
                ),
            }),
        }
    }

    async fn handshake(socket: TcpStream, options: &Options) -> Result<Connection> {
        let (read_half, write_half) = socket.into_split();
        let mut connection = Connection {
            reader: PacketReader::new(read_half, options.packet_bytes_max),
            writer: Arc::new(Mutex::new(write_half)),
            server: ServerHello {
                name: String::new(),
                version_major: 0,
                version_minor: 0,
                revision: 0,
                timezone: String::new(),
                display_name: String::new(),
                version_patch: 0,
                password_rules: Vec::new(),
                nonce: 0,
            },
            revision: options.revision,
            busy: false,
            receive_timeout: options.receive_timeout,
        };
        let hello = ClientHello {
            client_name: CLIENT_NAME.to_string(),
            version_major: CLIENT_VERSION.0,
            version_minor: CLIENT_VERSION.1,
            revision: options.revision,
            database: options.database.clone(),
            user: options.user.clone(),
            password: options.password.clone(),
        };
        let mut out = Vec::new();
        hello.encode(&mut out);
        connection.send(&out).await?;
        // The server's Hello is read at the client's own revision (it carries the server's).
        match connection.receive(&Context::new(options.revision)).await? {
            ServerPacket::Hello(server) => connection.server = server,
            ServerPacket::Exception(exception) => return Err(Error::Server(Box::new(exception))),
            other => return Err(unexpected(&other, "Hello")),
        }
        connection.revision = revision::negotiate(options.revision, connection.server.revision);
        if connection.revision >= revision::ADDENDUM {
            let mut out = Vec::new();
            Addendum::default().encode(&mut out, connection.revision);
            connection.send(&out).await?;
        }
        Ok(connection)
    }

    /// Writes `bytes` (whole packets) and flushes.
    async fn send(&self, bytes: &[u8]) -> Result<()> {
        let io = |source| Error::Io {
            context: "writing to the server",
            source,
        };
        let mut writer = self.writer.lock().await;
        writer.write_all(bytes).await.map_err(io)?;
        writer.flush().await.map_err(io)
    }

    /// Reads the next packet, waiting at most the receive timeout.
    async fn receive(&mut self, context: &Context) -> Result<ServerPacket> {
        let read = self
            .reader
            .read(|input| ServerPacket::decode(input, context));
        match tokio::time::timeout(self.receive_timeout, read).await {
            Ok(packet) => packet,
            Err(_) => Err(Error::Io {
                context: "waiting for the server",
                source: std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("no packet within {:?}", self.receive_timeout),
                ),
            }),
        }
    }

    /// Sends a Query packet and the empty block that says "no external tables".
    async fn send_query(
        &mut self,
        sql: &str,
        query_id: &str,
        settings: Vec<Setting>,
        parameters: Vec<Setting>,
        compression: Option<Method>,
    ) -> Result<()> {
        let mut client_info = ClientInfo::tcp(
            CLIENT_NAME,
            CLIENT_VERSION.0,
            CLIENT_VERSION.1,
            CLIENT_VERSION.2,
        );
        client_info.client_revision = self.revision;
        let query = Query {
            query_id: query_id.to_string(),
            client_info: Some(client_info),
            settings,
            interserver_secret: String::new(),
            stage: STAGE_COMPLETE,
            compression: compression.is_some(),
            sql: sql.to_string(),
            parameters,
        };
        let mut out = Vec::new();
        query.encode(&mut out, self.revision)?;
        ClientPacket::encode_data(&mut out, &end_marker(), self.revision, compression)?;
        self.busy = true;
        self.send(&out).await
    }
}
