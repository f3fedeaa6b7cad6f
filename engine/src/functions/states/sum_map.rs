//! `sumMap(keys, values)`: per key, the sum of the values paired with it across the group's rows,
//! as a tuple of the sorted keys and their sums (in `sum`'s result type). Keys whose sum is zero are
//! left out, as ClickHouse does; a row whose arrays differ in length is BAD_ARGUMENTS.
//!
//! The state's bytes are Granary's own (key and sum per key), so `sumMapState` is refused; they
//! only travel between partial and final aggregation.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, StructArray};
use arrow_schema::DataType as ArrowType;
use datafusion::arrow::compute::cast;
use datafusion::common::ScalarValue;
use granary_protocol::io::{Cursor, write_var_uint};
use granary_protocol::types::TupleElement;
use granary_protocol::{DataType, ErrorCode};

use super::State;
use super::sums::sum_type;
use super::values::{items_array, read_count, read_scalar, single_array, write_scalar};
use crate::error::{Error, Result};

/// The type of `sumMap(keys, values)`'s result.
pub fn result_type(keys: &DataType, values: &DataType) -> Result<DataType> {
    let (DataType::Array(key), DataType::Array(value)) = (keys, values) else {
        return Err(Error::query(
            ErrorCode::ILLEGAL_TYPE_OF_ARGUMENT,
            format!("aggregate function sumMap takes two arrays, not {keys} and {values}"),
        ));
    };
    // Array literals may type their elements Nullable; NULL values are skipped.
    Ok(DataType::Tuple(vec![
        TupleElement {
            name: None,
            data_type: DataType::Array(Box::new(key.strip_nullable().clone())),
        },
        TupleElement {
            name: None,
            data_type: DataType::Array(Box::new(sum_type(value.strip_nullable())?)),
        },
    ]))
}

/// `sumMap`'s state.
#[derive(Debug)]
pub struct SumMap {
    key_type: DataType,
    sum_type: DataType,
    sums: HashMap<ScalarValue, ScalarValue>,
}

impl SumMap {
    /// An empty state over arrays of keys of type `keys` and of values of type `values`.
    pub fn new(keys: &DataType, values: &DataType) -> Result<SumMap> {
        let DataType::Tuple(elements) = result_type(keys, values)? else {
            unreachable!("result_type makes a tuple");
        };
        let element = |index: usize| match &elements[index].data_type {
            DataType::Array(inner) => inner.as_ref().clone(),
            other => other.clone(),
        };
        Ok(SumMap {
            key_type: element(0),
            sum_type: element(1),
            sums: HashMap::new(),
        })
    }

    fn add_one(&mut self, key: ScalarValue, value: ScalarValue) -> Result<()> {
        match self.sums.get_mut(&key) {
            Some(sum) => *sum = sum.add_checked(&value).or_else(|_| sum.add(&value))?,
            None => {
                self.sums.insert(key, value);
            }
        }
        Ok(())
    }
}

impl State for SumMap {
    fn memory(&self) -> usize {
        self.sums.capacity() * 2 * std::mem::size_of::<ScalarValue>()
    }

    fn add(&mut self, arguments: &[ArrayRef]) -> Result<()> {
        let (Some(keys), Some(values)) = (
            arguments[0].as_list_opt::<i32>(),
            arguments[1].as_list_opt::<i32>(),
        ) else {
            return Err(Error::query(
                ErrorCode::ILLEGAL_TYPE_OF_ARGUMENT,
                "aggregate function sumMap takes two arrays",
            ));
        };
        let key_arrow = self.key_type.to_arrow();
        let sum_arrow = self.sum_type.to_arrow();
        for row in 0..keys.len() {
            let (row_keys, row_values) = (keys.value(row), values.value(row));
            if row_keys.len() != row_values.len() {
                return Err(Error::query(
                    ErrorCode::BAD_ARGUMENTS,
                    "sizes of keys and values arrays do not match",
                ));
            }
            let row_keys = cast(&row_keys, &key_arrow)?;
            let row_values = cast(&row_values, &sum_arrow)?;
            for index in 0..row_keys.len() {
                if row_values.is_null(index) {
                    continue;
                }
                self.add_one(
                    ScalarValue::try_from_array(&row_keys, index)?,
                    ScalarValue::try_from_array(&row_values, index)?,
                )?;
            }
        }
        Ok(())
    }

    fn merge(&mut self, input: &mut Cursor<'_>) -> Result<()> {
        let count = read_count(input, "sumMap key count")?;
        for _ in 0..count {
            let key = read_scalar(&self.key_type, input)?;
            let sum = read_scalar(&self.sum_type, input)?;
            self.add_one(key, sum)?;
        }
        Ok(())
    }

    fn write(&self, out: &mut Vec<u8>) -> Result<()> {
        write_var_uint(out, self.sums.len() as u64);
        for (key, sum) in &self.sums {
            write_scalar(&self.key_type, key, out)?;
            write_scalar(&self.sum_type, sum, out)?;
        }
        Ok(())
    }

    fn result(&self) -> Result<ScalarValue> {
        let mut entries: Vec<(&ScalarValue, &ScalarValue)> = self
            .sums
            .iter()
            .filter(|(_, sum)| {
                !sum.is_null()
                    && ScalarValue::new_zero(&sum.data_type()).ok().as_ref() != Some(*sum)
            })
            .collect();
        entries.sort_by(|(a, _), (b, _)| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
        let tuple = DataType::Tuple(vec![
            TupleElement {
                name: None,
                data_type: DataType::Array(Box::new(self.key_type.clone())),
            },
            TupleElement {
                name: None,
                data_type: DataType::Array(Box::new(self.sum_type.clone())),
            },
        ]);
        let ArrowType::Struct(fields) = tuple.to_arrow() else {
            return Err(Error::query(
                ErrorCode::LOGICAL_ERROR,
                "a tuple type that is not a struct",
            ));
        };
        let list = |element: &DataType, items: Vec<ScalarValue>| -> Result<ArrayRef> {
            Ok(Arc::new(single_array(
                element,
                items_array(element, items)?,
            )?))
        };
        let keys = list(
            &self.key_type,
            entries.iter().map(|(key, _)| (*key).clone()).collect(),
        )?;
        let sums = list(
            &self.sum_type,
            entries.iter().map(|(_, sum)| (*sum).clone()).collect(),
        )?;
        let tuple = StructArray::try_new(fields, vec![keys, sums], None)?;
        Ok(ScalarValue::Struct(Arc::new(tuple)))
    }
}
