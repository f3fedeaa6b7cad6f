//! ClickHouse's outer joins (`join_use_nulls = 0`, its default): a row without a match gets the
//! default of each column of the other side (0, '', the epoch...), not NULL; only columns that
//! are `Nullable` get NULL. An analyzer rule puts a projection over each LEFT, RIGHT and FULL
//! join that fills those columns with [`OR_DEFAULT_FUNCTION`] under their own qualified names, so
//! that everything above the join reads them unchanged.

use std::sync::Arc;

use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNodeRecursion};
use datafusion::common::{Column, Result as DfResult, ScalarValue};
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::{Expr, JoinType, LogicalPlan, Projection};
use datafusion::optimizer::AnalyzerRule;

use crate::functions::defaults::or_default_function;

/// The analyzer rule (see the module documentation).
#[derive(Debug, Default)]
pub struct JoinDefaults;

impl AnalyzerRule for JoinDefaults {
    fn name(&self) -> &str {
        "clickhouse_join_defaults"
    }

    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> DfResult<LogicalPlan> {
        let mut outer = false;
        plan.apply_with_subqueries(|node| {
            outer |= matches!(node, LogicalPlan::Join(join)
                if matches!(join.join_type, JoinType::Left | JoinType::Right | JoinType::Full));
            Ok(if outer {
                TreeNodeRecursion::Stop
            } else {
                TreeNodeRecursion::Continue
            })
        })?;
        if !outer {
            return Ok(plan);
        }
        plan.transform_up_with_subqueries(|plan| {
            let LogicalPlan::Join(join) = &plan else {
                // Nodes above a filled join see columns that are no longer nullable.
                return Ok(Transformed::yes(plan.recompute_schema()?));
            };
            let (fill_left, fill_right) = match join.join_type {
                JoinType::Left => (false, true),
                JoinType::Right => (true, false),
                JoinType::Full => (true, true),
                _ => return Ok(Transformed::no(plan)),
            };
            let left_width = join.left.schema().fields().len();
            let sides = [
                (fill_left, join.left.schema().clone()),
                (fill_right, join.right.schema().clone()),
            ];
            let output = plan.schema().clone();
            let mut filled = false;
            let expressions = output
                .iter()
                .enumerate()
                .map(|(index, (qualifier, field))| {
                    let column = Expr::Column(Column::new(qualifier.cloned(), field.name()));
                    let (fill, side) = if index < left_width {
                        &sides[0]
                    } else {
                        &sides[1]
                    };
                    let side_index = if index < left_width {
                        index
                    } else {
                        index - left_width
                    };
                    let source = side.field(side_index);
                    let has_default = ScalarValue::new_default(source.data_type()).is_ok();
                    if *fill && !source.is_nullable() && has_default {
                        filled = true;
                        let call = Expr::ScalarFunction(ScalarFunction::new_udf(
                            Arc::new(or_default_function()),
                            vec![column],
                        ));
                        call.alias_qualified(qualifier.cloned(), field.name())
                    } else {
                        column
                    }
                })
                .collect::<Vec<_>>();
            if !filled {
                return Ok(Transformed::no(plan));
            }
            let projection = Projection::try_new(expressions, Arc::new(plan))?;
            Ok(Transformed::yes(LogicalPlan::Projection(projection)))
        })
        .data()
    }
}
