//! ClickHouse's native TCP protocol front end (`native-protocol.md`): the handshake, password
//! login against the configured users, then one query at a time. The packets are
//! `granary_protocol::packet`'s; what a query does is the engine's.
//!
//! ```text
//!   Hello ─▶ auth ─▶ Hello ◀─ [addendum] ─▶ loop { Ping ─▶ Pong | Query ─▶ query::run }
//! ```

mod exception;
mod query;
mod settings;

use std::net::SocketAddr;
use std::sync::Arc;

use granary_engine::{Database, Session};
use granary_protocol::ErrorCode;
use granary_protocol::connection::PacketReader;
use granary_protocol::io::Cursor;
use granary_protocol::packet::client::{Addendum, ClientHello, ClientPacket};
use granary_protocol::packet::server::{Exception, ServerHello, ServerPacket};
use granary_protocol::packet::{Context, revision};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::watch;

use crate::auth::Users;

/// What every native connection shares.
#[derive(Debug)]
pub struct Shared {
    /// The database.
    pub database: Arc<Database>,
    /// The users who may log in.
    pub users: Arc<Users>,
    /// The largest packet (and so INSERT block) a client may send, in bytes.
    pub packet_bytes_max: usize,
    /// Becomes true when the server shuts down: idle connections then close, while a running
    /// query finishes first.
    pub stopping: watch::Receiver<bool>,
}

/// The server's name and version as clients see them (`native-protocol.md` §12.4): a ClickHouse
/// version that goes with revision 54468, and the truth in the display name.
const SERVER_NAME: &str = "ClickHouse";
const VERSION: (u64, u64, u64) = (24, 8, 1);
const DISPLAY_NAME: &str = "granary";
/// The time zone clients render DateTime values in.
const SERVER_TIMEZONE: &str = "UTC";

/// A connection after the handshake.
struct Connection {
    reader: PacketReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    session: Session,
    revision: u64,
    peer: SocketAddr,
}

impl Connection {
    /// Writes `packets` and flushes.
    async fn send(&mut self, packets: &[ServerPacket]) -> std::io::Result<()> {
        let mut out = Vec::new();
        for packet in packets {
            if let Err(error) = packet.encode(&mut out, self.revision, None) {
                tracing::error!(%error, packet = packet.name(), "cannot encode a packet");
                return Err(std::io::Error::other(error));
            }
        }
        self.writer.write_all(&out).await?;
        self.writer.flush().await
    }

    async fn send_bytes(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.writer.write_all(bytes).await?;
        self.writer.flush().await
    }
}

/// Serves one client until it leaves or breaks the protocol.
pub async fn serve(socket: TcpStream, peer: SocketAddr, shared: Arc<Shared>) {
    let _ = socket.set_nodelay(true);
    let (read_half, mut writer) = socket.into_split();
    let mut reader = PacketReader::new(read_half, shared.packet_bytes_max);
    let hello = match reader.read(read_hello).await {
        Ok(Some(hello)) => hello,
        Ok(None) => {
            let _ = writer.write_all(HTTP_ANSWER.as_bytes()).await;
            return;
        }
        Err(error) => {
            tracing::debug!(%peer, %error, "no valid Hello");
            return;
        }
    };
    let negotiated = revision::negotiate(hello.revision, revision::GRANARY);
    let session = match login(&shared, &hello).await {
        Ok(session) => {
            shared.users.throttle.succeeded(peer.ip());
            session
        }
        Err(exception) => {
            if exception.code == ErrorCode::AUTHENTICATION_FAILED.0 {
                // Repeated failures from one address are answered ever more slowly.
                tokio::time::sleep(shared.users.throttle.failed(peer.ip())).await;
            }
            tracing::info!(%peer, user = %hello.user, "native login refused: {}", exception.message);
            let mut out = Vec::new();
            let _ = ServerPacket::Exception(exception).encode(&mut out, negotiated, None);
            let _ = writer.write_all(&out).await;
            return;
        }
    };
    let mut connection = Connection {
        reader,
        writer,
        session,
        revision: negotiated,
        peer,
    };
    let server_hello = ServerHello {
        name: SERVER_NAME.to_string(),
        version_major: VERSION.0,
        version_minor: VERSION.1,
        revision: revision::GRANARY,
        timezone: SERVER_TIMEZONE.to_string(),
        display_name: DISPLAY_NAME.to_string(),
        version_patch: VERSION.2,
        password_rules: Vec::new(),
        nonce: nonce(),
    };
    if connection
        .send(&[ServerPacket::Hello(server_hello)])
        .await
        .is_err()
    {
        return;
    }
    if let Err(error) = connection
        .reader
        .read(|input| Addendum::decode(input, negotiated))
        .await
    {
        tracing::debug!(%peer, %error, "no addendum");
        return;
    }
    tracing::debug!(%peer, client = %hello.client_name, revision = hello.revision, negotiated, "native client connected");
    if let Err(error) = queries(&mut connection, shared.stopping.clone()).await
        && !error.is_disconnect()
    {
        tracing::debug!(%peer, %error, "native connection ended with an error");
        // The stream position is lost: say why if the socket still takes it, then close.
        let exception = exception::from_protocol(&error);
        let _ = connection.send(&[ServerPacket::Exception(exception)]).await;
    }
}

/// What a connection over `max_connections` gets: an Exception packet, which clients read in place
/// of the server's Hello.
pub fn refusal(max_connections: usize) -> Vec<u8> {
    let exception = exception::new(
        ErrorCode::TOO_MANY_SIMULTANEOUS_QUERIES,
        &format!(
            "Too many connections: the server accepts at most {max_connections} (max_connections)"
        ),
    );
    let mut out = Vec::new();
    // Its layout has not changed across revisions.
    let _ = ServerPacket::Exception(exception).encode(&mut out, revision::GRANARY, None);
    out
}

/// What ClickHouse answers when a web client talks to the native port.
const HTTP_ANSWER: &str = "HTTP/1.0 400 Bad Request\r\n\r\nPort 9000 is for clickhouse-client \
     program.\r\nYou must use port 8123 for HTTP.\r\n";

/// The client's Hello; `None` when the peer speaks HTTP.
fn read_hello(input: &mut Cursor<'_>) -> granary_protocol::Result<Option<ClientHello>> {
    if matches!(input.rest().first(), Some(b'G' | b'P')) {
        return Ok(None);
    }
    ClientHello::decode(input).map(Some)
}

/// Checks the user and password and opens the session; the Exception to send otherwise.
async fn login(shared: &Shared, hello: &ClientHello) -> Result<Session, Exception> {
    let refused = || {
        exception::new(
            ErrorCode::AUTHENTICATION_FAILED,
            &format!(
                "{}: Authentication failed: password is incorrect, or there is no user with \
                 such name.",
                hello.user
            ),
        )
    };
    let name = if hello.user.is_empty() {
        "default"
    } else {
        &hello.user
    };
    let user = shared.users.get(name).ok_or_else(refused)?;
    let accepted = match &user.secret {
        None => hello.password.is_empty(),
        Some(secret) => {
            let secret = secret.clone();
            let password = hello.password.clone();
            tokio::task::spawn_blocking(move || secret.verify(&password))
                .await
                .unwrap_or(false)
        }
    };
    if !accepted {
        return Err(refused());
    }
    let mut session = shared.database.session();
    if !hello.database.is_empty() {
        let quoted = format!("USE `{}`", hello.database.replace('`', "``"));
        session
            .execute(&quoted)
            .await
            .map_err(|error| exception::from_engine(&error))?;
    }
    if user.readonly {
        session
            .execute("SET readonly = 1")
            .await
            .map_err(|error| exception::from_engine(&error))?;
    }
    Ok(session)
}

/// A random nonce for the Hello (used by inter-server authentication only).
fn nonce() -> u64 {
    let mut bytes = [0u8; 8];
    let _ = getrandom::fill(&mut bytes);
    u64::from_le_bytes(bytes)
}

/// Packets between queries, until the client leaves or the server shuts down while the
/// connection is idle.
async fn queries(
    connection: &mut Connection,
    mut stopping: watch::Receiver<bool>,
) -> granary_protocol::Result<()> {
    let io = |source| granary_protocol::Error::Io {
        context: "writing to the client",
        source,
    };
    loop {
        let context = Context::new(connection.revision);
        let packet = tokio::select! {
            packet = connection.reader.read(|input| ClientPacket::decode(input, &context)) => packet?,
            // A packet cut short here is of no consequence: the connection closes.
            true = async { stopping.wait_for(|stop| *stop).await.is_ok() } => {
                tracing::debug!(peer = %connection.peer, "idle connection closed: the server is shutting down");
                return Ok(());
            }
        };
        match packet {
            ClientPacket::Ping => connection.send(&[ServerPacket::Pong]).await.map_err(io)?,
            // A Cancel that arrives after its query ended, or a keep-alive: nothing to do.
            ClientPacket::Cancel | ClientPacket::KeepAlive => {}
            ClientPacket::Query(query) => query::run(connection, *query).await?,
            ClientPacket::Data(_) => {
                let exception = exception::new(
                    ErrorCode::UNEXPECTED_PACKET_FROM_CLIENT,
                    "Unexpected packet Data received from client",
                );
                connection
                    .send(&[ServerPacket::Exception(exception)])
                    .await
                    .map_err(io)?;
            }
        }
    }
}
