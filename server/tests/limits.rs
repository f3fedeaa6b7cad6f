//! Server-wide limits: `max_connections` refuses the connection past it on both front ends with
//! their own errors, and frees its place when a connection ends.

mod common;

use std::time::Duration;

use common::ServerProcess;
use granary_protocol::ErrorCode;
use granary_protocol::client::{Client, Options, RetryPolicy};

fn server_with(config: &str) -> (ServerProcess, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("granary.toml");
    std::fs::write(&path, config).unwrap();
    (
        ServerProcess::start_in(&dir.path().join("data"), &path),
        dir,
    )
}

fn native(server: &ServerProcess) -> Options {
    Options {
        retry: RetryPolicy {
            attempts: 1,
            ..RetryPolicy::default()
        },
        ..Options::new(server.native_addr.to_string())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_max_connections_are_refused_with_each_protocols_error() {
    let (server, _dir) = server_with("max_connections = 2\n");
    let first = server.connect("default").await.unwrap();
    let mut second = Client::connect(native(&server)).await.unwrap();
    second.ping().await.unwrap();

    let error = server.connect("default").await.unwrap_err();
    let sqlstate = error.as_db_error().map(|db| db.code().code().to_string());
    assert_eq!(sqlstate.as_deref(), Some("53300"), "{error}");
    let error = Client::connect(native(&server)).await.unwrap_err();
    assert_eq!(
        error.code(),
        ErrorCode::TOO_MANY_SIMULTANEOUS_QUERIES,
        "{error}"
    );
    assert!(error.to_string().contains("max_connections"), "{error}");

    // A connection that ends gives its place back.
    drop(first);
    let mut again = None;
    for _ in 0..50 {
        if let Ok(client) = server.connect("default").await {
            again = Some(client);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let again = again.expect("a place frees up");
    again.simple_query("SELECT 1").await.unwrap();
    second.ping().await.unwrap();
}
