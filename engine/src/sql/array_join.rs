//! ClickHouse's `ARRAY JOIN`: each row repeated once per element of an array column, the element
//! under the column's name (or the alias given); rows with an empty array are dropped, or kept with
//! the element type's default under `LEFT ARRAY JOIN`. It becomes DataFusion's `unnest` in a
//! subquery that stands in for the joined tables, under the same name:
//!
//! ```sql
//! SELECT id, tag FROM orders ARRAY JOIN tags AS tag
//! -- becomes
//! SELECT id, tag FROM (SELECT *, unnest(tags) AS tag FROM orders) AS orders
//! ```
//!
//! Several `ARRAY JOIN` clauses nest (each multiplies the rows); one clause over several arrays
//! (`ARRAY JOIN a, b`), which ClickHouse zips, is not read by `sqlparser` as such and is refused.

use datafusion::sql::sqlparser::ast::{
    JoinOperator, ObjectNamePart, Select, TableFactor, TableWithJoins,
};
use datafusion::sql::sqlparser::dialect::ClickHouseDialect;
use datafusion::sql::sqlparser::parser::Parser;

use super::escapes::sql_text;
use crate::{Error, Result};

/// Rewrites the `ARRAY JOIN` clauses of `select`'s FROM.
pub fn rewrite_array_join(select: &mut Select) -> Result<()> {
    let Some(position) = select.from.iter().position(has_array_join) else {
        return Ok(());
    };
    if select.from.len() > 1 {
        return Err(Error::not_implemented(
            "ARRAY JOIN of several arrays in one clause (write one ARRAY JOIN per array)",
        ));
    }
    let from = &mut select.from[position];
    while let Some(index) = from
        .joins
        .iter()
        .position(|join| is_array_join(&join.join_operator))
    {
        let join = from.joins.remove(index);
        let left = matches!(join.join_operator, JoinOperator::LeftArrayJoin);
        let (array, alias) = array_and_alias(&join.relation)?;
        // The joined tables so far, under the name references use.
        let before = TableWithJoins {
            relation: from.relation.clone(),
            joins: from.joins.drain(..index).collect(),
        };
        let name = visible_name(&before.relation);
        let element = if left {
            format!("unnest(emptyArrayToSingle({array}))")
        } else {
            format!("unnest({array})")
        };
        // Without an alias the element takes the array column's place.
        let columns = match &alias {
            Some(alias) => format!("*, {element} AS {alias}"),
            None => format!("* EXCEPT ({array}), {element} AS {array}"),
        };
        let before = sql_text(&before);
        let derived = format!("SELECT * FROM (SELECT {columns} FROM {before}) AS {name}");
        from.relation = parse_relation(&derived)?;
    }
    Ok(())
}

fn has_array_join(table: &TableWithJoins) -> bool {
    table
        .joins
        .iter()
        .any(|join| is_array_join(&join.join_operator))
}

fn is_array_join(operator: &JoinOperator) -> bool {
    matches!(
        operator,
        JoinOperator::ArrayJoin | JoinOperator::LeftArrayJoin | JoinOperator::InnerArrayJoin
    )
}

/// The array column of an `ARRAY JOIN` and its alias.
fn array_and_alias(relation: &TableFactor) -> Result<(String, Option<String>)> {
    match relation {
        TableFactor::Table { name, alias, .. } if name.0.len() == 1 => {
            let ObjectNamePart::Identifier(column) = &name.0[0] else {
                return Err(Error::not_implemented("ARRAY JOIN of this expression"));
            };
            Ok((
                column.to_string(),
                alias.as_ref().map(|alias| alias.name.to_string()),
            ))
        }
        _ => Err(Error::not_implemented(
            "ARRAY JOIN of an expression (ARRAY JOIN of an array column works)",
        )),
    }
}

/// The name the columns of `relation` are qualified with: its alias, or its table's name.
fn visible_name(relation: &TableFactor) -> String {
    match relation {
        TableFactor::Table {
            alias: Some(alias), ..
        }
        | TableFactor::Derived {
            alias: Some(alias), ..
        } => alias.name.to_string(),
        TableFactor::Table { name, .. } => name
            .0
            .last()
            .map(ToString::to_string)
            .unwrap_or_else(|| "__granary_array_join".to_string()),
        _ => "__granary_array_join".to_string(),
    }
}

fn parse_relation(query: &str) -> Result<TableFactor> {
    let mut parsed = Parser::new(&ClickHouseDialect {})
        .try_with_sql(query)
        .and_then(|mut parser| parser.parse_query())
        .map_err(|error| Error::syntax(format!("ARRAY JOIN: {error}")))?;
    let datafusion::sql::sqlparser::ast::SetExpr::Select(select) = parsed.body.as_mut() else {
        unreachable!("a SELECT was written");
    };
    Ok(select.from.remove(0).relation)
}
