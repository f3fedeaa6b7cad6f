//! Correlated scalar subqueries as joins. PostgreSQL clients' catalog queries compute a column
//! per row with a subquery over another catalog (`(SELECT collname FROM pg_collation c, pg_type t
//! WHERE c.oid = a.attcollation AND a.attcollation <> t.typcollation)`,
//! `array(SELECT rolname FROM pg_roles WHERE oid = any(pol.polroles))`). DataFusion decorrelates
//! only aggregated subqueries whose correlation is an equality, so such a subquery is rewritten
//! the general way: the outer values it reads are collected once (`SELECT DISTINCT a.x AS k0
//! FROM <outer FROM>`), the subquery runs for all of them at once as an aggregate grouped by
//! them (`d LEFT JOIN <inner FROM> ON <condition> GROUP BY d.k0`: every outer value keeps one
//! row, NULL where the subquery finds none), and that derived table joins the outer query on
//! the values (`IS NOT DISTINCT FROM`, so a NULL outer value finds its row too).

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    Expr, FunctionArguments, GroupByExpr, Ident, JoinOperator, OrderByKind, Query, Select,
    SelectItem, SetExpr, Statement, TableFactor, TableWithJoins, Value, VisitMut, VisitorMut,
    visit_expressions,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;

/// Rewrites the correlated scalar subqueries of every SELECT in `statement`, innermost first.
/// A subquery this cannot express (a `count(*)`, `LIMIT`, grouping, an outer query with `*` or
/// grouping) is left as it is.
pub(super) fn unnest(statement: &mut Statement) {
    let mut unnester = Unnester { joins: 0 };
    let _ = statement.visit(&mut unnester);
}

/// Replaces with NULL the subqueries in the select lists of SELECTs that inner-join one of the
/// `empty` relations (catalogs Granary never has a row in: publications, policies...). Such a
/// SELECT returns no rows, so its select list is never computed; psql's footers put subqueries
/// there that no rewrite makes plannable (a `generate_series` over the outer row's array).
pub(super) fn drop_unread_subqueries(statement: &mut Statement, empty: &[&str]) {
    struct Dropper<'a> {
        empty: &'a [&'a str],
    }
    impl VisitorMut for Dropper<'_> {
        type Break = ();
        fn post_visit_select(&mut self, select: &mut Select) -> ControlFlow<()> {
            if reads_no_rows(&select.from, self.empty) {
                for item in &mut select.projection {
                    if let SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. } =
                        item
                    {
                        let _ = visit_top_subqueries(expr, &mut |e: &mut Expr| {
                            if is_subquery(e) {
                                *e = Expr::value(Value::Null);
                            }
                        });
                    }
                }
            }
            ControlFlow::Continue(())
        }
    }
    let _ = statement.visit(&mut Dropper { empty });
}

/// Whether a FROM clause inner-joins (or cross-joins) one of the `empty` relations.
fn reads_no_rows(from: &[TableWithJoins], empty: &[&str]) -> bool {
    let is_empty = |relation: &TableFactor| match relation {
        TableFactor::Table {
            name, args: None, ..
        } => name
            .0
            .last()
            .and_then(|part| part.as_ident())
            .is_some_and(|ident| empty.contains(&ident.value.to_ascii_lowercase().as_str())),
        _ => false,
    };
    from.iter().any(|item| {
        is_empty(&item.relation)
            || item.joins.iter().any(|join| {
                matches!(
                    join.join_operator,
                    JoinOperator::Join(_) | JoinOperator::Inner(_) | JoinOperator::CrossJoin(_)
                ) && is_empty(&join.relation)
            })
    })
}

fn is_subquery(expr: &Expr) -> bool {
    match expr {
        Expr::Subquery(_) => true,
        Expr::Function(function) => matches!(function.args, FunctionArguments::Subquery(_)),
        _ => false,
    }
}

struct Unnester {
    /// Derived tables added so far: their names are `__s<n>` and `__d<n>`.
    joins: usize,
}

impl VisitorMut for Unnester {
    type Break = ();

    fn post_visit_select(&mut self, select: &mut Select) -> ControlFlow<()> {
        self.unnest_select(select);
        ControlFlow::Continue(())
    }
}

impl Unnester {
    fn unnest_select(&mut self, select: &mut Select) {
        let Some(names) = joinable_relations(select) else {
            return;
        };
        let outer_from = select.from.clone();
        let mut conditions = Vec::new();
        let mut derived = Vec::new();
        let mut expressions: Vec<&mut Expr> = select
            .projection
            .iter_mut()
            .filter_map(|item| match item {
                SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. } => {
                    Some(expr)
                }
                _ => None,
            })
            .collect();
        if let Some(selection) = select.selection.as_mut() {
            expressions.push(selection);
        }
        for expr in expressions {
            let _ = visit_top_subqueries(expr, &mut |subquery: &mut Expr| {
                if let Some(join) = self.join_for(subquery, &names, &outer_from) {
                    *subquery = join.value;
                    conditions.extend(join.conditions);
                    derived.push(join.table);
                }
            });
        }
        select
            .from
            .extend(derived.into_iter().map(|relation| TableWithJoins {
                relation,
                joins: Vec::new(),
            }));
        let existing = select.selection.take();
        select.selection = existing.into_iter().chain(conditions).reduce(and);
    }

    /// The derived table that computes `subquery` (a scalar subquery or `array(subquery)`) for
    /// every row of an outer query over `outer_from`, whose relations are `names`.
    fn join_for(
        &mut self,
        subquery: &Expr,
        names: &[String],
        outer_from: &[TableWithJoins],
    ) -> Option<Join> {
        let (query, array) = match subquery {
            Expr::Subquery(query) => (query.as_ref(), false),
            Expr::Function(function) if function.name.to_string().eq_ignore_ascii_case("array") => {
                match &function.args {
                    FunctionArguments::Subquery(query) => (query.as_ref(), true),
                    _ => return None,
                }
            }
            _ => return None,
        };
        let SetExpr::Select(inner) = query.body.as_ref() else {
            return None;
        };
        let plain = query.with.is_none()
            && query.limit_clause.is_none()
            && query.fetch.is_none()
            && inner.distinct.is_none()
            && inner.having.is_none()
            && inner.projection.len() == 1
            && matches!(&inner.group_by, GroupByExpr::Expressions(e, _) if e.is_empty());
        if !plain {
            return None;
        }
        let item = match &inner.projection[0] {
            SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. } => expr.clone(),
            _ => return None,
        };
        let own = relation_names(&inner.from);
        let mut outer: Vec<Vec<Ident>> = Vec::new();
        let mut reads_elsewhere = false;
        for expr in std::iter::once(&item).chain(inner.selection.as_ref()) {
            let _ = visit_expressions(expr, |expr| {
                if let Expr::CompoundIdentifier(parts) = expr
                    && parts.len() >= 2
                {
                    let qualifier = parts[parts.len() - 2].value.to_ascii_lowercase();
                    if !own.contains(&qualifier) {
                        if names.contains(&qualifier) {
                            if !outer.contains(parts) {
                                outer.push(parts.clone());
                            }
                        } else {
                            reads_elsewhere = true;
                        }
                    }
                }
                ControlFlow::<()>::Continue(())
            });
        }
        if outer.is_empty() || reads_elsewhere {
            return None;
        }
        let n = self.joins;
        let (values, keys) = (format!("__d{n}"), format!("__s{n}"));
        let key = |i: usize| format!("{values}.k{i}");
        let local = |expr: &Expr| {
            let mut expr = expr.clone();
            let _ = datafusion::sql::sqlparser::ast::visit_expressions_mut(&mut expr, |e| {
                if let Expr::CompoundIdentifier(parts) = e
                    && let Some(i) = outer.iter().position(|o| o == parts)
                {
                    *e = Expr::CompoundIdentifier(vec![
                        Ident::new(&values),
                        Ident::new(format!("k{i}")),
                    ]);
                }
                ControlFlow::<()>::Continue(())
            });
            expr
        };
        let item = local(&item);
        let aggregate = if array {
            let order = match query.order_by.as_ref().map(|o| &o.kind) {
                Some(OrderByKind::Expressions(list)) if !list.is_empty() => {
                    let list: Vec<String> = list
                        .iter()
                        .map(|o| {
                            let by = match &o.expr {
                                Expr::Value(v) if v.to_string() == "1" => item.to_string(),
                                other => local(other).to_string(),
                            };
                            format!("{by}{}", o.options)
                        })
                        .collect();
                    format!(" ORDER BY {}", list.join(", "))
                }
                _ => String::new(),
            };
            // Only the rows the condition matched: an outer value without any has the one
            // row of the LEFT JOIN's NULLs, which would make `{NULL}` instead of no array.
            let matched = inner
                .selection
                .as_ref()
                .map_or_else(|| "TRUE".to_string(), |c| local(c).to_string());
            format!("array_agg({item}{order}) FILTER (WHERE {matched})")
        } else if let Expr::Function(function) = &item
            && super::AGGREGATES.contains(&function.name.to_string().to_ascii_lowercase().as_str())
        {
            if function.args.to_string().contains('*') {
                // count(*) counts the LEFT JOIN's row without a match: not expressible here.
                return None;
            }
            item.to_string()
        } else {
            format!("max({item})")
        };
        let condition = inner
            .selection
            .as_ref()
            .map_or_else(|| "TRUE".to_string(), |c| local(c).to_string());
        let inner_from = match inner.from.as_slice() {
            [single] if single.joins.is_empty() => single.to_string(),
            [] => return None,
            many => format!(
                "({})",
                many.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(" CROSS JOIN ")
            ),
        };
        let key_list: Vec<String> = (0..outer.len()).map(key).collect();
        let distinct: Vec<String> = outer
            .iter()
            .enumerate()
            .map(|(i, parts)| format!("{} AS k{i}", Expr::CompoundIdentifier(parts.clone())))
            .collect();
        let outer_from: Vec<String> = outer_from.iter().map(ToString::to_string).collect();
        let sql = format!(
            "SELECT 1 FROM (SELECT {keys_out}, {aggregate} AS v FROM (SELECT DISTINCT {distinct} \
             FROM {outer_from}) AS {values} LEFT JOIN {inner_from} ON {condition} GROUP BY \
             {keys_out}) AS {keys}",
            keys_out = key_list.join(", "),
            distinct = distinct.join(", "),
            outer_from = outer_from.join(", "),
        );
        let mut parsed = Parser::parse_sql(&PostgreSqlDialect {}, &sql).ok()?;
        let Some(Statement::Query(parsed)) = parsed.pop() else {
            return None;
        };
        let SetExpr::Select(mut parsed) = *parsed.body else {
            return None;
        };
        let table = parsed.from.pop()?.relation;
        self.joins += 1;
        let conditions = outer
            .iter()
            .enumerate()
            .map(|(i, parts)| {
                Expr::Nested(Box::new(Expr::IsNotDistinctFrom(
                    Box::new(Expr::CompoundIdentifier(vec![
                        Ident::new(&keys),
                        Ident::new(format!("k{i}")),
                    ])),
                    Box::new(Expr::CompoundIdentifier(parts.clone())),
                )))
            })
            .collect();
        Some(Join {
            table,
            conditions,
            value: Expr::CompoundIdentifier(vec![Ident::new(&keys), Ident::new("v")]),
        })
    }
}

/// A subquery as a join: the derived table, the conditions joining it, the expression for the
/// subquery's value.
struct Join {
    table: TableFactor,
    conditions: Vec<Expr>,
    value: Expr,
}

/// The names of the relations of a SELECT that a derived table of subquery answers can join
/// (added to its FROM, its values read in the select list): `None` for a SELECT that is
/// grouped, has `*` (a new relation would change its columns) or reads no relation.
pub(super) fn joinable_relations(select: &Select) -> Option<Vec<String>> {
    let grouped = match &select.group_by {
        GroupByExpr::Expressions(expressions, _) => !expressions.is_empty(),
        GroupByExpr::All(_) => true,
    };
    let wildcard = select.projection.iter().any(|item| {
        matches!(
            item,
            SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..)
        )
    });
    let names = relation_names(&select.from);
    (!grouped && !wildcard && select.having.is_none() && !names.is_empty()).then_some(names)
}

pub(super) fn and(left: Expr, right: Expr) -> Expr {
    Expr::BinaryOp {
        left: Box::new(left),
        op: datafusion::sql::sqlparser::ast::BinaryOperator::And,
        right: Box::new(right),
    }
}

/// The names (aliases, else table names) the relations of a FROM clause define, lowercase.
pub(super) fn relation_names(from: &[TableWithJoins]) -> Vec<String> {
    from.iter()
        .flat_map(|from| {
            std::iter::once(&from.relation).chain(from.joins.iter().map(|j| &j.relation))
        })
        .filter_map(|relation| match relation {
            TableFactor::Table { name, alias, .. } => Some(match alias {
                Some(alias) => alias.name.value.to_ascii_lowercase(),
                None => name.0.last()?.as_ident()?.value.to_ascii_lowercase(),
            }),
            TableFactor::Derived { alias, .. } => {
                Some(alias.as_ref()?.name.value.to_ascii_lowercase())
            }
            _ => None,
        })
        .collect()
}

/// Calls `f` on each subquery expression of `expr` that is not inside another subquery.
pub(super) fn visit_top_subqueries(
    expr: &mut Expr,
    f: &mut dyn FnMut(&mut Expr),
) -> ControlFlow<()> {
    struct Top<'a> {
        depth: usize,
        f: &'a mut dyn FnMut(&mut Expr),
    }
    impl VisitorMut for Top<'_> {
        type Break = ();
        fn pre_visit_query(&mut self, _: &mut Query) -> ControlFlow<()> {
            self.depth += 1;
            ControlFlow::Continue(())
        }
        fn post_visit_query(&mut self, _: &mut Query) -> ControlFlow<()> {
            self.depth -= 1;
            ControlFlow::Continue(())
        }
        fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
            if self.depth == 0 {
                (self.f)(expr);
            }
            ControlFlow::Continue(())
        }
    }
    expr.visit(&mut Top { depth: 0, f })
}
