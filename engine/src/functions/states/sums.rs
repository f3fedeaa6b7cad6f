//! `count`, `sum` and `avg` states: a VarUInt count; the sum in its result type
//! (`UInt64`/`Int64`/`Float64`/`Decimal(38, S)`, little-endian, wrapping as ClickHouse's does);
//! the sum then the count as a VarUInt.

use arrow_array::cast::AsArray;
use arrow_array::types::{Decimal128Type, Float64Type, Int64Type, UInt64Type};
use arrow_array::{Array, ArrayRef};
use arrow_schema::DataType as ArrowType;
use datafusion::arrow::compute::cast;
use datafusion::common::ScalarValue;
use granary_protocol::DataType;
use granary_protocol::io::{Cursor, write_var_uint};

use super::State;
use super::values::illegal_argument;
use crate::error::{Error, Result};

/// `count`'s state.
#[derive(Debug, Default)]
pub struct Count(u64);

impl State for Count {
    fn add(&mut self, arguments: &[ArrayRef]) -> Result<()> {
        let rows = arguments.first().ok_or_else(|| {
            Error::query(
                granary_protocol::ErrorCode::LOGICAL_ERROR,
                "countState was planned without its row argument",
            )
        })?;
        self.0 += rows.len() as u64;
        Ok(())
    }

    fn merge(&mut self, input: &mut Cursor<'_>) -> Result<()> {
        self.0 += input.read_var_uint("count state")?;
        Ok(())
    }

    fn write(&self, out: &mut Vec<u8>) -> Result<()> {
        write_var_uint(out, self.0);
        Ok(())
    }

    fn result(&self) -> Result<ScalarValue> {
        Ok(ScalarValue::UInt64(Some(self.0)))
    }
}

/// The type `sum` of `argument` returns.
pub fn sum_type(argument: &DataType) -> Result<DataType> {
    Ok(match argument {
        DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64
        | DataType::Bool => DataType::UInt64,
        DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 => DataType::Int64,
        DataType::Float32 | DataType::Float64 => DataType::Float64,
        DataType::Decimal(precision, scale) if *precision <= 38 => DataType::Decimal(38, *scale),
        other => return Err(illegal_argument("sum", other)),
    })
}

/// A running sum in `sum`'s result type.
#[derive(Debug, Clone, Copy)]
enum Total {
    Unsigned(u64),
    Signed(i64),
    Float(f64),
    /// Unscaled, with the scale.
    Decimal(i128, u8),
}

impl Total {
    fn new(result: &DataType) -> Total {
        match result {
            DataType::UInt64 => Total::Unsigned(0),
            DataType::Int64 => Total::Signed(0),
            DataType::Decimal(_, scale) => Total::Decimal(0, *scale),
            _ => Total::Float(0.0),
        }
    }

    fn arrow_type(&self) -> ArrowType {
        match self {
            Total::Unsigned(_) => ArrowType::UInt64,
            Total::Signed(_) => ArrowType::Int64,
            Total::Float(_) => ArrowType::Float64,
            Total::Decimal(_, scale) => ArrowType::Decimal128(38, *scale as i8),
        }
    }

    /// Adds every value of `values` (no NULLs).
    fn add_array(&mut self, values: &ArrayRef) -> Result<()> {
        let values = cast(values, &self.arrow_type())?;
        match self {
            Total::Unsigned(total) => {
                for value in values.as_primitive::<UInt64Type>().values() {
                    *total = total.wrapping_add(*value);
                }
            }
            Total::Signed(total) => {
                for value in values.as_primitive::<Int64Type>().values() {
                    *total = total.wrapping_add(*value);
                }
            }
            Total::Float(total) => {
                *total += values
                    .as_primitive::<Float64Type>()
                    .values()
                    .iter()
                    .sum::<f64>();
            }
            Total::Decimal(total, _) => {
                for value in values.as_primitive::<Decimal128Type>().values() {
                    *total = total.wrapping_add(*value);
                }
            }
        }
        Ok(())
    }

    fn merge(&mut self, input: &mut Cursor<'_>) -> Result<()> {
        match self {
            Total::Unsigned(total) => {
                *total = total.wrapping_add(input.read_u64("sum state")?);
            }
            Total::Signed(total) => {
                *total = total.wrapping_add(input.read_u64("sum state")? as i64);
            }
            Total::Float(total) => *total += f64::from_bits(input.read_u64("sum state")?),
            Total::Decimal(total, _) => {
                let bytes = input.read_array::<16>("sum state")?;
                *total = total.wrapping_add(i128::from_le_bytes(bytes));
            }
        }
        Ok(())
    }

    fn write(&self, out: &mut Vec<u8>) {
        match self {
            Total::Unsigned(total) => out.extend_from_slice(&total.to_le_bytes()),
            Total::Signed(total) => out.extend_from_slice(&total.to_le_bytes()),
            Total::Float(total) => out.extend_from_slice(&total.to_le_bytes()),
            Total::Decimal(total, _) => out.extend_from_slice(&total.to_le_bytes()),
        }
    }

    fn value(&self) -> ScalarValue {
        match self {
            Total::Unsigned(total) => ScalarValue::UInt64(Some(*total)),
            Total::Signed(total) => ScalarValue::Int64(Some(*total)),
            Total::Float(total) => ScalarValue::Float64(Some(*total)),
            Total::Decimal(total, scale) => ScalarValue::Decimal128(Some(*total), 38, *scale as i8),
        }
    }

    fn as_f64(&self) -> f64 {
        match self {
            Total::Unsigned(total) => *total as f64,
            Total::Signed(total) => *total as f64,
            Total::Float(total) => *total,
            Total::Decimal(total, scale) => *total as f64 / 10f64.powi(i32::from(*scale)),
        }
    }
}

/// `sum`'s state.
#[derive(Debug)]
pub struct Sum(Total);

impl Sum {
    /// An empty sum of values of `argument`.
    pub fn new(argument: &DataType) -> Result<Sum> {
        Ok(Sum(Total::new(&sum_type(argument)?)))
    }
}

impl State for Sum {
    fn add(&mut self, arguments: &[ArrayRef]) -> Result<()> {
        self.0.add_array(&arguments[0])
    }

    fn merge(&mut self, input: &mut Cursor<'_>) -> Result<()> {
        self.0.merge(input)
    }

    fn write(&self, out: &mut Vec<u8>) -> Result<()> {
        self.0.write(out);
        Ok(())
    }

    fn result(&self) -> Result<ScalarValue> {
        Ok(self.0.value())
    }
}

/// `avg`'s state.
#[derive(Debug)]
pub struct Average {
    total: Total,
    count: u64,
}

impl Average {
    /// An empty average of values of `argument`.
    pub fn new(argument: &DataType) -> Result<Average> {
        if matches!(argument, DataType::Decimal(..)) {
            return Err(Error::not_implemented(format!(
                "states of aggregate function avg({argument})"
            )));
        }
        Ok(Average {
            total: Total::new(&sum_type(argument).map_err(|_| illegal_argument("avg", argument))?),
            count: 0,
        })
    }
}

impl State for Average {
    fn add(&mut self, arguments: &[ArrayRef]) -> Result<()> {
        self.count += arguments[0].len() as u64;
        self.total.add_array(&arguments[0])
    }

    fn merge(&mut self, input: &mut Cursor<'_>) -> Result<()> {
        self.total.merge(input)?;
        self.count += input.read_var_uint("avg count")?;
        Ok(())
    }

    fn write(&self, out: &mut Vec<u8>) -> Result<()> {
        self.total.write(out);
        write_var_uint(out, self.count);
        Ok(())
    }

    fn result(&self) -> Result<ScalarValue> {
        Ok(ScalarValue::Float64(Some(
            self.total.as_f64() / self.count as f64,
        )))
    }
}
