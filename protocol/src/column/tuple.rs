//! `Tuple(T1, ..., Tn)`: each element's data as a whole column, one substream per element.

use std::sync::Arc;

use arrow_array::{Array, ArrayRef, StructArray};
use arrow_schema::{DataType as ArrowType, Fields};

use super::{Decoder, Encoder, Substream};
use crate::error::{Error, Result};
use crate::types::{DataType, TupleElement, tuple_element_name};

pub(super) fn encode(
    enc: &mut Encoder<'_>,
    elements: &[TupleElement],
    array: &dyn Array,
) -> Result<()> {
    let tuple = array
        .as_any()
        .downcast_ref::<StructArray>()
        .ok_or_else(|| Error::type_mismatch("Tuple column", "Arrow Struct", array.data_type()))?;
    if tuple.num_columns() != elements.len() {
        return Err(Error::type_mismatch(
            "Tuple column",
            format!("a struct of {} fields", elements.len()),
            array.data_type(),
        ));
    }
    for (index, element) in elements.iter().enumerate() {
        let name = tuple_element_name(element, index);
        let column = tuple.column(index);
        enc.nested(Substream::TupleElement(name), |enc| {
            enc.encode(&element.data_type, column.as_ref())
        })?;
    }
    Ok(())
}

pub(super) fn decode(
    dec: &mut Decoder<'_, '_>,
    elements: &[TupleElement],
    rows: usize,
) -> Result<ArrayRef> {
    let ArrowType::Struct(fields) = DataType::Tuple(elements.to_vec()).to_arrow() else {
        return Err(Error::Logical(
            "Tuple does not map to an Arrow struct".into(),
        ));
    };
    let mut columns = Vec::with_capacity(elements.len());
    for (index, element) in elements.iter().enumerate() {
        let name = tuple_element_name(element, index);
        columns.push(dec.nested(Substream::TupleElement(name), |dec| {
            dec.decode(&element.data_type, rows)
        })?);
    }
    let fields: Fields = fields;
    if columns.is_empty() {
        return Ok(Arc::new(StructArray::new_empty_fields(rows, None)));
    }
    Ok(Arc::new(StructArray::try_new(fields, columns, None)?))
}
