//! The `values` table function: `values('x UInt8, s String', (1, 'a'), (2, 'b'))` is a table of
//! those rows with those columns. Without a structure (`values((1, 'a'), (2, 'b'))`, `values(1, 2)`)
//! the columns are `c1`, `c2`, ... of the values' own types. It becomes a `VALUES` list in a
//! subquery whose columns are cast to the structure's types:
//!
//! ```sql
//! SELECT * FROM values('x UInt8, s String', (1, 'a'))
//! -- becomes
//! SELECT * FROM (SELECT CAST(column1 AS UInt8) AS x, CAST(column2 AS String) AS s
//!                FROM (VALUES (1, 'a'))) AS values
//! ```
//!
//! Without a structure the columns keep DataFusion's types for the literals (`Int64` where
//! ClickHouse infers the narrowest, `UInt8` for 1).

use datafusion::sql::sqlparser::ast::{
    Expr, FunctionArg, FunctionArgExpr, TableFactor, TableFunctionArgs, Value,
};
use datafusion::sql::sqlparser::dialect::ClickHouseDialect;
use datafusion::sql::sqlparser::parser::Parser;
use granary_protocol::ErrorCode;

use super::escapes::sql_text;
use crate::{Error, Result};

/// Whether `factor` calls the `values` table function.
pub fn is_values_call(factor: &TableFactor) -> bool {
    matches!(
        factor,
        TableFactor::Table { name, args: Some(_), .. }
            if name.0.len() == 1
                && name.0[0].as_ident().is_some_and(|ident| ident.value.eq_ignore_ascii_case("values"))
    )
}

/// The subquery that stands for a `values(...)` call.
pub fn values_relation(factor: &TableFactor) -> Result<TableFactor> {
    let TableFactor::Table {
        args: Some(TableFunctionArgs { args, .. }),
        alias,
        ..
    } = factor
    else {
        return Err(Error::query(
            ErrorCode::LOGICAL_ERROR,
            "values_relation takes a call of values",
        ));
    };
    let mut arguments = args
        .iter()
        .map(|arg| match arg {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(expr)) => Ok(expr.clone()),
            other => Err(Error::query(
                ErrorCode::BAD_ARGUMENTS,
                format!("table function values takes values, not {other}"),
            )),
        })
        .collect::<Result<Vec<_>>>()?;
    let structure = match arguments.first() {
        Some(Expr::Value(value)) => match &value.value {
            Value::SingleQuotedString(text) => Some(parse_structure(text)?),
            _ => None,
        },
        _ => None,
    };
    if structure.is_some() {
        arguments.remove(0);
    }
    if arguments.is_empty() {
        return Err(Error::query(
            ErrorCode::NUMBER_OF_ARGUMENTS_DOESNT_MATCH,
            "table function values requires at least one row",
        ));
    }
    let rows: Vec<Vec<Expr>> = arguments
        .into_iter()
        .map(|row| match row {
            Expr::Tuple(items) => items,
            Expr::Nested(item) => vec![*item],
            single => vec![single],
        })
        .collect();
    let width = rows[0].len();
    let columns: Vec<(String, Option<String>)> = match structure {
        Some(columns) => columns
            .into_iter()
            .map(|(name, data_type)| (name, Some(data_type)))
            .collect(),
        None => (1..=width)
            .map(|index| (format!("c{index}"), None))
            .collect(),
    };
    let mut values = Vec::with_capacity(rows.len());
    for row in rows {
        if row.len() != columns.len() {
            return Err(Error::query(
                ErrorCode::TYPE_MISMATCH,
                format!(
                    "table function values: a row has {} values for {} columns",
                    row.len(),
                    columns.len()
                ),
            ));
        }
        let items: Vec<String> = row.iter().map(sql_text).collect();
        values.push(format!("({})", items.join(", ")));
    }
    let projection: Vec<String> = columns
        .iter()
        .enumerate()
        .map(|(index, (name, data_type))| match data_type {
            Some(data_type) => format!(
                "CAST(column{} AS {data_type}) AS {}",
                index + 1,
                quoted(name)
            ),
            None => format!("column{} AS {}", index + 1, quoted(name)),
        })
        .collect();
    let alias = alias
        .as_ref()
        .map_or_else(|| "\"values\"".to_string(), |alias| alias.name.to_string());
    let query = format!(
        "SELECT * FROM (SELECT {} FROM (VALUES {})) AS {alias}",
        projection.join(", "),
        values.join(", ")
    );
    let mut parsed = Parser::new(&ClickHouseDialect {})
        .try_with_sql(&query)
        .and_then(|mut parser| parser.parse_query())
        .map_err(|error| Error::syntax(format!("table function values: {error}")))?;
    let datafusion::sql::sqlparser::ast::SetExpr::Select(select) = parsed.body.as_mut() else {
        unreachable!("a SELECT was written");
    };
    Ok(select.from.remove(0).relation)
}

/// `name Type, name Type, ...`: the commas inside a type's parentheses do not separate columns.
fn parse_structure(text: &str) -> Result<Vec<(String, String)>> {
    let mut columns = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    let mut pieces = Vec::new();
    for (index, character) in text.char_indices() {
        match character {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                pieces.push(&text[start..index]);
                start = index + 1;
            }
            _ => {}
        }
    }
    pieces.push(&text[start..]);
    for piece in pieces {
        let piece = piece.trim();
        let Some((name, data_type)) = piece.split_once(char::is_whitespace) else {
            return Err(Error::query(
                ErrorCode::BAD_ARGUMENTS,
                format!("table function values: column `{piece}` has no type"),
            ));
        };
        granary_protocol::DataType::parse(data_type.trim()).map_err(|error| {
            Error::query(
                ErrorCode::UNKNOWN_TYPE,
                format!("table function values: {error}"),
            )
        })?;
        columns.push((
            name.trim_matches('`').to_string(),
            data_type.trim().to_string(),
        ));
    }
    Ok(columns)
}

fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
