//! ClickHouse's typing of a query, as a DataFusion analyzer rule that runs before DataFusion's own
//! type coercion:
//! - an integer literal has the smallest type that holds it (`1` is `UInt8`, `-1` is `Int8`,
//!   `256` is `UInt16`); `true`/`false` are `Bool`;
//! - `+ - * / %` and unary `-` on numbers are ClickHouse's [`arithmetic`] functions, with their
//!   result types and wrapping overflow;
//! - a condition ([`TRUTH`]) is its operand when that is boolean, else `operand != 0`;
//! - at the top, a boolean result (a comparison, `AND`, `IN`...) is returned as `UInt8`, as
//!   ClickHouse does; `Bool` columns and literals stay `Bool`.
//!
//! Expressions keep their names (DataFusion refers to computed columns by name), `LIMIT` and
//! `VALUES` are left alone.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_schema::DataType as ArrowType;
use datafusion::common::config::ConfigOptions;
use datafusion::common::metadata::FieldMetadata;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion::common::{DFSchema, Result as DfResult, ScalarValue};
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::utils::merge_schema;
use datafusion::logical_expr::{
    BinaryExpr, Expr, ExprSchemable, LogicalPlan, LogicalPlanBuilder, Operator, cast,
};
use datafusion::optimizer::AnalyzerRule;
use granary_protocol::types::CLICKHOUSE_TYPE_KEY;

use crate::functions::arithmetic::{self, Operation, is_number};
use crate::functions::states::ROW_MARKER_KEY;
use crate::functions::truth::{self, TRUTH};

/// The analyzer rule (see the module documentation).
#[derive(Debug, Default)]
pub struct ClickHouseSemantics;

impl AnalyzerRule for ClickHouseSemantics {
    fn name(&self) -> &str {
        "clickhouse_semantics"
    }

    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> DfResult<LogicalPlan> {
        let plan = plan.transform_up_with_subqueries(rewrite_plan).data()?;
        booleans_as_uint8(plan)
    }
}

fn rewrite_plan(plan: LogicalPlan) -> DfResult<Transformed<LogicalPlan>> {
    if !matches!(
        plan,
        LogicalPlan::Projection(_)
            | LogicalPlan::Filter(_)
            | LogicalPlan::Aggregate(_)
            | LogicalPlan::Window(_)
            | LogicalPlan::Sort(_)
            | LogicalPlan::Join(_)
    ) {
        return Ok(Transformed::no(plan));
    }
    let schema = merge_schema(&plan.inputs());
    let names = NamePreserver::new(&plan);
    let rewritten = plan.map_expressions(|expr| {
        let name = names.save(&expr);
        let rewritten = expr.transform_up(|expr| rewrite_expr(expr, &schema))?;
        // A lambda's parameters were typed by the planner from its array's elements, which may
        // have changed type here (`[1, 2]` is now an array of UInt8): type them again.
        let rewritten = if rewritten.transformed
            && rewritten
                .data
                .exists(|expr| Ok(matches!(expr, Expr::HigherOrderFunction(_))))?
        {
            Transformed::yes(rewritten.data.resolve_lambda_variables(&schema)?.data)
        } else {
            rewritten
        };
        rewritten.map_data(|expr| Ok(name.restore(expr)))
    })?;
    if rewritten.transformed {
        rewritten.map_data(|plan| plan.recompute_schema())
    } else {
        Ok(rewritten)
    }
}

fn rewrite_expr(expr: Expr, schema: &DFSchema) -> DfResult<Transformed<Expr>> {
    Ok(match expr {
        Expr::Literal(ScalarValue::Int64(Some(value)), None) => {
            Transformed::yes(Expr::Literal(narrowest(value), None))
        }
        Expr::Literal(value @ ScalarValue::Boolean(_), None) => {
            let metadata = BTreeMap::from([(CLICKHOUSE_TYPE_KEY.to_string(), "Bool".to_string())]);
            Transformed::yes(Expr::Literal(value, Some(FieldMetadata::from(metadata))))
        }
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
            let operation = match op {
                Operator::Plus => Some(Operation::Plus),
                Operator::Minus => Some(Operation::Minus),
                Operator::Multiply => Some(Operation::Multiply),
                Operator::Divide => Some(Operation::Divide),
                Operator::Modulo => Some(Operation::Modulo),
                _ => None,
            };
            let Some(operation) = operation else {
                return Ok(Transformed::no(Expr::BinaryExpr(BinaryExpr {
                    left,
                    op,
                    right,
                })));
            };
            let (left_type, right_type) = (left.get_type(schema)?, right.get_type(schema)?);
            if is_number(&left_type) && is_number(&right_type) {
                Transformed::yes(call(operation, vec![*left, *right]))
            } else {
                Transformed::no(Expr::BinaryExpr(BinaryExpr { left, op, right }))
            }
        }
        Expr::Negative(operand) if is_number(&operand.get_type(schema)?) => {
            Transformed::yes(call(Operation::Negate, vec![*operand]))
        }
        Expr::ScalarFunction(function)
            if function.name() == "make_array" && !function.args.is_empty() =>
        {
            // `[1, 2]` is `Array(UInt8)`: DataFusion marks a built array's elements nullable
            // whatever they are, ClickHouse only when an element is.
            let nullable_element = function
                .args
                .iter()
                .map(|arg| arg.nullable(schema))
                .collect::<DfResult<Vec<bool>>>()?
                .into_iter()
                .any(|nullable| nullable);
            let array = Expr::ScalarFunction(function);
            match array.get_type(schema)? {
                ArrowType::List(element) if element.is_nullable() && !nullable_element => {
                    let exact =
                        ArrowType::List(Arc::new(element.as_ref().clone().with_nullable(false)));
                    Transformed::yes(cast(array, exact))
                }
                _ => Transformed::no(array),
            }
        }
        Expr::ScalarFunction(mut function) if !keeps_literal_types(function.name()) => {
            let widened = widen_literals(&mut function.args);
            Transformed::new_transformed(Expr::ScalarFunction(function), widened)
        }
        Expr::AggregateFunction(mut function)
            if function.func.name() == "countState" && function.params.args.is_empty() =>
        {
            // `countState()` counts rows, which an aggregate with no arguments is not shown.
            let metadata = BTreeMap::from([(ROW_MARKER_KEY.to_string(), String::new())]);
            function.params.args.push(Expr::Literal(
                ScalarValue::Boolean(Some(true)),
                Some(FieldMetadata::from(metadata)),
            ));
            Transformed::yes(Expr::AggregateFunction(function))
        }
        Expr::AggregateFunction(mut function) => {
            let widened = widen_literals(&mut function.params.args);
            Transformed::new_transformed(Expr::AggregateFunction(function), widened)
        }
        Expr::ScalarFunction(function) if function.name() == TRUTH => {
            let [operand] = <[Expr; 1]>::try_from(function.args).map_err(|_| {
                datafusion::common::DataFusionError::Plan(format!("{TRUTH} takes one argument"))
            })?;
            let data_type = operand.get_type(schema)?;
            Transformed::yes(match data_type {
                ArrowType::Boolean => operand,
                ArrowType::Null => Expr::Literal(ScalarValue::Boolean(None), None),
                _ => {
                    truth::check(&data_type)?;
                    let zero = ScalarValue::new_zero(&data_type)?;
                    operand.not_eq(Expr::Literal(zero, None))
                }
            })
        }
        other => Transformed::no(other),
    })
}

/// Whether a function takes its literal arguments with ClickHouse's narrow types: Granary's own
/// functions and DataFusion's that build values from them (`[1, 2]` is `Array(UInt8)`). DataFusion's
/// other functions expect `Int64` positions, lengths and counts, and get them.
fn keeps_literal_types(name: &str) -> bool {
    static GRANARY: std::sync::LazyLock<Vec<String>> = std::sync::LazyLock::new(|| {
        crate::functions::scalar_functions()
            .iter()
            .map(|function| function.name().to_string())
            .collect()
    });
    matches!(
        name,
        "make_array"
            | "coalesce"
            | "nullif"
            | "greatest"
            | "least"
            | "struct"
            | "named_struct"
            | "map"
    ) || GRANARY.iter().any(|granary| granary == name)
}

/// Turns the narrowed integer literals among `args` back into `Int64`; whether any was.
fn widen_literals(args: &mut [Expr]) -> bool {
    let mut widened = false;
    for arg in args {
        if let Expr::Literal(value, None) = arg {
            let wide = match value {
                ScalarValue::UInt8(Some(v)) => Some(i64::from(*v)),
                ScalarValue::UInt16(Some(v)) => Some(i64::from(*v)),
                ScalarValue::UInt32(Some(v)) => Some(i64::from(*v)),
                ScalarValue::Int8(Some(v)) => Some(i64::from(*v)),
                ScalarValue::Int16(Some(v)) => Some(i64::from(*v)),
                ScalarValue::Int32(Some(v)) => Some(i64::from(*v)),
                ScalarValue::UInt64(Some(v)) => i64::try_from(*v).ok(),
                _ => None,
            };
            if let Some(wide) = wide {
                *value = ScalarValue::Int64(Some(wide));
                widened = true;
            }
        }
    }
    widened
}

fn call(operation: Operation, args: Vec<Expr>) -> Expr {
    Expr::ScalarFunction(ScalarFunction::new_udf(arithmetic::udf(operation), args))
}

/// The literal of `value` in the smallest ClickHouse integer type that holds it.
fn narrowest(value: i64) -> ScalarValue {
    if value >= 0 {
        if let Ok(value) = u8::try_from(value) {
            ScalarValue::UInt8(Some(value))
        } else if let Ok(value) = u16::try_from(value) {
            ScalarValue::UInt16(Some(value))
        } else if let Ok(value) = u32::try_from(value) {
            ScalarValue::UInt32(Some(value))
        } else {
            ScalarValue::UInt64(Some(value as u64))
        }
    } else if let Ok(value) = i8::try_from(value) {
        ScalarValue::Int8(Some(value))
    } else if let Ok(value) = i16::try_from(value) {
        ScalarValue::Int16(Some(value))
    } else if let Ok(value) = i32::try_from(value) {
        ScalarValue::Int32(Some(value))
    } else {
        ScalarValue::Int64(Some(value))
    }
}

/// The plan with its boolean results that are not `Bool` returned as `UInt8`.
fn booleans_as_uint8(plan: LogicalPlan) -> DfResult<LogicalPlan> {
    let schema = Arc::clone(plan.schema());
    let needs_cast = |field: &arrow_schema::Field| {
        *field.data_type() == ArrowType::Boolean
            && !field.metadata().contains_key(CLICKHOUSE_TYPE_KEY)
    };
    if !schema.fields().iter().any(|field| needs_cast(field)) || !returns_rows(&plan) {
        return Ok(plan);
    }
    let columns: Vec<Expr> = schema
        .iter()
        .map(|(qualifier, field)| {
            let column = Expr::Column(datafusion::common::Column::new(
                qualifier.cloned(),
                field.name(),
            ));
            if needs_cast(field) {
                cast(column, ArrowType::UInt8).alias_qualified(qualifier.cloned(), field.name())
            } else {
                column
            }
        })
        .collect();
    LogicalPlanBuilder::from(plan).project(columns)?.build()
}

/// Whether `plan` is a query whose rows go to the client (not DDL, DML or EXPLAIN).
fn returns_rows(plan: &LogicalPlan) -> bool {
    !matches!(
        plan,
        LogicalPlan::Explain(_)
            | LogicalPlan::Analyze(_)
            | LogicalPlan::Dml(_)
            | LogicalPlan::Ddl(_)
            | LogicalPlan::Copy(_)
            | LogicalPlan::Statement(_)
            | LogicalPlan::DescribeTable(_)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_take_the_smallest_type() {
        assert_eq!(narrowest(1), ScalarValue::UInt8(Some(1)));
        assert_eq!(narrowest(256), ScalarValue::UInt16(Some(256)));
        assert_eq!(narrowest(65_536), ScalarValue::UInt32(Some(65_536)));
        assert_eq!(narrowest(1 << 32), ScalarValue::UInt64(Some(1 << 32)));
        assert_eq!(narrowest(-1), ScalarValue::Int8(Some(-1)));
        assert_eq!(narrowest(-129), ScalarValue::Int16(Some(-129)));
        assert_eq!(narrowest(-32_769), ScalarValue::Int32(Some(-32_769)));
        assert_eq!(narrowest(i64::MIN), ScalarValue::Int64(Some(i64::MIN)));
    }
}
