//! `+` and `-` on dates and times, as ClickHouse has them: `Date ± n` moves by n days and keeps the
//! date's type, `DateTime ± n` by n seconds and keeps the type with its time zone (a float `n` is
//! truncated), `n + date` is `date + n`, and the difference of two dates (two `DateTime`s) is the
//! `Int32` number of days (seconds) between them. `exec::planner` routes the SQL operators here
//! when an operand is a date; other mixes are ILLEGAL_TYPE_OF_ARGUMENT.

use std::sync::Arc;

use arrow_array::ArrayRef;
use arrow_schema::{DataType as ArrowType, Field, FieldRef, TimeUnit};
use datafusion::arrow::compute::cast;
use datafusion::arrow::compute::kernels::numeric;
use datafusion::common::Result as DfResult;
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};
use granary_protocol::ErrorCode;

use crate::error::Error;
use crate::functions::arithmetic::is_number;
use crate::functions::type_name::clickhouse_type;

/// The name of the function `date + n` is planned as.
pub const DATE_PLUS: &str = "date_plus";
/// The name of the function `date - n` and `date - date` are planned as.
pub const DATE_MINUS: &str = "date_minus";

/// Whether values of `data_type` are dates or times this module moves: `Date`, `Date32` and
/// `DateTime`.
pub fn is_date(data_type: &ArrowType) -> bool {
    matches!(
        data_type,
        ArrowType::Date32 | ArrowType::Timestamp(TimeUnit::Second, _)
    )
}

/// Whether `left ± right` belongs to this module: a date and a number, or two dates.
pub fn applies(left: &ArrowType, right: &ArrowType) -> bool {
    (is_date(left) && (is_date(right) || is_amount(right))) || (is_amount(left) && is_date(right))
}

/// Numbers a date moves by; decimals too, as DataFusion may type an integer expression as one
/// before ClickHouse's types apply (`number % 3`).
fn is_amount(data_type: &ArrowType) -> bool {
    is_number(data_type) || matches!(data_type, ArrowType::Decimal128(..))
}

/// `date_plus` and `date_minus`.
pub fn functions() -> Vec<ScalarUDF> {
    [false, true]
        .into_iter()
        .map(|minus| udf(minus).as_ref().clone())
        .collect()
}

/// `date_minus` if `minus`, else `date_plus`.
pub fn udf(minus: bool) -> Arc<ScalarUDF> {
    Arc::new(ScalarUDF::new_from_impl(DateShift {
        minus,
        signature: Signature::any(2, Volatility::Immutable),
    }))
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct DateShift {
    minus: bool,
    signature: Signature,
}

/// What a call computes, from its operand types.
enum Shape {
    /// The date at this index moved by the other operand.
    Moved { date: usize },
    /// The distance between two dates.
    Distance,
}

impl DateShift {
    fn operator(&self) -> &'static str {
        if self.minus { "minus" } else { "plus" }
    }

    fn shape(&self, fields: &[FieldRef]) -> DfResult<Shape> {
        let [left, right] = fields else {
            return Err(Error::query(
                ErrorCode::NUMBER_OF_ARGUMENTS_DOESNT_MATCH,
                format!("function {} takes two arguments", self.operator()),
            )
            .into());
        };
        let (left_type, right_type) = (left.data_type(), right.data_type());
        let same_kind = std::mem::discriminant(left_type) == std::mem::discriminant(right_type);
        Ok(match (is_date(left_type), is_date(right_type)) {
            (true, false) if is_amount(right_type) => Shape::Moved { date: 0 },
            (false, true) if !self.minus && is_amount(left_type) => Shape::Moved { date: 1 },
            (true, true) if self.minus && same_kind => Shape::Distance,
            _ => {
                let name = |field: &FieldRef| {
                    clickhouse_type(field)
                        .map_or_else(|_| field.data_type().to_string(), |t| t.to_string())
                };
                return Err(Error::query(
                    ErrorCode::ILLEGAL_TYPE_OF_ARGUMENT,
                    format!(
                        "illegal types {} and {} of arguments of function {}",
                        name(left),
                        name(right),
                        self.operator()
                    ),
                )
                .into());
            }
        })
    }
}

impl ScalarUDFImpl for DateShift {
    fn name(&self) -> &str {
        if self.minus { DATE_MINUS } else { DATE_PLUS }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[ArrowType]) -> DfResult<ArrowType> {
        crate::functions::typed_by_fields(self.name())
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> DfResult<FieldRef> {
        let nullable = args.arg_fields.iter().any(|field| field.is_nullable());
        Ok(match self.shape(args.arg_fields)? {
            // The date's own field, so that its ClickHouse type (Date or Date32) stays.
            Shape::Moved { date } => Arc::new(
                args.arg_fields[date]
                    .as_ref()
                    .clone()
                    .with_name(self.name())
                    .with_nullable(nullable),
            ),
            Shape::Distance => Arc::new(Field::new(self.name(), ArrowType::Int32, nullable)),
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let shape = self.shape(&args.arg_fields)?;
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let as_int64 = |array: &ArrayRef| -> DfResult<ArrayRef> {
            let array = match array.data_type() {
                ArrowType::Date32 => cast(array, &ArrowType::Int32)?,
                ArrowType::Timestamp(..) => cast(array, &ArrowType::Int64)?,
                _ => array.clone(),
            };
            Ok(cast(&array, &ArrowType::Int64)?)
        };
        let (left, right) = (as_int64(&arrays[0])?, as_int64(&arrays[1])?);
        let result = if self.minus {
            numeric::sub_wrapping(&left, &right)?
        } else {
            numeric::add_wrapping(&left, &right)?
        };
        let output = args.return_field.data_type();
        let result = match (shape, output) {
            (Shape::Distance, _) => cast(&result, &ArrowType::Int32)?,
            (_, ArrowType::Date32) => cast(&cast(&result, &ArrowType::Int32)?, output)?,
            _ => cast(&result, output)?,
        };
        Ok(ColumnarValue::Array(result))
    }
}
