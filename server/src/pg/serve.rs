//! One client connection's message loop: pgwire's own loop (`process_socket`) with the client's
//! `Terminate` ending the connection, which pgwire 0.36 ignores while polite clients (asyncpg's
//! `close()`, pgjdbc) wait for the server to close the socket. When the server shuts down, a
//! connection waiting for its client's next message ends with FATAL 57P01, as PostgreSQL's fast
//! shutdown does; a query that is running finishes first.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use pgwire::api::copy::CopyHandler;
use pgwire::api::{ClientInfo, PgWireConnectionState, PgWireServerHandlers};
use pgwire::messages::PgWireFrontendMessage;
use pgwire::tokio::server::{negotiate_tls, process_error, process_message};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_util::codec::{Framed, FramedParts};

use super::framing::CheckedStream;

/// How long a client has to finish the startup (PostgreSQL's `authentication_timeout` is 60 s).
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// Serves one client until it terminates, disconnects or fails fatally.
pub async fn serve<H: PgWireServerHandlers>(
    socket: TcpStream,
    handlers: H,
    mut stopping: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let startup_deadline = tokio::time::Instant::now() + STARTUP_TIMEOUT;
    let negotiated = tokio::time::timeout_at(startup_deadline, negotiate_tls(socket, None)).await;
    let Ok(negotiated) = negotiated else {
        // Too slow a start.
        return Ok(());
    };
    let Some(negotiated) = negotiated? else {
        // Direct TLS, which is not offered.
        return Ok(());
    };
    // From here on pgwire reads whole, checked messages only (framing.rs).
    let parts = negotiated.into_parts();
    let mut checked = FramedParts::new(CheckedStream::new(parts.io, parts.read_buf), parts.codec);
    checked.write_buf = parts.write_buf;
    let mut socket = Framed::from_parts(checked);
    let startup = handlers.startup_handler();
    let simple = handlers.simple_query_handler();
    let extended = handlers.extended_query_handler();
    let copy = handlers.copy_handler();
    let cancel = handlers.cancel_handler();
    loop {
        let starting = matches!(
            socket.state(),
            PgWireConnectionState::AwaitingStartup
                | PgWireConnectionState::AuthenticationInProgress
        );
        let message = if starting {
            match tokio::time::timeout_at(startup_deadline, socket.next()).await {
                Ok(message) => message,
                Err(_) => return Ok(()),
            }
        } else {
            tokio::select! {
                message = socket.next() => message,
                true = async { stopping.wait_for(|stop| *stop).await.is_ok() } => {
                    let info = pgwire::error::ErrorInfo::new(
                        "FATAL".to_string(),
                        "57P01".to_string(),
                        "terminating connection due to administrator command".to_string(),
                    );
                    socket
                        .send(pgwire::messages::PgWireBackendMessage::ErrorResponse(info.into()))
                        .await?;
                    return Ok(());
                }
            }
        };
        let message = match message {
            Some(Ok(PgWireFrontendMessage::Terminate(_))) | None => return Ok(()),
            Some(Ok(message)) => message,
            Some(Err(error)) => {
                // A malformed message: the connection cannot be read on (PostgreSQL closes it
                // with FATAL 08P01 too).
                let info = pgwire::error::ErrorInfo::new(
                    "FATAL".to_string(),
                    "08P01".to_string(),
                    format!("invalid frontend message: {error}"),
                );
                let _ = socket
                    .send(pgwire::messages::PgWireBackendMessage::ErrorResponse(
                        info.into(),
                    ))
                    .await;
                return Ok(());
            }
        };
        if let (PgWireConnectionState::CopyInProgress(false), PgWireFrontendMessage::CopyDone(_)) =
            (socket.state(), &message)
        {
            // The end of a COPY of the simple protocol: pgwire would report the transaction
            // idle even inside a block.
            copy_done(&mut socket, &*copy, message).await?;
            continue;
        }
        let extended_protocol = match socket.state() {
            PgWireConnectionState::CopyInProgress(extended) => extended,
            _ => message.is_extended_query(),
        };
        if let Err(error) = process_message(
            message,
            &mut socket,
            startup.clone(),
            simple.clone(),
            extended.clone(),
            copy.clone(),
            cancel.clone(),
        )
        .await
        {
            process_error(&mut socket, error, extended_protocol).await?;
        }
    }
}

/// CopyDone of a COPY started by a simple query: CommandComplete (from the copy handler), then
/// ReadyForQuery with the transaction status the COPY ran in.
async fn copy_done<S, C>(
    socket: &mut S,
    copy: &C,
    message: PgWireFrontendMessage,
) -> std::io::Result<()>
where
    S: ClientInfo
        + futures::Sink<pgwire::messages::PgWireBackendMessage, Error = std::io::Error>
        + Unpin
        + Send
        + Sync,
    C: CopyHandler,
{
    let PgWireFrontendMessage::CopyDone(done) = message else {
        return Ok(());
    };
    let result = copy.on_copy_done(socket, done).await;
    socket.set_state(PgWireConnectionState::ReadyForQuery);
    let status = match result {
        Ok(()) => socket.transaction_status(),
        Err(error) => {
            let info: pgwire::error::ErrorInfo = error.into();
            socket
                .feed(pgwire::messages::PgWireBackendMessage::ErrorResponse(
                    info.into(),
                ))
                .await?;
            let failed = socket.transaction_status().to_error_state();
            socket.set_transaction_status(failed);
            failed
        }
    };
    socket
        .send(pgwire::messages::PgWireBackendMessage::ReadyForQuery(
            pgwire::messages::response::ReadyForQuery::new(status),
        ))
        .await
}
