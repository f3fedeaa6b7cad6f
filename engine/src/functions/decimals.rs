//! `toDecimal32(x, S)`, `toDecimal64(x, S)`, `toDecimal128(x, S)`, `toDecimal256(x, S)` and
//! `toDecimalOfPrecision(x, P, S)` (what `CAST(x AS Decimal(P, S))` becomes), with ClickHouse's
//! rules: extra fractional digits are cut off, not rounded (`toDecimal32('3.14159', 2)` is 3.14);
//! a value that does not fit is `DECIMAL_OVERFLOW`, a string that is not a number
//! `CANNOT_PARSE_TEXT`.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Decimal128Type, Decimal256Type, Float64Type};
use arrow_array::{Array, ArrayRef, Decimal128Array};
use arrow_schema::{DataType as ArrowType, FieldRef};
use datafusion::arrow::compute::cast;
use datafusion::common::Result as DfResult;
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};
use granary_protocol::ErrorCode;
use granary_protocol::types::{DataType, field_for};

use crate::Error;

/// The name `CAST(x AS Decimal(P, S))` is rewritten to.
pub const DECIMAL_OF_PRECISION: &str = "toDecimalOfPrecision";

/// The functions of this module.
pub fn functions() -> Vec<ScalarUDF> {
    [
        ("toDecimal32", Some(9)),
        ("toDecimal64", Some(18)),
        ("toDecimal128", Some(38)),
        ("toDecimal256", Some(76)),
        (DECIMAL_OF_PRECISION, None),
    ]
    .into_iter()
    .map(|(name, precision)| {
        ScalarUDF::new_from_impl(ToDecimal {
            name,
            precision,
            signature: Signature::variadic_any(Volatility::Immutable),
        })
    })
    .collect()
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct ToDecimal {
    name: &'static str,
    /// The precision the name fixes; `None` when it is the second argument.
    precision: Option<u8>,
    signature: Signature,
}

impl ToDecimal {
    /// The (precision, scale) of the result, from the constant arguments.
    fn precision_and_scale(&self, constants: &[Option<i64>]) -> Result<(u8, u8), Error> {
        let expected = if self.precision.is_some() { 2 } else { 3 };
        if constants.len() != expected {
            return Err(Error::query(
                ErrorCode::NUMBER_OF_ARGUMENTS_DOESNT_MATCH,
                format!(
                    "Number of arguments for function {} doesn't match: passed {}, should be {expected}",
                    self.name,
                    constants.len()
                ),
            ));
        }
        let constant = |index: usize, what: &str| {
            constants[index].ok_or_else(|| {
                Error::query(
                    ErrorCode::ILLEGAL_COLUMN,
                    format!(
                        "The {what} of function {} must be a constant integer",
                        self.name
                    ),
                )
            })
        };
        let precision = match self.precision {
            Some(precision) => i64::from(precision),
            None => constant(1, "precision")?,
        };
        let scale = constant(expected - 1, "scale")?;
        if !(1..=76).contains(&precision) || !(0..=precision).contains(&scale) {
            return Err(Error::query(
                ErrorCode::ARGUMENT_OUT_OF_BOUND,
                format!(
                    "Decimal({precision}, {scale}) is out of bounds for function {}: the precision is 1 to 76 and the scale 0 to the precision",
                    self.name
                ),
            ));
        }
        Ok((precision as u8, scale as u8))
    }
}

impl ScalarUDFImpl for ToDecimal {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[ArrowType]) -> DfResult<ArrowType> {
        crate::functions::typed_by_fields(self.name())
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> DfResult<FieldRef> {
        let constants: Vec<Option<i64>> = (0..args.arg_fields.len())
            .map(|index| super::arguments::constant_integer(&args, index))
            .collect();
        let (precision, scale) = self.precision_and_scale(&constants)?;
        let nullable = args.arg_fields[0].is_nullable();
        let data_type = DataType::Decimal(precision, scale);
        Ok(Arc::new(
            field_for(self.name, &data_type).with_nullable(nullable),
        ))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let target = args.return_field.data_type().clone();
        let (precision, scale) = match target {
            ArrowType::Decimal128(p, s) | ArrowType::Decimal256(p, s) => (p, s as u8),
            ref other => unreachable!("{} returns {other}", self.name),
        };
        super::conversions::map_argument(&args, |array| {
            let values =
                to_decimal(array, scale, self.name)?.with_precision_and_scale(38, scale as i8)?;
            check_precision(&values, precision, scale)?;
            Ok(cast(&(Arc::new(values) as ArrayRef), &target)?)
        })
    }
}

/// `array` as unscaled values at `scale` (i128: up to 38 digits exactly; wider precisions are
/// held in the same range).
fn to_decimal(array: &ArrayRef, scale: u8, function: &str) -> DfResult<Decimal128Array> {
    let factor = 10i128.pow(u32::from(scale));
    let overflow = || -> datafusion::error::DataFusionError {
        Error::query(
            ErrorCode::DECIMAL_OVERFLOW,
            format!("Decimal convert overflow in function {function}"),
        )
        .into()
    };
    let values: Decimal128Array = match array.data_type() {
        ArrowType::Null => Decimal128Array::new_null(array.len()),
        ArrowType::Utf8 | ArrowType::LargeUtf8 | ArrowType::Utf8View => {
            let strings = cast(array, &ArrowType::Utf8)?;
            let mut values = Vec::with_capacity(array.len());
            for text in strings.as_string::<i32>().iter() {
                values.push(match text {
                    None => None,
                    Some(text) => Some(parse_decimal(text, scale).ok_or_else(|| {
                        Error::query(
                            ErrorCode::CANNOT_PARSE_TEXT,
                            format!(
                                "Cannot parse string '{text}' as a decimal in function {function}"
                            ),
                        )
                    })?),
                });
            }
            values.into_iter().collect()
        }
        ArrowType::Decimal128(_, from) => {
            let from = *from;
            array
                .as_primitive::<Decimal128Type>()
                .try_unary(|value| rescale(value, from, scale).ok_or_else(overflow))?
        }
        ArrowType::Decimal256(_, from) => {
            let from = *from;
            array.as_primitive::<Decimal256Type>().try_unary(|value| {
                value
                    .to_i128()
                    .and_then(|value| rescale(value, from, scale))
                    .ok_or_else(overflow)
            })?
        }
        data_type if data_type.is_floating() => {
            let floats = cast(array, &ArrowType::Float64)?;
            floats.as_primitive::<Float64Type>().try_unary(|value| {
                let scaled = (value * factor as f64).trunc();
                if scaled.is_finite() && scaled.abs() < 1e38 {
                    Ok(scaled as i128)
                } else {
                    Err(overflow())
                }
            })?
        }
        data_type if data_type.is_integer() || *data_type == ArrowType::Boolean => {
            let wide = cast(array, &ArrowType::Decimal128(38, 0))?;
            wide.as_primitive::<Decimal128Type>()
                .try_unary(|value| value.checked_mul(factor).ok_or_else(overflow))?
        }
        other => {
            return Err(Error::query(
                ErrorCode::ILLEGAL_TYPE_OF_ARGUMENT,
                format!("Illegal type {other} of first argument of function {function}"),
            )
            .into());
        }
    };
    Ok(values)
}

/// An unscaled value at scale `from` moved to scale `to`, cutting extra digits.
fn rescale(value: i128, from: i8, to: u8) -> Option<i128> {
    let from = i32::from(from);
    let to = i32::from(to);
    if to >= from {
        value.checked_mul(10i128.checked_pow((to - from) as u32)?)
    } else {
        Some(value / 10i128.checked_pow((from - to) as u32)?)
    }
}

/// A decimal number as text (`-12.345`, `+1`, `.5`, `1e3` is refused) at `scale`, cut.
fn parse_decimal(text: &str, scale: u8) -> Option<i128> {
    let (negative, digits) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty() && fraction.is_empty()
        || !whole
            .bytes()
            .chain(fraction.bytes())
            .all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let mut value: i128 = 0;
    for digit in whole.bytes() {
        value = value
            .checked_mul(10)?
            .checked_add(i128::from(digit - b'0'))?;
    }
    let fraction = fraction.as_bytes();
    for position in 0..usize::from(scale) {
        let digit = fraction.get(position).map_or(0, |digit| digit - b'0');
        value = value.checked_mul(10)?.checked_add(i128::from(digit))?;
    }
    Some(if negative { -value } else { value })
}

/// `DECIMAL_OVERFLOW` when a value has more digits than the precision allows.
fn check_precision(values: &Decimal128Array, precision: u8, scale: u8) -> DfResult<()> {
    if precision >= 38 {
        return Ok(());
    }
    let limit = 10i128.pow(u32::from(precision));
    if let Some(value) = values.iter().flatten().find(|value| value.abs() >= limit) {
        return Err(Error::query(
            ErrorCode::DECIMAL_OVERFLOW,
            format!(
                "Decimal value {value} (scale {scale}) does not fit in Decimal({precision}, {scale})"
            ),
        )
        .into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_text_is_cut_not_rounded() {
        assert_eq!(parse_decimal("3.14159", 2), Some(314));
        assert_eq!(parse_decimal("-3.149", 2), Some(-314));
        assert_eq!(parse_decimal("12", 3), Some(12_000));
        assert_eq!(parse_decimal(".5", 1), Some(5));
        for bad in ["", "abc", "1e3", "1.2.3", "-", " 1"] {
            assert_eq!(parse_decimal(bad, 2), None, "{bad:?}");
        }
        assert_eq!(rescale(1239, 3, 2), Some(123));
        assert_eq!(rescale(-1239, 3, 2), Some(-123));
        assert_eq!(rescale(15, 1, 3), Some(1500));
    }
}
