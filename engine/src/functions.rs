//! ClickHouse functions, registered with DataFusion under their ClickHouse names:
//! [`arithmetic`] (the operators with ClickHouse's result types and wrapping overflow),
//! [`conversions`], [`dates`], [`sizes`] (`length`, `empty`), [`type_name`] (`toTypeName`) and [`truth`] (how a number is read as a condition).

pub mod aggregates;
pub mod arguments;
pub mod arithmetic;
pub mod array_combinator;
pub mod arrays;
pub mod average;
pub mod bounded;
pub mod conversions;
pub mod dates;
pub mod decimals;
pub mod defaults;
pub mod hashes;
pub mod math;
pub mod sizes;
pub mod states;
pub mod strings;
pub mod truth;
pub mod tuples;
pub mod type_name;
pub mod urls;
pub mod uuids;

use std::sync::Arc;

use arrow_schema::{DataType as ArrowType, Field, FieldRef};
use datafusion::logical_expr::{ReturnFieldArgs, ScalarUDF};

pub use dates::civil_from_days;

/// Every scalar function, ready to register.
pub fn scalar_functions() -> Vec<ScalarUDF> {
    let mut functions = dates::functions();
    functions.extend(arithmetic::functions());
    functions.extend(conversions::functions());
    functions.extend(decimals::functions());
    functions.extend(arrays::functions());
    functions.extend(strings::functions());
    functions.extend(math::functions());
    functions.extend(hashes::functions());
    functions.extend(urls::functions());
    functions.extend(sizes::functions());
    functions.extend(states::scalar_functions());
    functions.push(type_name::function());
    functions.extend(defaults::functions());
    functions.extend(tuples::functions());
    functions.extend(uuids::functions());
    functions.push(truth::function());
    functions
}

/// The result field of a function that is NULL exactly when an argument is (most of ClickHouse's):
/// nullable when any argument is.
pub(crate) fn propagated_field(
    name: &str,
    data_type: ArrowType,
    args: &ReturnFieldArgs,
) -> FieldRef {
    let nullable =
        data_type == ArrowType::Null || args.arg_fields.iter().any(|field| field.is_nullable());
    Arc::new(Field::new(name, data_type, nullable))
}

/// The `return_type` of a function that types its result from its argument fields (DataFusion asks
/// `return_field_from_args`): an internal error if anything asks anyway, never a panic.
pub(crate) fn typed_by_fields(name: &str) -> datafusion::common::Result<ArrowType> {
    datafusion::common::internal_err!(
        "function {name} types its result from its argument fields (return_field_from_args)"
    )
}

/// The bits of each integer of `array`, zero- or sign-extended to 64 (UInt64 values beyond Int64
/// kept as they are).
pub(crate) fn integer_bits(
    array: &arrow_array::ArrayRef,
) -> datafusion::common::Result<Vec<Option<u64>>> {
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Int64Type, UInt64Type};
    Ok(match array.data_type() {
        ArrowType::UInt64 => array.as_primitive::<UInt64Type>().iter().collect(),
        _ => {
            let values = datafusion::arrow::compute::cast(array, &ArrowType::Int64)?;
            values
                .as_primitive::<Int64Type>()
                .iter()
                .map(|value| value.map(|value| value as u64))
                .collect()
        }
    })
}

/// The Arrow types of the argument fields.
pub(crate) fn argument_types(args: &ReturnFieldArgs) -> Vec<ArrowType> {
    args.arg_fields
        .iter()
        .map(|field| field.data_type().clone())
        .collect()
}
