//! The `-Array` combinator: `fArray(a1, a2, ...)` aggregates with `f` every element of the array
//! arguments, the arrays of one row taken element by element together (`sumArray([1, 2])` is 3,
//! `argMaxArray(values, keys)` pairs the i-th elements). Arrays of one row must have the same
//! length (SIZES_OF_ARRAYS_DONT_MATCH otherwise); a NULL array is empty.
//!
//! Every aggregate of the session gets its `-Array` form (see [`array_forms`]); the SQL rewrite
//! maps ClickHouse names onto them (`uniqExactArray` is `countArray(DISTINCT ...)`).

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef};
use arrow_schema::{DataType as ArrowType, Field, FieldRef};
use datafusion::common::{Result as DfResult, ScalarValue};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::type_coercion::functions::fields_with_udf;
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Signature, Volatility,
};
use granary_protocol::ErrorCode;

use crate::error::Error;
use crate::functions::type_name::clickhouse_type;
use granary_protocol::DataType;

/// The suffix of the combinator.
pub const SUFFIX: &str = "Array";

/// The `-Array` forms of `aggregates`.
pub fn array_forms<'a>(
    aggregates: impl IntoIterator<Item = &'a Arc<AggregateUDF>>,
) -> Vec<AggregateUDF> {
    aggregates
        .into_iter()
        .map(|inner| {
            AggregateUDF::new_from_impl(ArrayCombined {
                name: format!("{}{SUFFIX}", inner.name()),
                inner: Arc::clone(inner),
                signature: Signature::user_defined(Volatility::Immutable),
            })
        })
        .collect()
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct ArrayCombined {
    name: String,
    inner: Arc<AggregateUDF>,
    signature: Signature,
}

impl ArrayCombined {
    /// The fields of the arrays' elements.
    fn element_fields(&self, fields: &[FieldRef]) -> DfResult<Vec<FieldRef>> {
        fields
            .iter()
            .map(|field| match field.data_type() {
                // Elements are NULL only in arrays of Nullable (Arrow marks every list's items
                // nullable).
                ArrowType::List(element) | ArrowType::LargeList(element) => {
                    let nullable = match clickhouse_type(field) {
                        Ok(DataType::Array(inner)) => inner.is_nullable(),
                        _ => element.is_nullable(),
                    };
                    Ok(Arc::new(element.as_ref().clone().with_nullable(nullable)))
                }
                other => Err(Error::query(
                    ErrorCode::ILLEGAL_TYPE_OF_ARGUMENT,
                    format!(
                        "illegal type {other} of argument of aggregate function {}: \
                         the -Array combinator takes arrays",
                        self.name
                    ),
                )
                .into()),
            })
            .collect()
    }
}

impl AggregateUDFImpl for ArrayCombined {
    fn name(&self) -> &str {
        &self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[ArrowType]) -> DfResult<Vec<ArrowType>> {
        let fields: Vec<FieldRef> = arg_types
            .iter()
            .map(|data_type| Arc::new(Field::new("argument", data_type.clone(), true)))
            .collect();
        let elements = self.element_fields(&fields)?;
        let coerced = fields_with_udf(&elements, self.inner.as_ref())?;
        let unchanged = coerced
            .iter()
            .zip(&elements)
            .all(|(coerced, element)| coerced.data_type() == element.data_type());
        if unchanged {
            // The arguments keep their fields, and with them their ClickHouse types.
            return Ok(arg_types.to_vec());
        }
        Ok(coerced
            .into_iter()
            .zip(&elements)
            .map(|(coerced, element)| {
                ArrowType::List(Arc::new(Field::new_list_field(
                    coerced.data_type().clone(),
                    element.is_nullable(),
                )))
            })
            .collect())
    }

    fn return_type(&self, arg_types: &[ArrowType]) -> DfResult<ArrowType> {
        let fields: Vec<FieldRef> = arg_types
            .iter()
            .map(|data_type| Arc::new(Field::new("argument", data_type.clone(), true)))
            .collect();
        let elements = self.element_fields(&fields)?;
        let types: Vec<ArrowType> = elements.iter().map(|f| f.data_type().clone()).collect();
        self.inner.return_type(&types)
    }

    fn return_field(&self, arg_fields: &[FieldRef]) -> DfResult<FieldRef> {
        let field = self.inner.return_field(&self.element_fields(arg_fields)?)?;
        Ok(Arc::new(field.as_ref().clone().with_name(self.name())))
    }

    fn is_nullable(&self) -> bool {
        self.inner.is_nullable()
    }

    fn accumulator(&self, args: AccumulatorArgs) -> DfResult<Box<dyn Accumulator>> {
        let elements = self.element_fields(args.expr_fields)?;
        let inner = self.inner.accumulator(AccumulatorArgs {
            expr_fields: &elements,
            ..args
        })?;
        Ok(Box::new(Flattening {
            inner,
            name: self.name.clone(),
        }))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> DfResult<Vec<FieldRef>> {
        let elements = self.element_fields(args.input_fields)?;
        self.inner.state_fields(StateFieldsArgs {
            input_fields: &elements,
            ..args
        })
    }
}

/// An accumulator that feeds the elements of its array arguments to `inner`.
#[derive(Debug)]
struct Flattening {
    inner: Box<dyn Accumulator>,
    name: String,
}

impl Flattening {
    fn elements(&self, values: &[ArrayRef]) -> DfResult<Vec<ArrayRef>> {
        let lists: Vec<_> = values
            .iter()
            .map(|value| {
                value.as_list_opt::<i32>().ok_or_else(|| {
                    Error::query(
                        ErrorCode::ILLEGAL_TYPE_OF_ARGUMENT,
                        format!("aggregate function {} takes arrays", self.name),
                    )
                })
            })
            .collect::<Result<_, _>>()?;
        let Some(first) = lists.first() else {
            return Ok(Vec::new());
        };
        for list in &lists[1..] {
            let same =
                (0..first.len()).all(|row| list.value_length(row) == first.value_length(row));
            if !same {
                return Err(Error::query(
                    ErrorCode::SIZES_OF_ARRAYS_DONT_MATCH,
                    format!(
                        "arrays passed to aggregate function {} have different sizes",
                        self.name
                    ),
                )
                .into());
            }
        }
        Ok(lists
            .iter()
            .map(|list| {
                let offsets = list.value_offsets();
                let start = offsets[0] as usize;
                let end = offsets[offsets.len() - 1] as usize;
                list.values().slice(start, end - start)
            })
            .collect())
    }
}

impl Accumulator for Flattening {
    fn update_batch(&mut self, values: &[ArrayRef]) -> DfResult<()> {
        let elements = self.elements(values)?;
        self.inner.update_batch(&elements)
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> DfResult<()> {
        self.inner.merge_batch(states)
    }

    fn state(&mut self) -> DfResult<Vec<ScalarValue>> {
        self.inner.state()
    }

    fn evaluate(&mut self) -> DfResult<ScalarValue> {
        self.inner.evaluate()
    }

    fn size(&self) -> usize {
        self.inner.size() + std::mem::size_of_val(self)
    }
}
