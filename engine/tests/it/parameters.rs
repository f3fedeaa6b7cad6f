//! Prepared statements: the types of `$n` parameters implied by their places, result columns
//! known before running, and values substituted as typed literals.

use granary_engine::{Parameter, Session};
use granary_protocol::{DataType, ErrorCode};

use crate::support::open;

fn value(text: &str, data_type: DataType) -> Parameter {
    Parameter {
        value: Some(text.to_string()),
        data_type,
    }
}

async fn rows(session: &mut Session, sql: &str, parameters: &[Parameter]) -> Vec<String> {
    let batches = session
        .execute_with(sql, parameters)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .collect()
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    crate::support::lines(&batches)
}

#[tokio::test]
async fn insert_values_parameters_take_their_column_types() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    let mut session = db.session();
    session
        .execute("CREATE TABLE t (id UInt64, name String, day Date, at DateTime64(3), ok Bool) ENGINE = MergeTree ORDER BY id")
        .await
        .unwrap();
    let prepared = session
        .prepare("INSERT INTO t (id, name, day, at, ok) VALUES ($1, $2, $3, $4, $5)")
        .await
        .unwrap();
    assert_eq!(
        prepared.parameters,
        vec![
            Some(DataType::UInt64),
            Some(DataType::String),
            Some(DataType::Date),
            Some(DataType::DateTime64(3, None)),
            Some(DataType::Bool),
        ]
    );
    assert!(prepared.columns.is_none());
    // NULL into a column that is not Nullable stores the column's default, as in ClickHouse.
    session
        .execute_with(
            "INSERT INTO t (id, name, day, at, ok) VALUES ($1, $2, $3, $4, $5)",
            &[
                value("18446744073709551615", DataType::UInt64),
                value("it's; DROP TABLE t", DataType::String),
                value("2024-02-29", DataType::Date),
                value("2024-02-29 13:45:56.123", DataType::DateTime64(3, None)),
                Parameter {
                    value: None,
                    data_type: DataType::Bool,
                },
            ],
        )
        .await
        .unwrap();
    session
        .execute_with(
            "INSERT INTO t VALUES ($1, $2, $3, $4, $5)",
            &[
                value("18446744073709551615", DataType::UInt64),
                value("it's; DROP TABLE t", DataType::String),
                value("2024-02-29", DataType::Date),
                value("2024-02-29 13:45:56.123", DataType::DateTime64(3, None)),
                value("true", DataType::Bool),
            ],
        )
        .await
        .unwrap();
    assert_eq!(
        rows(
            &mut session,
            "SELECT * FROM t WHERE name = $1 ORDER BY ok",
            &[value("it's; DROP TABLE t", DataType::String)]
        )
        .await,
        vec![
            "18446744073709551615|it's; DROP TABLE t|2024-02-29|2024-02-29T13:45:56.123|false",
            "18446744073709551615|it's; DROP TABLE t|2024-02-29|2024-02-29T13:45:56.123|true"
        ]
    );
}

#[tokio::test]
async fn comparisons_type_their_parameters_and_results_are_known_before_running() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    let mut session = db.session();
    session
        .execute("CREATE TABLE t (id Int32, name String) ENGINE = MergeTree ORDER BY id")
        .await
        .unwrap();
    let prepared = session
        .prepare("SELECT name, id + 1 AS next FROM t WHERE id = $1 AND name <> $2 LIMIT 10")
        .await
        .unwrap();
    assert_eq!(
        prepared.parameters,
        vec![Some(DataType::Int32), Some(DataType::String)]
    );
    let columns = prepared.columns.unwrap();
    let names: Vec<&str> = columns.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(names, ["name", "next"]);
    // A place nothing types stays open.
    let bare = session.prepare("SELECT $1").await.unwrap();
    assert_eq!(bare.parameters, vec![None]);
    assert_eq!(bare.columns.unwrap().fields().len(), 1);
    assert_eq!(
        rows(
            &mut session,
            "SELECT $1, $2 + 1",
            &[value("x", DataType::String), value("41", DataType::Int64)]
        )
        .await,
        vec!["x|42"]
    );
    // Statements without rows have no columns; unknown tables fail at prepare.
    assert!(
        session
            .prepare("CREATE TABLE u (a Int8) ENGINE = MergeTree ORDER BY a")
            .await
            .unwrap()
            .columns
            .is_none()
    );
    let missing = session
        .prepare("SELECT * FROM missing WHERE a = $1")
        .await
        .unwrap_err();
    assert_eq!(missing.code(), ErrorCode::UNKNOWN_TABLE);
    let wrong = session
        .execute_with("SELECT $1, $2", &[value("1", DataType::Int32)])
        .await
        .unwrap_err();
    assert_eq!(wrong.code(), ErrorCode::NUMBER_OF_ARGUMENTS_DOESNT_MATCH);
}

#[tokio::test]
async fn described_columns_are_those_running_gives() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    let mut session = db.session();
    for sql in [
        "SELECT 1 AS one, 'two' AS two",
        "SELECT 41 + 1",
        "SELECT number, number * 2 FROM numbers(3)",
        "SELECT count() FROM numbers(10) WHERE number > $1",
    ] {
        let described = session.prepare(sql).await.unwrap().columns.unwrap();
        let parameters = if sql.contains("$1") {
            vec![value("4", DataType::UInt64)]
        } else {
            Vec::new()
        };
        let result = session.execute_with(sql, &parameters).await.unwrap();
        assert_eq!(described.fields(), result.schema().fields(), "{sql}");
    }
}
