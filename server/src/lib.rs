//! `granary-server`: the embedded database behind network front ends: the PostgreSQL wire
//! protocol ([`pg`]) and ClickHouse's native TCP protocol ([`native`]).
//!
//! [`Server::start`] opens the data directory, binds the listeners and accepts connections until
//! [`Server::shutdown`], which stops accepting and gives running connections up to the configured
//! timeout to finish.

pub mod auth;
pub mod config;
pub mod error;
pub mod native;
pub mod pg;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use granary_engine::Database;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

pub use config::{Config, Flags};
pub use error::{Error, Result};

/// A running server.
#[derive(Debug)]
pub struct Server {
    pg_addr: SocketAddr,
    native_addr: SocketAddr,
    stop: watch::Sender<bool>,
    acceptors: Vec<tokio::task::JoinHandle<()>>,
}

impl Server {
    /// Opens `config.data_dir` and starts listening.
    pub async fn start(config: &Config) -> Result<Server> {
        let users = Arc::new(auth::Users::from_config(&config.users)?);
        let database = Arc::new(Database::open_with(
            &config.data_dir,
            config.database_options(),
        )?);
        let pg_listener = bind(config.pg_addr, "--pg-addr (GRANARY_PG_ADDR)").await?;
        let native_listener =
            bind(config.native_addr, "--native-addr (GRANARY_NATIVE_ADDR)").await?;
        let pg_addr = pg_listener.local_addr()?;
        let native_addr = native_listener.local_addr()?;
        tracing::info!(%pg_addr, data_dir = %config.data_dir.display(), "PostgreSQL protocol listening on {pg_addr}");
        tracing::info!(%native_addr, "ClickHouse native protocol listening on {native_addr}");
        let (stop, stopped) = watch::channel(false);
        let timeout = Duration::from_secs(config.shutdown_timeout_seconds);
        let cancels = Arc::new(pg::cancel::Registry::default());
        let pg = {
            let (database, users) = (Arc::clone(&database), Arc::clone(&users));
            let stopping = stopped.clone();
            move |socket: TcpStream, peer: SocketAddr| {
                let handlers = pg::PgConnection::new(&database, &users, &cancels);
                let stopping = stopping.clone();
                async move {
                    if let Err(error) = pg::serve::serve(socket, handlers, stopping).await {
                        tracing::debug!(%peer, %error, "connection ended with an error");
                    }
                }
            }
        };
        let shared = Arc::new(native::Shared {
            database,
            users,
            packet_bytes_max: config.native_packet_bytes_max,
            stopping: stopped.clone(),
        });
        let native = move |socket: TcpStream, peer: SocketAddr| {
            native::serve(socket, peer, Arc::clone(&shared))
        };
        let limit = Arc::new(Semaphore::new(config.max_connections.max(1)));
        let max_connections = config.max_connections.max(1);
        let acceptors = vec![
            tokio::spawn(accept(
                pg_listener,
                stopped.clone(),
                timeout,
                Arc::clone(&limit),
                pg,
                move |socket| refuse(socket, pg::refusal(max_connections)),
            )),
            tokio::spawn(accept(
                native_listener,
                stopped,
                timeout,
                limit,
                native,
                move |socket| refuse(socket, native::refusal(max_connections)),
            )),
        ];
        Ok(Server {
            pg_addr,
            native_addr,
            stop,
            acceptors,
        })
    }

    /// The address the PostgreSQL listener bound (the real port when 0 was asked for).
    pub fn pg_addr(&self) -> SocketAddr {
        self.pg_addr
    }

    /// The address the native-protocol listener bound.
    pub fn native_addr(&self) -> SocketAddr {
        self.native_addr
    }

    /// Stops accepting connections and waits for the open ones (up to the shutdown timeout).
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for acceptor in self.acceptors {
            let _ = acceptor.await;
        }
    }
}

async fn bind(addr: SocketAddr, flag: &'static str) -> Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| Error::Bind { addr, flag, source })
}

/// Accepts connections on `listener` and serves each with `serve` until `stopped`, while a permit
/// of `limit` (`max_connections`, shared by the front ends) is free; past it, `refuse` answers the
/// connection with the front end's error and closes it. When accepting fails (out of file
/// descriptors, say) the loop backs off rather than spinning, and says so once per episode.
async fn accept<S, F, R, G>(
    listener: TcpListener,
    mut stopped: watch::Receiver<bool>,
    timeout: Duration,
    limit: Arc<Semaphore>,
    serve: S,
    refuse: R,
) where
    S: Fn(TcpStream, SocketAddr) -> F,
    F: std::future::Future<Output = ()> + Send + 'static,
    R: Fn(TcpStream) -> G,
    G: std::future::Future<Output = ()> + Send + 'static,
{
    let mut connections = JoinSet::new();
    let mut backoff = Duration::ZERO;
    let mut refused = 0u64;
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((socket, peer)) => {
                    if !backoff.is_zero() {
                        tracing::info!("accepting connections again");
                        backoff = Duration::ZERO;
                    }
                    match Arc::clone(&limit).try_acquire_owned() {
                        Ok(permit) => {
                            let served = serve(socket, peer);
                            connections.spawn(async move {
                                served.await;
                                drop(permit);
                            });
                        }
                        Err(_) => {
                            refused += 1;
                            if refused.is_power_of_two() {
                                tracing::warn!(%peer, refused, "refusing a connection: max_connections reached");
                            }
                            connections.spawn(refuse(socket));
                        }
                    }
                }
                Err(error) => {
                    if backoff.is_zero() {
                        tracing::error!(%error, "cannot accept connections; backing off until it works again");
                    }
                    backoff = (backoff * 2).clamp(Duration::from_millis(10), Duration::from_secs(1));
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = stopped.changed() => break,
                    }
                }
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

/// Writes a front end's refusal to a connection over the limit and closes it (bounded in time, so
/// that a client that never reads cannot hold the task).
async fn refuse(mut socket: TcpStream, answer: Vec<u8>) {
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        let _ = socket.write_all(&answer).await;
        let _ = socket.shutdown().await;
    })
    .await;
}
