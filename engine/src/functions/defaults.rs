//! Default values of ClickHouse types: `defaultValueOfArgumentType(x)`, and
//! [`OR_DEFAULT_FUNCTION`], which fills the NULLs an outer join leaves in a column that is not
//! `Nullable` with the type's default (ClickHouse's `join_use_nulls = 0`).

use std::sync::Arc;

use arrow_array::Array;
use arrow_schema::{DataType as ArrowType, FieldRef};
use datafusion::arrow::compute::is_null;
use datafusion::arrow::compute::kernels::zip::zip;
use datafusion::common::{Result as DfResult, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};
use granary_protocol::types::DataType;

use super::type_name::clickhouse_type;

/// The function that fills an outer join's NULLs with the column type's default.
pub const OR_DEFAULT_FUNCTION: &str = "granary_or_default";

/// `defaultValueOfArgumentType` and [`OR_DEFAULT_FUNCTION`].
pub fn functions() -> Vec<ScalarUDF> {
    vec![default_value_function(), or_default_function()]
}

/// `defaultValueOfArgumentType(x)`: the default value of `x`'s type (0, '', the epoch, an empty
/// array; NULL for `Nullable`), of that type.
pub fn default_value_function() -> ScalarUDF {
    ScalarUDF::new_from_impl(DefaultValue {
        signature: Signature::any(1, Volatility::Immutable),
    })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct DefaultValue {
    signature: Signature,
}

impl ScalarUDFImpl for DefaultValue {
    fn name(&self) -> &str {
        "defaultValueOfArgumentType"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[ArrowType]) -> DfResult<ArrowType> {
        Ok(arg_types[0].clone())
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> DfResult<FieldRef> {
        // The argument's own field keeps its ClickHouse type name.
        Ok(Arc::new(
            args.arg_fields[0].as_ref().clone().with_name(self.name()),
        ))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let field = &args.return_field;
        let nullable =
            field.is_nullable() || matches!(clickhouse_type(field), Ok(DataType::Nullable(_)));
        let value = if nullable {
            ScalarValue::try_from(field.data_type())?
        } else {
            ScalarValue::new_default(field.data_type())?
        };
        Ok(ColumnarValue::Scalar(value))
    }
}

/// [`OR_DEFAULT_FUNCTION`]`(x)`: `x` with its NULLs replaced by the default of its type, of a field
/// that is not nullable (and keeps its ClickHouse type name).
pub fn or_default_function() -> ScalarUDF {
    ScalarUDF::new_from_impl(OrDefault {
        signature: Signature::any(1, Volatility::Immutable),
    })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct OrDefault {
    signature: Signature,
}

impl ScalarUDFImpl for OrDefault {
    fn name(&self) -> &str {
        OR_DEFAULT_FUNCTION
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[ArrowType]) -> DfResult<ArrowType> {
        Ok(arg_types[0].clone())
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> DfResult<FieldRef> {
        Ok(Arc::new(
            args.arg_fields[0]
                .as_ref()
                .clone()
                .with_name(self.name())
                .with_nullable(false),
        ))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let default = ScalarValue::new_default(args.return_field.data_type())?;
        Ok(match &args.args[0] {
            ColumnarValue::Scalar(value) if value.is_null() => ColumnarValue::Scalar(default),
            ColumnarValue::Scalar(value) => ColumnarValue::Scalar(value.clone()),
            ColumnarValue::Array(values) if values.null_count() == 0 => {
                ColumnarValue::Array(Arc::clone(values))
            }
            ColumnarValue::Array(values) => {
                let nulls = is_null(values)?;
                ColumnarValue::Array(zip(&nulls, &default.to_scalar()?, values)?)
            }
        })
    }
}
