//! Result column names as PostgreSQL gives them. An unnamed select item is named after the column
//! or function it is (`c.relname` → `relname`, `count(*)` → `count`, `CASE` → `case`), else
//! `?column?`; names may repeat. DataFusion names items by their text and refuses repeats, so
//! each unnamed item gets its PostgreSQL name as an alias, a repeated one with a suffix after
//! [`REPEAT`] that [`output_name`] takes off again.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    Expr, FunctionArguments, Ident, Query, Select, SelectItem, SetExpr, Statement, VisitMut,
    VisitorMut,
};

/// Separates a repeated column name from the suffix that makes it unique inside the plan.
const REPEAT: char = '\u{1}';

/// The name a client sees for a planned column `name`.
pub(super) fn output_name(name: &str) -> &str {
    name.split(REPEAT).next().unwrap_or(name)
}

/// Aliases every unnamed select item of every SELECT in `statement` with its PostgreSQL name.
pub(super) fn name_columns(statement: &mut Statement) {
    struct Namer;
    impl VisitorMut for Namer {
        type Break = ();
        fn pre_visit_select(&mut self, select: &mut Select) -> ControlFlow<()> {
            name_items(select);
            ControlFlow::Continue(())
        }
    }
    let _ = statement.visit(&mut Namer);
}

fn name_items(select: &mut Select) {
    let mut taken: Vec<String> = Vec::new();
    for item in &mut select.projection {
        let name = match item {
            SelectItem::ExprWithAlias { alias, .. } => identifier(alias),
            SelectItem::UnnamedExpr(expr) => pg_name(expr),
            _ => continue,
        };
        let repeats = taken.iter().filter(|n| **n == name).count();
        taken.push(name.clone());
        if let SelectItem::UnnamedExpr(expr) = item {
            let alias = if repeats == 0 {
                name
            } else {
                format!("{name}{REPEAT}{repeats}")
            };
            let expr = std::mem::replace(
                expr,
                Expr::value(datafusion::sql::sqlparser::ast::Value::Null),
            );
            *item = SelectItem::ExprWithAlias {
                expr,
                alias: Ident::with_quote('"', alias),
            };
        }
    }
}

/// A name as PostgreSQL folds it: unquoted names are lowercase.
fn identifier(ident: &Ident) -> String {
    match ident.quote_style {
        Some(_) => ident.value.clone(),
        None => ident.value.to_ascii_lowercase(),
    }
}

/// PostgreSQL's name for an unnamed select item (its `FigureColname`).
fn pg_name(expr: &Expr) -> String {
    match expr {
        Expr::Identifier(ident) => identifier(ident),
        Expr::CompoundIdentifier(parts) => parts
            .last()
            .map_or_else(|| "?column?".to_string(), identifier),
        Expr::Function(function) => match &function.args {
            FunctionArguments::Subquery(_)
                if function.name.to_string().eq_ignore_ascii_case("array") =>
            {
                "array".to_string()
            }
            _ => function
                .name
                .0
                .last()
                .and_then(|part| part.as_ident())
                .map_or_else(
                    || "?column?".to_string(),
                    |ident| ident.value.to_ascii_lowercase(),
                ),
        },
        Expr::Cast {
            expr, data_type, ..
        } => match pg_name(expr).as_str() {
            "?column?" => type_name(&data_type.to_string()),
            name => name.to_string(),
        },
        Expr::Nested(expr) | Expr::Collate { expr, .. } => pg_name(expr),
        Expr::Case { .. } => "case".to_string(),
        Expr::Subquery(query) => subquery_name(query),
        Expr::Exists { .. } => "exists".to_string(),
        _ => "?column?".to_string(),
    }
}

/// A cast of an unnamed value is named after the type, as PostgreSQL spells it internally
/// (`'x'::text` → `text`, `1::integer` → `int4`).
fn type_name(written: &str) -> String {
    let written = written.to_ascii_lowercase();
    let base = written
        .rsplit('.')
        .next()
        .unwrap_or(&written)
        .split('(')
        .next()
        .unwrap_or(&written)
        .trim()
        .to_string();
    match base.as_str() {
        "int" | "integer" => "int4",
        "bigint" => "int8",
        "smallint" => "int2",
        "boolean" => "bool",
        "real" => "float4",
        "double precision" => "float8",
        "character varying" => "varchar",
        "character" => "bpchar",
        other => other,
    }
    .to_string()
}

/// A scalar subquery is named after its one item.
fn subquery_name(query: &Query) -> String {
    match query.body.as_ref() {
        SetExpr::Select(select) => match select.projection.first() {
            Some(SelectItem::ExprWithAlias { alias, .. }) => identifier(alias),
            Some(SelectItem::UnnamedExpr(expr)) => pg_name(expr),
            _ => "?column?".to_string(),
        },
        _ => "?column?".to_string(),
    }
}
