//! `min`, `max`, `any`, `anyLast`, `argMin` and `argMax` states: one value each (`argMin`/`argMax`:
//! the result value, then the key value). A value of a fixed-width type is a flag byte and, when
//! set, the value; a `String` is an Int32 size counting a trailing zero byte (-1: no value), the
//! bytes and the zero.

use std::cmp::Ordering;

use arrow_array::{Array, ArrayRef};
use datafusion::arrow::compute::kernels::cmp::not_distinct;
use datafusion::common::ScalarValue;
use datafusion::functions_aggregate::min_max::{MaxAccumulator, MinAccumulator};
use datafusion::logical_expr::Accumulator;
use granary_protocol::DataType;
use granary_protocol::io::Cursor;

use super::State;
use super::values::{conformed, fixed_width, read_scalar, write_scalar};
use crate::error::{Error, Result};

/// Which value a state keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Keep {
    Min,
    Max,
    First,
    Last,
}

impl Keep {
    fn of(name: &str) -> Keep {
        match name {
            "min" | "argMin" => Keep::Min,
            "max" | "argMax" => Keep::Max,
            "any" => Keep::First,
            _ => Keep::Last,
        }
    }

    /// Whether `candidate` replaces `current`.
    fn replaces(self, candidate: &ScalarValue, current: Option<&ScalarValue>) -> bool {
        let Some(current) = current else {
            return true;
        };
        match self {
            Keep::Min => candidate.partial_cmp(current) == Some(Ordering::Less),
            Keep::Max => candidate.partial_cmp(current) == Some(Ordering::Greater),
            Keep::First => false,
            Keep::Last => true,
        }
    }

    /// The row of `values` (not empty, no NULLs) this kind keeps: the first of the extreme ones.
    /// The extreme is found by DataFusion's vectorized min/max, its first row by a comparison
    /// kernel: no value is converted one row at a time.
    fn row(self, values: &ArrayRef) -> Result<usize> {
        let extreme = match self {
            Keep::First => return Ok(0),
            Keep::Last => return Ok(values.len() - 1),
            Keep::Min => {
                let mut accumulator = MinAccumulator::try_new(values.data_type())?;
                accumulator.update_batch(std::slice::from_ref(values))?;
                accumulator.evaluate()?
            }
            Keep::Max => {
                let mut accumulator = MaxAccumulator::try_new(values.data_type())?;
                accumulator.update_batch(std::slice::from_ref(values))?;
                accumulator.evaluate()?
            }
        };
        let equal = not_distinct(values, &extreme.to_scalar()?)?;
        Ok(equal.values().set_indices().next().unwrap_or(0))
    }
}

/// How one value of a type is stored in a state.
#[derive(Debug, Clone)]
struct Slot {
    data_type: DataType,
}

impl Slot {
    fn new(function: &str, data_type: &DataType) -> Result<Slot> {
        if *data_type != DataType::String {
            fixed_width(function, data_type)?;
        }
        Ok(Slot {
            data_type: data_type.clone(),
        })
    }

    fn write(&self, value: Option<&ScalarValue>, out: &mut Vec<u8>) -> Result<()> {
        if self.data_type == DataType::String {
            match value {
                Some(ScalarValue::Utf8(Some(text))) => {
                    let size = i32::try_from(text.len() + 1).map_err(|_| {
                        Error::not_implemented("a string state value of 2 GiB or more")
                    })?;
                    out.extend_from_slice(&size.to_le_bytes());
                    out.extend_from_slice(text.as_bytes());
                    out.push(0);
                }
                _ => out.extend_from_slice(&(-1i32).to_le_bytes()),
            }
            return Ok(());
        }
        match value {
            Some(value) => {
                out.push(1);
                write_scalar(&self.data_type, value, out)
            }
            None => {
                out.push(0);
                Ok(())
            }
        }
    }

    fn read(&self, input: &mut Cursor<'_>) -> Result<Option<ScalarValue>> {
        if self.data_type == DataType::String {
            let size = input.read_i32("single-value string size")?;
            if size <= 0 {
                return Ok(None);
            }
            let bytes = input.take(size as usize, "single-value string")?;
            let text = bytes.strip_suffix(&[0]).unwrap_or(bytes);
            let text = std::str::from_utf8(text)
                .map_err(|_| Error::not_implemented("a string state value that is not UTF-8"))?;
            return Ok(Some(ScalarValue::Utf8(Some(text.to_string()))));
        }
        if input.read_u8("single-value flag")? == 0 {
            return Ok(None);
        }
        read_scalar(&self.data_type, input).map(Some)
    }

    fn value(&self, array: &ArrayRef, row: usize) -> Result<ScalarValue> {
        Ok(ScalarValue::try_from_array(
            &conformed(&self.data_type, array)?,
            row,
        )?)
    }

    fn result(&self, value: Option<&ScalarValue>) -> Result<ScalarValue> {
        match value {
            Some(value) => Ok(value.clone()),
            None => Ok(ScalarValue::new_default(&self.data_type.to_arrow())?),
        }
    }
}

/// `min`, `max`, `any` or `anyLast`.
#[derive(Debug)]
pub struct Extreme {
    keep: Keep,
    slot: Slot,
    value: Option<ScalarValue>,
}

impl Extreme {
    /// An empty state of `name` over values of `argument`.
    pub fn new(name: &str, argument: &DataType) -> Result<Extreme> {
        Ok(Extreme {
            keep: Keep::of(name),
            slot: Slot::new(name, argument)?,
            value: None,
        })
    }

    fn offer(&mut self, candidate: ScalarValue) {
        if self.keep.replaces(&candidate, self.value.as_ref()) {
            self.value = Some(candidate);
        }
    }
}

impl State for Extreme {
    fn add(&mut self, arguments: &[ArrayRef]) -> Result<()> {
        let values = conformed(&self.slot.data_type, &arguments[0])?;
        if values.is_empty() || (self.keep == Keep::First && self.value.is_some()) {
            return Ok(());
        }
        let row = self.keep.row(&values)?;
        let candidate = self.slot.value(&values, row)?;
        self.offer(candidate);
        Ok(())
    }

    fn merge(&mut self, input: &mut Cursor<'_>) -> Result<()> {
        if let Some(candidate) = self.slot.read(input)? {
            self.offer(candidate);
        }
        Ok(())
    }

    fn write(&self, out: &mut Vec<u8>) -> Result<()> {
        self.slot.write(self.value.as_ref(), out)
    }

    fn result(&self) -> Result<ScalarValue> {
        self.slot.result(self.value.as_ref())
    }
}

/// `argMin` or `argMax`: the result value of the row with the extreme key.
#[derive(Debug)]
pub struct ArgExtreme {
    keep: Keep,
    result: Slot,
    key: Slot,
    best: Option<(ScalarValue, ScalarValue)>,
}

impl ArgExtreme {
    /// An empty state of `name` over results of type `result` and keys of type `key`.
    pub fn new(name: &str, result: &DataType, key: &DataType) -> Result<ArgExtreme> {
        Ok(ArgExtreme {
            keep: Keep::of(name),
            result: Slot::new(name, result)?,
            key: Slot::new(name, key)?,
            best: None,
        })
    }

    fn offer(&mut self, result: ScalarValue, key: ScalarValue) {
        if self
            .keep
            .replaces(&key, self.best.as_ref().map(|(_, key)| key))
        {
            self.best = Some((result, key));
        }
    }
}

impl State for ArgExtreme {
    fn add(&mut self, arguments: &[ArrayRef]) -> Result<()> {
        let keys = conformed(&self.key.data_type, &arguments[1])?;
        if keys.is_empty() {
            return Ok(());
        }
        let row = self.keep.row(&keys)?;
        let result = self.result.value(&arguments[0], row)?;
        let key = self.key.value(&keys, row)?;
        self.offer(result, key);
        Ok(())
    }

    fn merge(&mut self, input: &mut Cursor<'_>) -> Result<()> {
        let result = self.result.read(input)?;
        let key = self.key.read(input)?;
        if let (Some(result), Some(key)) = (result, key) {
            self.offer(result, key);
        }
        Ok(())
    }

    fn write(&self, out: &mut Vec<u8>) -> Result<()> {
        let (result, key) = match &self.best {
            Some((result, key)) => (Some(result), Some(key)),
            None => (None, None),
        };
        self.result.write(result, out)?;
        self.key.write(key, out)
    }

    fn result(&self) -> Result<ScalarValue> {
        self.result
            .result(self.best.as_ref().map(|(result, _)| result))
    }
}
