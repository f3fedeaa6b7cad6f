//! How ClickHouse reads a value as a condition: a number is true when it is not zero. `WHERE`,
//! `HAVING`, `AND`, `OR`, `NOT` and `if` take numbers as well as booleans; the SQL rewrite wraps
//! their operands that are not evidently boolean in [`TRUTH`], and the query analysis
//! (`exec::semantics`) replaces it with the operand itself (a boolean) or `operand != 0` (a number),
//! so that filters stay plain comparisons the scan can prune with. What is left is evaluated here.

use arrow_schema::DataType as ArrowType;
use datafusion::arrow::compute::cast;
use datafusion::common::{Result as DfResult, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use granary_protocol::ErrorCode;

use crate::Error;
use crate::functions::arithmetic::is_number;

/// The internal name of the condition function.
pub const TRUTH: &str = "granary_truth";

/// The condition function.
pub fn function() -> ScalarUDF {
    ScalarUDF::new_from_impl(Truth {
        signature: Signature::any(1, Volatility::Immutable),
    })
}

/// Whether a value of `data_type` can be a condition.
pub fn check(data_type: &ArrowType) -> DfResult<()> {
    if is_number(data_type) {
        return Ok(());
    }
    Err(Error::query(
        ErrorCode::ILLEGAL_TYPE_OF_COLUMN_FOR_FILTER,
        format!("Illegal type {data_type} of a condition: it must be a number or a boolean"),
    )
    .into())
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Truth {
    signature: Signature,
}

impl ScalarUDFImpl for Truth {
    fn name(&self) -> &str {
        TRUTH
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[ArrowType]) -> DfResult<ArrowType> {
        check(&arg_types[0])?;
        Ok(ArrowType::Boolean)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        Ok(match &args.args[0] {
            ColumnarValue::Scalar(value) => {
                let array = value.to_array_of_size(1)?;
                ColumnarValue::Scalar(ScalarValue::try_from_array(
                    &cast(&array, &ArrowType::Boolean)?,
                    0,
                )?)
            }
            ColumnarValue::Array(array) => ColumnarValue::Array(cast(array, &ArrowType::Boolean)?),
        })
    }
}
