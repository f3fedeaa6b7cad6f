//! Correlated subqueries no rewrite makes plannable, evaluated once per distinct outer value.
//!
//! [`super::unnest`] turns the plain correlated subqueries of catalog queries into joins. Some
//! cannot be written as a join: asyncpg's type introspection computes a domain's base type with
//! a `WITH RECURSIVE` over the outer row's type, psql's `\d+` reads `array(SELECT ... FROM
//! unnest(tc.reloptions) x)`. Such a subquery in a select list is run here before the statement
//! is planned: the outer values it reads are collected (`SELECT DISTINCT t.oid AS k0 FROM <the
//! outer FROM>`), the subquery is planned once with those values as typed parameters and run for
//! each, and the answers become a table `__e<n>(k0, ..., v)` that the outer query joins on the
//! values (`IS NOT DISTINCT FROM`), reading `__e<n>.v` where the subquery was. A subquery that
//! is the result of a `CASE WHEN <condition> THEN`, as asyncpg's are, runs only for the values
//! whose rows meet the condition. Catalogs are small, so the values are few.

use std::ops::ControlFlow;
use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType as ArrowType, Field, Schema};
use datafusion::catalog::MemTable;
use datafusion::execution::session_state::SessionState;
use datafusion::logical_expr::{LogicalPlan, Statement as PlanStatement};
use datafusion::physical_plan::collect;
use datafusion::scalar::ScalarValue;
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::{
    ArrayElemTypeDef, CaseWhen, DataType as SqlType, Expr, FunctionArguments, Ident, Query, Select,
    SelectItem, Statement, TableFactor, TableWithJoins, Value, Visit, VisitMut, Visitor,
    VisitorMut, visit_expressions, visit_expressions_mut,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;
use granary_protocol::ErrorCode;

use super::unnest::{and, joinable_relations};
use crate::error::{Error, Result};

/// Evaluates the correlated subqueries of `statement` that DataFusion cannot plan and rewrites
/// the statement to read their answers, registered as tables in `schema` of `state`.
pub(super) async fn evaluate(
    statement: &mut Statement,
    state: &SessionState,
    schema: &dyn datafusion::catalog::SchemaProvider,
) -> Result<()> {
    // First on a copy: find the subqueries and compute their tables; then, in the same order,
    // replace those that have one.
    let mut found = Vec::new();
    let mut probe = statement.clone();
    let _ = VisitMut::visit(
        &mut probe,
        &mut Finder {
            on_subquery: &mut |subquery: &mut Expr, guard: Option<&Expr>, outer: &Outer| {
                found.push(Candidate::new(subquery, guard, outer));
                None
            },
        },
    );
    let mut tables = Vec::with_capacity(found.len());
    for (index, candidate) in found.into_iter().enumerate() {
        let answers = match candidate {
            Some(candidate) => candidate
                .answers(state)
                .await?
                .map(|batch| (candidate, batch)),
            None => None,
        };
        tables.push(match answers {
            Some((candidate, batch)) => {
                let name = format!("__e{index}");
                let table = MemTable::try_new(batch.schema(), vec![vec![batch]])?;
                schema.register_table(name.clone(), Arc::new(table))?;
                Some(Join {
                    name,
                    keys: candidate.outer,
                })
            }
            None => None,
        });
    }
    let mut tables = tables.into_iter();
    let _ = VisitMut::visit(
        statement,
        &mut Finder {
            on_subquery: &mut |subquery: &mut Expr, _: Option<&Expr>, _: &Outer| {
                let join = tables.next().flatten()?;
                *subquery = Expr::CompoundIdentifier(vec![Ident::new(&join.name), Ident::new("v")]);
                Some(join)
            },
        },
    );
    Ok(())
}

/// A subquery's answers as a table the outer query joins: its name, and the outer columns
/// matching its keys `k0, k1...`.
struct Join {
    name: String,
    keys: Vec<Vec<Ident>>,
}

/// What the SELECT around a subquery gives it: the names its FROM defines, its FROM and WHERE.
struct Outer {
    names: Vec<String>,
    from: Vec<TableWithJoins>,
    selection: Option<Expr>,
}

type OnSubquery<'a> = dyn FnMut(&mut Expr, Option<&Expr>, &Outer) -> Option<Join> + 'a;

/// Calls `on_subquery` on the select-list subqueries of every SELECT that can join a table of
/// answers (not grouped, no `*`), innermost SELECT first, with the `CASE WHEN` condition that
/// guards each; joins the tables it returns.
struct Finder<'a, 'b> {
    on_subquery: &'a mut OnSubquery<'b>,
}

impl VisitorMut for Finder<'_, '_> {
    type Break = ();

    fn post_visit_select(&mut self, select: &mut Select) -> ControlFlow<()> {
        let Some(names) = joinable_relations(select) else {
            return ControlFlow::Continue(());
        };
        let outer = Outer {
            names,
            from: select.from.clone(),
            selection: select.selection.clone(),
        };
        let mut joins = Vec::new();
        for item in &mut select.projection {
            let (SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. }) = item
            else {
                continue;
            };
            for_each_subquery(expr, &mut |subquery, guard| {
                joins.extend((self.on_subquery)(subquery, guard, &outer));
            });
        }
        let mut conditions = Vec::new();
        for join in joins {
            select.from.push(TableWithJoins {
                relation: table(&join.name),
                joins: Vec::new(),
            });
            for (index, parts) in join.keys.into_iter().enumerate() {
                conditions.push(Expr::Nested(Box::new(Expr::IsNotDistinctFrom(
                    Box::new(Expr::CompoundIdentifier(vec![
                        Ident::new(&join.name),
                        Ident::new(format!("k{index}")),
                    ])),
                    Box::new(Expr::CompoundIdentifier(parts)),
                ))));
            }
        }
        let existing = select.selection.take();
        select.selection = existing.into_iter().chain(conditions).reduce(and);
        ControlFlow::Continue(())
    }
}

/// A FROM item naming the table `name`.
fn table(name: &str) -> TableFactor {
    TableFactor::Table {
        name: datafusion::sql::sqlparser::ast::ObjectName::from(vec![Ident::new(name)]),
        alias: None,
        args: None,
        with_hints: Vec::new(),
        version: None,
        with_ordinality: false,
        partitions: Vec::new(),
        json_path: None,
        sample: None,
        index_hints: Vec::new(),
    }
}

/// Calls `f` on each subquery of a select-list expression that is not inside another
/// subquery; a subquery that is a `CASE WHEN c THEN` result comes with `c`.
fn for_each_subquery(expr: &mut Expr, f: &mut dyn FnMut(&mut Expr, Option<&Expr>)) {
    let mut plain = expr;
    while let Expr::Nested(inner) = plain {
        plain = inner;
    }
    if let Expr::Case {
        operand: None,
        conditions,
        else_result,
        ..
    } = plain
    {
        for CaseWhen { condition, result } in conditions {
            let mut value = &mut *result;
            while let Expr::Nested(inner) = value {
                value = inner;
            }
            if is_subquery(value) {
                f(value, Some(condition));
            } else {
                top_subqueries(result, f);
            }
        }
        if let Some(other) = else_result {
            top_subqueries(other, f);
        }
        return;
    }
    top_subqueries(plain, f);
}

fn top_subqueries(expr: &mut Expr, f: &mut dyn FnMut(&mut Expr, Option<&Expr>)) {
    let _ = super::unnest::visit_top_subqueries(expr, &mut |e: &mut Expr| {
        if is_subquery(e) {
            f(e, None);
        }
    });
}

/// A scalar subquery or `array(subquery)`: its query, and whether it makes an array.
fn subquery_of(expr: &Expr) -> Option<(&Query, bool)> {
    match expr {
        Expr::Subquery(query) => Some((query, false)),
        Expr::Function(function) if function.name.to_string().eq_ignore_ascii_case("array") => {
            match &function.args {
                FunctionArguments::Subquery(query) => Some((query, true)),
                _ => None,
            }
        }
        _ => None,
    }
}

fn is_subquery(expr: &Expr) -> bool {
    subquery_of(expr).is_some()
}

/// A correlated subquery to evaluate per outer value.
struct Candidate {
    /// The subquery, its outer columns replaced by `$1, $2...`.
    query: Query,
    array: bool,
    /// The outer columns it reads (`t.oid`), in parameter order.
    outer: Vec<Vec<Ident>>,
    /// The query of the distinct outer values (`k0, k1...`, and `g`: whether any of their rows
    /// meets the guard).
    keys: String,
}

impl Candidate {
    /// The candidate for `subquery` in a SELECT `outer`, if it is correlated with that SELECT
    /// alone (and has no parameters of its own).
    fn new(subquery: &Expr, guard: Option<&Expr>, outer: &Outer) -> Option<Candidate> {
        let (query, array) = subquery_of(subquery)?;
        let own = defined_names(query);
        let mut references: Vec<Vec<Ident>> = Vec::new();
        let mut foreign = false;
        let _ = visit_expressions(query, |expr| {
            match expr {
                Expr::CompoundIdentifier(parts) if parts.len() >= 2 => {
                    let qualifier = parts[parts.len() - 2].value.to_ascii_lowercase();
                    if !own.contains(&qualifier) {
                        if outer.names.contains(&qualifier) {
                            if !references.contains(parts) {
                                references.push(parts.clone());
                            }
                        } else {
                            foreign = true;
                        }
                    }
                }
                Expr::Value(value) if matches!(value.value, Value::Placeholder(_)) => {
                    foreign = true;
                }
                _ => {}
            }
            ControlFlow::<()>::Continue(())
        });
        if references.is_empty() || foreign {
            return None;
        }
        let mut query = query.clone();
        let _ = visit_expressions_mut(&mut query, |expr| {
            if let Expr::CompoundIdentifier(parts) = expr
                && let Some(index) = references.iter().position(|r| r == parts)
            {
                *expr = Expr::value(Value::Placeholder(format!("${}", index + 1)));
            }
            ControlFlow::<()>::Continue(())
        });
        let columns: Vec<String> = references
            .iter()
            .map(|parts| Expr::CompoundIdentifier(parts.clone()).to_string())
            .collect();
        let keys: Vec<String> = columns
            .iter()
            .enumerate()
            .map(|(index, column)| format!("{column} AS k{index}"))
            .collect();
        let from: Vec<String> = outer.from.iter().map(ToString::to_string).collect();
        // The outer WHERE narrows the values when it can run on its own.
        let filter = outer
            .selection
            .as_ref()
            .filter(|selection| self_contained(selection))
            .map(|selection| format!(" WHERE {selection}"))
            .unwrap_or_default();
        let guard = guard.map_or_else(|| "TRUE".to_string(), |guard| format!("({guard})"));
        let keys = format!(
            "SELECT {keys}, bool_or(coalesce({guard}, FALSE)) AS g FROM {from}{filter} GROUP BY {columns}",
            keys = keys.join(", "),
            from = from.join(", "),
            columns = columns.join(", "),
        );
        Some(Candidate {
            query,
            array,
            outer: references,
            keys,
        })
    }

    /// The table of answers, `(k0, ..., v)`; `None` when the outer values cannot be
    /// collected on their own (the outer FROM reads a CTE of an enclosing query), and the
    /// statement is left for DataFusion to report on.
    async fn answers(&self, state: &SessionState) -> Result<Option<RecordBatch>> {
        let Ok(keys) = run_sql(state, &self.keys).await else {
            return Ok(None);
        };
        let key_count = self.outer.len();
        let schema = keys.schema();
        // The subquery, planned once with the outer values' types for its parameters.
        let data_types = schema.fields()[..key_count]
            .iter()
            .map(|field| sql_type(field.data_type()))
            .collect::<Option<Vec<_>>>();
        let Some(data_types) = data_types else {
            return Ok(None);
        };
        let prepare = Statement::Prepare {
            name: Ident::new("__nested"),
            data_types,
            statement: Box::new(Statement::Query(Box::new(self.query.clone()))),
        };
        // A subquery DataFusion cannot plan even so is left for it to report.
        let Ok(LogicalPlan::Statement(PlanStatement::Prepare(prepared))) = state
            .statement_to_plan(DfStatement::Statement(Box::new(prepare)))
            .await
        else {
            return Ok(None);
        };
        let item_type = prepared.input.schema().field(0).data_type().clone();
        let value_type = if self.array {
            ArrowType::new_list(item_type.clone(), true)
        } else {
            item_type.clone()
        };
        let guard = keys.column(key_count).as_ref();
        let guard = arrow_array::cast::AsArray::as_boolean(guard);
        let mut values = Vec::with_capacity(keys.num_rows());
        for row in 0..keys.num_rows() {
            if !guard.value(row) {
                values.push(ScalarValue::try_from(&value_type)?);
                continue;
            }
            let parameters = prepared
                .fields
                .iter()
                .enumerate()
                .map(|(index, field)| {
                    ScalarValue::try_from_array(keys.column(index), row)?.cast_to(field.data_type())
                })
                .collect::<datafusion::error::Result<Vec<_>>>()?;
            let plan = prepared
                .input
                .as_ref()
                .clone()
                .with_param_values(parameters)?;
            let answer = run_plan(state, &plan).await?;
            let column = answer.column(0);
            values.push(if self.array {
                ScalarValue::List(ScalarValue::new_list_nullable(
                    &(0..column.len())
                        .map(|index| ScalarValue::try_from_array(column, index))
                        .collect::<datafusion::error::Result<Vec<_>>>()?,
                    &item_type,
                ))
            } else {
                match column.len() {
                    0 => ScalarValue::try_from(&item_type)?,
                    1 => ScalarValue::try_from_array(column, 0)?,
                    _ => {
                        return Err(Error::query(
                            ErrorCode::INCORRECT_RESULT_OF_SCALAR_SUBQUERY,
                            "more than one row returned by a subquery used as an expression",
                        ));
                    }
                }
            });
        }
        let value: ArrayRef = if values.is_empty() {
            arrow_array::new_empty_array(&value_type)
        } else {
            ScalarValue::iter_to_array(values)?
        };
        let mut fields: Vec<Field> = schema.fields()[..key_count]
            .iter()
            .map(|field| field.as_ref().clone().with_nullable(true))
            .collect();
        fields.push(Field::new("v", value_type, true));
        let mut columns: Vec<ArrayRef> = keys.columns()[..key_count].to_vec();
        columns.push(value);
        Ok(Some(RecordBatch::try_new(
            Arc::new(Schema::new(fields)),
            columns,
        )?))
    }
}

/// Runs one query in PostgreSQL's dialect, all its rows in one batch.
async fn run_sql(state: &SessionState, sql: &str) -> Result<RecordBatch> {
    let mut statements = Parser::parse_sql(&PostgreSqlDialect {}, sql)
        .map_err(|error| Error::query(ErrorCode::SYNTAX_ERROR, error.to_string()))?;
    let statement = statements
        .pop()
        .ok_or_else(|| Error::query(ErrorCode::SYNTAX_ERROR, "an empty query"))?;
    let plan = state
        .statement_to_plan(DfStatement::Statement(Box::new(statement)))
        .await?;
    run_plan(state, &plan).await
}

async fn run_plan(state: &SessionState, plan: &LogicalPlan) -> Result<RecordBatch> {
    let physical = state.create_physical_plan(plan).await?;
    let schema = physical.schema();
    let batches = collect(physical, state.task_ctx()).await?;
    Ok(arrow_select::concat::concat_batches(&schema, &batches)?)
}

/// The names a query defines for its own rows: relations and their aliases, CTEs.
fn defined_names(query: &Query) -> Vec<String> {
    struct Names(Vec<String>);
    impl Visitor for Names {
        type Break = ();
        fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
            if let Some(with) = &query.with {
                for cte in &with.cte_tables {
                    self.0.push(cte.alias.name.value.to_ascii_lowercase());
                }
            }
            ControlFlow::Continue(())
        }
        fn pre_visit_table_factor(&mut self, relation: &TableFactor) -> ControlFlow<()> {
            let alias = match relation {
                TableFactor::Table { name, alias, .. } => {
                    if let Some(last) = name.0.last().and_then(|part| part.as_ident()) {
                        self.0.push(last.value.to_ascii_lowercase());
                    }
                    alias
                }
                TableFactor::Derived { alias, .. }
                | TableFactor::Function { alias, .. }
                | TableFactor::UNNEST { alias, .. }
                | TableFactor::TableFunction { alias, .. } => alias,
                _ => &None,
            };
            if let Some(alias) = alias {
                self.0.push(alias.name.value.to_ascii_lowercase());
            }
            ControlFlow::Continue(())
        }
    }
    let mut names = Names(Vec::new());
    let _ = query.visit(&mut names);
    names.0
}

/// Whether an outer WHERE can run without the rest of the query: no subqueries, parameters.
fn self_contained(selection: &Expr) -> bool {
    visit_expressions(selection, |expr| match expr {
        Expr::Subquery(_) | Expr::Exists { .. } | Expr::InSubquery { .. } => ControlFlow::Break(()),
        Expr::Value(value) if matches!(value.value, Value::Placeholder(_)) => {
            ControlFlow::Break(())
        }
        _ => ControlFlow::Continue(()),
    })
    .is_continue()
}

/// The SQL type DataFusion plans as `data_type`, for the catalog's column types.
fn sql_type(data_type: &ArrowType) -> Option<SqlType> {
    Some(match data_type {
        ArrowType::Boolean => SqlType::Boolean,
        ArrowType::Int8 => SqlType::TinyInt(None),
        ArrowType::Int16 => SqlType::SmallInt(None),
        ArrowType::Int32 => SqlType::Int(None),
        ArrowType::Int64 => SqlType::BigInt(None),
        ArrowType::UInt8 => SqlType::TinyIntUnsigned(None),
        ArrowType::UInt16 => SqlType::SmallIntUnsigned(None),
        ArrowType::UInt32 => SqlType::IntUnsigned(None),
        ArrowType::UInt64 => SqlType::BigIntUnsigned(None),
        ArrowType::Float32 => SqlType::Real,
        ArrowType::Float64 => SqlType::DoublePrecision,
        ArrowType::Utf8 | ArrowType::LargeUtf8 | ArrowType::Utf8View => SqlType::Text,
        ArrowType::List(item) | ArrowType::LargeList(item) => SqlType::Array(
            ArrayElemTypeDef::SquareBracket(Box::new(sql_type(item.data_type())?), None),
        ),
        _ => return None,
    })
}
