//! `toTypeName(x)`: the ClickHouse type of its argument, and the rule that decides it
//! ([`clickhouse_type`]), which the query output shares.

use std::sync::Arc;

use arrow_schema::{DataType as ArrowType, Field, FieldRef};
use datafusion::common::{Result as DfResult, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};
use granary_protocol::types::{CLICKHOUSE_TYPE_KEY, DataType, field_clickhouse_type};

use crate::Error;

/// The ClickHouse type of a value of `field`: the type named in its metadata, else the one its
/// Arrow type implies, except that a `Boolean` without a name is `UInt8` — comparisons and logical
/// operators give `UInt8` in ClickHouse; only `Bool` columns and `true`/`false` carry the name `Bool`.
pub fn clickhouse_type(field: &Field) -> Result<DataType, Error> {
    if *field.data_type() == ArrowType::Boolean
        && !field.metadata().contains_key(CLICKHOUSE_TYPE_KEY)
    {
        return Ok(if field.is_nullable() {
            DataType::Nullable(Box::new(DataType::UInt8))
        } else {
            DataType::UInt8
        });
    }
    Ok(field_clickhouse_type(field)?)
}

/// `toTypeName`.
pub fn function() -> ScalarUDF {
    ScalarUDF::new_from_impl(TypeName {
        signature: Signature::any(1, Volatility::Immutable),
    })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct TypeName {
    signature: Signature,
}

impl ScalarUDFImpl for TypeName {
    fn name(&self) -> &str {
        "toTypeName"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[ArrowType]) -> DfResult<ArrowType> {
        Ok(ArrowType::Utf8)
    }

    fn return_field_from_args(&self, _args: ReturnFieldArgs) -> DfResult<FieldRef> {
        Ok(Arc::new(Field::new(self.name(), ArrowType::Utf8, false)))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let name = clickhouse_type(&args.arg_fields[0])?.to_string();
        Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(name))))
    }
}
