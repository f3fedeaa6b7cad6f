//! `quantile`, `median`, `quantiles`, `quantileExact`, `medianExact` and `quantilesExact`.
//!
//! Both families keep the group's values and sort them when the result is asked for.
//! `quantile(level)` interpolates between the two values around `level · (n − 1)` as ClickHouse's
//! does (`a·(1 − f) + b·f`); its result is `Float64` for numbers and the argument's type for dates,
//! times and decimals; over no rows it is nan. `quantileExact(level)` is the value at index
//! `⌊level · n⌋` (the last one for level 1), of the argument's type, the type's default over no
//! rows. `median` is level 0.5; `quantiles(l1, l2, ...)` returns the array of each level's result.
//!
//! ClickHouse's `quantile` keeps a reservoir sample of 8,192 values, so on larger groups its
//! answers are approximations where Granary's are exact, and Granary keeps every value of a group.
//! These states are not ClickHouse's (whose reservoir carries its random generator's state), so
//! `-State` of these functions is refused; the bytes here only travel between Granary's own
//! partial and final aggregation.

use std::sync::Arc;

use arrow_array::{Array, ArrayRef};
use arrow_schema::DataType as ArrowType;
use datafusion::arrow::compute::{cast, concat, sort};
use datafusion::common::ScalarValue;
use granary_protocol::io::{Cursor, write_var_uint};
use granary_protocol::{DataType, ErrorCode};

use super::State;
use super::values::{array_scalar, conformed, items_array, read_count, read_values, write_values};
use crate::error::{Error, Result};

/// The functions of this module.
pub const FUNCTIONS: &[&str] = &[
    "quantile",
    "median",
    "quantiles",
    "quantileExact",
    "medianExact",
    "quantilesExact",
];

/// How a level picks from the sorted values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pick {
    Interpolated,
    Exact,
}

/// The state of one of [`FUNCTIONS`].
#[derive(Debug)]
pub struct Quantiles {
    pick: Pick,
    levels: Vec<f64>,
    /// `quantiles`: an array of results.
    several: bool,
    data_type: DataType,
    chunks: Vec<ArrayRef>,
}

impl Quantiles {
    /// An empty state of `function` with `parameters` (the levels) over values of `argument`.
    pub fn new(function: &str, parameters: &[String], argument: &DataType) -> Result<Quantiles> {
        let pick = if function.contains("Exact") {
            Pick::Exact
        } else {
            Pick::Interpolated
        };
        let several = function.starts_with("quantiles");
        let levels = match (function.starts_with("median"), parameters) {
            (true, []) => vec![0.5],
            (false, []) if !several => vec![0.5],
            (false, levels) if !levels.is_empty() && (several || levels.len() == 1) => levels
                .iter()
                .map(|text| parse_level(function, text))
                .collect::<Result<Vec<_>>>()?,
            _ => {
                return Err(Error::query(
                    ErrorCode::NUMBER_OF_ARGUMENTS_DOESNT_MATCH,
                    format!(
                        "aggregate function {function} does not take {} parameters",
                        parameters.len()
                    ),
                ));
            }
        };
        result_type(function, argument)?;
        Ok(Quantiles {
            pick,
            levels,
            several,
            data_type: argument.clone(),
            chunks: Vec::new(),
        })
    }

    fn sorted(&self) -> Result<ArrayRef> {
        let arrow = self.data_type.to_arrow();
        let chunks: Vec<&dyn Array> = self.chunks.iter().map(|chunk| chunk.as_ref()).collect();
        let values = if chunks.is_empty() {
            arrow_array::new_empty_array(&arrow)
        } else {
            concat(&chunks)?
        };
        Ok(sort(&values, None)?)
    }

    /// The result for one level over `sorted` values.
    fn level_result(&self, sorted: &ArrayRef, numbers: &[f64], level: f64) -> Result<ScalarValue> {
        let n = sorted.len();
        match self.pick {
            Pick::Exact => {
                if n == 0 {
                    return Ok(ScalarValue::new_default(sorted.data_type())?);
                }
                let index = if level < 1.0 {
                    ((level * n as f64) as usize).min(n - 1)
                } else {
                    n - 1
                };
                Ok(ScalarValue::try_from_array(sorted, index)?)
            }
            Pick::Interpolated => {
                let value = if n == 0 {
                    f64::NAN
                } else {
                    let position = (level * (n - 1) as f64).clamp(0.0, (n - 1) as f64);
                    let index = position as usize;
                    if index + 1 == n {
                        numbers[index]
                    } else {
                        let fraction = position - index as f64;
                        numbers[index] * (1.0 - fraction) + numbers[index + 1] * fraction
                    }
                };
                from_f64(value, &interpolated_type(&self.data_type).to_arrow())
            }
        }
    }
}

/// The type of `function`'s result over `argument`.
pub fn result_type(function: &str, argument: &DataType) -> Result<DataType> {
    let exact = function.contains("Exact");
    let single = match argument {
        DataType::String | DataType::FixedString(_) | DataType::Array(_) | DataType::Tuple(_) => {
            return Err(Error::query(
                ErrorCode::ILLEGAL_TYPE_OF_ARGUMENT,
                format!("illegal type {argument} of argument for aggregate function {function}"),
            ));
        }
        other if exact => other.clone(),
        other => interpolated_type(other),
    };
    Ok(if function.starts_with("quantiles") {
        DataType::Array(Box::new(single))
    } else {
        single
    })
}

fn interpolated_type(argument: &DataType) -> DataType {
    match argument {
        DataType::Date
        | DataType::Date32
        | DataType::DateTime(_)
        | DataType::DateTime64(..)
        | DataType::Decimal(..) => argument.clone(),
        _ => DataType::Float64,
    }
}

fn parse_level(function: &str, text: &str) -> Result<f64> {
    let level: f64 = text.parse().map_err(|_| {
        Error::query(
            ErrorCode::ILLEGAL_TYPE_OF_ARGUMENT,
            format!("the level of aggregate function {function} must be a number, not {text}"),
        )
    })?;
    if !(0.0..=1.0).contains(&level) {
        return Err(Error::query(
            ErrorCode::PARAMETER_OUT_OF_BOUND,
            format!("quantile level {text} is out of range [0..1]"),
        ));
    }
    Ok(level)
}

/// The values of `array` as floats (dates as day numbers, times as their ticks).
fn as_f64(array: &ArrayRef) -> Result<Vec<f64>> {
    let array = match array.data_type() {
        ArrowType::Date32 => cast(array, &ArrowType::Int32)?,
        ArrowType::Timestamp(..) => cast(array, &ArrowType::Int64)?,
        _ => array.clone(),
    };
    let floats = cast(&array, &ArrowType::Float64)?;
    Ok(
        arrow_array::cast::AsArray::as_primitive::<arrow_array::types::Float64Type>(&floats)
            .values()
            .to_vec(),
    )
}

/// `value` as a scalar of `to`: dates and times truncated to whole ticks.
fn from_f64(value: f64, to: &ArrowType) -> Result<ScalarValue> {
    let float: ArrayRef = Arc::new(arrow_array::Float64Array::from(vec![value]));
    let converted = match to {
        ArrowType::Float64 => float,
        ArrowType::Date32 => cast(&cast(&float, &ArrowType::Int32)?, to)?,
        ArrowType::Timestamp(..) => cast(&cast(&float, &ArrowType::Int64)?, to)?,
        _ => cast(&float, to)?,
    };
    Ok(ScalarValue::try_from_array(&converted, 0)?)
}

impl State for Quantiles {
    fn memory(&self) -> usize {
        self.chunks
            .iter()
            .map(|chunk| chunk.get_array_memory_size())
            .sum()
    }

    fn add(&mut self, arguments: &[ArrayRef]) -> Result<()> {
        if !arguments[0].is_empty() {
            self.chunks.push(conformed(&self.data_type, &arguments[0])?);
        }
        Ok(())
    }

    fn merge(&mut self, input: &mut Cursor<'_>) -> Result<()> {
        let count = read_count(input, "quantile value count")?;
        let values = read_values(&self.data_type, count, input)?;
        self.chunks.push(values);
        Ok(())
    }

    fn write(&self, out: &mut Vec<u8>) -> Result<()> {
        let count: usize = self.chunks.iter().map(|chunk| chunk.len()).sum();
        write_var_uint(out, count as u64);
        for chunk in &self.chunks {
            write_values(&self.data_type, chunk, out)?;
        }
        Ok(())
    }

    fn result(&self) -> Result<ScalarValue> {
        let sorted = self.sorted()?;
        let numbers = match self.pick {
            Pick::Interpolated => as_f64(&sorted)?,
            Pick::Exact => Vec::new(),
        };
        let results = self
            .levels
            .iter()
            .map(|&level| self.level_result(&sorted, &numbers, level))
            .collect::<Result<Vec<_>>>()?;
        if !self.several {
            return results.into_iter().next().ok_or_else(|| {
                Error::query(ErrorCode::LOGICAL_ERROR, "a quantile without a level")
            });
        }
        let element = match self.pick {
            Pick::Exact => self.data_type.clone(),
            Pick::Interpolated => interpolated_type(&self.data_type),
        };
        array_scalar(&element, items_array(&element, results)?)
    }
}
