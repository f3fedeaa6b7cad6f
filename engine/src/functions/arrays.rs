//! Array functions of ClickHouse's that DataFusion has no form of: `emptyArrayToSingle` (an
//! empty array becomes a one-element array of the element type's default; what `LEFT ARRAY JOIN`
//! is built on).

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::{Array, ListArray, make_array};
use arrow_buffer::OffsetBuffer;
use arrow_schema::{DataType as ArrowType, FieldRef};
use datafusion::arrow::array::MutableArrayData;
use datafusion::common::{Result as DfResult, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};
use granary_protocol::ErrorCode;

use super::conversions::map_argument;
use crate::Error;

/// The functions of this module.
pub fn functions() -> Vec<ScalarUDF> {
    vec![ScalarUDF::new_from_impl(EmptyArrayToSingle {
        signature: Signature::any(1, Volatility::Immutable),
    })]
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct EmptyArrayToSingle {
    signature: Signature,
}

impl ScalarUDFImpl for EmptyArrayToSingle {
    fn name(&self) -> &str {
        "emptyArrayToSingle"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[ArrowType]) -> DfResult<ArrowType> {
        match &arg_types[0] {
            list @ ArrowType::List(_) => Ok(list.clone()),
            other => Err(Error::query(
                ErrorCode::ILLEGAL_TYPE_OF_ARGUMENT,
                format!("Illegal type {other} of argument of function emptyArrayToSingle: an array is expected"),
            )
            .into()),
        }
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> DfResult<FieldRef> {
        let field = &args.arg_fields[0];
        self.return_type(&[field.data_type().clone()])?;
        Ok(Arc::new(field.as_ref().clone().with_name(self.name())))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        map_argument(&args, |array| {
            Ok(Arc::new(empty_to_single(array.as_list::<i32>())?))
        })
    }
}

/// Each empty (or NULL) array of `lists` replaced by `[default]`.
fn empty_to_single(lists: &ListArray) -> DfResult<ListArray> {
    let ArrowType::List(item) = lists.data_type() else {
        unreachable!("a ListArray has a List type");
    };
    let default = ScalarValue::new_default(item.data_type())?.to_array_of_size(1)?;
    let values = lists.values().to_data();
    let default = default.to_data();
    let mut out = MutableArrayData::new(vec![&values, &default], false, values.len() + 1);
    let mut offsets = Vec::with_capacity(lists.len() + 1);
    offsets.push(0i32);
    let mut length = 0i32;
    for row in 0..lists.len() {
        let (start, end) = (
            lists.value_offsets()[row] as usize,
            lists.value_offsets()[row + 1] as usize,
        );
        if lists.is_null(row) || start == end {
            out.try_extend(1, 0, 1)?;
            length += 1;
        } else {
            out.try_extend(0, start, end)?;
            length += (end - start) as i32;
        }
        offsets.push(length);
    }
    Ok(ListArray::try_new(
        Arc::clone(item),
        OffsetBuffer::new(offsets.into()),
        make_array(out.freeze()),
        None,
    )?)
}

#[cfg(test)]
mod tests {
    use arrow_array::types::Int32Type;

    use super::*;

    #[test]
    fn empty_arrays_become_the_default_element() {
        let lists = ListArray::from_iter_primitive::<Int32Type, _, _>(vec![
            Some(vec![Some(1), Some(2)]),
            Some(vec![]),
            None,
            Some(vec![Some(3)]),
        ]);
        let single = empty_to_single(&lists).unwrap();
        let rows: Vec<Vec<i32>> = (0..single.len())
            .map(|row| {
                single
                    .value(row)
                    .as_primitive::<Int32Type>()
                    .values()
                    .to_vec()
            })
            .collect();
        assert_eq!(rows, vec![vec![1, 2], vec![0], vec![0], vec![3]]);
    }
}
