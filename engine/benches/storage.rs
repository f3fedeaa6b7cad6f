//! Part-layer throughput: inserting 100k-row blocks of 10 mixed columns (sort, encode, compress,
//! write, fsync, publish) and scanning every column of the parts back.
//! Run: `cargo bench -p granary-engine --bench storage`.

mod common;

use std::hint::black_box;
use std::sync::Arc;

use arrow_array::RecordBatch;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use granary_engine::storage::dedup::DedupWindows;
use granary_engine::storage::merge::OrdinaryMerge;
use granary_engine::storage::table::{TableData, TableLayout};
use granary_engine::storage::{PartColumn, PartWriter};
use granary_protocol::DataType;
use granary_protocol::compress::Method;

use common::{COLUMNS, ROWS, block};

fn layout() -> TableLayout {
    TableLayout {
        columns: COLUMNS
            .iter()
            .map(|(name, type_name)| PartColumn {
                name: name.to_string(),
                data_type: DataType::parse(type_name).unwrap(),
                codec: Method::Lz4,
            })
            .collect(),
        sorting_key: vec![3, 0, 2],
        primary_key_len: 3,
        partition_key_types: vec![],
        minmax_columns: vec![],
        writer: PartWriter::default(),
        dedup_windows: DedupWindows::default(),
        merging: Arc::new(OrdinaryMerge),
    }
}

fn storage(c: &mut Criterion) {
    let root = tempfile::tempdir().unwrap();
    let table = TableData::open(&root.path().join("hits"), layout()).unwrap();
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

    let mut group = c.benchmark_group("insert");
    group.sample_size(10);
    group.throughput(Throughput::Elements(ROWS as u64));
    let mut next = 0;
    group.bench_function("100k rows x 10 columns", |b| {
        b.iter(|| {
            next += 1;
            table
                .insert(black_box(&blocks[next % blocks.len()]), &[], None)
                .unwrap()
        })
    });
    group.finish();

    let snapshot = table.snapshot().unwrap();
    let rows = snapshot.rows();
    let disk: u64 = snapshot.parts.iter().map(|part| part.bytes_on_disk).sum();
    eprintln!(
        "{} parts, {rows} rows, {:.1} MB on disk",
        snapshot.parts.len(),
        disk as f64 / 1e6
    );
    let mut group = c.benchmark_group("scan");
    group.sample_size(10);
    group.throughput(Throughput::Elements(rows));
    for column in ["user_id", "url"] {
        group.bench_function(format!("read {column} of every part"), |b| {
            b.iter(|| {
                let mut total = 0;
                for part in &snapshot.parts {
                    total += part
                        .read_column(column, 0..part.granule_count())
                        .unwrap()
                        .len();
                }
                total
            })
        });
    }
    group.finish();
}

criterion_group!(benches, storage);
criterion_main!(benches);
