//! DataFusion's functions that build values whose size an argument chooses (`range`,
//! `generate_series`, `repeat`, `lpad`/`rpad`), wrapped so that they check the size first, with
//! ClickHouse's limits and codes: a statement can ask for 20 GB, but it gets an error, not the
//! allocation.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{Array, ArrayRef};
use arrow_schema::{DataType as ArrowType, FieldRef};
use datafusion::arrow;
use datafusion::common::Result as DfResult;
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
};
use granary_protocol::ErrorCode;

use crate::Error;

/// ClickHouse's `function_range_max_elements_in_block`.
pub const RANGE_MAX_ELEMENTS: u64 = 500_000_000;
/// ClickHouse's largest string `repeat` makes (1 GiB).
pub const REPEAT_MAX_BYTES: u64 = 1 << 30;
/// ClickHouse's largest `leftPad`/`rightPad` length.
pub const PAD_MAX_LENGTH: i64 = 1_000_000;

/// What a wrapped function checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Check {
    /// `range(end)`, `range(start, end[, step])`: elements over the block; `inclusive` for
    /// `generate_series`.
    Elements { inclusive: bool },
    /// `repeat(s, n)`: bytes of each result.
    Repeat,
    /// `lpad(s, n[, fill])`: the length asked for.
    Pad,
}

/// A DataFusion function behind a size check.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Bounded {
    inner: Arc<ScalarUDF>,
    check: Check,
}

impl Bounded {
    /// The wrapped form of `inner` when it is one of the functions that need a check.
    pub fn wrap(inner: &Arc<ScalarUDF>) -> Option<ScalarUDF> {
        let check = match inner.name() {
            "range" => Check::Elements { inclusive: false },
            "generate_series" => Check::Elements { inclusive: true },
            "repeat" => Check::Repeat,
            "lpad" | "rpad" => Check::Pad,
            _ => return None,
        };
        Some(ScalarUDF::new_from_impl(Bounded {
            inner: Arc::clone(inner),
            check,
        }))
    }

    fn check(&self, args: &[ColumnarValue], rows: usize) -> DfResult<()> {
        match self.check {
            Check::Elements { inclusive } => {
                let Some(integers) = integers(args, rows) else {
                    return Ok(());
                };
                let (start, end, step) = match integers.as_slice() {
                    [end] => (None, end, None),
                    [start, end] => (Some(start), end, None),
                    [start, end, step] => (Some(start), end, Some(step)),
                    _ => return Ok(()),
                };
                let mut total: u64 = 0;
                for row in 0..rows {
                    let value = |array: &ArrayRef| {
                        let array = array.as_primitive::<Int64Type>();
                        (!array.is_null(row)).then(|| array.value(row))
                    };
                    let (Some(end), Some(start), Some(step)) = (
                        value(end),
                        start.map_or(Some(0), value),
                        step.map_or(Some(1), value),
                    ) else {
                        continue;
                    };
                    let span = if step > 0 {
                        i128::from(end) - i128::from(start)
                    } else {
                        i128::from(start) - i128::from(end)
                    };
                    let step = i128::from(step).unsigned_abs().max(1);
                    let count = if span <= 0 {
                        u128::from(inclusive && span == 0)
                    } else {
                        let span = span as u128;
                        span.div_ceil(step) + u128::from(inclusive && span.is_multiple_of(step))
                    };
                    total = total.saturating_add(u64::try_from(count).unwrap_or(u64::MAX));
                    if total > RANGE_MAX_ELEMENTS {
                        return Err(Error::query(
                            ErrorCode::ARGUMENT_OUT_OF_BOUND,
                            format!(
                                "A call to function {} would produce {total} array elements, \
                                 which is greater than the allowed maximum of {RANGE_MAX_ELEMENTS}",
                                self.inner.name()
                            ),
                        )
                        .into());
                    }
                }
                Ok(())
            }
            Check::Repeat => {
                let (Some(text), Some(times)) = (args.first(), args.get(1)) else {
                    return Ok(());
                };
                let Some(times) = integers(std::slice::from_ref(times), rows) else {
                    return Ok(());
                };
                let times = times[0].as_primitive::<Int64Type>();
                let text = text.to_array(rows)?;
                let lengths = arrow::compute::kernels::length::length(&text).ok();
                let lengths = lengths
                    .as_ref()
                    .and_then(|array| arrow::compute::cast(array, &ArrowType::Int64).ok());
                for row in 0..rows {
                    let length = lengths
                        .as_ref()
                        .map(|array| array.as_primitive::<Int64Type>())
                        .filter(|array| !array.is_null(row))
                        .map_or(0, |array| array.value(row));
                    let count = if times.is_null(row) {
                        0
                    } else {
                        times.value(row)
                    };
                    let bytes = (length.max(0) as u64).saturating_mul(count.max(0) as u64);
                    if bytes > REPEAT_MAX_BYTES {
                        return Err(Error::query(
                            ErrorCode::TOO_LARGE_STRING_SIZE,
                            format!(
                                "Too large string size ({bytes}) in function repeat, maximum is: \
                                 {REPEAT_MAX_BYTES}"
                            ),
                        )
                        .into());
                    }
                }
                Ok(())
            }
            Check::Pad => {
                let Some(length) = args.get(1) else {
                    return Ok(());
                };
                let Some(length) = integers(std::slice::from_ref(length), rows) else {
                    return Ok(());
                };
                let length = length[0].as_primitive::<Int64Type>();
                if let Some(too_long) = length.iter().flatten().find(|n| *n > PAD_MAX_LENGTH) {
                    return Err(Error::query(
                        ErrorCode::TOO_LARGE_STRING_SIZE,
                        format!(
                            "New padded length ({too_long}) is too big, maximum is: \
                             {PAD_MAX_LENGTH}"
                        ),
                    )
                    .into());
                }
                Ok(())
            }
        }
    }
}

/// The arguments as Int64 arrays of `rows` rows, when every one is an integer.
fn integers(args: &[ColumnarValue], rows: usize) -> Option<Vec<ArrayRef>> {
    args.iter()
        .map(|arg| {
            let data_type = arg.data_type();
            if !data_type.is_integer() {
                return None;
            }
            let array = arg.to_array(rows).ok()?;
            // Values past Int64 (UInt64 above 2^63) become NULL: they are checked as the largest.
            let options = arrow::compute::CastOptions {
                safe: true,
                ..Default::default()
            };
            let cast =
                arrow::compute::cast_with_options(&array, &ArrowType::Int64, &options).ok()?;
            if cast.null_count() > array.null_count() {
                return Some(Arc::new(arrow_array::Int64Array::from(vec![i64::MAX; rows])) as _);
            }
            Some(cast)
        })
        .collect()
}

impl ScalarUDFImpl for Bounded {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn return_type(&self, arg_types: &[ArrowType]) -> DfResult<ArrowType> {
        self.inner.return_type(arg_types)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> DfResult<FieldRef> {
        self.inner.return_field_from_args(args)
    }

    fn coerce_types(&self, arg_types: &[ArrowType]) -> DfResult<Vec<ArrowType>> {
        self.inner.coerce_types(arg_types)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        self.check(&args.args, args.number_rows)?;
        self.inner.invoke_with_args(args)
    }
}
