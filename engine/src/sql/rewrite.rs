//! Rewrites a parsed query into what DataFusion plans with ClickHouse's meaning:
//! - `FROM t FINAL` (which sqlparser reads as the alias `FINAL`) reads `t` through the FINAL
//!   catalog, keeping `t` as the name columns are qualified with;
//! - function names: DataFusion lower-cases unquoted function names, ClickHouse does not
//!   (`toYYYYMM` is not `toyyyymm`) except for standard functions (`COUNT(*)`, `Sum(x)`). A name
//!   known as written is quoted, so that DataFusion keeps its case; a name known only in lower
//!   case is lower-cased.

use std::ops::ControlFlow;

use datafusion::execution::session_state::SessionState;
use datafusion::sql::sqlparser::ast::{
    Expr, Ident, ObjectName, ObjectNamePart, Statement, TableAlias, TableFactor, VisitMut,
    VisitorMut,
};

use crate::exec::session::FINAL_CATALOG;

/// Applies the rewrites to `statement`; `database` is the session's current database.
pub fn rewrite(statement: &mut Statement, state: &SessionState, database: &str) {
    let mut visitor = Rewriter { state, database };
    let _ = statement.visit(&mut visitor);
}

/// Applies the function-name rewrite to a standalone expression (a DEFAULT, a partition key).
pub fn rewrite_expr(expr: &mut Expr, state: &SessionState) {
    let mut visitor = Rewriter {
        state,
        database: "",
    };
    let _ = expr.visit(&mut visitor);
}

struct Rewriter<'a> {
    state: &'a SessionState,
    database: &'a str,
}

impl Rewriter<'_> {
    fn knows(&self, name: &str) -> bool {
        self.state.scalar_functions().contains_key(name)
            || self.state.aggregate_functions().contains_key(name)
            || self.state.window_functions().contains_key(name)
    }
}

impl VisitorMut for Rewriter<'_> {
    type Break = ();

    fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
        if let TableFactor::Table { name, alias, .. } = factor {
            let is_final = alias.as_ref().is_some_and(|alias| {
                !alias.explicit
                    && alias.name.quote_style.is_none()
                    && alias.name.value.eq_ignore_ascii_case("FINAL")
            });
            if is_final {
                let parts: Vec<Ident> = name
                    .0
                    .iter()
                    .filter_map(|part| part.as_ident().cloned())
                    .collect();
                let (database, table) = match parts.as_slice() {
                    [table] => (Ident::new(self.database), table.clone()),
                    [database, table] => (database.clone(), table.clone()),
                    _ => return ControlFlow::Continue(()),
                };
                *name = ObjectName(vec![
                    ObjectNamePart::Identifier(Ident::new(FINAL_CATALOG)),
                    ObjectNamePart::Identifier(database),
                    ObjectNamePart::Identifier(table.clone()),
                ]);
                *alias = Some(TableAlias {
                    explicit: false,
                    name: table,
                    columns: Vec::new(),
                    at: None,
                });
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        if let Expr::Function(function) = expr
            && let [ObjectNamePart::Identifier(ident)] = function.name.0.as_mut_slice()
        {
            let lower = ident.value.to_ascii_lowercase();
            if ident.quote_style.is_none() && lower != ident.value {
                if self.knows(&ident.value) {
                    ident.quote_style = Some('"');
                } else if self.knows(&lower) {
                    ident.value = lower;
                }
            }
        }
        ControlFlow::Continue(())
    }
}
