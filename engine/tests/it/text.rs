//! Query results as text, for assertions.

use arrow_array::RecordBatch;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};

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
