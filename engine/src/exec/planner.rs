//! Granary's hook into DataFusion's SQL planner: `+` and `-` with a date or time operand are
//! planned as [`shift`]'s functions while the query is planned, before DataFusion would type them
//! with its own rules (it refuses `DateTime + integer` and types `Date + n` as `Date32`).

use datafusion::common::{DFSchema, Result as DfResult};
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::planner::{ExprPlanner, PlannerResult, RawBinaryExpr};
use datafusion::logical_expr::{Expr, ExprSchemable};
use datafusion::sql::sqlparser::ast::BinaryOperator;

use crate::functions::dates::shift;

/// The planner (see the module documentation).
#[derive(Debug, Default)]
pub struct DateArithmeticPlanner;

impl ExprPlanner for DateArithmeticPlanner {
    fn plan_binary_op(
        &self,
        expr: RawBinaryExpr,
        schema: &DFSchema,
    ) -> DfResult<PlannerResult<RawBinaryExpr>> {
        let minus = match expr.op {
            BinaryOperator::Plus => false,
            BinaryOperator::Minus => true,
            _ => return Ok(PlannerResult::Original(expr)),
        };
        // An operand this schema cannot type (an outer reference...) is left to DataFusion.
        let (Ok(left), Ok(right)) = (expr.left.get_type(schema), expr.right.get_type(schema))
        else {
            return Ok(PlannerResult::Original(expr));
        };
        if !shift::applies(&left, &right) {
            return Ok(PlannerResult::Original(expr));
        }
        Ok(PlannerResult::Planned(Expr::ScalarFunction(
            ScalarFunction::new_udf(shift::udf(minus), vec![expr.left, expr.right]),
        )))
    }
}
