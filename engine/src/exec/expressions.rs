//! Table expressions (column DEFAULTs, the partition key) compiled by DataFusion against a table's
//! schema and evaluated on blocks being inserted.

use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{FieldRef, SchemaRef};
use datafusion::common::DFSchema;
use datafusion::execution::session_state::SessionState;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::sql::sqlparser::ast::Expr;

use crate::error::Result;

/// A compiled expression over a table's columns.
#[derive(Debug, Clone)]
pub struct TableExpression {
    physical: Arc<dyn PhysicalExpr>,
    /// The table columns it reads, by position.
    pub columns: Vec<usize>,
    /// Its result field (with the ClickHouse type in the metadata where a function sets one).
    pub field: FieldRef,
}

impl TableExpression {
    /// Compiles `expr` (as parsed from ClickHouse syntax) against `schema` with the functions of
    /// `state`. Volatile functions such as `now()` are folded at compile time: compile per insert.
    pub fn compile(
        state: &SessionState,
        expr: &Expr,
        schema: &SchemaRef,
    ) -> Result<TableExpression> {
        let df_schema = DFSchema::try_from(schema.as_ref().clone())?;
        let mut expr = expr.clone();
        crate::sql::rewrite::rewrite_expr(&mut expr, state);
        let logical = state.create_logical_expr_from_sql_expr(
            datafusion::sql::sqlparser::ast::ExprWithAlias { expr, alias: None },
            &df_schema,
        )?;
        let mut columns: Vec<usize> = logical
            .column_refs()
            .into_iter()
            .filter_map(|column| schema.index_of(&column.name).ok())
            .collect();
        columns.sort_unstable();
        columns.dedup();
        let physical = state.create_physical_expr(logical, &df_schema)?;
        let field = physical.return_field(schema)?;
        Ok(TableExpression {
            physical,
            columns,
            field,
        })
    }

    /// Evaluates the expression on every row of `batch` (which has the table's schema).
    pub fn evaluate(&self, batch: &RecordBatch) -> Result<ArrayRef> {
        Ok(self
            .physical
            .evaluate(batch)?
            .into_array(batch.num_rows())?)
    }
}
