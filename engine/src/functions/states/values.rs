//! Values inside states, in ClickHouse's binary form: a column of values is laid out as the native
//! protocol lays it out (fixed-width little-endian numbers, length-prefixed strings), so states
//! reuse the protocol's codec.

use arrow_array::{Array, ArrayRef};
use datafusion::arrow::compute::cast;
use datafusion::common::ScalarValue;
use granary_protocol::column::{read_native, write_native};
use granary_protocol::io::Cursor;
use granary_protocol::{DataType, ErrorCode};

use crate::error::{Error, Result};

/// `array` as an array of `data_type`'s Arrow type (a `Bool` array of a `UInt8` argument, ...).
pub fn conformed(data_type: &DataType, array: &ArrayRef) -> Result<ArrayRef> {
    let arrow = data_type.to_arrow();
    if *array.data_type() == arrow {
        Ok(array.clone())
    } else {
        Ok(cast(array, &arrow)?)
    }
}

/// Appends the values of `array` (no NULLs) in `data_type`'s binary form.
pub fn write_values(data_type: &DataType, array: &ArrayRef, out: &mut Vec<u8>) -> Result<()> {
    if array.is_empty() {
        return Ok(());
    }
    write_native(data_type, conformed(data_type, array)?.as_ref(), out)?;
    Ok(())
}

/// Reads `rows` values of `data_type`.
pub fn read_values(data_type: &DataType, rows: usize, input: &mut Cursor<'_>) -> Result<ArrayRef> {
    Ok(read_native(data_type, rows, input)?)
}

/// Appends one value.
pub fn write_scalar(data_type: &DataType, value: &ScalarValue, out: &mut Vec<u8>) -> Result<()> {
    write_values(data_type, &value.to_array()?, out)
}

/// Reads one value.
pub fn read_scalar(data_type: &DataType, input: &mut Cursor<'_>) -> Result<ScalarValue> {
    let array = read_values(data_type, 1, input)?;
    Ok(ScalarValue::try_from_array(&array, 0)?)
}

/// The width of a fixed-width type, or ILLEGAL_TYPE_OF_ARGUMENT for `function`.
pub fn fixed_width(function: &str, data_type: &DataType) -> Result<usize> {
    data_type
        .fixed_width()
        .ok_or_else(|| illegal_argument(function, data_type))
}

/// The error for an argument type a function's state does not take.
pub fn illegal_argument(function: &str, data_type: &DataType) -> Error {
    Error::query(
        ErrorCode::ILLEGAL_TYPE_OF_ARGUMENT,
        format!("illegal type {data_type} of argument of aggregate function {function}State"),
    )
}

/// A count of elements read from a state, each of which takes a byte at least: bounded by the
/// bytes that remain, so a corrupt count fails cleanly instead of allocating.
pub fn read_count(input: &mut Cursor<'_>, what: &'static str) -> Result<usize> {
    let count = input.read_var_uint(what)?;
    match usize::try_from(count) {
        Ok(count) if count <= input.remaining() => Ok(count),
        _ => Err(Error::query(
            ErrorCode::CANNOT_READ_ALL_DATA,
            format!("{what}: {count} is more than the state holds"),
        )),
    }
}

/// The array of `items` as values of `element`'s Arrow type (empty when there are none).
pub fn items_array(element: &DataType, items: Vec<ScalarValue>) -> Result<ArrayRef> {
    if items.is_empty() {
        return Ok(arrow_array::new_empty_array(&element.to_arrow()));
    }
    Ok(ScalarValue::iter_to_array(items)?)
}

/// One value of type `Array(element)` holding `values`, as a one-row list array.
pub fn single_array(element: &DataType, values: ArrayRef) -> Result<arrow_array::ListArray> {
    let arrow_schema::DataType::List(field) = DataType::Array(Box::new(element.clone())).to_arrow()
    else {
        return Err(Error::query(
            ErrorCode::LOGICAL_ERROR,
            format!("Array({element}) is not an Arrow list"),
        ));
    };
    Ok(arrow_array::ListArray::try_new(
        field,
        datafusion::arrow::buffer::OffsetBuffer::from_lengths([values.len()]),
        values,
        None,
    )?)
}

/// [`single_array`] as a scalar.
pub fn array_scalar(element: &DataType, values: ArrayRef) -> Result<ScalarValue> {
    Ok(ScalarValue::List(std::sync::Arc::new(single_array(
        element, values,
    )?)))
}
