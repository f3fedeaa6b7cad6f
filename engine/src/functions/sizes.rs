//! `length`, `empty` and `notEmpty`, which take strings (measured in bytes, as in ClickHouse;
//! `lengthUTF8` counts code points) and arrays (measured in elements).

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, BooleanArray, UInt64Array};
use arrow_schema::{DataType as ArrowType, FieldRef};
use datafusion::common::Result as DfResult;
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};
use granary_protocol::ErrorCode;

use super::conversions::map_argument;
use super::propagated_field;
use crate::Error;

/// What a size function returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Measure {
    Length,
    Empty,
    NotEmpty,
}

/// The functions of this module.
pub fn functions() -> Vec<ScalarUDF> {
    [Measure::Length, Measure::Empty, Measure::NotEmpty]
        .into_iter()
        .map(|measure| {
            ScalarUDF::new_from_impl(Size {
                measure,
                signature: Signature::any(1, Volatility::Immutable),
            })
        })
        .collect()
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Size {
    measure: Measure,
    signature: Signature,
}

/// The size of each value of `array`: bytes of a string, elements of an array.
fn sizes(array: &ArrayRef) -> DfResult<UInt64Array> {
    let sizes: UInt64Array = match array.data_type() {
        ArrowType::Utf8 => array
            .as_string::<i32>()
            .iter()
            .map(|v| v.map(|v| v.len() as u64))
            .collect(),
        ArrowType::LargeUtf8 => array
            .as_string::<i64>()
            .iter()
            .map(|v| v.map(|v| v.len() as u64))
            .collect(),
        ArrowType::Utf8View => array
            .as_string_view()
            .iter()
            .map(|v| v.map(|v| v.len() as u64))
            .collect(),
        ArrowType::Binary => array
            .as_binary::<i32>()
            .iter()
            .map(|v| v.map(|v| v.len() as u64))
            .collect(),
        ArrowType::FixedSizeBinary(n) => (0..array.len())
            .map(|row| array.is_valid(row).then_some(*n as u64))
            .collect(),
        ArrowType::List(_) => {
            let list = array.as_list::<i32>();
            (0..list.len())
                .map(|row| list.is_valid(row).then(|| list.value_length(row) as u64))
                .collect()
        }
        ArrowType::Map(..) => {
            let map = array.as_map();
            (0..map.len())
                .map(|row| map.is_valid(row).then(|| map.value_length(row) as u64))
                .collect()
        }
        ArrowType::Dictionary(_, values) => {
            return sizes(&datafusion::arrow::compute::cast(array, values)?);
        }
        ArrowType::Null => UInt64Array::new_null(array.len()),
        other => {
            return Err(Error::query(
                ErrorCode::ILLEGAL_TYPE_OF_ARGUMENT,
                format!("Illegal type {other} of argument of function length, empty or notEmpty: a string or an array is expected"),
            )
            .into());
        }
    };
    Ok(sizes)
}

impl ScalarUDFImpl for Size {
    fn name(&self) -> &str {
        match self.measure {
            Measure::Length => "length",
            Measure::Empty => "empty",
            Measure::NotEmpty => "notEmpty",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[ArrowType]) -> DfResult<ArrowType> {
        Ok(match self.measure {
            Measure::Length => ArrowType::UInt64,
            Measure::Empty | Measure::NotEmpty => ArrowType::Boolean,
        })
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> DfResult<FieldRef> {
        Ok(propagated_field(self.name(), self.return_type(&[])?, &args))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        map_argument(&args, |array| {
            let sizes = sizes(array)?;
            Ok(match self.measure {
                Measure::Length => Arc::new(sizes) as ArrayRef,
                Measure::Empty => Arc::new(
                    sizes
                        .iter()
                        .map(|v| v.map(|v| v == 0))
                        .collect::<BooleanArray>(),
                ),
                Measure::NotEmpty => Arc::new(
                    sizes
                        .iter()
                        .map(|v| v.map(|v| v != 0))
                        .collect::<BooleanArray>(),
                ),
            })
        })
    }
}
