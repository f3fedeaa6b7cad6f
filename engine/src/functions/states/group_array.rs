//! `groupArray`'s state: the number of values (VarUInt), then the values as a column of their type
//! (NULLs are skipped, as ClickHouse skips them, with no flag).

use arrow_array::{Array, ArrayRef};
use datafusion::arrow::compute::concat;
use datafusion::common::ScalarValue;
use granary_protocol::DataType;
use granary_protocol::io::{Cursor, write_var_uint};

use super::State;
use super::values::{array_scalar, conformed, read_count, read_values, write_values};
use crate::error::Result;

/// `groupArray`'s state.
#[derive(Debug)]
pub struct GroupArray {
    element: DataType,
    chunks: Vec<ArrayRef>,
    len: usize,
}

impl GroupArray {
    /// An empty state over values of `element`.
    pub fn new(element: &DataType) -> Result<GroupArray> {
        Ok(GroupArray {
            element: element.clone(),
            chunks: Vec::new(),
            len: 0,
        })
    }

    fn push(&mut self, values: ArrayRef) {
        if !values.is_empty() {
            self.len += values.len();
            self.chunks.push(values);
        }
    }

    fn values(&self) -> Result<ArrayRef> {
        if self.chunks.is_empty() {
            return Ok(arrow_array::new_empty_array(&self.element.to_arrow()));
        }
        let chunks: Vec<&dyn Array> = self.chunks.iter().map(|chunk| chunk.as_ref()).collect();
        Ok(concat(&chunks)?)
    }
}

impl State for GroupArray {
    fn memory(&self) -> usize {
        self.chunks
            .iter()
            .map(|chunk| chunk.get_array_memory_size())
            .sum()
    }

    fn add(&mut self, arguments: &[ArrayRef]) -> Result<()> {
        let values = conformed(&self.element, &arguments[0])?;
        self.push(values);
        Ok(())
    }

    fn merge(&mut self, input: &mut Cursor<'_>) -> Result<()> {
        let count = read_count(input, "groupArray length")?;
        let values = read_values(&self.element, count, input)?;
        self.push(values);
        Ok(())
    }

    fn write(&self, out: &mut Vec<u8>) -> Result<()> {
        write_var_uint(out, self.len as u64);
        for chunk in &self.chunks {
            write_values(&self.element, chunk, out)?;
        }
        Ok(())
    }

    fn result(&self) -> Result<ScalarValue> {
        array_scalar(&self.element, self.values()?)
    }
}
