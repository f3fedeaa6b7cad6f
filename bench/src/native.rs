//! Native-protocol throughput of Granary's Rust client against a running server: INSERT of a
//! 10-column table in blocks of 100 000 rows with LZ4, then `SELECT *` streamed back. Prints one
//! JSON object per measurement, which `bench/native/run.sh` puts beside clickhouse-driver's.
//!
//! ```text
//! native-bench ADDRESS [ROWS] [BLOCK_ROWS]
//! ```

// Its output is the measurement.
#![allow(clippy::print_stdout)]

use std::sync::Arc;
use std::time::Instant;

use arrow_array::{
    ArrayRef, DictionaryArray, Float32Array, Float64Array, RecordBatch, StringArray,
    TimestampSecondArray, UInt8Array, UInt16Array, UInt32Array, UInt64Array, types::Int32Type,
};
use arrow_schema::{Field, Schema};
use granary_protocol::DataType;
use granary_protocol::block::{BlockInfo, encode_block};
use granary_protocol::client::{Client, InsertOptions, Options};
use granary_protocol::packet::revision;
use granary_protocol::types::field_for;

/// The table both clients fill.
pub const TABLE: &str = "bench_native";

const COLUMNS: [(&str, &str); 10] = [
    ("id", "UInt64"),
    ("user_id", "UInt32"),
    ("ts", "DateTime"),
    ("event", "LowCardinality(String)"),
    ("url", "String"),
    ("duration", "Float64"),
    ("score", "Float32"),
    ("status", "UInt16"),
    ("country", "String"),
    ("flag", "UInt8"),
];

const EVENTS: [&str; 8] = [
    "view", "click", "scroll", "play", "pause", "seek", "share", "close",
];
const COUNTRIES: [&str; 6] = ["US", "DE", "FR", "JP", "BR", "IN"];

/// The rows `start..start + rows`, the same values `bench/native/driver.py` makes.
fn block(start: u64, rows: u64) -> RecordBatch {
    let ids = start..start + rows;
    let fields: Vec<Field> = COLUMNS
        .iter()
        .map(|(name, type_name)| {
            field_for(
                name,
                &DataType::parse(type_name).unwrap_or_else(|_| unreachable!()),
            )
        })
        .collect();
    let event_keys: Vec<i32> = ids.clone().map(|i| (i % 8) as i32).collect();
    let arrays: Vec<ArrayRef> = vec![
        Arc::new(UInt64Array::from_iter_values(ids.clone())),
        Arc::new(UInt32Array::from_iter_values(
            ids.clone().map(|i| (i * 7919 % 100_003) as u32),
        )),
        Arc::new(TimestampSecondArray::from_iter_values(
            ids.clone().map(|i| 1_700_000_000 + (i / 10) as i64),
        )),
        Arc::new(DictionaryArray::<Int32Type>::new(
            event_keys.into(),
            Arc::new(StringArray::from(EVENTS.to_vec())),
        )),
        Arc::new(StringArray::from_iter_values(
            ids.clone()
                .map(|i| format!("https://example.com/page/{}", i % 1000)),
        )),
        Arc::new(Float64Array::from_iter_values(
            ids.clone().map(|i| (i % 10_000) as f64 / 8.0),
        )),
        Arc::new(Float32Array::from_iter_values(
            ids.clone().map(|i| (i % 100) as f32 / 4.0),
        )),
        Arc::new(UInt16Array::from_iter_values(
            ids.clone()
                .map(|i| [200u16, 200, 200, 301, 404, 500][(i % 6) as usize]),
        )),
        Arc::new(StringArray::from_iter_values(
            ids.clone().map(|i| COUNTRIES[(i % 6) as usize]),
        )),
        Arc::new(UInt8Array::from_iter_values(ids.map(|i| (i % 2) as u8))),
    ];
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)
        .unwrap_or_else(|error| unreachable!("the columns agree: {error}"))
}

/// Bytes of the blocks in the Native format, uncompressed: what MB/s is measured in.
fn native_bytes(batches: &[RecordBatch]) -> usize {
    batches
        .iter()
        .map(|batch| {
            let mut out = Vec::new();
            encode_block(batch, &BlockInfo::default(), revision::GRANARY, &mut out)
                .unwrap_or_else(|error| unreachable!("the bench blocks encode: {error}"));
            out.len()
        })
        .sum()
}

fn report(measurement: &str, rows: u64, bytes: usize, seconds: f64) {
    println!(
        "{{\"client\": \"granary-rust\", \"measurement\": \"{measurement}\", \"rows\": {rows}, \
         \"bytes\": {bytes}, \"seconds\": {seconds:.4}, \"rows_per_second\": {:.0}, \
         \"mb_per_second\": {:.1}}}",
        rows as f64 / seconds,
        bytes as f64 / 1e6 / seconds
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let address = args
        .next()
        .ok_or("usage: native-bench ADDRESS [ROWS] [BLOCK_ROWS]")?;
    let rows: u64 = args
        .next()
        .map(|text| text.parse())
        .transpose()?
        .unwrap_or(2_000_000);
    let block_rows: u64 = args
        .next()
        .map(|text| text.parse())
        .transpose()?
        .unwrap_or(100_000);

    let batches: Vec<RecordBatch> = (0..rows)
        .step_by(block_rows as usize)
        .map(|start| block(start, block_rows.min(rows - start)))
        .collect();
    let bytes = native_bytes(&batches);
    let mut client = Client::connect(Options::new(address)).await?;
    let columns: Vec<String> = COLUMNS
        .iter()
        .map(|(name, type_name)| format!("{name} {type_name}"))
        .collect();
    client
        .execute(&format!("DROP TABLE IF EXISTS {TABLE}"))
        .await?;
    client
        .execute(&format!(
            "CREATE TABLE {TABLE} ({}) ENGINE = MergeTree ORDER BY id",
            columns.join(", ")
        ))
        .await?;

    let started = Instant::now();
    let summary = client
        .insert(
            TABLE,
            &batches,
            &InsertOptions {
                block_rows: block_rows as usize,
                ..InsertOptions::default()
            },
        )
        .await?;
    report(
        "insert",
        summary.rows,
        bytes,
        started.elapsed().as_secs_f64(),
    );

    let started = Instant::now();
    let mut stream = client.query(&format!("SELECT * FROM {TABLE}")).await?;
    let mut read = 0u64;
    while let Some(batch) = stream.next_batch().await? {
        read += batch.num_rows() as u64;
    }
    let seconds = started.elapsed().as_secs_f64();
    if read != rows {
        return Err(format!("read {read} rows back, inserted {rows}").into());
    }
    report("select", read, bytes, seconds);
    Ok(())
}
