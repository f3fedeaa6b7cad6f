//! ClickHouse's aliases: a name given with `AS` anywhere in a SELECT (or by `WITH expr AS name`
//! before it) can be used everywhere in that SELECT — in WHERE, GROUP BY, HAVING and the other
//! select items — and it wins over a column of the same name, except inside its own definition
//! (`SELECT x + 1 AS x` reads the column `x`). DataFusion only resolves select aliases in ORDER BY,
//! so the others are replaced here by the expressions they name.

use std::collections::HashMap;
use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    Expr, GroupByExpr, Ident, Query, Select, SelectItem, SetExpr, Statement, VisitMut, VisitorMut,
};

/// Names and the expressions they stand for.
pub type Aliases = HashMap<String, Expr>;

/// Replaces the aliases of `select`'s own items in the rest of it.
pub fn resolve_select_aliases(select: &mut Select) {
    let mut aliases = Aliases::new();
    for item in &select.projection {
        if let SelectItem::ExprWithAlias { expr, alias } = item {
            aliases
                .entry(alias.value.clone())
                .or_insert_with(|| expr.clone());
        }
    }
    if aliases.is_empty() {
        return;
    }
    for item in &mut select.projection {
        keep_name(item, &aliases, &[]);
        match item {
            SelectItem::ExprWithAlias { expr, alias } => {
                // An item that only names its alias (`SELECT a`, made `a AS a` by `keep_name`)
                // is a reference to it, not its definition.
                let reference =
                    matches!(&*expr, Expr::Identifier(ident) if ident.value == alias.value);
                let own = if reference {
                    Vec::new()
                } else {
                    vec![alias.value.clone()]
                };
                replace(expr, &aliases, &own);
            }
            SelectItem::UnnamedExpr(expr) => replace(expr, &aliases, &[]),
            _ => {}
        }
    }
    for expr in [
        &mut select.selection,
        &mut select.prewhere,
        &mut select.having,
    ]
    .into_iter()
    .flatten()
    {
        replace(expr, &aliases, &[]);
    }
    if let GroupByExpr::Expressions(exprs, _) = &mut select.group_by {
        for expr in exprs {
            replace(expr, &aliases, &[]);
        }
    }
}

/// Applies the scalar `WITH expr AS name` items that precede `statement`'s query to every SELECT
/// of it (subqueries included, as in ClickHouse), where a select item of the same name does not
/// hide them.
pub fn apply_with_items(statement: &mut Statement, items: &[(Ident, Expr)]) {
    if items.is_empty() {
        return;
    }
    let aliases: Aliases = items
        .iter()
        .map(|(name, expr)| (name.value.clone(), expr.clone()))
        .collect();
    let _ = statement.visit(&mut WithItems { aliases: &aliases });
}

struct WithItems<'a> {
    aliases: &'a Aliases,
}

impl VisitorMut for WithItems<'_> {
    type Break = ();

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        if let SetExpr::Select(select) = query.body.as_mut() {
            with_items_in_select(select, self.aliases);
        }
        ControlFlow::Continue(())
    }
}

fn with_items_in_select(select: &mut Select, aliases: &Aliases) {
    let hidden: Vec<String> = select
        .projection
        .iter()
        .filter_map(|item| match item {
            SelectItem::ExprWithAlias { alias, .. } => Some(alias.value.clone()),
            _ => None,
        })
        .filter(|name| aliases.contains_key(name))
        .collect();
    super::rewrite::name_columns(select);
    for item in &mut select.projection {
        keep_name(item, aliases, &hidden);
        if let SelectItem::ExprWithAlias { expr, .. } | SelectItem::UnnamedExpr(expr) = item {
            replace(expr, aliases, &hidden);
        }
    }
    for expr in [
        &mut select.selection,
        &mut select.prewhere,
        &mut select.having,
    ]
    .into_iter()
    .flatten()
    {
        replace(expr, aliases, &hidden);
    }
    if let GroupByExpr::Expressions(exprs, _) = &mut select.group_by {
        for expr in exprs {
            replace(expr, aliases, &hidden);
        }
    }
}

/// A select item that is just an alias keeps the alias as its column name (`SELECT x` shows `x`,
/// not the expression `x` stands for).
fn keep_name(item: &mut SelectItem, aliases: &Aliases, hidden: &[String]) {
    if let SelectItem::UnnamedExpr(Expr::Identifier(ident)) = item
        && aliases.contains_key(&ident.value)
        && !hidden.contains(&ident.value)
    {
        *item = SelectItem::ExprWithAlias {
            expr: Expr::Identifier(ident.clone()),
            alias: Ident::with_quote('"', ident.value.clone()),
        };
    }
}

/// Replaces the aliases in `expr` (not in its subqueries, not lambda parameters), except the names
/// in `skip`, by their expressions, themselves resolved.
fn replace(expr: &mut Expr, aliases: &Aliases, skip: &[String]) {
    let mut replacer = Replacer {
        aliases,
        expanding: skip.to_vec(),
        depth: 0,
        lambda_parameters: Vec::new(),
    };
    let _ = expr.visit(&mut replacer);
}

struct Replacer<'a> {
    aliases: &'a Aliases,
    /// Names not to replace: those being expanded (a cycle reads the column) and the skipped.
    expanding: Vec<String>,
    /// How many subqueries deep the visit is.
    depth: usize,
    lambda_parameters: Vec<String>,
}

impl VisitorMut for Replacer<'_> {
    type Break = ();

    fn pre_visit_query(&mut self, _query: &mut Query) -> ControlFlow<()> {
        self.depth += 1;
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _query: &mut Query) -> ControlFlow<()> {
        self.depth -= 1;
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        if let Expr::Lambda(lambda) = expr {
            self.lambda_parameters
                .extend(lambda.params.iter().map(|param| param.name.value.clone()));
        }
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        if let Expr::Lambda(lambda) = expr {
            let count = lambda.params.len();
            self.lambda_parameters
                .truncate(self.lambda_parameters.len() - count);
            return ControlFlow::Continue(());
        }
        let Expr::Identifier(ident) = expr else {
            return ControlFlow::Continue(());
        };
        let name = &ident.value;
        if self.depth > 0 || self.expanding.contains(name) || self.lambda_parameters.contains(name)
        {
            return ControlFlow::Continue(());
        }
        let Some(definition) = self.aliases.get(name) else {
            return ControlFlow::Continue(());
        };
        let mut expanded = definition.clone();
        let mut inner = Replacer {
            aliases: self.aliases,
            expanding: self.expanding.clone(),
            depth: 0,
            lambda_parameters: Vec::new(),
        };
        inner.expanding.push(name.clone());
        let _ = expanded.visit(&mut inner);
        *expr = match expanded {
            simple @ (Expr::Identifier(_) | Expr::CompoundIdentifier(_) | Expr::Value(_)) => simple,
            other => Expr::Nested(Box::new(other)),
        };
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use datafusion::sql::sqlparser::dialect::ClickHouseDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    use super::*;

    fn resolved(sql: &str) -> String {
        let mut statement = Parser::new(&ClickHouseDialect {})
            .try_with_sql(sql)
            .unwrap()
            .parse_statement()
            .unwrap();
        let Statement::Query(query) = &mut statement else {
            panic!("a query");
        };
        let SetExpr::Select(select) = query.body.as_mut() else {
            panic!("a select");
        };
        resolve_select_aliases(select);
        statement.to_string()
    }

    #[test]
    fn aliases_resolve_everywhere_but_in_themselves() {
        assert_eq!(
            resolved("SELECT number + 1 AS n FROM t WHERE n > 2"),
            "SELECT number + 1 AS n FROM t WHERE (number + 1) > 2"
        );
        assert_eq!(
            resolved("SELECT number AS a, a + 1 AS b, b * 2 FROM t"),
            "SELECT number AS a, number + 1 AS b, (number + 1) * 2 FROM t"
        );
        assert_eq!(
            resolved("SELECT x + 1 AS x FROM t WHERE x > 0"),
            "SELECT x + 1 AS x FROM t WHERE (x + 1) > 0"
        );
        assert_eq!(
            resolved("SELECT 1 AS x FROM t WHERE y IN (SELECT x FROM u)"),
            "SELECT 1 AS x FROM t WHERE y IN (SELECT x FROM u)"
        );
    }
}
