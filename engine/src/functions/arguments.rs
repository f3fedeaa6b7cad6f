//! The arguments functions take as constants (units, time zones, formats, precisions): read at
//! planning from the literal arguments, and at execution from the scalar values.

use arrow_array::ArrayRef;
use arrow_schema::DataType as ArrowType;
use datafusion::common::{Result as DfResult, ScalarValue};
use datafusion::logical_expr::{ColumnarValue, ReturnFieldArgs};
use granary_protocol::ErrorCode;

use crate::Error;

/// The constant string argument `index` as planning sees it (`None` when absent or not a constant
/// string).
pub fn constant_string(args: &ReturnFieldArgs, index: usize) -> Option<String> {
    match args.scalar_arguments.get(index).copied().flatten()? {
        ScalarValue::Utf8(value) | ScalarValue::LargeUtf8(value) | ScalarValue::Utf8View(value) => {
            value.clone()
        }
        _ => None,
    }
}

/// The constant integer argument `index` as planning sees it.
pub fn constant_integer(args: &ReturnFieldArgs, index: usize) -> Option<i64> {
    scalar_integer(args.scalar_arguments.get(index).copied().flatten()?)
}

fn scalar_integer(value: &ScalarValue) -> Option<i64> {
    if !value.data_type().is_integer() {
        return None;
    }
    match value.cast_to(&ArrowType::Int64).ok()? {
        ScalarValue::Int64(value) => value,
        _ => None,
    }
}

/// A constant string argument at execution; an error naming the function when it is not one.
pub fn argument_string(value: &ColumnarValue, function: &str, what: &str) -> DfResult<String> {
    match value {
        ColumnarValue::Scalar(
            ScalarValue::Utf8(Some(text))
            | ScalarValue::LargeUtf8(Some(text))
            | ScalarValue::Utf8View(Some(text)),
        ) => Ok(text.clone()),
        _ => Err(Error::query(
            ErrorCode::ILLEGAL_COLUMN,
            format!("The {what} argument of function {function} must be a constant string"),
        )
        .into()),
    }
}

/// A constant integer argument at execution.
pub fn argument_integer(value: &ColumnarValue, function: &str, what: &str) -> DfResult<i64> {
    match value {
        ColumnarValue::Scalar(scalar) => scalar_integer(scalar),
        ColumnarValue::Array(_) => None,
    }
    .ok_or_else(|| {
        Error::query(
            ErrorCode::ILLEGAL_COLUMN,
            format!("The {what} argument of function {function} must be a constant integer"),
        )
        .into()
    })
}

/// Runs `f` on the arguments as arrays and gives a scalar back when every argument was one.
pub fn on_arrays(
    args: &[ColumnarValue],
    rows: usize,
    f: impl FnOnce(&[ArrayRef]) -> DfResult<ArrayRef>,
) -> DfResult<ColumnarValue> {
    let all_scalars = args
        .iter()
        .all(|arg| matches!(arg, ColumnarValue::Scalar(_)));
    let rows = if all_scalars { 1 } else { rows };
    let arrays = args
        .iter()
        .map(|arg| arg.to_array(rows))
        .collect::<DfResult<Vec<_>>>()?;
    let result = f(&arrays)?;
    if all_scalars {
        return Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(
            &result, 0,
        )?));
    }
    Ok(ColumnarValue::Array(result))
}

/// The optional constant time zone argument at `index`, if the call has one.
pub fn time_zone_argument(
    args: &[ColumnarValue],
    index: usize,
    function: &str,
) -> DfResult<Option<String>> {
    args.get(index)
        .map(|zone| argument_string(zone, function, "time zone"))
        .transpose()
}
