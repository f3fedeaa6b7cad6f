//! `avg` of integers as ClickHouse computes it: an exact sum over a count, divided once at the end
//! (`sum as Float64 / count`). DataFusion's `avg` converts every value to Float64 first and so
//! loses the low digits of large integers (an average of 64-bit user ids differs in its last
//! digits). The sum is kept in 128 bits, so unlike ClickHouse's (which wraps in the argument's
//! 64-bit type) it never overflows.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Decimal128Type, UInt64Type};
use arrow_array::{Array, ArrayRef, BooleanArray, Decimal128Array, Float64Array, UInt64Array};
use arrow_schema::{DataType as ArrowType, Field, FieldRef};
use datafusion::arrow::compute::cast;
use datafusion::common::{Result as DfResult, ScalarValue};
use datafusion::logical_expr::{
    Accumulator, Coercion, EmitTo, GroupsAccumulator, Signature, TypeSignature, TypeSignatureClass,
};

/// The type the sums travel in between partial and final aggregation.
const SUM_TYPE: ArrowType = ArrowType::Decimal128(38, 0);

/// Whether `avg` of `input` is computed here.
pub fn is_exact(input: &ArrowType) -> bool {
    input.is_integer()
}

/// DataFusion's `avg` signature with integers taken as they are (DataFusion's converts them to
/// Float64 before averaging).
pub fn signature(datafusion_avg: &Signature) -> Signature {
    let integers = TypeSignature::Coercible(vec![Coercion::new_exact(TypeSignatureClass::Integer)]);
    let others = match &datafusion_avg.type_signature {
        TypeSignature::OneOf(signatures) => signatures.clone(),
        other => vec![other.clone()],
    };
    Signature::one_of(
        std::iter::once(integers).chain(others).collect(),
        datafusion_avg.volatility,
    )
}

/// The partial state: the sum and the count.
pub fn state_fields(name: &str) -> Vec<FieldRef> {
    vec![
        Arc::new(Field::new(format!("{name}[sum]"), SUM_TYPE, true)),
        Arc::new(Field::new(
            format!("{name}[count]"),
            ArrowType::UInt64,
            true,
        )),
    ]
}

/// The integers of `array` as i128 (NULLs kept).
fn wide(array: &ArrayRef) -> DfResult<Decimal128Array> {
    Ok(cast(array, &SUM_TYPE)?
        .as_primitive::<Decimal128Type>()
        .clone())
}

fn average(sum: i128, count: u64) -> Option<f64> {
    (count > 0).then(|| sum as f64 / count as f64)
}

/// One average.
#[derive(Debug, Default)]
pub struct Average {
    sum: i128,
    count: u64,
}

impl Accumulator for Average {
    fn update_batch(&mut self, values: &[ArrayRef]) -> DfResult<()> {
        let values = wide(&values[0])?;
        self.count += (values.len() - values.null_count()) as u64;
        self.sum += values.iter().flatten().sum::<i128>();
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> DfResult<()> {
        let sums = states[0].as_primitive::<Decimal128Type>();
        let counts = states[1].as_primitive::<UInt64Type>();
        self.sum += sums.iter().flatten().sum::<i128>();
        self.count += counts.iter().flatten().sum::<u64>();
        Ok(())
    }

    fn state(&mut self) -> DfResult<Vec<ScalarValue>> {
        Ok(vec![
            ScalarValue::Decimal128(Some(self.sum), 38, 0),
            ScalarValue::UInt64(Some(self.count)),
        ])
    }

    fn evaluate(&mut self) -> DfResult<ScalarValue> {
        Ok(ScalarValue::Float64(average(self.sum, self.count)))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self)
    }
}

/// Averages per group.
#[derive(Debug, Default)]
pub struct GroupAverages {
    sums: Vec<i128>,
    counts: Vec<u64>,
}

impl GroupAverages {
    fn grow(&mut self, groups: usize) {
        self.sums.resize(groups, 0);
        self.counts.resize(groups, 0);
    }
}

impl GroupsAccumulator for GroupAverages {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> DfResult<()> {
        self.grow(total_num_groups);
        let values = wide(&values[0])?;
        let raw = values.values();
        let counted = |row: usize| {
            values.is_valid(row) && opt_filter.is_none_or(|f| f.is_valid(row) && f.value(row))
        };
        if values.null_count() == 0 && opt_filter.is_none() {
            for (&group, &value) in group_indices.iter().zip(raw.iter()) {
                self.sums[group] += value;
                self.counts[group] += 1;
            }
        } else {
            for (row, &group) in group_indices.iter().enumerate() {
                if counted(row) {
                    self.sums[group] += raw[row];
                    self.counts[group] += 1;
                }
            }
        }
        Ok(())
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> DfResult<()> {
        self.grow(total_num_groups);
        let sums = values[0].as_primitive::<Decimal128Type>();
        let counts = values[1].as_primitive::<UInt64Type>();
        for (row, &group) in group_indices.iter().enumerate() {
            if sums.is_valid(row) {
                self.sums[group] += sums.value(row);
            }
            if counts.is_valid(row) {
                self.counts[group] += counts.value(row);
            }
        }
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> DfResult<ArrayRef> {
        let sums = emit_to.take_needed(&mut self.sums);
        let counts = emit_to.take_needed(&mut self.counts);
        let averages: Float64Array = sums
            .into_iter()
            .zip(counts)
            .map(|(sum, count)| average(sum, count))
            .collect();
        Ok(Arc::new(averages))
    }

    fn state(&mut self, emit_to: EmitTo) -> DfResult<Vec<ArrayRef>> {
        let sums = Decimal128Array::from(emit_to.take_needed(&mut self.sums))
            .with_precision_and_scale(38, 0)?;
        let counts = UInt64Array::from(emit_to.take_needed(&mut self.counts));
        Ok(vec![Arc::new(sums), Arc::new(counts)])
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> DfResult<Vec<ArrayRef>> {
        let values = wide(&values[0])?;
        let counted = |row: usize| {
            values.is_valid(row) && opt_filter.is_none_or(|f| f.is_valid(row) && f.value(row))
        };
        let sums = Decimal128Array::from_iter_values(
            (0..values.len()).map(|row| if counted(row) { values.value(row) } else { 0 }),
        )
        .with_precision_and_scale(38, 0)?;
        let counts =
            UInt64Array::from_iter_values((0..values.len()).map(|row| u64::from(counted(row))));
        Ok(vec![Arc::new(sums), Arc::new(counts)])
    }

    fn size(&self) -> usize {
        self.sums.capacity() * 16 + self.counts.capacity() * 8
    }
}

#[cfg(test)]
mod tests {
    use arrow_array::Int64Array;

    use super::*;

    #[test]
    fn large_integers_average_exactly() {
        // Float64 sums lose these low digits; ClickHouse's answer is 67982960845420.31.
        let mut values = vec![435_090_932_899_640_449i64];
        values.extend(std::iter::repeat_n(0, 6399));
        let mut average = Average::default();
        average
            .update_batch(&[Arc::new(Int64Array::from(values)) as ArrayRef])
            .unwrap();
        assert_eq!(
            average.evaluate().unwrap(),
            ScalarValue::Float64(Some(435_090_932_899_640_449f64 / 6400.0))
        );
        let mut empty = Average::default();
        assert_eq!(empty.evaluate().unwrap(), ScalarValue::Float64(None));
    }

    #[test]
    fn groups_merge_their_states() {
        let mut partial = GroupAverages::default();
        let values: ArrayRef = Arc::new(Int64Array::from(vec![Some(1), None, Some(4), Some(10)]));
        partial
            .update_batch(&[values], &[0, 0, 0, 1], None, 2)
            .unwrap();
        let state = partial.state(EmitTo::All).unwrap();
        let mut last = GroupAverages::default();
        last.merge_batch(&state, &[1, 0], 2).unwrap();
        let result = last.evaluate(EmitTo::All).unwrap();
        assert_eq!(
            result
                .as_primitive::<arrow_array::types::Float64Type>()
                .values(),
            &[10.0, 2.5]
        );
    }
}
