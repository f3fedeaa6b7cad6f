//! `tuple(a, b, ...)` (and `(a, b)`) and `tupleElement(t, n)`: a tuple is an Arrow struct whose
//! field carries its ClickHouse type (`Tuple(UInt8, String)`, elements unnamed), its elements named
//! `1`, `2`, ... as Granary stores unnamed tuples; `tupleElement` takes the n-th element (from 1)
//! or the element of that name.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::{ArrayRef, StructArray};
use arrow_schema::{DataType as ArrowType, FieldRef};
use datafusion::arrow::compute::cast;
use datafusion::common::{Result as DfResult, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};
use granary_protocol::ErrorCode;
use granary_protocol::types::{DataType, TupleElement, field_for};

use super::type_name::clickhouse_type;
use crate::error::Error;

/// `tuple` and `tupleElement`.
pub fn functions() -> Vec<ScalarUDF> {
    vec![
        ScalarUDF::new_from_impl(Tuple {
            signature: Signature::variadic_any(Volatility::Immutable),
        }),
        ScalarUDF::new_from_impl(Element {
            signature: Signature::any(2, Volatility::Immutable),
        }),
    ]
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Tuple {
    signature: Signature,
}

impl ScalarUDFImpl for Tuple {
    fn name(&self) -> &str {
        "tuple"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[ArrowType]) -> DfResult<ArrowType> {
        super::typed_by_fields(self.name())
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> DfResult<FieldRef> {
        let elements = args
            .arg_fields
            .iter()
            .map(|field| {
                Ok(TupleElement {
                    name: None,
                    data_type: clickhouse_type(field)?,
                })
            })
            .collect::<DfResult<Vec<_>>>()?;
        Ok(Arc::new(field_for(self.name(), &DataType::Tuple(elements))))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let ArrowType::Struct(fields) = args.return_field.data_type() else {
            return Err(
                Error::query(ErrorCode::LOGICAL_ERROR, "a tuple that is not a struct").into(),
            );
        };
        let arrays = ColumnarValue::values_to_arrays(&args.args)?
            .into_iter()
            .zip(fields.iter())
            .map(|(array, field)| {
                if array.data_type() == field.data_type() {
                    Ok(array)
                } else {
                    Ok(cast(&array, field.data_type())?)
                }
            })
            .collect::<DfResult<Vec<ArrayRef>>>()?;
        let tuple = StructArray::try_new(fields.clone(), arrays, None)?;
        Ok(ColumnarValue::Array(Arc::new(tuple)))
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Element {
    signature: Signature,
}

impl Element {
    /// The index of the element `args` ask for.
    fn index(fields: &[FieldRef], key: Option<&ScalarValue>) -> DfResult<usize> {
        let ArrowType::Struct(elements) = fields[0].data_type() else {
            return Err(Error::query(
                ErrorCode::ILLEGAL_TYPE_OF_ARGUMENT,
                format!(
                    "the first argument of tupleElement must be a tuple, not {}",
                    clickhouse_type(&fields[0])
                        .map_or_else(|_| fields[0].data_type().to_string(), |t| t.to_string())
                ),
            )
            .into());
        };
        let found = match key {
            Some(ScalarValue::Utf8(Some(name))) => elements.iter().position(|e| e.name() == name),
            Some(number) => number
                .cast_to(&ArrowType::UInt64)
                .ok()
                .and_then(|value| match value {
                    ScalarValue::UInt64(Some(n)) if n >= 1 && (n as usize) <= elements.len() => {
                        Some(n as usize - 1)
                    }
                    _ => None,
                }),
            None => None,
        };
        found.ok_or_else(|| {
            Error::query(
                ErrorCode::ARGUMENT_OUT_OF_BOUND,
                format!(
                    "tupleElement: the tuple has no element {}",
                    key.map_or_else(|| "given by a constant".to_string(), ToString::to_string)
                ),
            )
            .into()
        })
    }
}

impl ScalarUDFImpl for Element {
    fn name(&self) -> &str {
        "tupleElement"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[ArrowType]) -> DfResult<ArrowType> {
        super::typed_by_fields(self.name())
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> DfResult<FieldRef> {
        let key = args.scalar_arguments.get(1).copied().flatten();
        let index = Element::index(args.arg_fields, key)?;
        // The element's type from the tuple's ClickHouse type (Date vs Date32...).
        match clickhouse_type(&args.arg_fields[0])? {
            DataType::Tuple(elements) if index < elements.len() => {
                Ok(Arc::new(field_for(self.name(), &elements[index].data_type)))
            }
            _ => {
                let ArrowType::Struct(elements) = args.arg_fields[0].data_type() else {
                    unreachable!("index checked the tuple");
                };
                Ok(Arc::new(
                    elements[index].as_ref().clone().with_name(self.name()),
                ))
            }
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let key = match &args.args[1] {
            ColumnarValue::Scalar(value) => Some(value.clone()),
            ColumnarValue::Array(_) => None,
        };
        let index = Element::index(&args.arg_fields, key.as_ref())?;
        Ok(match &args.args[0] {
            ColumnarValue::Array(tuples) => {
                ColumnarValue::Array(Arc::clone(tuples.as_struct().column(index)))
            }
            ColumnarValue::Scalar(ScalarValue::Struct(tuple)) => {
                ColumnarValue::Scalar(ScalarValue::try_from_array(tuple.column(index), 0)?)
            }
            ColumnarValue::Scalar(other) => {
                return Err(Error::query(
                    ErrorCode::ILLEGAL_TYPE_OF_ARGUMENT,
                    format!("tupleElement takes a tuple, not {other}"),
                )
                .into());
            }
        })
    }
}
