//! One client connection's message loop: pgwire's own loop (`process_socket`) with the client's
//! `Terminate` ending the connection, which pgwire 0.36 ignores while polite clients (asyncpg's
//! `close()`, pgjdbc) wait for the server to close the socket.

use std::time::Duration;

use futures::StreamExt;
use pgwire::api::{ClientInfo, PgWireConnectionState, PgWireServerHandlers};
use pgwire::messages::PgWireFrontendMessage;
use pgwire::tokio::server::{negotiate_tls, process_error, process_message};
use tokio::net::TcpStream;

/// How long a client has to finish the startup (PostgreSQL's `authentication_timeout` is 60 s).
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// Serves one client until it terminates, disconnects or fails fatally.
pub async fn serve<H: PgWireServerHandlers>(socket: TcpStream, handlers: H) -> std::io::Result<()> {
    let startup_deadline = tokio::time::Instant::now() + STARTUP_TIMEOUT;
    let negotiated = tokio::time::timeout_at(startup_deadline, negotiate_tls(socket, None)).await;
    let Ok(negotiated) = negotiated else {
        // Too slow a start.
        return Ok(());
    };
    let Some(mut socket) = negotiated? else {
        // Direct TLS, which is not offered.
        return Ok(());
    };
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
            socket.next().await
        };
        let message = match message {
            Some(Ok(PgWireFrontendMessage::Terminate(_))) | None => return Ok(()),
            Some(Ok(message)) => message,
            Some(Err(error)) => return Err(std::io::Error::other(error.to_string())),
        };
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
