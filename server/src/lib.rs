//! `granary-server`: the embedded database behind network front ends. This part serves the
//! PostgreSQL wire protocol ([`pg`]); ClickHouse's native protocol follows (issue #6).
//!
//! [`Server::start`] opens the data directory, binds the listeners and accepts connections until
//! [`Server::shutdown`], which stops accepting and gives running connections up to the configured
//! timeout to finish.

pub mod auth;
pub mod config;
pub mod error;
pub mod pg;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use granary_engine::Database;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

pub use config::{Config, Flags};
pub use error::{Error, Result};

/// A running server.
#[derive(Debug)]
pub struct Server {
    pg_addr: SocketAddr,
    stop: watch::Sender<bool>,
    acceptor: tokio::task::JoinHandle<()>,
}

impl Server {
    /// Opens `config.data_dir` and starts listening.
    pub async fn start(config: &Config) -> Result<Server> {
        let users = Arc::new(auth::Users::from_config(&config.users)?);
        let database = Arc::new(Database::open(&config.data_dir)?);
        let listener = TcpListener::bind(config.pg_addr)
            .await
            .map_err(|source| Error::Bind {
                addr: config.pg_addr,
                flag: "--pg-addr (GRANARY_PG_ADDR)",
                source,
            })?;
        let pg_addr = listener.local_addr()?;
        tracing::info!(%pg_addr, data_dir = %config.data_dir.display(), "PostgreSQL protocol listening on {pg_addr}");
        let (stop, stopped) = watch::channel(false);
        let timeout = Duration::from_secs(config.shutdown_timeout_seconds);
        let acceptor = tokio::spawn(accept(listener, database, users, stopped, timeout));
        Ok(Server {
            pg_addr,
            stop,
            acceptor,
        })
    }

    /// The address the PostgreSQL listener bound (the real port when 0 was asked for).
    pub fn pg_addr(&self) -> SocketAddr {
        self.pg_addr
    }

    /// Stops accepting connections and waits for the open ones (up to the shutdown timeout).
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.acceptor.await;
    }
}

async fn accept(
    listener: TcpListener,
    database: Arc<Database>,
    users: Arc<auth::Users>,
    mut stopped: watch::Receiver<bool>,
    timeout: Duration,
) {
    let mut connections = JoinSet::new();
    let cancels = Arc::new(pg::cancel::Registry::default());
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((socket, peer)) => {
                    let handlers = pg::PgConnection::new(&database, &users, &cancels);
                    connections.spawn(async move {
                        if let Err(error) = pg::serve::serve(socket, handlers).await {
                            tracing::debug!(%peer, %error, "connection ended with an error");
                        }
                    });
                }
                Err(error) => tracing::warn!(%error, "cannot accept a connection"),
            },
            // Finished connections are reaped as they end.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            _ = stopped.changed() => break,
        }
    }
    drop(listener);
    tracing::info!(
        open = connections.len(),
        "shutting down: no new connections"
    );
    let drained = tokio::time::timeout(timeout, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            open = connections.len(),
            "shutdown timeout: closing the connections still open"
        );
        connections.shutdown().await;
    }
}
