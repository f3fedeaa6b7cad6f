//! The embedded database end to end: bulk inserts of 100k-row Arrow batches (10 mixed columns)
//! through `Database::insert`, and queries through SQL on DataFusion: `count()`, a full scan
//! summing two columns, and a point query on the primary key.
//! Run: `cargo bench -p granary-engine --bench database`.

mod common;

use std::hint::black_box;

use arrow_array::RecordBatch;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use granary_engine::{Database, DatabaseOptions, InsertOptions};

use common::{ROWS, block};

const CREATE: &str = "CREATE TABLE hits (event_date Date, event_time DateTime, user_id UInt64, \
    counter_id UInt32, url String, title String, region LowCardinality(String), \
    duration Float64, referer Nullable(String), is_mobile UInt8) \
    ENGINE = MergeTree PARTITION BY toYYYYMM(event_date) ORDER BY (counter_id, event_date, user_id)";

async fn drain(db: &Database, sql: &str) -> usize {
    let batches = db.execute(sql).await.unwrap().collect().await.unwrap();
    batches.iter().map(RecordBatch::num_rows).sum()
}

fn database(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let root = tempfile::tempdir().unwrap();
    let db = Database::open_with(
        root.path(),
        DatabaseOptions {
            background_merges: false,
            ..DatabaseOptions::default()
        },
    )
    .unwrap();
    runtime.block_on(drain(&db, CREATE));
    let blocks: Vec<RecordBatch> = (1..=4).map(block).collect();
    let bytes: usize = blocks[0]
        .columns()
        .iter()
        .map(|c| c.get_buffer_memory_size())
        .sum();
    eprintln!(
        "one block: {ROWS} rows, {:.1} MB in Arrow",
        bytes as f64 / 1e6
    );

    let mut group = c.benchmark_group("database insert");
    group.sample_size(10);
    group.throughput(Throughput::Elements(ROWS as u64));
    let mut next = 0;
    group.bench_function("100k rows x 10 columns", |b| {
        b.iter(|| {
            next += 1;
            let batch = blocks[next % blocks.len()].clone();
            runtime
                .block_on(db.insert("hits", vec![batch], InsertOptions::default()))
                .unwrap()
        })
    });
    group.finish();

    // Queries over 2M rows in one part per partition.
    runtime.block_on(drain(&db, "TRUNCATE TABLE hits"));
    for seed in 0..20 {
        runtime
            .block_on(db.insert("hits", vec![block(seed + 10)], InsertOptions::default()))
            .unwrap();
    }
    runtime.block_on(drain(&db, "OPTIMIZE TABLE hits FINAL"));
    let rows = 20 * ROWS as u64;
    let mut group = c.benchmark_group("database query");
    group.sample_size(10);
    group.throughput(Throughput::Elements(rows));
    for (name, sql) in [
        ("count()", "SELECT count(*) FROM hits"),
        (
            "sum of two columns, full scan",
            "SELECT sum(duration), sum(user_id) FROM hits",
        ),
        (
            "group by a String column",
            "SELECT region, count(*) FROM hits GROUP BY region ORDER BY 2 DESC LIMIT 10",
        ),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| runtime.block_on(drain(&db, black_box(sql))))
        });
    }
    group.finish();
    let mut group = c.benchmark_group("database point query");
    group.sample_size(20);
    let sql = "SELECT url FROM hits WHERE counter_id = 42 AND event_date = '2022-01-20'";
    let mut result = runtime.block_on(db.execute(sql)).unwrap();
    let found = runtime.block_on(async {
        let mut found = 0;
        while let Some(batch) = futures::StreamExt::next(&mut result).await {
            found += batch.unwrap().num_rows();
        }
        found
    });
    eprintln!(
        "point query: {found} rows found, {} of {rows} rows read",
        result.read_rows()
    );
    group.bench_function("counter_id = 42 AND event_date = ...", |b| {
        b.iter(|| runtime.block_on(drain(&db, black_box(sql))))
    });
    group.finish();
}

criterion_group!(benches, database);
criterion_main!(benches);
