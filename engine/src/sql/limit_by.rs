//! ClickHouse's `LIMIT n BY keys`: at most `n` rows for each value of the keys, the first ones in
//! the query's ORDER BY; `LIMIT n OFFSET m BY keys` (or `LIMIT m, n BY keys`) skips each key's
//! first `m`; a `LIMIT` after the keys limits the whole result (the parser hands those forms over
//! in `granary_limit_by(n, m, limit, offset)`). DataFusion has no such clause; the query becomes a
//! numbering of each key's rows in a subquery and a filter on that number:
//!
//! ```sql
//! SELECT a, b FROM t ORDER BY c DESC LIMIT 2 BY a
//! -- becomes
//! SELECT * EXCEPT (__granary_row, __granary_order_1) FROM (
//!     SELECT a, b, row_number() OVER (PARTITION BY a ORDER BY c DESC) AS __granary_row,
//!            c AS __granary_order_1
//!     FROM t) AS __granary_limit_by
//! WHERE __granary_row <= 2 ORDER BY __granary_order_1 DESC
//! ```
//!
//! The ORDER BY keys travel as hidden columns so that the final order can use expressions that
//! are not among the selected ones.

use datafusion::sql::sqlparser::ast::{
    Expr, FunctionArg, FunctionArgExpr, FunctionArguments, LimitClause, OrderByKind, Query,
    SelectItem, SetExpr, Value,
};
use datafusion::sql::sqlparser::dialect::ClickHouseDialect;
use datafusion::sql::sqlparser::parser::Parser;

use super::escapes::sql_text;
use super::parser::LIMIT_BY_FUNCTION;
use crate::{Error, Result};

const ROW: &str = "__granary_row";
const ORDER: &str = "__granary_order_";

/// Rewrites `query` if it has a `LIMIT ... BY`.
pub fn rewrite_limit_by(query: &mut Query) -> Result<()> {
    let Some(LimitClause::LimitOffset {
        limit,
        offset,
        limit_by,
    }) = &mut query.limit_clause
    else {
        return Ok(());
    };
    if limit_by.is_empty() {
        return Ok(());
    }
    let per_key = limit
        .take()
        .ok_or_else(|| Error::syntax("LIMIT BY needs a number of rows"))?;
    let (per_key, key_offset, overall, overall_offset) = limits(per_key);
    if offset.is_some() {
        // ClickHouse writes a per-key offset `LIMIT n OFFSET m BY keys` (which sqlparser does not
        // read) and refuses an OFFSET after the keys.
        return Err(Error::syntax(
            "syntax error: OFFSET after LIMIT n BY keys (a per-key offset is not supported yet)",
        ));
    }
    let keys = std::mem::take(limit_by);
    query.limit_clause = None;
    let SetExpr::Select(select) = query.body.as_mut() else {
        return Err(Error::not_implemented("LIMIT BY on a UNION or VALUES"));
    };
    let order: Vec<_> = match query.order_by.take().map(|order_by| order_by.kind) {
        Some(OrderByKind::Expressions(order)) => order,
        Some(OrderByKind::All(_)) => {
            return Err(Error::not_implemented("LIMIT BY with ORDER BY ALL"));
        }
        None => Vec::new(),
    };
    let mut window_order = Vec::new();
    let mut final_order = Vec::new();
    let mut hidden = vec![ROW.to_string()];
    for (index, key) in order.iter().enumerate() {
        let expr = positional_item(&select.projection, &key.expr).unwrap_or(&key.expr);
        let name = format!("{ORDER}{}", index + 1);
        let options = key.options.to_string();
        window_order.push(format!("{} {options}", sql_text(expr)));
        final_order.push(format!("{name} {options}"));
        select.projection.push(SelectItem::ExprWithAlias {
            expr: expr.clone(),
            alias: name.as_str().into(),
        });
        hidden.push(name);
    }
    let keys: Vec<String> = keys.iter().map(sql_text).collect();
    let window_order = if window_order.is_empty() {
        String::new()
    } else {
        format!(" ORDER BY {}", window_order.join(", "))
    };
    let numbering = format!(
        "row_number() OVER (PARTITION BY {}{window_order})",
        keys.join(", ")
    );
    select.projection.push(SelectItem::ExprWithAlias {
        expr: parse_expr(&numbering)?,
        alias: ROW.into(),
    });
    let inner = Query {
        with: query.with.take(),
        body: query.body.clone(),
        order_by: None,
        limit_clause: None,
        fetch: None,
        locks: Vec::new(),
        for_clause: None,
        settings: None,
        format_clause: None,
        pipe_operators: Vec::new(),
    };
    let condition = match &key_offset {
        Some(skip) => format!("{ROW} > {skip} AND {ROW} <= {skip} + {per_key}"),
        None => format!("{ROW} <= {per_key}"),
    };
    let mut outer = format!(
        "SELECT * EXCEPT ({}) FROM ({}) AS __granary_limit_by WHERE {condition}",
        hidden.join(", "),
        sql_text(&inner)
    );
    if !final_order.is_empty() {
        outer.push_str(&format!(" ORDER BY {}", final_order.join(", ")));
    }
    if let Some(overall) = overall {
        outer.push_str(&format!(" LIMIT {overall}"));
    }
    if let Some(skip) = overall_offset {
        outer.push_str(&format!(" OFFSET {skip}"));
    }
    let outer = Parser::new(&ClickHouseDialect {})
        .try_with_sql(&outer)
        .and_then(|mut parser| parser.parse_query())
        .map_err(|error| Error::syntax(format!("LIMIT BY: {error}")))?;
    query.body = outer.body;
    query.order_by = outer.order_by;
    query.limit_clause = outer.limit_clause;
    Ok(())
}

/// The per-key count and offset and the overall limit and offset of `LIMIT ... BY`.
fn limits(per_key: Expr) -> (Expr, Option<Expr>, Option<Expr>, Option<Expr>) {
    let Expr::Function(function) = &per_key else {
        return (per_key, None, None, None);
    };
    let is_carrier = function.name.to_string() == LIMIT_BY_FUNCTION;
    let FunctionArguments::List(list) = &function.args else {
        return (per_key, None, None, None);
    };
    let args: Vec<Option<Expr>> = list
        .args
        .iter()
        .map(|arg| match arg {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Value(value)))
                if matches!(value.value, Value::Null) =>
            {
                None
            }
            FunctionArg::Unnamed(FunctionArgExpr::Expr(expr)) => Some(expr.clone()),
            _ => None,
        })
        .collect();
    match (is_carrier, args.as_slice()) {
        (true, [Some(count), offset, limit, limit_offset]) => (
            count.clone(),
            offset.clone(),
            limit.clone(),
            limit_offset.clone(),
        ),
        _ => (per_key, None, None, None),
    }
}

/// The select item an `ORDER BY 2` names.
fn positional_item<'a>(projection: &'a [SelectItem], expr: &Expr) -> Option<&'a Expr> {
    let Expr::Value(value) = expr else {
        return None;
    };
    let Value::Number(position, _) = &value.value else {
        return None;
    };
    let position: usize = position.parse().ok()?;
    match projection.get(position.checked_sub(1)?)? {
        SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. } => Some(expr),
        _ => None,
    }
}

fn parse_expr(text: &str) -> Result<Expr> {
    Parser::new(&ClickHouseDialect {})
        .try_with_sql(text)
        .and_then(|mut parser| parser.parse_expr())
        .map_err(|error| Error::syntax(format!("LIMIT BY: {error}")))
}
