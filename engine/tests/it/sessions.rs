//! What a session carries between statements: its database (`currentDatabase()`), the
//! `readonly` setting that refuses writes, and inserts fed batch by batch (COPY's path).

use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch, StringArray};
use granary_protocol::ErrorCode;

use crate::support::{cells, open};

#[tokio::test]
async fn a_read_only_session_reads_and_refuses_writes_and_setting_changes() {
    let dir = tempfile::tempdir().unwrap();
    let database = open(dir.path());
    let mut session = database.session();
    session
        .execute("CREATE TABLE t (id UInt32) ENGINE = MergeTree ORDER BY id")
        .await
        .unwrap();
    session.execute("INSERT INTO t VALUES (1)").await.unwrap();
    session.execute("SET readonly = 1").await.unwrap();
    let rows = session
        .execute("SELECT count() FROM t")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(cells(&rows), vec![vec!["1".to_string()]]);
    for statement in [
        "INSERT INTO t VALUES (2)",
        "CREATE TABLE u (id UInt32) ENGINE = MergeTree ORDER BY id",
        "DROP TABLE t",
        "TRUNCATE TABLE t",
        "OPTIMIZE TABLE t FINAL",
        "SET readonly = 0",
    ] {
        let error = session.execute(statement).await.unwrap_err();
        assert_eq!(error.code(), ErrorCode::READONLY, "{statement}");
    }
    let error = session.insert_into(None, "t", &[]).unwrap_err();
    assert_eq!(error.code(), ErrorCode::READONLY);
}

#[tokio::test]
async fn an_inserter_takes_text_columns_and_writes_one_part_at_finish() {
    let dir = tempfile::tempdir().unwrap();
    let database = open(dir.path());
    let mut session = database.session();
    session.execute("CREATE DATABASE d").await.unwrap();
    session
        .execute(
            "CREATE TABLE d.t (id UInt32, name String DEFAULT 'anon', at Date) \
             ENGINE = MergeTree ORDER BY id",
        )
        .await
        .unwrap();
    session.execute("USE d").await.unwrap();
    let columns = ["at".to_string(), "id".to_string()];
    let mut inserter = session.insert_into(None, "t", &columns).unwrap();
    let names: Vec<&str> = inserter.columns().iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["at", "id"]);
    for (day, id) in [("2024-02-29", "2"), ("2024-03-01", "1")] {
        let batch = RecordBatch::try_from_iter([
            ("a", Arc::new(StringArray::from(vec![day])) as ArrayRef),
            ("b", Arc::new(StringArray::from(vec![id])) as ArrayRef),
        ])
        .unwrap();
        inserter.push(batch).await.unwrap();
    }
    let summary = inserter.finish().await.unwrap();
    assert_eq!((summary.rows, summary.parts.len()), (2, 1));
    let rows = session
        .execute("SELECT id, name, at, currentDatabase() FROM t ORDER BY id")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(
        cells(&rows),
        vec![
            vec!["1", "anon", "2024-03-01", "d"],
            vec!["2", "anon", "2024-02-29", "d"]
        ]
        .into_iter()
        .map(|row| row.into_iter().map(str::to_string).collect::<Vec<_>>())
        .collect::<Vec<_>>()
    );
    assert!(
        session
            .insert_into(None, "t", &["nope".to_string()])
            .is_err()
    );
    assert!(session.insert_into(None, "missing", &[]).is_err());
}

/// `max_execution_time` belongs to the session, so every front end gets it: from the statement's
/// own SETTINGS clause or from a SET, a long query fails with TIMEOUT_EXCEEDED in about that time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_execution_time_stops_a_query_from_settings_or_set() {
    let dir = tempfile::tempdir().unwrap();
    let database = open(dir.path());
    let mut session = database.session();
    let long = "SELECT count() FROM numbers(100000000000) WHERE number % 7 = 3";
    let run = async |session: &mut granary_engine::Session, sql: &str| {
        let started = std::time::Instant::now();
        let outcome = match session.execute(sql).await {
            Ok(result) => result.collect().await.map(drop),
            Err(error) => Err(error),
        };
        (outcome, started.elapsed())
    };
    let (outcome, elapsed) = run(
        &mut session,
        &format!("{long} SETTINGS max_execution_time = 0.5"),
    )
    .await;
    assert_eq!(
        outcome.unwrap_err().code(),
        ErrorCode::TIMEOUT_EXCEEDED,
        "from SETTINGS"
    );
    assert!(elapsed.as_secs() < 10, "{elapsed:?}");
    session
        .execute("SET max_execution_time = 0.5")
        .await
        .unwrap();
    let (outcome, elapsed) = run(&mut session, long).await;
    assert_eq!(
        outcome.unwrap_err().code(),
        ErrorCode::TIMEOUT_EXCEEDED,
        "from SET"
    );
    assert!(elapsed.as_secs() < 10, "{elapsed:?}");
    let (outcome, _) = run(&mut session, "SELECT 1").await;
    outcome.unwrap();
}

/// `max_memory_usage` bounds what a query's operators hold: past it, the query fails with
/// MEMORY_LIMIT_EXCEEDED (or spills, where DataFusion can), and the session goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_memory_usage_bounds_a_query_from_settings_or_set() {
    let dir = tempfile::tempdir().unwrap();
    let database = open(dir.path());
    let mut session = database.session();
    let big = "SELECT length(groupArray(number)) FROM numbers(10000000)";
    let code =
        async |session: &mut granary_engine::Session, sql: &str| match session.execute(sql).await {
            Ok(result) => result.collect().await.err().map(|error| error.code()),
            Err(error) => Some(error.code()),
        };
    assert_eq!(
        code(
            &mut session,
            &format!("{big} SETTINGS max_memory_usage = 10000000")
        )
        .await,
        Some(ErrorCode::MEMORY_LIMIT_EXCEEDED)
    );
    assert_eq!(
        code(&mut session, big).await,
        None,
        "the default is far larger"
    );
    session
        .execute("SET max_memory_usage = 10000000")
        .await
        .unwrap();
    assert_eq!(
        code(&mut session, big).await,
        Some(ErrorCode::MEMORY_LIMIT_EXCEEDED)
    );
    // A sort that does not fit spills to disk and answers.
    let rows = session
        .execute(
            "SELECT sum(x) FROM (SELECT number * 7 % 1000003 AS x FROM numbers(3000000) \
             ORDER BY x LIMIT 2000000)",
        )
        .await
        .unwrap()
        .collect()
        .await;
    match rows {
        Ok(rows) => assert_eq!(cells(&rows).len(), 1),
        Err(error) => assert_eq!(error.code(), ErrorCode::MEMORY_LIMIT_EXCEEDED, "{error}"),
    }
    session.execute("SET max_memory_usage = 0").await.unwrap();
    assert_eq!(code(&mut session, big).await, None);
}
