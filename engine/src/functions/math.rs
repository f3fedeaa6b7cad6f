//! Math functions whose ClickHouse results differ from DataFusion's: `round` (floats round half to
//! even, integers with negative digits half away from zero, types kept), `abs` (a signed integer's
//! absolute value in the unsigned type of its width, so `abs(toInt8(-128))` is 128) and `sign`
//! (`Int8`).

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, Float64Type, Int64Type};
use arrow_array::{Array, ArrayRef, Int8Array};
use arrow_schema::{DataType as ArrowType, FieldRef};
use datafusion::arrow::compute::cast;
use datafusion::common::Result as DfResult;
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};
use granary_protocol::ErrorCode;

use super::arguments::{argument_integer, on_arrays};
use super::arithmetic::wrapping_cast;
use crate::Error;

/// What a math function computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Operation {
    Round,
    Abs,
    Sign,
}

/// The functions of this module.
pub fn functions() -> Vec<ScalarUDF> {
    [Operation::Round, Operation::Abs, Operation::Sign]
        .into_iter()
        .map(|operation| {
            ScalarUDF::new_from_impl(MathFunction {
                operation,
                signature: Signature::variadic_any(Volatility::Immutable),
            })
        })
        .collect()
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct MathFunction {
    operation: Operation,
    signature: Signature,
}

impl MathFunction {
    fn output(&self, input: &ArrowType) -> DfResult<ArrowType> {
        Ok(match (self.operation, input) {
            (Operation::Sign, _) => ArrowType::Int8,
            (Operation::Abs, ArrowType::Int8) => ArrowType::UInt8,
            (Operation::Abs, ArrowType::Int16) => ArrowType::UInt16,
            (Operation::Abs, ArrowType::Int32) => ArrowType::UInt32,
            (Operation::Abs, ArrowType::Int64) => ArrowType::UInt64,
            (_, ArrowType::Null) => ArrowType::Float64,
            (_, number) if number.is_integer() || number.is_floating() => number.clone(),
            (_, other) => {
                return Err(Error::query(
                    ErrorCode::ILLEGAL_TYPE_OF_ARGUMENT,
                    format!(
                        "Illegal type {other} of argument of function {}",
                        self.name()
                    ),
                )
                .into());
            }
        })
    }
}

impl ScalarUDFImpl for MathFunction {
    fn name(&self) -> &str {
        match self.operation {
            Operation::Round => "round",
            Operation::Abs => "abs",
            Operation::Sign => "sign",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[ArrowType]) -> DfResult<ArrowType> {
        self.output(&arg_types[0])
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> DfResult<FieldRef> {
        let most = if self.operation == Operation::Round {
            2
        } else {
            1
        };
        if !(1..=most).contains(&args.arg_fields.len()) {
            return Err(Error::query(
                ErrorCode::NUMBER_OF_ARGUMENTS_DOESNT_MATCH,
                format!(
                    "Number of arguments for function {} doesn't match: passed {}",
                    self.name(),
                    args.arg_fields.len()
                ),
            )
            .into());
        }
        let output = self.output(args.arg_fields[0].data_type())?;
        Ok(super::propagated_field(self.name(), output, &args))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let digits = match args.args.get(1) {
            Some(digits) => argument_integer(digits, self.name(), "precision")?,
            None => 0,
        };
        let output = args.return_field.data_type().clone();
        on_arrays(&args.args[..1], args.number_rows, |arrays| {
            let input = &arrays[0];
            match self.operation {
                Operation::Round => round(input, digits),
                Operation::Abs => abs(input, &output),
                Operation::Sign => sign(input),
            }
        })
    }
}

/// `round(x, digits)`.
fn round(input: &ArrayRef, digits: i64) -> DfResult<ArrayRef> {
    let digits = digits.clamp(-20, 20) as i32;
    Ok(match input.data_type() {
        ArrowType::Float64 => Arc::new(
            input
                .as_primitive::<Float64Type>()
                .unary::<_, Float64Type>(|value| round_half_even(value, digits)),
        ),
        ArrowType::Float32 => Arc::new(
            input
                .as_primitive::<Float32Type>()
                .unary::<_, Float32Type>(|value| round_half_even(f64::from(value), digits) as f32),
        ),
        ArrowType::Null => Arc::clone(input),
        integer if digits >= 0 => {
            debug_assert!(integer.is_integer());
            Arc::clone(input)
        }
        integer => {
            let step = 10i128.pow(digits.unsigned_abs());
            let wide = cast(input, &ArrowType::Decimal128(38, 0))?;
            let rounded = wide
                .as_primitive::<arrow_array::types::Decimal128Type>()
                .unary::<_, arrow_array::types::Decimal128Type>(|value| {
                let remainder = value % step;
                let down = value - remainder;
                if remainder.abs() * 2 >= step {
                    down + step * value.signum()
                } else {
                    down
                }
            });
            let rounded: ArrayRef = Arc::new(rounded.with_precision_and_scale(38, 0)?);
            wrapping_cast(&cast(&rounded, &ArrowType::Int64)?, integer)?
        }
    })
}

/// `value` rounded to `digits` decimal places, ties to even (ClickHouse's float rounding).
fn round_half_even(value: f64, digits: i32) -> f64 {
    if digits >= 0 {
        let scale = 10f64.powi(digits);
        let scaled = value * scale;
        if !scaled.is_finite() {
            return value;
        }
        scaled.round_ties_even() / scale
    } else {
        let scale = 10f64.powi(-digits);
        (value / scale).round_ties_even() * scale
    }
}

/// `abs(x)`, signed integers into the unsigned type of their width.
fn abs(input: &ArrayRef, output: &ArrowType) -> DfResult<ArrayRef> {
    Ok(match input.data_type() {
        ArrowType::Float64 => Arc::new(
            input
                .as_primitive::<Float64Type>()
                .unary::<_, Float64Type>(f64::abs),
        ),
        ArrowType::Float32 => Arc::new(
            input
                .as_primitive::<Float32Type>()
                .unary::<_, Float32Type>(f32::abs),
        ),
        signed @ (ArrowType::Int8 | ArrowType::Int16 | ArrowType::Int32 | ArrowType::Int64) => {
            debug_assert!(signed.is_signed_integer());
            let wide = cast(input, &ArrowType::Int64)?;
            let magnitudes = wide
                .as_primitive::<Int64Type>()
                .unary::<_, arrow_array::types::UInt64Type>(i64::unsigned_abs);
            cast(&magnitudes, output)?
        }
        _ => Arc::clone(input),
    })
}

/// `sign(x)`: -1, 0 or 1 as Int8.
fn sign(input: &ArrayRef) -> DfResult<ArrayRef> {
    let values = cast(input, &ArrowType::Float64)?;
    let signs: Int8Array = values
        .as_primitive::<Float64Type>()
        .iter()
        .map(|value| {
            value.map(|value| {
                if value > 0.0 {
                    1
                } else if value < 0.0 {
                    -1
                } else {
                    0
                }
            })
        })
        .collect();
    Ok(Arc::new(signs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_matches_clickhouse() {
        assert_eq!(round_half_even(2.5, 0), 2.0);
        assert_eq!(round_half_even(-2.5, 0), -2.0);
        assert_eq!(round_half_even(1.25, 1), 1.2);
        assert_eq!(round_half_even(5.4321, 2), 5.43);
        assert_eq!(round_half_even(1234.5678, -2), 1200.0);
        let integers: ArrayRef = Arc::new(arrow_array::UInt8Array::from(vec![15, 25, 14]));
        let rounded = round(&integers, -1).unwrap();
        assert_eq!(
            rounded
                .as_primitive::<arrow_array::types::UInt8Type>()
                .values(),
            &[20, 30, 10]
        );
    }
}
