//! Cancel requests: each connection gets a process id and a random secret (sent in
//! `BackendKeyData`); a `CancelRequest` on another connection carrying both stops the query that
//! connection is running — while it plans, runs or streams rows — with 57014. A request that
//! matches nothing is ignored, as in PostgreSQL.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use pgwire::api::cancel::CancelHandler;
use pgwire::messages::cancel::CancelRequest;
use pgwire::messages::startup::SecretKey;
use tokio_util::sync::CancellationToken;

/// The running query of one connection, which a cancel request stops.
#[derive(Debug, Default)]
pub struct Running {
    token: Mutex<Option<CancellationToken>>,
}

impl Running {
    /// Starts a query: the token that fires if it is cancelled.
    pub fn start(&self) -> CancellationToken {
        let token = CancellationToken::new();
        if let Ok(mut running) = self.token.lock() {
            *running = Some(token.clone());
        }
        token
    }

    /// Ends the current query: later cancel requests find nothing to stop.
    pub fn finish(&self) {
        if let Ok(mut running) = self.token.lock() {
            *running = None;
        }
    }

    fn cancel(&self) {
        if let Ok(running) = self.token.lock()
            && let Some(token) = running.as_ref()
        {
            token.cancel();
        }
    }
}

/// Every open connection's process id, secret and running query.
#[derive(Debug, Default)]
pub struct Registry {
    next_pid: AtomicI32,
    connections: Mutex<HashMap<i32, Backend>>,
}

/// One connection as the registry knows it.
#[derive(Debug)]
struct Backend {
    secret: i32,
    user: String,
    running: Arc<Running>,
}

impl Registry {
    /// Registers a connection of `user`: its process id and secret.
    pub fn register(&self, running: Arc<Running>, user: &str) -> (i32, i32) {
        let pid = 1000 + self.next_pid.fetch_add(1, Ordering::Relaxed);
        let secret = random_secret();
        if let Ok(mut connections) = self.connections.lock() {
            connections.insert(
                pid,
                Backend {
                    secret,
                    user: user.to_string(),
                    running,
                },
            );
        }
        (pid, secret)
    }

    /// `pg_cancel_backend(pid)` by `user`: whether a connection `pid` exists (its running query,
    /// if any, is stopped). Only a superuser may cancel another user's query.
    pub fn cancel_backend(&self, pid: i32, user: &str, superuser: bool) -> Result<bool, String> {
        let Ok(connections) = self.connections.lock() else {
            return Ok(false);
        };
        let Some(backend) = connections.get(&pid) else {
            return Ok(false);
        };
        if !superuser && backend.user != user {
            return Err(format!(
                "permission denied to cancel the query of process {pid}: only a superuser or \
                 the same user may"
            ));
        }
        tracing::info!(pid, by = user, "pg_cancel_backend");
        backend.running.cancel();
        Ok(true)
    }

    /// Forgets a closed connection.
    pub fn unregister(&self, pid: i32) {
        if let Ok(mut connections) = self.connections.lock() {
            connections.remove(&pid);
        }
    }

    fn cancel(&self, pid: i32, secret: i32) {
        let running = self.connections.lock().ok().and_then(|connections| {
            connections
                .get(&pid)
                .filter(|backend| backend.secret == secret)
                .map(|backend| Arc::clone(&backend.running))
        });
        if let Some(running) = running {
            tracing::info!(pid, "cancel request");
            running.cancel();
        }
    }
}

/// A secret from the operating system's random source (it is what authenticates a cancel).
fn random_secret() -> i32 {
    let mut bytes = [0u8; 4];
    if getrandom::fill(&mut bytes).is_err() {
        // No random source: a secret no request can match.
        return 0;
    }
    i32::from_ne_bytes(bytes) | 1
}

/// pgwire's handler of cancel requests, over the registry.
#[derive(Debug)]
pub struct Canceller {
    pub registry: Arc<Registry>,
}

#[async_trait]
impl CancelHandler for Canceller {
    async fn on_cancel_request(&self, request: CancelRequest) {
        // pgwire reads the key of a cancel connection as bytes (protocol 3.2 allows longer
        // keys); Granary's keys are the four bytes of an int32.
        let secret = match &request.secret_key {
            SecretKey::I32(secret) => Some(*secret),
            SecretKey::Bytes(bytes) => <[u8; 4]>::try_from(bytes.as_ref())
                .ok()
                .map(i32::from_be_bytes),
        };
        if let Some(secret) = secret.filter(|secret| *secret != 0) {
            self.registry.cancel(request.pid, secret);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_right_secret_cancels() {
        let registry = Registry::default();
        let running = Arc::new(Running::default());
        let (pid, secret) = registry.register(Arc::clone(&running), "default");
        let token = running.start();
        registry.cancel(pid, secret.wrapping_add(2));
        assert!(!token.is_cancelled());
        registry.cancel(pid, secret);
        assert!(token.is_cancelled());
        // A finished query is not cancelled by a late request.
        let next = running.start();
        running.finish();
        registry.cancel(pid, secret);
        assert!(!next.is_cancelled());
        registry.unregister(pid);
    }

    #[test]
    fn pg_cancel_backend_needs_the_same_user_or_a_superuser() {
        let registry = Registry::default();
        let running = Arc::new(Running::default());
        let (pid, _) = registry.register(Arc::clone(&running), "alice");
        let token = running.start();
        assert!(registry.cancel_backend(pid, "bob", false).is_err());
        assert!(!token.is_cancelled());
        assert_eq!(registry.cancel_backend(pid, "alice", false), Ok(true));
        assert!(token.is_cancelled());
        let next = running.start();
        assert_eq!(registry.cancel_backend(pid, "root", true), Ok(true));
        assert!(next.is_cancelled());
        assert_eq!(registry.cancel_backend(pid + 1, "root", true), Ok(false));
    }
}
