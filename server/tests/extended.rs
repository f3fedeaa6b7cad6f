//! The extended query protocol with a real client (tokio-postgres prepares every statement,
//! takes the parameter types from the server's description and asks for binary results):
//! parameters of each type in binary, results in binary, parameter types implied by their
//! places, row limits resumed portal by portal inside a transaction, and errors.

mod common;

use chrono::{NaiveDate, NaiveDateTime};
use common::ServerProcess;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::Type;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepared_statements_take_and_return_binary_values_of_every_type() {
    let server = ServerProcess::start();
    let client = server.connect("default").await.unwrap();
    client
        .batch_execute(
            "CREATE TABLE events (id Int32, big Int64, ratio Float64, name String, day Date, \
             at DateTime, ok Bool, small Int16, maybe Nullable(Int32)) ENGINE = MergeTree ORDER BY id",
        )
        .await
        .unwrap();
    let insert = client
        .prepare("INSERT INTO events VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)")
        .await
        .unwrap();
    // The types come from the table's columns: the client encodes by them.
    assert_eq!(
        insert.params(),
        [
            Type::INT4,
            Type::INT8,
            Type::FLOAT8,
            Type::TEXT,
            Type::DATE,
            Type::TIMESTAMP,
            Type::BOOL,
            Type::INT2,
            Type::INT4
        ]
    );
    let day = NaiveDate::from_ymd_opt(2024, 2, 29).unwrap();
    let at: NaiveDateTime = day.and_hms_opt(13, 45, 56).unwrap();
    for id in 1..=3i32 {
        let maybe: Option<i32> = if id == 2 { None } else { Some(id * 10) };
        let written = client
            .execute(
                &insert,
                &[
                    &id,
                    &(9_007_199_254_740_993i64 + i64::from(id)),
                    &(f64::from(id) / 4.0),
                    &format!("it's {id}"),
                    &day,
                    &at,
                    &(id % 2 == 1),
                    &(id as i16),
                    &maybe,
                ],
            )
            .await
            .unwrap();
        assert_eq!(written, 1);
    }
    let select = client
        .prepare("SELECT id, big, ratio, name, day, at, ok, small, maybe FROM events WHERE id >= $1 ORDER BY id")
        .await
        .unwrap();
    assert_eq!(select.params(), [Type::INT4]);
    let rows = client.query(&select, &[&2i32]).await.unwrap();
    assert_eq!(rows.len(), 2);
    let row = &rows[0];
    assert_eq!(row.get::<_, i32>("id"), 2);
    assert_eq!(row.get::<_, i64>("big"), 9_007_199_254_740_995);
    assert_eq!(row.get::<_, f64>("ratio"), 0.5);
    assert_eq!(row.get::<_, String>("name"), "it's 2");
    assert_eq!(row.get::<_, NaiveDate>("day"), day);
    assert_eq!(row.get::<_, NaiveDateTime>("at"), at);
    assert!(!row.get::<_, bool>("ok"));
    assert_eq!(row.get::<_, i16>("small"), 2);
    assert_eq!(row.get::<_, Option<i32>>("maybe"), None);
    assert_eq!(rows[1].get::<_, Option<i32>>("maybe"), Some(30));
    // A statement prepared once runs many times.
    for id in 1..=3i32 {
        let rows = client.query(&select, &[&id]).await.unwrap();
        assert_eq!(rows.len(), (4 - id) as usize);
    }
    // Text parameters the client declares itself are converted to the column's type.
    let typed = client
        .prepare_typed(
            "SELECT count() FROM events WHERE name = $1",
            &[Type::VARCHAR],
        )
        .await
        .unwrap();
    let count = client.query_one(&typed, &[&"it's 3"]).await.unwrap();
    assert_eq!(count.columns()[0].type_(), &Type::NUMERIC);
    let text = client
        .simple_query("SELECT count() FROM events WHERE ok")
        .await
        .unwrap();
    assert!(matches!(
        &text[1],
        tokio_postgres::SimpleQueryMessage::Row(row) if row.get(0) == Some("2")
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_limits_suspend_a_portal_and_resume_it() {
    let server = ServerProcess::start();
    let mut client = server.connect("default").await.unwrap();
    let transaction = client.transaction().await.unwrap();
    let portal = transaction
        .bind("SELECT number FROM system.numbers LIMIT $1", &[&10_000i64])
        .await
        .unwrap();
    let mut seen = Vec::new();
    loop {
        let rows = transaction.query_portal(&portal, 3_000).await.unwrap();
        if rows.is_empty() {
            break;
        }
        assert!(rows.len() <= 3_000);
        seen.extend(
            rows.iter()
                .map(|row| row.get::<_, rust_decimal_free::Numeric>(0).0),
        );
    }
    assert_eq!(seen.len(), 10_000);
    assert_eq!(seen.first().map(String::as_str), Some("0"));
    assert_eq!(seen.last().map(String::as_str), Some("9999"));
    transaction.commit().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_keep_the_connection_and_fail_the_transaction_block() {
    let server = ServerProcess::start();
    let client = server.connect("default").await.unwrap();
    let missing = client
        .prepare("SELECT * FROM missing WHERE id = $1")
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Some(&SqlState::UNDEFINED_TABLE));
    let syntax = client.prepare("SELEC 1").await.unwrap_err();
    assert_eq!(syntax.code(), Some(&SqlState::SYNTAX_ERROR));
    // As in ClickHouse, Int32 + 1 is an Int64 (int8).
    let rows = client
        .query("SELECT $1::Int32 + 1 AS next", &[&41i32])
        .await
        .unwrap();
    assert_eq!(rows[0].get::<_, i64>(0), 42);
    // Inside a block, a failure makes every statement 25P02 until ROLLBACK.
    client.batch_execute("BEGIN").await.unwrap();
    assert!(client.query("SELECT * FROM missing", &[]).await.is_err());
    let aborted = client.query("SELECT 1", &[]).await.unwrap_err();
    assert_eq!(aborted.code(), Some(&SqlState::IN_FAILED_SQL_TRANSACTION));
    client.batch_execute("ROLLBACK").await.unwrap();
    let rows = client.query("SELECT 'back'", &[]).await.unwrap();
    assert_eq!(rows[0].get::<_, String>(0), "back");
}

/// `numeric` read as its text (tokio-postgres decodes it only with an extra crate).
mod rust_decimal_free {
    use tokio_postgres::types::{FromSql, Type};

    pub struct Numeric(pub String);

    impl<'a> FromSql<'a> for Numeric {
        fn from_sql(
            _: &Type,
            raw: &'a [u8],
        ) -> Result<Numeric, Box<dyn std::error::Error + Sync + Send>> {
            let word = |at: usize| u16::from_be_bytes([raw[at], raw[at + 1]]);
            let (count, weight) = (usize::from(word(0)), word(2) as i16);
            assert_eq!(word(4), 0, "non-negative");
            if count == 0 {
                return Ok(Numeric("0".to_string()));
            }
            let mut text = String::new();
            for index in 0..count {
                let group = word(8 + 2 * index);
                if text.is_empty() {
                    text = group.to_string();
                } else {
                    text.push_str(&format!("{group:04}"));
                }
            }
            let trailing = i32::from(weight) + 1 - count as i32;
            for _ in 0..trailing.max(0) {
                text.push_str("0000");
            }
            if text.is_empty() {
                text.push('0');
            }
            Ok(Numeric(text))
        }

        fn accepts(ty: &Type) -> bool {
            *ty == Type::NUMERIC
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_request_stops_a_running_query_and_the_session_goes_on() {
    let server = ServerProcess::start();
    let client = server.connect("default").await.unwrap();
    // Long enough to still run when the cancel arrives: ten billion rows.
    let long = "SELECT sum(number) FROM numbers(10000000000)";
    for extended in [true, false] {
        let canceller = client.cancel_token();
        let cancel = tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            canceller.cancel_query(tokio_postgres::NoTls).await.unwrap();
        });
        let started = std::time::Instant::now();
        let error = if extended {
            client.query(long, &[]).await.unwrap_err()
        } else {
            client.simple_query(long).await.unwrap_err()
        };
        cancel.await.unwrap();
        assert_eq!(error.code(), Some(&SqlState::QUERY_CANCELED), "{error}");
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
        let rows = client.query("SELECT 1 + 1 AS two", &[]).await.unwrap();
        // UInt8 + UInt8 is a UInt16 in ClickHouse: int4.
        assert_eq!(rows[0].get::<_, i32>(0), 2);
    }
    // Streaming rows are stopped too.
    let canceller = client.cancel_token();
    let cancel = tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        canceller.cancel_query(tokio_postgres::NoTls).await.unwrap();
    });
    let error = client
        .simple_query("SELECT number FROM numbers(100000000000)")
        .await
        .unwrap_err();
    cancel.await.unwrap();
    assert_eq!(error.code(), Some(&SqlState::QUERY_CANCELED), "{error}");
}
