//! `AggregatingMergeTree` and `SummingMergeTree`: of the rows with one sorting key, merges keep
//! one, whose `AggregateFunction(f, ...)` columns hold the merge of the rows' states and whose
//! `SimpleAggregateFunction(f, T)` columns hold `f` over the rows' values. SummingMergeTree also
//! sums its summed columns (NULLs skipped) and drops a row whose summed columns are all their
//! type's default (0, or NULL when Nullable), even a row alone with its key. Other columns take
//! the first row's value.

use std::cmp::Ordering;
use std::sync::Arc;

use arrow_array::builder::BinaryBuilder;
use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, BooleanArray, RecordBatch, UInt32Array};
use arrow_select::filter::filter_record_batch;
use arrow_select::interleave::interleave;
use arrow_select::take::take_record_batch;
use datafusion::arrow::compute::is_not_null;
use datafusion::arrow::compute::kernels::boolean::{not, or};
use datafusion::arrow::compute::kernels::cmp::eq;
use datafusion::common::ScalarValue;
use granary_protocol::{DataType, ErrorCode};

use super::algorithm::{MergingAlgorithm, encode_rows};
use crate::error::{Error, Result};
use crate::functions::states::StateFunction;

/// The functions a `SimpleAggregateFunction` column may name.
const SIMPLE_FUNCTIONS: &[&str] = &["sum", "min", "max", "any", "anyLast"];

/// How one column of a run of equal keys becomes the merged row's value.
#[derive(Debug, Clone)]
enum Combine {
    /// The first row's value.
    First,
    /// The merge of the states.
    States(StateFunction),
    /// The function applied to the values.
    Simple(String),
    /// SummingMergeTree's sum (a row whose summed columns are all default is dropped).
    Sum,
}

/// The merging algorithm of `AggregatingMergeTree` and `SummingMergeTree`.
#[derive(Debug, Clone)]
pub struct AggregatingMerge {
    columns: Vec<Combine>,
}

impl AggregatingMerge {
    /// The algorithm of `SummingMergeTree` for a table with columns of these types, which sums the
    /// columns at the indices `summed`.
    pub fn summing(columns: &[DataType], summed: &[usize]) -> Result<AggregatingMerge> {
        let mut merge = AggregatingMerge::new(columns)?;
        for &index in summed {
            merge.columns[index] = Combine::Sum;
        }
        Ok(merge)
    }

    fn sums(&self) -> bool {
        self.columns
            .iter()
            .any(|combine| matches!(combine, Combine::Sum))
    }

    /// The algorithm of `AggregatingMergeTree` for a table with columns of these types.
    pub fn new(columns: &[DataType]) -> Result<AggregatingMerge> {
        let columns = columns
            .iter()
            .map(|data_type| match data_type {
                DataType::AggregateFunction(_) => {
                    let function = StateFunction::of_type(data_type)?;
                    function.new_state()?;
                    Ok(Combine::States(function))
                }
                DataType::SimpleAggregateFunction(function, _) => {
                    if !SIMPLE_FUNCTIONS.contains(&function.name.as_str())
                        || !function.parameters.is_empty()
                    {
                        return Err(Error::not_implemented(format!("column type {data_type}")));
                    }
                    Ok(Combine::Simple(function.name.clone()))
                }
                _ => Ok(Combine::First),
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(AggregatingMerge { columns })
    }
}

/// `[start, end)` of each run of equal keys of a sorted block.
fn runs(sorted: &RecordBatch, sorting_key: &[usize]) -> Result<Vec<(usize, usize)>> {
    let rows = sorted.num_rows();
    let keys = encode_rows(sorted, sorting_key)?;
    let mut runs = Vec::new();
    let mut start = 0;
    for row in 1..=rows {
        if row == rows || keys.row(row) != keys.row(row - 1) {
            runs.push((start, row));
            start = row;
        }
    }
    Ok(runs)
}

impl MergingAlgorithm for AggregatingMerge {
    fn merge(&self, sorted: &RecordBatch, sorting_key: &[usize]) -> Result<RecordBatch> {
        let runs = runs(sorted, sorting_key)?;
        if runs.len() == sorted.num_rows() && !self.sums() {
            return Ok(sorted.clone());
        }
        let starts = UInt32Array::from_iter_values(runs.iter().map(|(start, _)| *start as u32));
        let first = take_record_batch(sorted, &starts)?;
        let mut columns = first.columns().to_vec();
        for (index, combine) in self.columns.iter().enumerate() {
            let column = sorted.column(index);
            match combine {
                Combine::First => {}
                Combine::States(function) => {
                    columns[index] = merged_states(function, column, &runs)?;
                }
                Combine::Simple(function) => {
                    columns[index] = simple_aggregates(function, column, &columns[index], &runs)?;
                }
                Combine::Sum => {
                    columns[index] = simple_aggregates("sum", column, &columns[index], &runs)?;
                }
            }
        }
        let merged = RecordBatch::try_new(first.schema(), columns)?;
        if !self.sums() {
            return Ok(merged);
        }
        // Drop the rows whose summed columns are all default.
        let mut kept = BooleanArray::from(vec![false; merged.num_rows()]);
        for (index, combine) in self.columns.iter().enumerate() {
            if matches!(combine, Combine::Sum) {
                let column = merged.column(index);
                let default = if column.is_nullable() {
                    is_not_null(column)?
                } else {
                    not(&eq(
                        column,
                        &ScalarValue::new_default(column.data_type())?.to_scalar()?,
                    )?)?
                };
                kept = or(&kept, &default)?;
            }
        }
        Ok(filter_record_batch(&merged, &kept)?)
    }
}

fn merged_states(
    function: &StateFunction,
    column: &ArrayRef,
    runs: &[(usize, usize)],
) -> Result<ArrayRef> {
    let states = column.as_binary_opt::<i32>().ok_or_else(|| {
        Error::Logical(format!(
            "a column of {} is {}, not binary",
            function.state_type(),
            column.data_type()
        ))
    })?;
    let mut merged = BinaryBuilder::new();
    for &(start, end) in runs {
        if end - start == 1 {
            merged.append_value(states.value(start));
        } else {
            merged.append_value(function.combine((start..end).map(|row| states.value(row)))?);
        }
    }
    Ok(Arc::new(merged.finish()))
}

/// `function` over each run of `column`; `first` holds each run's first value, which is the result
/// of a run of one row, so only longer runs are computed (value by value) and then interleaved.
fn simple_aggregates(
    function: &str,
    column: &ArrayRef,
    first: &ArrayRef,
    runs: &[(usize, usize)],
) -> Result<ArrayRef> {
    let longer: Vec<(usize, usize)> = runs
        .iter()
        .copied()
        .filter(|(start, end)| end - start > 1)
        .collect();
    if longer.is_empty() {
        return Ok(first.clone());
    }
    let values = longer
        .iter()
        .map(|&(start, end)| {
            let mut result: Option<ScalarValue> = None;
            for row in start..end {
                let value = ScalarValue::try_from_array(column, row)?;
                if value.is_null() {
                    continue;
                }
                result = Some(match (function, result) {
                    (_, None) => value,
                    ("sum", Some(total)) => total.add(&value)?,
                    ("min", Some(current)) => {
                        if value.partial_cmp(&current) == Some(Ordering::Less) {
                            value
                        } else {
                            current
                        }
                    }
                    ("max", Some(current)) => {
                        if value.partial_cmp(&current) == Some(Ordering::Greater) {
                            value
                        } else {
                            current
                        }
                    }
                    ("any", Some(current)) => current,
                    (_, Some(_)) => value,
                });
            }
            match result {
                Some(value) => Ok(value),
                None => Ok(ScalarValue::try_from(column.data_type())?),
            }
        })
        .collect::<Result<Vec<_>>>()?;
    let computed = ScalarValue::iter_to_array(values)?;
    if computed.data_type() != column.data_type() {
        return Err(Error::query(
            ErrorCode::LOGICAL_ERROR,
            format!(
                "{function} of a SimpleAggregateFunction column gave {}, not {}",
                computed.data_type(),
                column.data_type()
            ),
        ));
    }
    let mut next_computed = 0;
    let indices: Vec<(usize, usize)> = runs
        .iter()
        .enumerate()
        .map(|(run, (start, end))| {
            if end - start > 1 {
                next_computed += 1;
                (1, next_computed - 1)
            } else {
                (0, run)
            }
        })
        .collect();
    Ok(interleave(&[first.as_ref(), computed.as_ref()], &indices)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::types::UInt32Type;
    use arrow_schema::{DataType as ArrowType, Field, Schema};

    #[test]
    fn summing_sums_runs_and_drops_rows_summing_to_zero() {
        let schema = Schema::new(vec![
            Field::new("k", ArrowType::UInt32, false),
            Field::new("a", ArrowType::UInt32, false),
            Field::new("b", ArrowType::UInt32, false),
        ]);
        let column = |values: &[u32]| Arc::new(UInt32Array::from(values.to_vec())) as ArrayRef;
        let sorted = RecordBatch::try_new(
            Arc::new(schema),
            vec![
                column(&[1, 1, 2, 3]),
                column(&[1, 2, 0, 5]),
                column(&[10, 20, 30, 40]),
            ],
        )
        .unwrap();
        let types = [DataType::UInt32, DataType::UInt32, DataType::UInt32];
        let merged = AggregatingMerge::summing(&types, &[1])
            .unwrap()
            .merge(&sorted, &[0])
            .unwrap();
        let values = |index: usize| {
            merged
                .column(index)
                .as_primitive::<UInt32Type>()
                .values()
                .to_vec()
        };
        // Key 2 sums to 0 and is dropped; b keeps the first row's value.
        assert_eq!(values(0), [1, 3]);
        assert_eq!(values(1), [3, 5]);
        assert_eq!(values(2), [10, 40]);
    }
}
