//! The embedded database through SQL: catalog, inserts, queries, pruning, FINAL, dedup, system
//! tables, persistence across reopen.

use std::sync::Arc;

use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray, UInt32Array};
use arrow_schema::{DataType as ArrowType, Field, Schema};
use granary_engine::{Database, DatabaseOptions, InsertOptions};
use granary_protocol::ErrorCode;

use crate::support::open;

/// Every row of a query's result as text.
async fn rows(db: &Database, sql: &str) -> Vec<Vec<String>> {
    let batches = db
        .execute(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .collect()
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    crate::support::cells(&batches)
}

async fn run(db: &Database, sql: &str) {
    db.execute(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .collect()
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

async fn error_code(db: &Database, sql: &str) -> ErrorCode {
    match db.execute(sql).await {
        Err(error) => error.code(),
        Ok(result) => match result.collect().await {
            Err(error) => error.code(),
            Ok(_) => panic!("{sql} succeeded"),
        },
    }
}

fn one(value: &str) -> Vec<Vec<String>> {
    vec![vec![value.to_string()]]
}

#[tokio::test]
async fn tables_and_rows_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = open(dir.path());
        run(&db, "CREATE DATABASE shop").await;
        run(
            &db,
            "CREATE TABLE shop.orders (id UInt32, customer String, amount Decimal(10, 2), \
             created DateTime DEFAULT '2024-01-01 00:00:00', note Nullable(String)) \
             ENGINE = MergeTree PARTITION BY toYYYYMM(created) ORDER BY id",
        )
        .await;
        run(
            &db,
            "INSERT INTO shop.orders (id, customer, amount, created) VALUES \
             (1, 'ann', 10.50, '2024-01-05 10:00:00'), (2, 'bob', 3.25, '2024-02-07 11:00:00')",
        )
        .await;
        run(
            &db,
            "INSERT INTO shop.orders (id, customer, amount) VALUES (3, 'cy', 1)",
        )
        .await;
    }
    let db = open(dir.path());
    assert_eq!(
        rows(
            &db,
            "SELECT id, customer, amount, created, note FROM shop.orders ORDER BY id"
        )
        .await,
        vec![
            vec!["1", "ann", "10.50", "2024-01-05T10:00:00", "NULL"],
            vec!["2", "bob", "3.25", "2024-02-07T11:00:00", "NULL"],
            vec!["3", "cy", "1.00", "2024-01-01T00:00:00", "NULL"],
        ]
    );
    assert_eq!(
        rows(
            &db,
            "SELECT count(*), sum(id), min(customer), max(id), avg(id) FROM shop.orders"
        )
        .await,
        vec![vec!["3", "6", "ann", "3", "2.0"]]
    );
    assert_eq!(
        rows(
            &db,
            "SELECT partition, rows FROM system.parts WHERE table = 'orders' ORDER BY partition"
        )
        .await,
        vec![
            vec!["202401", "1"],
            vec!["202401", "1"],
            vec!["202402", "1"]
        ]
    );
    let create = rows(&db, "SHOW CREATE TABLE shop.orders").await;
    assert!(
        create[0][0].starts_with("CREATE TABLE shop.orders\n(\n    `id` UInt32,"),
        "{create:?}"
    );
    assert!(create[0][0].contains("PARTITION BY toYYYYMM(created)\nORDER BY id"));
}

#[tokio::test]
async fn defaults_and_keys_keep_backslashes_in_their_strings_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    // As ClickHouse prints them: a backslash doubled, a newline as \n.
    let shown = r"    `s` String DEFAULT 'a\\b\n',
    `m` String DEFAULT concat(s, '\\1')
)
ENGINE = MergeTree
PARTITION BY concat(s, '\\x')";
    let values = "SELECT s, m, length(s), length(m) FROM t ORDER BY x";
    let row = vec!["a\\b\n", "a\\b\n\\1", "4", "6"];
    let partitions = "SELECT DISTINCT partition FROM system.parts WHERE table = 't'";
    {
        let db = open(dir.path());
        run(
            &db,
            r"CREATE TABLE t (x Int32, s String DEFAULT 'a\\b\n', m String DEFAULT concat(s, '\\1'))
              ENGINE = MergeTree PARTITION BY concat(s, '\\x') ORDER BY x",
        )
        .await;
        run(&db, "INSERT INTO t (x) VALUES (1)").await;
        let create = rows(&db, "SHOW CREATE TABLE t").await;
        assert!(create[0][0].contains(shown), "{create:?}");
        assert_eq!(rows(&db, values).await, vec![row.clone()]);
    }
    let db = open(dir.path());
    let create = rows(&db, "SHOW CREATE TABLE t").await;
    assert!(create[0][0].contains(shown), "{create:?}");
    run(&db, "INSERT INTO t (x) VALUES (2)").await;
    assert_eq!(rows(&db, values).await, vec![row.clone(), row]);
    // The reopened key computes the same partition as the first.
    assert_eq!(rows(&db, partitions).await.len(), 1);
}

#[tokio::test]
async fn the_clickbench_schema_creates_and_takes_rows() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    let sql = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/bench/clickbench/create.sql"
    ))
    .unwrap();
    run(&db, &sql).await;
    // CREATE OR REPLACE runs again over the existing table.
    run(&db, &sql).await;
    run(
        &db,
        "INSERT INTO hits (WatchID, CounterID, EventDate, EventTime, UserID, URL) \
         VALUES (1, 62, '2013-07-15', '2013-07-15 12:00:00', 7, 'http://a')",
    )
    .await;
    assert_eq!(
        rows(&db, "SELECT CounterID, URL, Title FROM hits").await,
        vec![vec!["62", "http://a", ""]]
    );
    assert_eq!(
        rows(
            &db,
            "SELECT sorting_key FROM system.tables WHERE name = 'hits'"
        )
        .await,
        one("CounterID, EventDate, UserID, EventTime, WatchID")
    );
}

#[tokio::test]
async fn catalog_statements_behave_as_in_clickhouse() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    run(&db, "CREATE TABLE t (a UInt8, b String DEFAULT 'x' CODEC(ZSTD(3))) ENGINE = MergeTree ORDER BY a").await;
    assert_eq!(
        error_code(
            &db,
            "CREATE TABLE t (a UInt8) ENGINE = MergeTree ORDER BY a"
        )
        .await,
        ErrorCode::TABLE_ALREADY_EXISTS
    );
    run(
        &db,
        "CREATE TABLE IF NOT EXISTS t (a UInt8) ENGINE = MergeTree ORDER BY a",
    )
    .await;
    assert_eq!(rows(&db, "SHOW TABLES").await, one("t"));
    assert_eq!(
        rows(&db, "DESCRIBE TABLE t").await,
        vec![
            vec!["a", "UInt8", "", "", "", "", ""],
            vec!["b", "String", "DEFAULT", "'x'", "", "ZSTD(3)", ""],
        ]
    );
    assert_eq!(rows(&db, "EXISTS TABLE t").await, one("1"));
    assert_eq!(rows(&db, "EXISTS TABLE nope").await, one("0"));
    run(&db, "INSERT INTO t (a) VALUES (1), (2)").await;
    run(&db, "RENAME TABLE t TO u").await;
    assert_eq!(
        rows(&db, "SELECT a, b FROM u ORDER BY a").await,
        vec![vec!["1", "x"], vec!["2", "x"]]
    );
    assert_eq!(
        error_code(&db, "SELECT * FROM t").await,
        ErrorCode::UNKNOWN_TABLE
    );
    assert_eq!(
        error_code(&db, "SELECT * FROM nodb.t").await,
        ErrorCode::UNKNOWN_DATABASE
    );
    run(&db, "TRUNCATE TABLE u").await;
    assert_eq!(rows(&db, "SELECT count(*) FROM u").await, one("0"));
    run(&db, "DROP TABLE u").await;
    assert_eq!(
        error_code(&db, "DROP TABLE u").await,
        ErrorCode::UNKNOWN_TABLE
    );
    run(&db, "DROP TABLE IF EXISTS u").await;
    assert_eq!(
        rows(&db, "SHOW DATABASES").await,
        vec![vec!["default"], vec!["system"]]
    );
    assert_eq!(
        error_code(&db, "CREATE TABLE w (a UInt8) ENGINE = FooTree ORDER BY a").await,
        ErrorCode::UNKNOWN_STORAGE
    );
    // After a reopen the renamed and dropped tables stay as they were.
    drop(db);
    let db = open(dir.path());
    assert!(rows(&db, "SHOW TABLES").await.is_empty());
}

#[tokio::test]
async fn inserted_values_are_converted_or_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    run(&db, "CREATE TABLE t (a UInt8, d Date, s LowCardinality(String), e Enum8('x' = 1, 'y' = 2)) ENGINE = MergeTree ORDER BY a").await;
    assert_eq!(
        error_code(&db, "INSERT INTO t (a) VALUES (300)").await,
        ErrorCode::VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE
    );
    assert_eq!(
        error_code(&db, "INSERT INTO t (a) VALUES ('abc')").await,
        ErrorCode::CANNOT_PARSE_TEXT
    );
    assert_eq!(
        error_code(&db, "INSERT INTO t (zz) VALUES (1)").await,
        ErrorCode::NO_SUCH_COLUMN_IN_TABLE
    );
    assert_eq!(
        error_code(&db, "INSERT INTO t VALUES (1)").await,
        ErrorCode::NUMBER_OF_COLUMNS_DOESNT_MATCH
    );
    assert_eq!(
        error_code(&db, "INSERT INTO t (a, e) VALUES (1, 'z')").await,
        ErrorCode::UNKNOWN_ELEMENT_OF_ENUM
    );
    // NULL into a non-Nullable column stores the type's default, as ClickHouse does.
    run(
        &db,
        "INSERT INTO t VALUES (NULL, '2024-03-01', 'k', 'y'), (7, NULL, NULL, 'x')",
    )
    .await;
    assert_eq!(
        rows(&db, "SELECT a, d, s, e FROM t ORDER BY a").await,
        vec![
            vec!["0", "2024-03-01", "k", "y"],
            vec!["7", "1970-01-01", "", "x"]
        ]
    );
    // Nothing of the refused inserts was written.
    assert_eq!(rows(&db, "SELECT count(*) FROM t").await, one("2"));
}

#[tokio::test]
async fn insert_select_and_the_arrow_api_write_parts() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    run(
        &db,
        "CREATE TABLE src (k UInt32, v Int64, s String) ENGINE = MergeTree ORDER BY k",
    )
    .await;
    let schema = Arc::new(Schema::new(vec![
        Field::new("k", ArrowType::UInt32, false),
        Field::new("s", ArrowType::Utf8, false),
        Field::new("v", ArrowType::Int64, false),
    ]));
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(UInt32Array::from_iter_values(0..1000)) as ArrayRef,
            Arc::new(StringArray::from_iter_values(
                (0..1000).map(|i| format!("s{i}")),
            )),
            Arc::new(Int64Array::from_iter_values((0..1000).map(|i| i * 2))),
        ],
    )
    .unwrap();
    let summary = db
        .insert("src", vec![batch], InsertOptions::default())
        .await
        .unwrap();
    assert_eq!(summary.rows, 1000);
    run(
        &db,
        "CREATE TABLE dst (k UInt64, total Int64) ENGINE = MergeTree ORDER BY k",
    )
    .await;
    run(
        &db,
        "INSERT INTO dst SELECT k % 10, sum(v) FROM src GROUP BY k % 10",
    )
    .await;
    assert_eq!(
        rows(&db, "SELECT sum(total), count(*) FROM dst").await,
        vec![vec!["999000", "10"]]
    );
    assert_eq!(
        rows(&db, "SELECT s FROM src WHERE k = 500").await,
        one("s500")
    );
}

#[tokio::test]
async fn point_queries_and_partition_filters_read_only_what_may_match() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    run(&db, "CREATE TABLE events (day Date, id UInt64, payload String) ENGINE = MergeTree PARTITION BY toYYYYMM(day) ORDER BY id SETTINGS index_granularity = 1024").await;
    // Two months of 100k rows each.
    for month in ["2024-01-15", "2024-02-15"] {
        run(&db, &format!(
            "INSERT INTO events SELECT CAST('{month}' AS DATE), value, concat('p', CAST(value AS VARCHAR)) \
             FROM generate_series(1, 100000)"
        )).await;
    }
    let mut result = db
        .execute("SELECT payload FROM events WHERE id = 4242")
        .await
        .unwrap();
    let mut found = Vec::new();
    while let Some(batch) = futures::StreamExt::next(&mut result).await {
        found.push(batch.unwrap());
    }
    let read = result.read_rows();
    assert_eq!(found.iter().map(RecordBatch::num_rows).sum::<usize>(), 2);
    // One granule in each of the two parts, not 200 000 rows.
    assert!(read <= 2 * 1024 * 2, "a point query read {read} rows");
    assert!(read >= 2, "the matching granules were read");

    let mut result = db
        .execute("SELECT count(*), min(id) FROM events WHERE day >= '2024-02-01'")
        .await
        .unwrap();
    let mut batches = Vec::new();
    while let Some(batch) = futures::StreamExt::next(&mut result).await {
        batches.push(batch.unwrap());
    }
    let read = result.read_rows();
    assert!(
        read <= 100_000,
        "the January partition was pruned, yet {read} rows were read"
    );
    assert_eq!(batches[0].num_rows(), 1);
}

#[tokio::test]
async fn replacing_final_and_optimize_final_keep_the_latest_version() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    run(&db, "CREATE TABLE r (k UInt32, v String, ver UInt32) ENGINE = ReplacingMergeTree(ver) ORDER BY k").await;
    run(&db, "INSERT INTO r VALUES (1, 'old', 1), (2, 'only', 1)").await;
    run(&db, "INSERT INTO r VALUES (1, 'new', 2)").await;
    run(&db, "INSERT INTO r VALUES (1, 'stale', 0)").await;
    assert_eq!(rows(&db, "SELECT count(*) FROM r").await, one("4"));
    assert_eq!(
        rows(&db, "SELECT k, v FROM r FINAL ORDER BY k").await,
        vec![vec!["1", "new"], vec!["2", "only"]]
    );
    assert_eq!(
        rows(&db, "SELECT r.v FROM r FINAL WHERE r.k = 1").await,
        one("new")
    );
    run(&db, "OPTIMIZE TABLE r FINAL").await;
    assert_eq!(
        rows(&db, "SELECT count(*) FROM system.parts WHERE table = 'r'").await,
        one("1")
    );
    assert_eq!(
        rows(&db, "SELECT k, v FROM r ORDER BY k").await,
        vec![vec!["1", "new"], vec!["2", "only"]]
    );
    run(
        &db,
        "CREATE TABLE plain (k UInt32) ENGINE = MergeTree ORDER BY k",
    )
    .await;
    assert_eq!(
        error_code(&db, "SELECT * FROM plain FINAL").await,
        ErrorCode::ILLEGAL_FINAL
    );
}

#[tokio::test]
async fn dedup_tokens_and_the_hash_window_make_retries_no_ops_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = open(dir.path());
        run(
            &db,
            "CREATE TABLE d (k UInt32) ENGINE = MergeTree ORDER BY k",
        )
        .await;
        run(&db, "CREATE TABLE h (k UInt32) ENGINE = MergeTree ORDER BY k SETTINGS non_replicated_deduplication_window = 100").await;
        run(
            &db,
            "INSERT INTO d SETTINGS insert_deduplication_token = 'batch-1' VALUES (1), (2)",
        )
        .await;
        run(
            &db,
            "INSERT INTO d SETTINGS insert_deduplication_token = 'batch-1' VALUES (1), (2)",
        )
        .await;
        run(&db, "INSERT INTO h VALUES (5)").await;
        run(&db, "INSERT INTO h VALUES (5)").await;
        // Without a window, identical data is inserted twice (ClickHouse's default).
        run(&db, "INSERT INTO d VALUES (9)").await;
        run(&db, "INSERT INTO d VALUES (9)").await;
    }
    let db = open(dir.path());
    let schema = Arc::new(Schema::new(vec![Field::new("k", ArrowType::UInt32, false)]));
    let batch = RecordBatch::try_new(
        schema,
        vec![Arc::new(UInt32Array::from(vec![1, 2])) as ArrayRef],
    )
    .unwrap();
    let options = InsertOptions {
        dedup_token: Some("batch-1".into()),
    };
    let summary = db.insert("d", vec![batch], options).await.unwrap();
    assert_eq!(summary.rows, 0);
    assert_eq!(summary.deduplicated_blocks, 1);
    run(&db, "INSERT INTO h VALUES (5)").await;
    assert_eq!(rows(&db, "SELECT count(*) FROM d").await, one("4"));
    assert_eq!(rows(&db, "SELECT count(*) FROM h").await, one("1"));
}

#[tokio::test]
async fn background_merges_reduce_parts_and_keep_every_row() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = DatabaseOptions::default();
    options.merges.sleep_min = std::time::Duration::from_millis(10);
    options.merges.sleep_max = std::time::Duration::from_millis(50);
    let db = Database::open_with(dir.path(), options).unwrap();
    run(
        &db,
        "CREATE TABLE m (k UInt32, s String) ENGINE = MergeTree ORDER BY k",
    )
    .await;
    for i in 0..12 {
        run(
            &db,
            &format!(
                "INSERT INTO m SELECT value + {}, 'x' FROM generate_series(1, 100)",
                i * 100
            ),
        )
        .await;
    }
    let parts = |rows: Vec<Vec<String>>| rows[0][0].parse::<u64>().unwrap();
    // Merges run in the background; wait (bounded) until they have reduced the part count.
    let mut count = parts(rows(&db, "SELECT count(*) FROM system.parts WHERE table = 'm'").await);
    for _ in 0..600 {
        if count < 12 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        count = parts(rows(&db, "SELECT count(*) FROM system.parts WHERE table = 'm'").await);
    }
    assert!(count < 12, "no merge happened: {count} parts");
    assert_eq!(
        rows(&db, "SELECT count(*), sum(k) FROM m").await,
        vec![vec!["1200", "720600"]]
    );
}

#[tokio::test]
async fn system_tables_describe_the_catalog() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    run(
        &db,
        "CREATE TABLE s (a UInt32, b String) ENGINE = MergeTree ORDER BY a",
    )
    .await;
    run(&db, "INSERT INTO s VALUES (1, 'x')").await;
    assert_eq!(
        rows(
            &db,
            "SELECT name, engine, total_rows FROM system.tables WHERE database = 'default'"
        )
        .await,
        vec![vec!["s", "MergeTree", "1"]]
    );
    assert_eq!(
        rows(&db, "SELECT name, type, is_in_sorting_key FROM system.columns WHERE table = 's' ORDER BY position").await,
        vec![vec!["a", "UInt32", "1"], vec!["b", "String", "0"]]
    );
    assert_eq!(
        rows(&db, "SELECT name, active, rows, level, min_block_number, max_block_number FROM system.parts WHERE table = 's'").await,
        vec![vec!["all_1_1_0", "1", "1", "0", "1", "1"]]
    );
    assert_eq!(
        rows(&db, "SELECT name FROM system.databases ORDER BY name").await,
        vec![vec!["default"], vec!["system"]]
    );
    assert_eq!(rows(&db, "SELECT COUNT(*) FROM system.one").await, one("1"));
}

/// Empty names are refused as ClickHouse refuses them (a syntax error), so that no DROP or
/// TRUNCATE can name a whole database's directory, or the root of every database.
#[tokio::test]
async fn empty_names_are_refused_and_destroy_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    run(&db, "CREATE DATABASE other").await;
    run(
        &db,
        "CREATE TABLE t (x UInt8) ENGINE = MergeTree ORDER BY x",
    )
    .await;
    run(
        &db,
        "CREATE TABLE other.u (x UInt8) ENGINE = MergeTree ORDER BY x",
    )
    .await;
    run(&db, "INSERT INTO t VALUES (1), (2)").await;
    run(&db, "INSERT INTO other.u VALUES (3)").await;
    for sql in [
        "CREATE TABLE `` (x UInt8) ENGINE = MergeTree ORDER BY x",
        "CREATE TABLE other.`` (x UInt8) ENGINE = MergeTree ORDER BY x",
        "CREATE TABLE ``.t (x UInt8) ENGINE = MergeTree ORDER BY x",
        "DROP TABLE ``",
        "DROP TABLE IF EXISTS ``",
        "TRUNCATE TABLE ``",
        "CREATE DATABASE ``",
        "DROP DATABASE ``",
        "DROP DATABASE IF EXISTS ``",
    ] {
        assert_eq!(error_code(&db, sql).await, ErrorCode::SYNTAX_ERROR, "{sql}");
    }
    assert_eq!(rows(&db, "SELECT count() FROM t").await, one("2"));
    assert_eq!(rows(&db, "SELECT count() FROM other.u").await, one("1"));
    drop(db);
    let db = open(dir.path());
    assert_eq!(rows(&db, "SELECT count() FROM t").await, one("2"));
    assert_eq!(rows(&db, "SELECT count() FROM other.u").await, one("1"));
}

/// A CREATE TABLE that is refused writes nothing (the server would otherwise refuse to start on
/// its definition), and a definition that cannot be loaded at startup is set aside while every
/// other table is served.
#[tokio::test]
async fn a_refused_create_leaves_nothing_and_a_broken_definition_is_set_aside() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    run(
        &db,
        "CREATE TABLE kept (x UInt8) ENGINE = MergeTree ORDER BY x",
    )
    .await;
    run(&db, "INSERT INTO kept VALUES (7)").await;
    for sql in [
        "CREATE TABLE refused (x UInt8, s AggregateFunction(groupBitmap, UInt64)) \
         ENGINE = AggregatingMergeTree ORDER BY x",
        "CREATE TABLE refused (x UInt8, s SimpleAggregateFunction(groupArrayArray, \
         Array(UInt64))) ENGINE = AggregatingMergeTree ORDER BY x",
    ] {
        assert_eq!(
            error_code(&db, sql).await,
            ErrorCode::NOT_IMPLEMENTED,
            "{sql}"
        );
    }
    assert_eq!(rows(&db, "EXISTS TABLE refused").await, one("0"));
    let metadata = dir.path().join("metadata/default");
    assert!(!metadata.join("refused.sql").exists());
    assert!(!dir.path().join("data/default/refused").exists());
    drop(db);

    // A definition this version cannot load (written by hand, or by another version).
    std::fs::write(
        metadata.join("broken.sql"),
        "ATTACH TABLE broken (x UInt8, s AggregateFunction(groupBitmap, UInt64)) \
         ENGINE = AggregatingMergeTree ORDER BY x\n",
    )
    .unwrap();
    std::fs::create_dir_all(dir.path().join("data/default/broken")).unwrap();
    std::fs::write(metadata.join("garbled.sql"), "this is not SQL").unwrap();
    let db = open(dir.path());
    assert_eq!(rows(&db, "SELECT x FROM kept").await, one("7"));
    assert_eq!(rows(&db, "EXISTS TABLE broken").await, one("0"));
    assert!(metadata.join("broken.sql.broken").exists());
    assert!(metadata.join("garbled.sql.broken").exists());
    assert!(
        dir.path().join("data/default/broken").is_dir(),
        "its data stays in place"
    );
    drop(db);
    let db = open(dir.path());
    assert_eq!(rows(&db, "SELECT x FROM kept").await, one("7"));
}
