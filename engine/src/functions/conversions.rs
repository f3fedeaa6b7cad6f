//! Type conversions: `toUInt8` ... `toInt64`, `toFloat32`, `toFloat64` with their `OrZero` and
//! `OrNull` forms, and `toString`.
//!
//! As in ClickHouse, integers convert by wrapping around (`toUInt8(300)` is 44), floats truncate
//! toward zero, strings are parsed (a string that is not a number is `CANNOT_PARSE_TEXT`, or zero,
//! or NULL, by the form), and `toString` writes ClickHouse's text form of any value.

use std::sync::Arc;

use arrow_array::builder::StringBuilder;
use arrow_array::{Array, ArrayRef, BooleanArray, StringArray, new_null_array};
use arrow_schema::{DataType as ArrowType, Field, FieldRef};
use datafusion::arrow::compute::{CastOptions, cast, cast_with_options, is_null};
use datafusion::common::{Result as DfResult, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};
use granary_protocol::ErrorCode;
use granary_protocol::text::{TextStyle, write_value};
use granary_protocol::types::{CLICKHOUSE_TYPE_KEY, DataType};

use super::arithmetic::wrapping_cast;
use super::type_name::clickhouse_type;
use crate::Error;

/// What a conversion does with a string that does not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum OnError {
    Fail,
    Zero,
    Null,
}

/// The functions of this module.
pub fn functions() -> Vec<ScalarUDF> {
    let targets = [
        ("UInt8", ArrowType::UInt8),
        ("UInt16", ArrowType::UInt16),
        ("UInt32", ArrowType::UInt32),
        ("UInt64", ArrowType::UInt64),
        ("Int8", ArrowType::Int8),
        ("Int16", ArrowType::Int16),
        ("Int32", ArrowType::Int32),
        ("Int64", ArrowType::Int64),
        ("Float32", ArrowType::Float32),
        ("Float64", ArrowType::Float64),
    ];
    let mut functions = Vec::new();
    for (type_name, target) in targets {
        for (suffix, on_error) in [
            ("", OnError::Fail),
            ("OrZero", OnError::Zero),
            ("OrNull", OnError::Null),
        ] {
            functions.push(ScalarUDF::new_from_impl(ToNumber {
                name: format!("to{type_name}{suffix}"),
                target: target.clone(),
                on_error,
                signature: Signature::any(1, Volatility::Immutable),
            }));
        }
    }
    functions.push(ScalarUDF::new_from_impl(ToString {
        signature: Signature::any(1, Volatility::Immutable),
    }));
    for (name, nullable) in [("toNullable", true), ("toLowCardinality", false)] {
        functions.push(ScalarUDF::new_from_impl(SameValues {
            name,
            nullable,
            signature: Signature::any(1, Volatility::Immutable),
        }));
    }
    functions
}

/// `toNullable` (the same values in a `Nullable` column) and `toLowCardinality` (the same values:
/// Granary's columns in a query are not dictionary-encoded, so `LowCardinality` is transparent).
#[derive(Debug, PartialEq, Eq, Hash)]
struct SameValues {
    name: &'static str,
    nullable: bool,
    signature: Signature,
}

impl ScalarUDFImpl for SameValues {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[ArrowType]) -> DfResult<ArrowType> {
        Ok(arg_types[0].clone())
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> DfResult<FieldRef> {
        let argument = &args.arg_fields[0];
        let nullable = self.nullable || argument.is_nullable();
        let mut field = argument
            .as_ref()
            .clone()
            .with_name(self.name)
            .with_nullable(nullable);
        // The type name says Nullable(...): a constant folded from this call keeps it.
        // (A constant folded from this call loses the field's nullability but keeps the name.)
        if nullable && *argument.data_type() != ArrowType::Boolean {
            let inner = clickhouse_type(argument)?;
            if inner.can_be_inside_nullable() {
                let mut metadata = field.metadata().clone();
                metadata.insert(
                    CLICKHOUSE_TYPE_KEY.to_string(),
                    DataType::Nullable(Box::new(inner)).to_string(),
                );
                field = field.with_metadata(metadata);
            }
        }
        Ok(Arc::new(field))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        Ok(args.args[0].clone())
    }
}

/// `toT`, `toTOrZero`, `toTOrNull` for a number type T.
#[derive(Debug, PartialEq, Eq, Hash)]
struct ToNumber {
    name: String,
    target: ArrowType,
    on_error: OnError,
    signature: Signature,
}

impl ScalarUDFImpl for ToNumber {
    fn name(&self) -> &str {
        &self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[ArrowType]) -> DfResult<ArrowType> {
        Ok(self.target.clone())
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> DfResult<FieldRef> {
        let nullable = self.on_error == OnError::Null
            || args.arg_fields.iter().any(|field| field.is_nullable());
        Ok(Arc::new(Field::new(
            &self.name,
            self.target.clone(),
            nullable,
        )))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        map_argument(&args, |array| self.convert(array))
    }
}

impl ToNumber {
    fn convert(&self, array: &ArrayRef) -> DfResult<ArrayRef> {
        match array.data_type() {
            ArrowType::Utf8 | ArrowType::LargeUtf8 | ArrowType::Utf8View => self.parse(array),
            ArrowType::Null => Ok(new_null_array(&self.target, array.len())),
            ArrowType::Dictionary(_, values) => self.convert(&cast(array, values)?),
            ArrowType::Date32 | ArrowType::Timestamp(..) => {
                wrapping_cast(&cast(array, &ArrowType::Int64)?, &self.target)
            }
            _ => wrapping_cast(array, &self.target),
        }
    }

    /// Strings parsed as numbers (surrounding whitespace is not allowed, as in ClickHouse).
    fn parse(&self, array: &ArrayRef) -> DfResult<ArrayRef> {
        let options = CastOptions {
            safe: true,
            ..Default::default()
        };
        let parsed = cast_with_options(array, &self.target, &options)?;
        let failed = failures(array, &parsed)?;
        if failed.true_count() == 0 {
            return Ok(parsed);
        }
        match self.on_error {
            OnError::Null => Ok(parsed),
            OnError::Zero => {
                let zero = ScalarValue::new_zero(&self.target)?.to_array_of_size(parsed.len())?;
                Ok(datafusion::arrow::compute::kernels::zip::zip(
                    &failed, &zero, &parsed,
                )?)
            }
            OnError::Fail => {
                let row = (0..failed.len())
                    .find(|&row| failed.value(row))
                    .unwrap_or(0);
                let text = cast(array, &ArrowType::Utf8)?;
                let text = text
                    .as_any()
                    .downcast_ref::<StringArray>()
                    .map(|strings| strings.value(row).to_string())
                    .unwrap_or_default();
                Err(Error::query(
                    ErrorCode::CANNOT_PARSE_TEXT,
                    format!(
                        "Cannot parse string '{text}' as {}: syntax error",
                        DataType::from_arrow(&self.target, false)
                            .map(|t| t.to_string())
                            .unwrap_or_default()
                    ),
                )
                .into())
            }
        }
    }
}

/// The rows that were values before a conversion and are NULL after it.
fn failures(before: &ArrayRef, after: &ArrayRef) -> DfResult<BooleanArray> {
    let was_null = is_null(before.as_ref())?;
    let is_null_now = is_null(after.as_ref())?;
    Ok(datafusion::arrow::compute::kernels::boolean::and_not(
        &is_null_now,
        &was_null,
    )?)
}

/// `toString`.
#[derive(Debug, PartialEq, Eq, Hash)]
struct ToString {
    signature: Signature,
}

impl ScalarUDFImpl for ToString {
    fn name(&self) -> &str {
        "toString"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[ArrowType]) -> DfResult<ArrowType> {
        Ok(ArrowType::Utf8)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> DfResult<FieldRef> {
        Ok(super::propagated_field(self.name(), ArrowType::Utf8, &args))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let data_type = clickhouse_type(&args.arg_fields[0])?;
        let data_type = data_type.strip_nullable().clone();
        map_argument(&args, |array| {
            let array = if *array.data_type() == ArrowType::Boolean && data_type != DataType::Bool {
                cast(array, &ArrowType::UInt8)?
            } else {
                Arc::clone(array)
            };
            let mut text = String::new();
            let mut strings = StringBuilder::with_capacity(array.len(), array.len() * 8);
            // Logical: a bare NULL's array (NullArray) has no validity bitmap.
            let nulls = array.logical_nulls();
            for row in 0..array.len() {
                if nulls.as_ref().is_some_and(|nulls| nulls.is_null(row)) {
                    strings.append_null();
                    continue;
                }
                text.clear();
                write_value(&mut text, array.as_ref(), row, &data_type, TextStyle::PLAIN)
                    .map_err(Error::from)?;
                strings.append_value(&text);
            }
            Ok(Arc::new(strings.finish()) as ArrayRef)
        })
    }
}

/// Applies `f` to the one argument, keeping a scalar a scalar.
pub(crate) fn map_argument(
    args: &ScalarFunctionArgs,
    f: impl FnOnce(&ArrayRef) -> DfResult<ArrayRef>,
) -> DfResult<ColumnarValue> {
    match &args.args[0] {
        ColumnarValue::Scalar(value) => {
            let array = value.to_array_of_size(1)?;
            let result = f(&array)?;
            Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(
                &result, 0,
            )?))
        }
        ColumnarValue::Array(array) => Ok(ColumnarValue::Array(f(array)?)),
    }
}
