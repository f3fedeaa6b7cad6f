//! What the integration tests share: a database without background merges (so tests control
//! when parts merge) and query results as text for assertions.

use std::path::Path;

use arrow_array::RecordBatch;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use granary_engine::{Database, DatabaseOptions};

/// The database at `path`, merging only when a test says so.
pub fn open(path: &Path) -> Database {
    Database::open_with(
        path,
        DatabaseOptions {
            background_merges: false,
            ..DatabaseOptions::default()
        },
    )
    .unwrap()
}

/// Every row of `batches` as its cells' text (NULL as `NULL`).
pub fn cells(batches: &[RecordBatch]) -> Vec<Vec<String>> {
    let options = FormatOptions::default().with_null("NULL");
    let mut out = Vec::new();
    for batch in batches {
        let formatters: Vec<ArrayFormatter<'_>> = batch
            .columns()
            .iter()
            .map(|column| ArrayFormatter::try_new(column.as_ref(), &options).unwrap())
            .collect();
        for row in 0..batch.num_rows() {
            out.push(
                formatters
                    .iter()
                    .map(|f| f.value(row).to_string())
                    .collect(),
            );
        }
    }
    out
}

/// Every row of `batches` as one line, cells joined by `|`.
pub fn lines(batches: &[RecordBatch]) -> Vec<String> {
    cells(batches)
        .into_iter()
        .map(|row| row.join("|"))
        .collect()
}
