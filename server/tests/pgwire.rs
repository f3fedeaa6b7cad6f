//! The server process on a real socket, reached with a real PostgreSQL client (tokio-postgres):
//! startup, DDL, inserts, queries in text, errors with their SQLSTATE and the connection still
//! working after them, several statements in one query, concurrent connections, unknown
//! databases, and a clean stop on SIGTERM.

mod common;

use common::ServerProcess;
use std::process::Command;
use tokio_postgres::error::SqlState;

use tokio_postgres::{Client, SimpleQueryMessage};

/// The rows of a simple query's result, as text.
async fn rows(client: &Client, sql: &str) -> Vec<Vec<Option<String>>> {
    client
        .simple_query(sql)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|message| match message {
            SimpleQueryMessage::Row(row) => Some(
                (0..row.len())
                    .map(|index| row.get(index).map(str::to_string))
                    .collect(),
            ),
            _ => None,
        })
        .collect()
}

fn owned(rows: &[&[Option<&str>]]) -> Vec<Vec<Option<String>>> {
    rows.iter()
        .map(|row| row.iter().map(|value| value.map(str::to_string)).collect())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_create_insert_and_query_over_pgwire() {
    let server = ServerProcess::start();
    let client = server.connect("default").await.unwrap();

    client
        .simple_query(
            "CREATE TABLE events (id UInt32, name String, big UInt64, seen Nullable(DateTime), ok Bool) \
             ENGINE = MergeTree ORDER BY id",
        )
        .await
        .unwrap();
    let inserted = client
        .simple_query(
            "INSERT INTO events VALUES (1, 'a', 18446744073709551615, '2024-01-02 03:04:05', true), \
             (2, 'b', 0, NULL, false)",
        )
        .await
        .unwrap();
    assert!(
        inserted
            .iter()
            .any(|message| matches!(message, SimpleQueryMessage::CommandComplete(2))),
        "INSERT reports its rows"
    );
    assert_eq!(
        rows(
            &client,
            "SELECT id, name, big, seen, ok FROM events ORDER BY id"
        )
        .await,
        owned(&[
            &[
                Some("1"),
                Some("a"),
                Some("18446744073709551615"),
                Some("2024-01-02 03:04:05"),
                Some("t")
            ],
            &[Some("2"), Some("b"), Some("0"), None, Some("f")],
        ])
    );

    // An error carries its SQLSTATE and the ClickHouse code; the connection keeps working.
    let error = client
        .simple_query("SELECT * FROM missing")
        .await
        .unwrap_err();
    assert_eq!(error.code(), Some(&SqlState::UNDEFINED_TABLE));
    let detail = error
        .as_db_error()
        .and_then(|db| db.detail())
        .unwrap_or_default()
        .to_string();
    assert!(detail.contains("UNKNOWN_TABLE"), "{detail}");
    let error = client.simple_query("SELEC 1").await.unwrap_err();
    assert_eq!(error.code(), Some(&SqlState::SYNTAX_ERROR));
    assert_eq!(
        rows(&client, "SELECT count() FROM events").await,
        owned(&[&[Some("2")]])
    );

    // Several statements in one query, each with its result.
    assert_eq!(
        rows(&client, "SELECT 1; SELECT 'two';").await,
        owned(&[&[Some("1")], &[Some("two")]])
    );
    // PostgreSQL settings clients send are kept per connection; ClickHouse's go to the engine.
    client
        .simple_query("SET application_name = 'granary-test'")
        .await
        .unwrap();
    assert_eq!(
        rows(&client, "SHOW application_name").await,
        owned(&[&[Some("granary-test")]])
    );
    let version = rows(&client, "SHOW server_version").await;
    assert!(
        version[0][0]
            .as_deref()
            .unwrap_or("")
            .starts_with("15.0 (Granary"),
        "{version:?}"
    );
    let error = client
        .simple_query("SET client_encoding = 'LATIN1'")
        .await
        .unwrap_err();
    assert_eq!(error.code(), Some(&SqlState::INVALID_PARAMETER_VALUE));
    client.simple_query("SET max_threads = 1").await.unwrap();

    // BEGIN/COMMIT are accepted (each statement is atomic on its own).
    client.simple_query("BEGIN").await.unwrap();
    client.simple_query("COMMIT").await.unwrap();

    // Connections are independent sessions, served at once.
    let mut tasks = Vec::new();
    for index in 0..8u64 {
        let client = server.connect("default").await.unwrap();
        tasks.push(tokio::spawn(async move {
            rows(
                &client,
                &format!("SELECT sum(number) FROM numbers({})", 1000 + index),
            )
            .await
        }));
    }
    for (index, task) in tasks.into_iter().enumerate() {
        let n = 1000 + index as u64;
        assert_eq!(
            task.await.unwrap(),
            owned(&[&[Some(&(n * (n - 1) / 2).to_string())]])
        );
    }

    // A database that does not exist is refused at startup.
    let Err(error) = server.connect("nowhere").await else {
        panic!("an unknown database is refused");
    };
    assert_eq!(error.code(), Some(&SqlState::INVALID_CATALOG_NAME));

    drop(client);
    let status = server.terminate();
    assert!(
        status.success(),
        "SIGTERM stops the server cleanly: {status}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_results_stream_to_the_client() {
    let server = ServerProcess::start();
    let client = server.connect("default").await.unwrap();
    let messages = client
        .simple_query("SELECT number, toString(number) FROM numbers(300000)")
        .await
        .unwrap();
    let count = messages
        .iter()
        .filter(|message| matches!(message, SimpleQueryMessage::Row(_)))
        .count();
    assert_eq!(count, 300_000);
    assert!(
        messages
            .iter()
            .any(|message| matches!(message, SimpleQueryMessage::CommandComplete(300_000)))
    );
}

#[test]
fn a_port_in_use_names_the_flag_to_change() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    for (pg, native, flag) in [
        (addr.as_str(), "127.0.0.1:0", "--pg-addr"),
        ("127.0.0.1:0", addr.as_str(), "--native-addr"),
    ] {
        let data = tempfile::tempdir().unwrap();
        let output = Command::new(env!("CARGO_BIN_EXE_granary-server"))
            .args(["--pg-addr", pg, "--native-addr", native])
            .arg("--data-dir")
            .arg(data.path())
            .output()
            .unwrap();
        assert!(!output.status.success());
        let log = String::from_utf8_lossy(&output.stderr);
        assert!(log.contains(flag), "{log}");
    }
}

#[test]
fn print_config_shows_the_effective_configuration() {
    let output = Command::new(env!("CARGO_BIN_EXE_granary-server"))
        .args(["--print-config", "--pg-addr", "127.0.0.1:6543"])
        .env("GRANARY_DATA_DIR", "/tmp/granary-data")
        .output()
        .unwrap();
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("pg_addr = \"127.0.0.1:6543\""), "{text}");
    assert!(text.contains("data_dir = \"/tmp/granary-data\""), "{text}");
}
