//! Rewrites a parsed query into what DataFusion plans with ClickHouse's meaning:
//! - `FROM t FINAL` (which sqlparser reads as the alias `FINAL`) reads `t` through the FINAL
//!   catalog, keeping `t` as the name columns are qualified with;
//! - function names: DataFusion lower-cases unquoted function names, ClickHouse does not
//!   (`toYYYYMM` is not `toyyyymm`) except for standard functions (`COUNT(*)`, `Sum(x)`). A name
//!   known as written is quoted, so that DataFusion keeps its case; a name known only in lower
//!   case is lower-cased;
//! - result columns without an alias get ClickHouse's name for their expression ([`names`]);
//! - conditions (`WHERE`, `PREWHERE`, `HAVING`, `QUALIFY`, the operands of `AND`/`OR`/`NOT`, `CASE`
//!   branches) that are not evidently boolean are wrapped in [`TRUTH`], which the query analysis
//!   resolves once types are known: ClickHouse takes numbers there.

use std::ops::ControlFlow;

use datafusion::execution::session_state::SessionState;
use datafusion::sql::sqlparser::ast::{
    BinaryOperator, Expr, Function, FunctionArg, FunctionArgExpr, FunctionArgumentList,
    FunctionArguments, GroupByExpr, GroupByWithModifier, Ident, ObjectName, ObjectNamePart, Query,
    Select, SelectItem, SetExpr, Statement, TableAlias, TableFactor, UnaryOperator, Value,
    VisitMut, VisitorMut,
};

use super::aliases::resolve_select_aliases;
use super::array_join::rewrite_array_join;
use super::limit_by::rewrite_limit_by;
use super::names::column_name;
use super::values;
use crate::exec::session::FINAL_CATALOG;
use crate::functions::truth::TRUTH;
use crate::{Error, Result};

/// `EXISTS (subquery)` among the selected expressions, which DataFusion runs only as a filter,
/// is `(SELECT count() > 0 FROM (SELECT 1 FROM (subquery) LIMIT 1))`: 1 when the subquery has a
/// row.
fn exists_as_count(select: &mut Select) {
    for item in &mut select.projection {
        let _ = datafusion::sql::sqlparser::ast::visit_expressions_mut(item, |expr| {
            if let Expr::Exists { subquery, negated } = expr {
                let comparison = if *negated { "=" } else { ">" };
                let sql = format!(
                    "(SELECT count() {comparison} 0 FROM \
                     (SELECT 1 FROM ({}) AS exists_rows LIMIT 1) AS exists_subquery)",
                    super::escapes::sql_text(subquery)
                );
                if let Ok(replacement) = super::parser::parse_expression(&sql) {
                    *expr = replacement;
                }
            }
            ControlFlow::<()>::Continue(())
        });
    }
}

/// What follows an output name that a SELECT repeats: the result's schema drops it and what
/// follows (see `QueryResult`).
pub const REPEATED_NAME: &str = "\u{1f}repeat";

/// Applies the rewrites to `statement`; `database` is the session's current database. A ClickHouse
/// construct Granary does not run yet is a `NOT_IMPLEMENTED` error naming it.
pub fn rewrite(statement: &mut Statement, state: &SessionState, database: &str) -> Result<()> {
    let mut visitor = Rewriter {
        state,
        database,
        error: None,
    };
    let _ = statement.visit(&mut visitor);
    match visitor.error {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

/// Applies the function-name rewrite to a standalone expression (a DEFAULT, a partition key).
pub fn rewrite_expr(expr: &mut Expr, state: &SessionState) {
    let mut visitor = Rewriter {
        state,
        database: "",
        error: None,
    };
    let _ = expr.visit(&mut visitor);
}

struct Rewriter<'a> {
    state: &'a SessionState,
    database: &'a str,
    /// The first error met: a construct Granary does not run yet, or one it cannot rewrite.
    error: Option<Error>,
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
        if values::is_values_call(factor) {
            match values::values_relation(factor) {
                Ok(relation) => *factor = relation,
                Err(error) => {
                    self.error.get_or_insert(error);
                }
            }
            return ControlFlow::Continue(());
        }
        if let TableFactor::Table {
            sample: Some(_), ..
        } = factor
        {
            self.error
                .get_or_insert_with(|| Error::not_implemented("SAMPLE"));
        }
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

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        if let Some(what) = unsupported_in(query) {
            self.error = Some(Error::not_implemented(what));
            return ControlFlow::Break(());
        }
        if let Err(error) = rewrite_limit_by(query) {
            self.error = Some(error);
            return ControlFlow::Break(());
        }
        let mut array_joins = Ok(());
        for_each_select(&mut query.body, &mut |select| {
            if array_joins.is_ok() {
                array_joins = rewrite_array_join(select);
            }
        });
        if let Err(error) = array_joins {
            self.error = Some(error);
            return ControlFlow::Break(());
        }
        for_each_select(&mut query.body, &mut |select| {
            name_columns(select);
            resolve_select_aliases(select);
            exists_as_count(select);
            // PREWHERE is a filter like WHERE (the scan prunes with both).
            if let Some(prewhere) = select.prewhere.take() {
                select.selection = Some(match select.selection.take() {
                    Some(selection) => Expr::BinaryOp {
                        left: Box::new(Expr::Nested(Box::new(prewhere))),
                        op: BinaryOperator::And,
                        right: Box::new(Expr::Nested(Box::new(selection))),
                    },
                    None => prewhere,
                });
            }
            for condition in [
                &mut select.selection,
                &mut select.prewhere,
                &mut select.having,
                &mut select.qualify,
            ]
            .into_iter()
            .flatten()
            {
                as_condition(condition);
            }
        });
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        match expr {
            Expr::BinaryOp {
                left,
                op: BinaryOperator::And | BinaryOperator::Or | BinaryOperator::Xor,
                right,
            } => {
                as_condition(left);
                as_condition(right);
            }
            Expr::UnaryOp {
                op: UnaryOperator::Not,
                expr: operand,
            } => as_condition(operand),
            // DataFusion refuses `-` on unsigned numbers; ClickHouse's `negate` widens them.
            Expr::UnaryOp {
                op: UnaryOperator::Minus,
                expr: operand,
            } if !matches!(operand.as_ref(), Expr::Value(value) if matches!(value.value, Value::Number(..))) =>
            {
                let operand = std::mem::replace(operand.as_mut(), Expr::value(Value::Null));
                *expr = function_call("negate", vec![operand]);
            }
            Expr::Case {
                operand: None,
                conditions,
                ..
            } => {
                for when in conditions {
                    as_condition(&mut when.condition);
                }
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        // `currentDatabase()` (and its alias `DATABASE()`): the session's database.
        if let Expr::Function(function) = expr
            && let [ObjectNamePart::Identifier(ident)] = function.name.0.as_slice()
            && matches!(
                ident.value.to_ascii_lowercase().as_str(),
                "currentdatabase" | "database"
            )
            && matches!(&function.args, FunctionArguments::List(list) if list.args.is_empty())
            && !self.database.is_empty()
        {
            *expr = Expr::value(Value::SingleQuotedString(self.database.to_string()));
            return ControlFlow::Continue(());
        }
        super::functions::map_function(expr);
        if let Expr::Function(function) = expr
            && let [ObjectNamePart::Identifier(ident)] = function.name.0.as_mut_slice()
        {
            let lower = ident.value.to_ascii_lowercase();
            if ident.quote_style.is_none() && lower != ident.value {
                if self.knows(&lower) && !self.knows(&ident.value) {
                    ident.value = lower;
                } else {
                    // Known as written, or unknown: either way the name keeps its case (an
                    // unknown function is reported as the user wrote it).
                    ident.quote_style = Some('"');
                }
            }
        }
        ControlFlow::Continue(())
    }
}

/// The ClickHouse constructs of `query` (itself, not its subqueries) that Granary does not run yet.
fn unsupported_in(query: &mut Query) -> Option<&'static str> {
    let mut found = None;
    for_each_select(&mut query.body, &mut |select| {
        if let GroupByExpr::Expressions(_, modifiers) = &select.group_by
            && modifiers.contains(&GroupByWithModifier::Totals)
        {
            found.get_or_insert("WITH TOTALS");
        }
    });
    found
}

/// Calls `f` on every `SELECT` of a query body (the branches of `UNION` and the like included).
fn for_each_select(body: &mut SetExpr, f: &mut impl FnMut(&mut Select)) {
    match body {
        SetExpr::Select(select) => f(select),
        SetExpr::SetOperation { left, right, .. } => {
            for_each_select(left, f);
            for_each_select(right, f);
        }
        _ => {}
    }
}

/// Gives every computed result column of `select` its ClickHouse name.
pub(crate) fn name_columns(select: &mut Select) {
    let mut seen = std::collections::HashMap::<String, usize>::new();
    for item in &mut select.projection {
        let (expr, name, named) = match &*item {
            SelectItem::UnnamedExpr(expr) => {
                let name = match expr {
                    Expr::Identifier(ident) => ident.value.clone(),
                    Expr::CompoundIdentifier(parts) => parts
                        .last()
                        .map(|ident| ident.value.clone())
                        .unwrap_or_default(),
                    expr => column_name(expr),
                };
                let named = matches!(expr, Expr::Identifier(_) | Expr::CompoundIdentifier(_));
                (expr.clone(), name, named)
            }
            SelectItem::ExprWithAlias { expr, alias } => (expr.clone(), alias.value.clone(), true),
            _ => continue,
        };
        let repeats = seen.entry(name.clone()).or_insert(0);
        *repeats += 1;
        // ClickHouse lets a SELECT repeat an output name (`SELECT x, x`); DataFusion does not, so
        // repeats are told apart by a suffix that the result's schema drops again.
        let alias = match *repeats {
            1 if named => continue,
            1 => name,
            n => format!("{name}{REPEATED_NAME}{n}"),
        };
        *item = SelectItem::ExprWithAlias {
            expr,
            alias: Ident::with_quote('"', alias),
        };
    }
}

/// Wraps `expr` in [`TRUTH`] unless it is evidently boolean.
fn as_condition(expr: &mut Expr) {
    if !is_evidently_boolean(expr) {
        let operand = std::mem::replace(expr, Expr::value(Value::Null));
        *expr = function_call(TRUTH, vec![operand]);
    }
}

fn is_evidently_boolean(expr: &Expr) -> bool {
    match expr {
        Expr::BinaryOp { op, .. } => matches!(
            op,
            BinaryOperator::Eq
                | BinaryOperator::NotEq
                | BinaryOperator::Lt
                | BinaryOperator::LtEq
                | BinaryOperator::Gt
                | BinaryOperator::GtEq
                | BinaryOperator::Spaceship
                | BinaryOperator::And
                | BinaryOperator::Or
                | BinaryOperator::Xor
        ),
        Expr::UnaryOp {
            op: UnaryOperator::Not,
            ..
        } => true,
        Expr::Nested(inner) => is_evidently_boolean(inner),
        Expr::Value(value) => matches!(value.value, Value::Boolean(_)),
        Expr::IsNull(_)
        | Expr::IsNotNull(_)
        | Expr::IsTrue(_)
        | Expr::IsNotTrue(_)
        | Expr::IsFalse(_)
        | Expr::IsNotFalse(_)
        | Expr::IsUnknown(_)
        | Expr::IsNotUnknown(_)
        | Expr::IsDistinctFrom(..)
        | Expr::IsNotDistinctFrom(..)
        | Expr::InList { .. }
        | Expr::InSubquery { .. }
        | Expr::InUnnest { .. }
        | Expr::Between { .. }
        | Expr::Like { .. }
        | Expr::ILike { .. }
        | Expr::SimilarTo { .. }
        | Expr::RLike { .. }
        | Expr::Exists { .. } => true,
        _ => false,
    }
}

/// The call `name(args)`.
pub(crate) fn function_call(name: &str, args: Vec<Expr>) -> Expr {
    Expr::Function(Function {
        name: ObjectName(vec![ObjectNamePart::Identifier(Ident::new(name))]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment: None,
            args: args
                .into_iter()
                .map(|arg| FunctionArg::Unnamed(FunctionArgExpr::Expr(arg)))
                .collect(),
            clauses: Vec::new(),
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: Vec::new(),
    })
}
