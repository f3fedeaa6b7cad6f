//! The benchmark data: blocks of 10 mixed columns shaped like web-analytics events.

use std::sync::Arc;

use arrow_array::*;
use arrow_schema::{Field, Schema};

/// Rows per block.
pub const ROWS: usize = 100_000;

/// Column names and ClickHouse types.
pub const COLUMNS: [(&str, &str); 10] = [
    ("event_date", "Date"),
    ("event_time", "DateTime"),
    ("user_id", "UInt64"),
    ("counter_id", "UInt32"),
    ("url", "String"),
    ("title", "String"),
    ("region", "LowCardinality(String)"),
    ("duration", "Float64"),
    ("referer", "Nullable(String)"),
    ("is_mobile", "UInt8"),
];

/// A block of `ROWS` pseudo-random rows.
pub fn block(seed: u64) -> RecordBatch {
    let mut state = seed | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut values =
        |f: &mut dyn FnMut(u64) -> u64| (0..ROWS).map(|_| f(next())).collect::<Vec<u64>>();
    let numbers = values(&mut |v| v);
    let arrays: Vec<ArrayRef> = vec![
        Arc::new(Date32Array::from_iter_values(
            numbers.iter().map(|v| 19_000 + (v % 30) as i32),
        )),
        Arc::new(TimestampSecondArray::from_iter_values(
            numbers
                .iter()
                .map(|v| 1_640_000_000 + (v % 2_592_000) as i64),
        )),
        Arc::new(UInt64Array::from_iter_values(
            numbers.iter().map(|v| v >> 20),
        )),
        Arc::new(UInt32Array::from_iter_values(
            numbers.iter().map(|v| (v % 1000) as u32),
        )),
        Arc::new(StringArray::from_iter_values(
            numbers
                .iter()
                .map(|v| format!("https://example.com/{}/{}", v % 5000, v % 97)),
        )),
        Arc::new(StringArray::from_iter_values(
            numbers.iter().map(|v| format!("Title {}", v % 20_000)),
        )),
        Arc::new(StringArray::from_iter_values(
            numbers.iter().map(|v| format!("region-{}", v % 200)),
        )),
        Arc::new(Float64Array::from_iter_values(
            numbers.iter().map(|v| (v % 100_000) as f64 / 10.0),
        )),
        Arc::new(StringArray::from_iter(
            numbers
                .iter()
                .map(|v| (v % 3 == 0).then(|| format!("ref{}", v % 1000))),
        )),
        Arc::new(UInt8Array::from_iter_values(
            numbers.iter().map(|v| (v % 2) as u8),
        )),
    ];
    let fields: Vec<Field> = COLUMNS
        .iter()
        .zip(&arrays)
        .map(|((name, _), a)| Field::new(*name, a.data_type().clone(), true))
        .collect();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).unwrap()
}
