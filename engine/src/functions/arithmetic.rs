//! The arithmetic operators on numbers as ClickHouse has them: `plus`, `minus`, `multiply`,
//! `divide`, `intDiv`, `modulo` and `negate`, with ClickHouse's result types and overflow that
//! wraps around.
//!
//! Result types (measured on ClickHouse): `plus` and `multiply` of integers widen the wider operand
//! to the next size (at most 64 bits), signed if either operand is; `minus` does the same but is
//! always signed; anything with a float is `Float64`; `divide` is always `Float64`; `intDiv` keeps
//! the dividend's width (signed if either operand is; a float dividend gives `Int32`/`Int64`);
//! `modulo` of an unsigned dividend has the divisor's width, unsigned; of a signed dividend, twice
//! the divisor's width, signed. The SQL operators `+ - * / %` and unary `-` on numbers are these
//! functions (see `exec::semantics`); on dates, intervals and decimals they stay DataFusion's.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type, UInt16Type, UInt32Type,
    UInt64Type,
};
use arrow_array::{Array, ArrayRef, Datum, Scalar, new_null_array};
use arrow_schema::{DataType as ArrowType, FieldRef};
use datafusion::arrow::compute::kernels::numeric;
use datafusion::arrow::compute::{cast, kernels::cmp};
use datafusion::common::{Result as DfResult, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};
use granary_protocol::ErrorCode;

use crate::Error;
use crate::functions::{argument_types, propagated_field};

/// An arithmetic function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    Plus,
    Minus,
    Multiply,
    Divide,
    IntDiv,
    Modulo,
    Negate,
}

impl Operation {
    /// All of them.
    pub const ALL: [Operation; 7] = [
        Operation::Plus,
        Operation::Minus,
        Operation::Multiply,
        Operation::Divide,
        Operation::IntDiv,
        Operation::Modulo,
        Operation::Negate,
    ];

    /// The ClickHouse function name.
    pub fn name(self) -> &'static str {
        match self {
            Operation::Plus => "plus",
            Operation::Minus => "minus",
            Operation::Multiply => "multiply",
            Operation::Divide => "divide",
            Operation::IntDiv => "intDiv",
            Operation::Modulo => "modulo",
            Operation::Negate => "negate",
        }
    }

    fn arity(self) -> usize {
        if self == Operation::Negate { 1 } else { 2 }
    }
}

/// The functions of this module.
pub fn functions() -> Vec<ScalarUDF> {
    Operation::ALL
        .into_iter()
        .map(|operation| ScalarUDF::new_from_impl(Arithmetic::new(operation)))
        .collect()
}

/// The UDF of one operation.
pub fn udf(operation: Operation) -> Arc<ScalarUDF> {
    Arc::new(ScalarUDF::new_from_impl(Arithmetic::new(operation)))
}

/// What ClickHouse's type rules need to know about a number type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Number {
    float: bool,
    signed: bool,
    bits: u8,
}

impl Number {
    fn of(data_type: &ArrowType) -> Option<Number> {
        let (float, signed, bits) = match data_type {
            ArrowType::Boolean | ArrowType::UInt8 => (false, false, 8),
            ArrowType::UInt16 => (false, false, 16),
            ArrowType::UInt32 => (false, false, 32),
            ArrowType::UInt64 => (false, false, 64),
            ArrowType::Int8 => (false, true, 8),
            ArrowType::Int16 => (false, true, 16),
            ArrowType::Int32 => (false, true, 32),
            ArrowType::Int64 => (false, true, 64),
            ArrowType::Float32 => (true, true, 32),
            ArrowType::Float64 => (true, true, 64),
            ArrowType::Dictionary(_, values) => return Number::of(values),
            _ => return None,
        };
        Some(Number {
            float,
            signed,
            bits,
        })
    }
}

/// Whether `data_type` is a number the operators of this module take (`Null` included).
pub fn is_number(data_type: &ArrowType) -> bool {
    *data_type == ArrowType::Null || Number::of(data_type).is_some()
}

fn integer(signed: bool, bits: u8) -> ArrowType {
    match (signed, bits.min(64)) {
        (false, 8) => ArrowType::UInt8,
        (false, 16) => ArrowType::UInt16,
        (false, 32) => ArrowType::UInt32,
        (false, _) => ArrowType::UInt64,
        (true, 8) => ArrowType::Int8,
        (true, 16) => ArrowType::Int16,
        (true, 32) => ArrowType::Int32,
        (true, _) => ArrowType::Int64,
    }
}

/// ClickHouse's result type of `operation` on `arguments` (`Null` if any is `Null`).
pub fn result_type(operation: Operation, arguments: &[ArrowType]) -> DfResult<ArrowType> {
    if arguments.len() != operation.arity() {
        return Err(Error::query(
            ErrorCode::NUMBER_OF_ARGUMENTS_DOESNT_MATCH,
            format!(
                "Number of arguments for function {} doesn't match: passed {}, should be {}",
                operation.name(),
                arguments.len(),
                operation.arity()
            ),
        )
        .into());
    }
    if arguments.contains(&ArrowType::Null) {
        return Ok(ArrowType::Null);
    }
    let numbers: Option<Vec<Number>> = arguments.iter().map(Number::of).collect();
    let Some(numbers) = numbers else {
        let names: Vec<String> = arguments.iter().map(|t| t.to_string()).collect();
        return Err(Error::query(
            ErrorCode::ILLEGAL_TYPE_OF_ARGUMENT,
            format!(
                "Illegal types {} of arguments of function {}",
                names.join(" and "),
                operation.name()
            ),
        )
        .into());
    };
    if let [x] = numbers.as_slice() {
        return Ok(match (x.float, x.signed) {
            (true, _) => arguments[0].clone(),
            (false, true) => integer(true, x.bits),
            (false, false) => integer(true, (x.bits * 2).min(64)),
        });
    }
    let (a, b) = (numbers[0], numbers[1]);
    let any_float = a.float || b.float;
    let widened = (a.bits.max(b.bits) * 2).min(64);
    Ok(match operation {
        Operation::Divide => ArrowType::Float64,
        _ if any_float && operation != Operation::IntDiv => ArrowType::Float64,
        Operation::Plus | Operation::Multiply => integer(a.signed || b.signed, widened),
        Operation::Minus => integer(true, widened),
        Operation::IntDiv if a.float => integer(true, a.bits),
        Operation::IntDiv => integer(a.signed || b.signed, a.bits),
        Operation::Modulo if a.signed => integer(true, (b.bits * 2).min(64)),
        Operation::Modulo => integer(false, b.bits),
        Operation::Negate => unreachable!("negate takes one argument"),
    })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Arithmetic {
    operation: Operation,
    signature: Signature,
}

impl Arithmetic {
    fn new(operation: Operation) -> Arithmetic {
        Arithmetic {
            operation,
            signature: Signature::any(operation.arity(), Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for Arithmetic {
    fn name(&self) -> &str {
        self.operation.name()
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[ArrowType]) -> DfResult<ArrowType> {
        result_type(self.operation, arg_types)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> DfResult<FieldRef> {
        let data_type = result_type(self.operation, &argument_types(&args))?;
        Ok(propagated_field(self.name(), data_type, &args))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let types: Vec<ArrowType> = args.args.iter().map(|arg| arg.data_type()).collect();
        let output = result_type(self.operation, &types)?;
        let all_scalar = args
            .args
            .iter()
            .all(|arg| matches!(arg, ColumnarValue::Scalar(_)));
        if output == ArrowType::Null {
            return Ok(if all_scalar {
                ColumnarValue::Scalar(ScalarValue::Null)
            } else {
                ColumnarValue::Array(new_null_array(&ArrowType::Null, args.number_rows))
            });
        }
        let operands: Vec<Operand> = args
            .args
            .iter()
            .map(|arg| match arg {
                ColumnarValue::Scalar(value) => Ok(Operand {
                    values: value.to_array_of_size(1)?,
                    scalar: true,
                }),
                ColumnarValue::Array(array) => Ok(Operand {
                    values: Arc::clone(array),
                    scalar: false,
                }),
            })
            .collect::<DfResult<_>>()?;
        let result = compute(self.operation, &operands, &output)?;
        if all_scalar {
            return Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(
                &result, 0,
            )?));
        }
        Ok(ColumnarValue::Array(result))
    }
}

/// An argument: an array, or a scalar held as a one-row array.
struct Operand {
    values: ArrayRef,
    scalar: bool,
}

impl Operand {
    /// The operand converted to `to` (integers wrap around).
    fn converted(&self, to: &ArrowType) -> DfResult<Operand> {
        Ok(Operand {
            values: wrapping_cast(&self.values, to)?,
            scalar: self.scalar,
        })
    }

    fn datum(&self) -> Box<dyn Datum + '_> {
        if self.scalar {
            Box::new(Scalar::new(Arc::clone(&self.values)))
        } else {
            Box::new(&self.values)
        }
    }
}

fn compute(operation: Operation, operands: &[Operand], output: &ArrowType) -> DfResult<ArrayRef> {
    use Operation as O;
    let binary = |kernel: fn(&dyn Datum, &dyn Datum) -> Result<ArrayRef, _>,
                  at: &ArrowType|
     -> DfResult<ArrayRef> {
        let left = operands[0].converted(at)?;
        let right = operands[1].converted(at)?;
        Ok(kernel(left.datum().as_ref(), right.datum().as_ref())?)
    };
    let result = match operation {
        O::Plus => binary(numeric::add_wrapping, output)?,
        O::Minus => binary(numeric::sub_wrapping, output)?,
        O::Multiply => binary(numeric::mul_wrapping, output)?,
        O::Divide => binary(numeric::div, output)?,
        O::Negate => numeric::neg_wrapping(&wrapping_cast(&operands[0].values, output)?)?,
        O::IntDiv | O::Modulo => {
            let domain = integer_domain(operands);
            if domain == ArrowType::Float64 {
                check_divisor(&operands[1])?;
            }
            let kernel = if operation == O::IntDiv {
                numeric::div
            } else {
                numeric::rem
            };
            let quotient = binary(kernel, &domain)?;
            if domain == ArrowType::Float64 && operation == O::IntDiv {
                let truncated = quotient
                    .as_primitive::<Float64Type>()
                    .unary::<_, Float64Type>(f64::trunc);
                cast(&truncated, output)?
            } else {
                wrapping_cast(&quotient, output)?
            }
        }
    };
    Ok(result)
}

/// The type `intDiv` and `modulo` compute in: `Float64` with a float operand, else `UInt64` for two
/// unsigned operands and `Int64` otherwise.
fn integer_domain(operands: &[Operand]) -> ArrowType {
    let numbers: Vec<Number> = operands
        .iter()
        .filter_map(|operand| Number::of(operand.values.data_type()))
        .collect();
    if numbers.iter().any(|number| number.float) {
        ArrowType::Float64
    } else if numbers.iter().all(|number| !number.signed) {
        ArrowType::UInt64
    } else {
        ArrowType::Int64
    }
}

/// ClickHouse refuses an integer division by zero, even of floats.
fn check_divisor(divisor: &Operand) -> DfResult<()> {
    let values = cast(&divisor.values, &ArrowType::Float64)?;
    let zero = Scalar::new(arrow_array::Float64Array::from(vec![0.0]));
    let zeros = cmp::eq(&values, &zero)?;
    if zeros.true_count() > 0 {
        return Err(arrow_schema::ArrowError::DivideByZero.into());
    }
    Ok(())
}

/// `array` as `to`; between integer types the bits wrap around as in ClickHouse (and C), other
/// conversions are Arrow's.
pub fn wrapping_cast(array: &ArrayRef, to: &ArrowType) -> DfResult<ArrayRef> {
    let from = array.data_type();
    if from == to {
        return Ok(Arc::clone(array));
    }
    if let ArrowType::Dictionary(_, values) = from {
        let plain = cast(array, values)?;
        return wrapping_cast(&plain, to);
    }
    if *from == ArrowType::Boolean {
        let bytes = cast(array, &ArrowType::UInt8)?;
        return wrapping_cast(&bytes, to);
    }
    let from_integer = Number::of(from).is_some_and(|number| !number.float);
    let to_integer = Number::of(to).is_some_and(|number| !number.float);
    if !(from_integer && to_integer) {
        return Ok(cast(array, to)?);
    }
    macro_rules! to_type {
        ($from:ty) => {{
            let values = array.as_primitive::<$from>();
            let converted: ArrayRef = match to {
                ArrowType::UInt8 => Arc::new(values.unary::<_, UInt8Type>(|v| v as u8)),
                ArrowType::UInt16 => Arc::new(values.unary::<_, UInt16Type>(|v| v as u16)),
                ArrowType::UInt32 => Arc::new(values.unary::<_, UInt32Type>(|v| v as u32)),
                ArrowType::UInt64 => Arc::new(values.unary::<_, UInt64Type>(|v| v as u64)),
                ArrowType::Int8 => Arc::new(values.unary::<_, Int8Type>(|v| v as i8)),
                ArrowType::Int16 => Arc::new(values.unary::<_, Int16Type>(|v| v as i16)),
                ArrowType::Int32 => Arc::new(values.unary::<_, Int32Type>(|v| v as i32)),
                _ => Arc::new(values.unary::<_, Int64Type>(|v| v as i64)),
            };
            converted
        }};
    }
    Ok(match from {
        ArrowType::UInt8 => to_type!(UInt8Type),
        ArrowType::UInt16 => to_type!(UInt16Type),
        ArrowType::UInt32 => to_type!(UInt32Type),
        ArrowType::UInt64 => to_type!(UInt64Type),
        ArrowType::Int8 => to_type!(Int8Type),
        ArrowType::Int16 => to_type!(Int16Type),
        ArrowType::Int32 => to_type!(Int32Type),
        _ => to_type!(Int64Type),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ArrowType as T;

    #[test]
    fn result_types_are_clickhouses() {
        let cases = [
            (Operation::Plus, T::UInt8, T::UInt8, T::UInt16),
            (Operation::Plus, T::UInt8, T::Int8, T::Int16),
            (Operation::Plus, T::UInt64, T::UInt64, T::UInt64),
            (Operation::Plus, T::UInt64, T::Int8, T::Int64),
            (Operation::Plus, T::Float32, T::Float32, T::Float64),
            (Operation::Minus, T::UInt8, T::UInt8, T::Int16),
            (Operation::Minus, T::UInt32, T::UInt8, T::Int64),
            (Operation::Multiply, T::UInt16, T::Int8, T::Int32),
            (Operation::Divide, T::UInt8, T::UInt8, T::Float64),
            (Operation::IntDiv, T::UInt8, T::Int64, T::Int8),
            (Operation::IntDiv, T::UInt16, T::UInt64, T::UInt16),
            (Operation::IntDiv, T::Float32, T::UInt8, T::Int32),
            (Operation::Modulo, T::UInt64, T::Int8, T::UInt8),
            (Operation::Modulo, T::Int8, T::UInt16, T::Int32),
            (Operation::Modulo, T::Int64, T::Int8, T::Int16),
            (Operation::Modulo, T::UInt8, T::Float32, T::Float64),
        ];
        for (operation, left, right, expected) in cases {
            assert_eq!(
                result_type(operation, &[left.clone(), right.clone()]).unwrap(),
                expected,
                "{}({left}, {right})",
                operation.name()
            );
        }
        assert_eq!(
            result_type(Operation::Negate, &[T::UInt8]).unwrap(),
            T::Int16
        );
        assert_eq!(
            result_type(Operation::Negate, &[T::Int32]).unwrap(),
            T::Int32
        );
    }

    #[test]
    fn integer_overflow_wraps() {
        let max: ArrayRef = Arc::new(arrow_array::UInt64Array::from(vec![u64::MAX]));
        let one: ArrayRef = Arc::new(arrow_array::UInt8Array::from(vec![1u8]));
        let operands = [
            Operand {
                values: max,
                scalar: false,
            },
            Operand {
                values: one,
                scalar: false,
            },
        ];
        let sum = compute(Operation::Plus, &operands, &T::UInt64).unwrap();
        assert_eq!(sum.as_primitive::<UInt64Type>().value(0), 0);
    }

    #[test]
    fn integer_division_truncates_and_refuses_zero() {
        let seven: ArrayRef = Arc::new(arrow_array::Int64Array::from(vec![-7]));
        let two: ArrayRef = Arc::new(arrow_array::Float64Array::from(vec![2.0]));
        let zero: ArrayRef = Arc::new(arrow_array::Float64Array::from(vec![0.0]));
        let operand = |values: &ArrayRef| Operand {
            values: Arc::clone(values),
            scalar: false,
        };
        let quotient = compute(
            Operation::IntDiv,
            &[operand(&seven), operand(&two)],
            &T::Int64,
        )
        .unwrap();
        assert_eq!(quotient.as_primitive::<Int64Type>().value(0), -3);
        assert!(
            compute(
                Operation::IntDiv,
                &[operand(&seven), operand(&zero)],
                &T::Int64
            )
            .is_err()
        );
    }
}
