//! Limits over both front ends: `max_connections` refuses the connection past it with each
//! protocol's error and frees its place when a connection ends; hostile statements get errors;
//! query limits (time, rows, the primary key) hold however each protocol's clients set them.

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

/// Statements that once killed the server — deep or long expressions, a parameter number that
/// sized an allocation, functions asked for 20 GB — each get an error over both protocols, and
/// the same connections go on working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_statements_get_errors_and_the_server_lives() {
    let server = ServerProcess::start();
    let pg = server.connect("default").await.unwrap();
    let mut native = Client::connect(native(&server)).await.unwrap();
    let cases: Vec<(String, Option<ErrorCode>)> = vec![
        (
            format!("SELECT {}1", "1+".repeat(100_000)),
            Some(ErrorCode::TOO_DEEP_AST),
        ),
        (
            format!("SELECT {}1", "1+".repeat(2_000)),
            Some(ErrorCode::TOO_DEEP_AST),
        ),
        (
            format!("SELECT 1 WHERE {}", vec!["1=1"; 50_000].join(" AND ")),
            Some(ErrorCode::SYNTAX_ERROR),
        ),
        (
            format!(
                "SELECT count() FROM numbers(10) WHERE {}",
                vec!["number < 9"; 2_000].join(" AND ")
            ),
            Some(ErrorCode::TOO_DEEP_AST),
        ),
        (
            format!("SELECT length({})", vec!["'a'"; 50_000].join(" || ")),
            Some(ErrorCode::SYNTAX_ERROR),
        ),
        (
            vec!["SELECT 1"; 5_000].join(" UNION ALL "),
            Some(ErrorCode::TOO_DEEP_AST),
        ),
        (
            format!("SELECT {}1{}", "(".repeat(100_000), ")".repeat(100_000)),
            Some(ErrorCode::TOO_DEEP_RECURSION),
        ),
        (
            "SELECT length(range(3000000000))".to_string(),
            Some(ErrorCode::ARGUMENT_OUT_OF_BOUND),
        ),
        (
            "SELECT length(repeat('ab', 3000000000))".to_string(),
            Some(ErrorCode::TOO_LARGE_STRING_SIZE),
        ),
        // Wide is fine: as ClickHouse answers.
        (
            format!("SELECT length(concat({}))", vec!["'a'"; 10_000].join(",")),
            None,
        ),
        (
            format!(
                "SELECT count() FROM numbers(10) WHERE {}",
                vec!["number < 9"; 400].join(" AND ")
            ),
            None,
        ),
        (format!("SELECT {}1", "1+".repeat(100)), None),
    ];
    for (sql, expected) in &cases {
        let shown = &sql[..sql.len().min(60)];
        let started = std::time::Instant::now();
        let answer = native.execute(sql).await;
        match expected {
            Some(code) => {
                let error = answer.expect_err(shown);
                assert_eq!(error.code(), *code, "{shown}: {error}");
            }
            None => {
                answer.unwrap_or_else(|error| panic!("{shown}: {error}"));
            }
        }
        let answer = pg.simple_query(sql).await;
        assert_eq!(answer.is_err(), expected.is_some(), "{shown} over pgwire");
        native.ping().await.unwrap();
        pg.simple_query("SELECT 1").await.unwrap();
        eprintln!("{:>6} ms  {shown}", started.elapsed().as_millis());
    }
    // A catalog query (PostgreSQL's dialect) with 20,000 ORs.
    let ors = vec!["relname = 'x'"; 20_000].join(" OR ");
    let error = pg
        .simple_query(&format!(
            "SELECT relname FROM pg_catalog.pg_class WHERE {ors}"
        ))
        .await
        .unwrap_err();
    assert!(error.as_db_error().is_some(), "{error}");
    // A parameter number that once sized a 189 GB allocation, prepared then described.
    let error = pg.prepare("SELECT $2147483648").await.unwrap_err();
    let message = error.as_db_error().map(|db| db.message().to_string());
    assert!(
        message
            .as_deref()
            .is_some_and(|m| m.contains("parameter number too large")),
        "{error}"
    );
    let statement = pg.prepare("SELECT toString($1::Int32 + 1)").await.unwrap();
    let row = pg.query_one(&statement, &[&41i32]).await.unwrap();
    assert_eq!(row.get::<_, &str>(0), "42");
    native.ping().await.unwrap();
}

/// Query limits live in the engine's session, so both front ends honour the same ones, set the
/// way each protocol's clients set them: PostgreSQL's `statement_timeout` and ClickHouse's
/// `max_execution_time` by SET over pgwire, per-query settings over native; `max_rows_to_read`,
/// `max_result_rows` and `force_primary_key` from a SET or the query's SETTINGS on either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_limits_hold_on_both_wires() {
    use granary_protocol::client::QueryOptions;
    use granary_protocol::packet::settings::Setting;

    let server = ServerProcess::start();
    let pg = server.connect("default").await.unwrap();
    let mut native = Client::connect(native(&server)).await.unwrap();
    let long = "SELECT count() FROM numbers(100000000000) WHERE number % 7 = 3";
    let sqlstate = |error: tokio_postgres::Error| {
        error
            .as_db_error()
            .map(|error| error.code().code().to_string())
            .unwrap_or_else(|| panic!("not a server error: {error}"))
    };

    // PostgreSQL's statement_timeout (milliseconds, or with a unit), as psql or psycopg set it.
    pg.simple_query("SET statement_timeout = 300")
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let error = pg.simple_query(long).await.unwrap_err();
    assert_eq!(sqlstate(error), "57014");
    assert!(started.elapsed() < Duration::from_secs(20));
    let shown = pg.simple_query("SHOW statement_timeout").await.unwrap();
    let shown = shown.iter().find_map(|message| match message {
        tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_string),
        _ => None,
    });
    assert_eq!(shown.as_deref(), Some("300ms"));
    // The extended protocol too.
    let error = pg.query(long, &[]).await.unwrap_err();
    assert_eq!(sqlstate(error), "57014");
    let error = pg
        .simple_query("SET statement_timeout = 'soon'")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(error), "22023");
    pg.simple_query("SET statement_timeout = 0").await.unwrap();
    pg.simple_query("SET max_execution_time = 0.3")
        .await
        .unwrap();
    let error = pg.simple_query(long).await.unwrap_err();
    assert_eq!(sqlstate(error), "57014");
    pg.simple_query("SET max_execution_time = 0").await.unwrap();
    pg.simple_query("SELECT count() FROM numbers(1000)")
        .await
        .unwrap();

    // Native: per-query settings, as clickhouse-driver sends them.
    let with = |name: &str, value: &str| QueryOptions {
        settings: vec![Setting::new(name, value)],
        ..QueryOptions::default()
    };
    let started = std::time::Instant::now();
    let error = native
        .execute_with(long, with("max_execution_time", "0.3"))
        .await
        .unwrap_err();
    assert_eq!(error.code(), ErrorCode::TIMEOUT_EXCEEDED);
    assert!(started.elapsed() < Duration::from_secs(20));
    let error = native
        .execute_with(
            "SELECT sum(number) FROM numbers(1000)",
            with("max_rows_to_read", "100"),
        )
        .await
        .unwrap_err();
    assert_eq!(error.code(), ErrorCode::TOO_MANY_ROWS);
    // A per-query setting lasts for its query only.
    native
        .execute("SELECT sum(number) FROM numbers(1000)")
        .await
        .unwrap();

    native
        .execute("CREATE TABLE keyed (k UInt64, v UInt64) ENGINE = MergeTree ORDER BY k")
        .await
        .unwrap();
    native
        .execute("INSERT INTO keyed SELECT number, number FROM numbers(100)")
        .await
        .unwrap();
    let error = native
        .execute_with("SELECT sum(v) FROM keyed", with("force_primary_key", "1"))
        .await
        .unwrap_err();
    assert_eq!(error.code(), ErrorCode::INDEX_NOT_USED);
    pg.simple_query("SET force_primary_key = 1").await.unwrap();
    let error = pg
        .simple_query("SELECT sum(v) FROM keyed WHERE v > 3")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(error), "54000");
    pg.simple_query("SELECT sum(v) FROM keyed WHERE k > 3")
        .await
        .unwrap();
    pg.simple_query("SET max_result_rows = 5").await.unwrap();
    let error = pg
        .simple_query("SELECT k FROM keyed WHERE k < 50")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(error), "54000");
}
