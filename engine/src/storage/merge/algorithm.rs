//! What each engine does with rows of equal sorting key, once they meet in key order: at a merge
//! and at `SELECT ... FINAL` alike (one trait, as ClickHouse's merging algorithms).

use std::fmt::Debug;

use arrow_array::{ArrayRef, RecordBatch, UInt32Array};
use arrow_row::{RowConverter, Rows, SortField};
use arrow_select::take::take_record_batch;

use crate::error::Result;

/// Combines runs of rows with equal sorting key in a block sorted by that key, where rows with
/// equal keys are in source order (older parts first, insert order within a part).
pub trait MergingAlgorithm: Debug + Send + Sync {
    /// The rows that survive, in key order.
    fn merge(&self, sorted: &RecordBatch, sorting_key: &[usize]) -> Result<RecordBatch>;

    /// Whether `merge` must see every row of a key in one block (true unless rows are kept one
    /// by one, whatever their neighbours).
    fn needs_whole_keys(&self) -> bool {
        true
    }

    /// Whether `SELECT ... FINAL` means anything for the engine (ClickHouse refuses FINAL on a
    /// plain MergeTree).
    fn supports_final(&self) -> bool {
        true
    }
}

/// `MergeTree`: every row survives.
#[derive(Debug, Clone, Copy, Default)]
pub struct OrdinaryMerge;

impl MergingAlgorithm for OrdinaryMerge {
    fn merge(&self, sorted: &RecordBatch, _sorting_key: &[usize]) -> Result<RecordBatch> {
        Ok(sorted.clone())
    }

    fn needs_whole_keys(&self) -> bool {
        false
    }

    fn supports_final(&self) -> bool {
        false
    }
}

/// `ReplacingMergeTree([ver])`: one row per key — the one with the largest `ver`, or without `ver`
/// the last one; ties go to the last row.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReplacingMerge {
    /// The version column, if the engine names one.
    pub version: Option<usize>,
}

/// Comparable row encodings (memcmp order = key order) of some columns of a block: how every
/// key comparison in the engine is made, so sorts, merges and FINAL agree.
pub fn encode_rows(batch: &RecordBatch, columns: &[usize]) -> Result<Rows> {
    let arrays: Vec<ArrayRef> = columns
        .iter()
        .map(|index| batch.column(*index).clone())
        .collect();
    let fields = arrays
        .iter()
        .map(|array| SortField::new(array.data_type().clone()))
        .collect();
    Ok(RowConverter::new(fields)?.convert_columns(&arrays)?)
}

impl MergingAlgorithm for ReplacingMerge {
    fn merge(&self, sorted: &RecordBatch, sorting_key: &[usize]) -> Result<RecordBatch> {
        let rows = sorted.num_rows();
        if rows == 0 {
            return Ok(sorted.clone());
        }
        let keys = encode_rows(sorted, sorting_key)?;
        let versions = self
            .version
            .map(|version| encode_rows(sorted, &[version]))
            .transpose()?;
        let mut kept: Vec<u32> = Vec::new();
        let mut winner = 0usize;
        for row in 1..=rows {
            if row == rows || keys.row(row) != keys.row(row - 1) {
                kept.push(winner as u32);
                winner = row;
                continue;
            }
            let newer_wins = match &versions {
                Some(versions) => versions.row(row) >= versions.row(winner),
                None => true,
            };
            if newer_wins {
                winner = row;
            }
        }
        if kept.len() == rows {
            return Ok(sorted.clone());
        }
        Ok(take_record_batch(sorted, &UInt32Array::from(kept))?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use arrow_array::cast::AsArray;
    use arrow_array::types::UInt32Type;
    use arrow_schema::{DataType, Field, Schema};

    fn block(keys: &[u32], versions: &[u32], values: &[u32]) -> RecordBatch {
        let schema = Schema::new(vec![
            Field::new("k", DataType::UInt32, false),
            Field::new("ver", DataType::UInt32, false),
            Field::new("v", DataType::UInt32, false),
        ]);
        let column =
            |values: &[u32]| Arc::new(arrow_array::UInt32Array::from(values.to_vec())) as ArrayRef;
        RecordBatch::try_new(
            Arc::new(schema),
            vec![column(keys), column(versions), column(values)],
        )
        .unwrap()
    }

    fn values(batch: &RecordBatch) -> Vec<u32> {
        batch
            .column(2)
            .as_primitive::<UInt32Type>()
            .values()
            .to_vec()
    }

    #[test]
    fn replacing_keeps_the_last_row_or_the_highest_version() {
        let sorted = block(
            &[1, 1, 1, 2, 3, 3],
            &[5, 9, 9, 1, 2, 1],
            &[10, 20, 30, 40, 50, 60],
        );
        assert_eq!(
            values(
                &ReplacingMerge { version: None }
                    .merge(&sorted, &[0])
                    .unwrap()
            ),
            [30, 40, 60]
        );
        // Ties on the version go to the last row: 30 (ver 9) beats 20 (ver 9).
        assert_eq!(
            values(
                &ReplacingMerge { version: Some(1) }
                    .merge(&sorted, &[0])
                    .unwrap()
            ),
            [30, 40, 50]
        );
        assert_eq!(
            values(&OrdinaryMerge.merge(&sorted, &[0]).unwrap()),
            [10, 20, 30, 40, 50, 60]
        );
    }
}
