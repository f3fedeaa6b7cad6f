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
