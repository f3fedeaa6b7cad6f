//! The `$1`, `$2`, ... parameters of prepared statements (PostgreSQL's extended protocol): how
//! many a statement has, the types their places imply (the target column of an `INSERT ...
//! VALUES`), and their replacement by typed literals before the statement runs. A value is
//! substituted into the syntax tree, never into the text, so no value can change the statement.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    Expr, LimitClause, Query, SetExpr, Statement as SqlStatement, Value, visit_expressions,
    visit_expressions_mut,
};
use granary_protocol::{DataType, ErrorCode};

use super::casts::{conversion, type_name};
use super::escapes::sql_text;
use super::parser::parse_expression;
use super::statement::{InsertSource, Statement};
use crate::error::{Error, Result};

/// The value of one parameter: text in ClickHouse's input syntax for `data_type`, or NULL.
#[derive(Debug, Clone, PartialEq)]
pub struct Parameter {
    /// The value as text (`None` is NULL).
    pub value: Option<String>,
    /// The type the value has.
    pub data_type: DataType,
}

/// The zero-based index of a placeholder (`$3` is 2).
pub fn index(placeholder: &str) -> Result<usize> {
    let number = placeholder
        .strip_prefix('$')
        .and_then(|digits| digits.parse::<u64>().ok())
        .filter(|number| *number >= 1)
        .ok_or_else(|| {
            Error::query(
                ErrorCode::SYNTAX_ERROR,
                format!("parameters are written $1, $2, ...; {placeholder} is not one"),
            )
        })?;
    if number > MAX_PARAMETERS as u64 {
        // PostgreSQL's Bind carries at most 65535 values; nothing is sized by a larger number.
        return Err(Error::query(
            ErrorCode::SYNTAX_ERROR,
            format!("parameter number too large: {placeholder} (at most ${MAX_PARAMETERS})"),
        ));
    }
    Ok(number as usize - 1)
}

/// The most parameters a statement may have (PostgreSQL's protocol counts them in 16 bits).
pub const MAX_PARAMETERS: usize = 65_535;

fn placeholder(expr: &Expr) -> Option<&str> {
    match expr {
        Expr::Value(value) => match &value.value {
            Value::Placeholder(name) => Some(name),
            _ => None,
        },
        _ => None,
    }
}

/// Calls `f` with every expression of `statement` that can hold a parameter, until it breaks.
fn visit(statement: &Statement, f: &mut dyn FnMut(&Expr) -> ControlFlow<()>) {
    match statement {
        Statement::Query(query) => {
            let _ = visit_expressions(query.as_ref(), |expr| f(expr));
        }
        Statement::Insert(insert) => {
            if let InsertSource::Query(query) = &insert.source {
                let _ = visit_expressions(query.as_ref(), |expr| f(expr));
            }
        }
        Statement::Set(settings) => {
            for (_, value) in settings {
                let _ = visit_expressions(value, |expr| f(expr));
            }
        }
        _ => {}
    }
}

/// How many parameters `statement` takes: the highest `$n`.
pub fn count(statement: &Statement) -> Result<usize> {
    let mut highest = 0;
    let mut failure = None;
    visit(statement, &mut |expr| {
        if let Some(name) = placeholder(expr) {
            match index(name) {
                Ok(index) => highest = highest.max(index + 1),
                Err(error) => {
                    failure = Some(error);
                    return ControlFlow::Break(());
                }
            }
        }
        ControlFlow::Continue(())
    });
    match failure {
        Some(error) => Err(error),
        None => Ok(highest),
    }
}

/// The parameters of `INSERT ... VALUES` rows that are a whole value: `(index, target column
/// position)` pairs, the position counting the values of a row.
pub fn insert_value_places(query: &Query) -> Vec<(usize, usize)> {
    let SetExpr::Values(values) = query.body.as_ref() else {
        return Vec::new();
    };
    values
        .rows
        .iter()
        .flat_map(|row| row.iter().enumerate())
        .filter_map(|(position, expr)| {
            let index = index(placeholder(expr)?).ok()?;
            Some((index, position))
        })
        .collect()
}

/// The parameters whose type the syntax gives: `CAST($n AS T)` and `$n::T` are `T`, `LIMIT $n`
/// and `OFFSET $n` are Int64 (PostgreSQL's `bigint`).
pub fn syntax_types(statement: &Statement) -> Vec<(usize, DataType)> {
    let mut found = Vec::new();
    visit(statement, &mut |expr| {
        if let Expr::Cast {
            expr: operand,
            data_type,
            ..
        } = expr
            && let Some(Ok(index)) = placeholder(operand).map(index)
            && let Ok(data_type) = DataType::parse(&type_name(&data_type.to_string()))
        {
            found.push((index, data_type));
        }
        ControlFlow::Continue(())
    });
    let query = match statement {
        Statement::Query(query) => match query.as_ref() {
            SqlStatement::Query(query) => Some(query.as_ref()),
            _ => None,
        },
        _ => None,
    };
    if let Some(LimitClause::LimitOffset { limit, offset, .. }) =
        query.and_then(|query| query.limit_clause.as_ref())
    {
        let counts = limit
            .iter()
            .chain(offset.iter().map(|offset| &offset.value));
        for expr in counts {
            if let Some(Ok(index)) = placeholder(expr).map(index) {
                found.push((index, DataType::Int64));
            }
        }
    }
    found
}

/// Replaces every `$n` of `statement` with `replacement(n - 1)`; parameters for which it gives
/// `None` stay.
pub fn substitute(
    statement: &mut Statement,
    replacement: &dyn Fn(usize) -> Result<Option<Expr>>,
) -> Result<()> {
    let mut failure = None;
    let mut replace = |expr: &mut Expr| {
        if let Some(name) = placeholder(expr) {
            match index(name).and_then(replacement) {
                Ok(Some(value)) => *expr = value,
                Ok(None) => {}
                Err(error) => {
                    failure = Some(error);
                    return ControlFlow::Break(());
                }
            }
        }
        ControlFlow::Continue(())
    };
    match statement {
        Statement::Query(query) => {
            let _ = visit_expressions_mut(query.as_mut(), &mut replace);
        }
        Statement::Insert(insert) => {
            if let InsertSource::Query(query) = &mut insert.source {
                let _ = visit_expressions_mut(query.as_mut(), &mut replace);
            }
        }
        Statement::Set(settings) => {
            for (_, value) in settings {
                let _ = visit_expressions_mut(value, &mut replace);
            }
        }
        _ => {}
    }
    match failure {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

/// The literal a parameter stands for: its text converted to its type as `CAST` does, or a NULL
/// of the type.
pub fn literal(parameter: &Parameter) -> Result<Expr> {
    let plain = parameter.data_type.strip_nullable();
    // An array in ClickHouse's text form (`['a', NULL]`, `[[1, 2], [3]]`): an array literal of
    // its elements, each a literal of the element type.
    if let DataType::Array(element) = plain {
        // Arrays are never NULL in ClickHouse: a NULL array is the empty one, as an INSERT
        // stores it.
        let text = parameter.value.as_deref().unwrap_or("[]");
        let elements = array_elements(text)?
            .into_iter()
            .map(|value| {
                literal(&Parameter {
                    value,
                    data_type: element.as_ref().clone(),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        return Ok(Expr::Array(datafusion::sql::sqlparser::ast::Array {
            elem: elements,
            named: false,
        }));
    }
    let (operand, data_type) = match &parameter.value {
        Some(text) => (
            Expr::value(Value::SingleQuotedString(text.clone())),
            plain.clone(),
        ),
        None => (
            Expr::value(Value::Null),
            DataType::Nullable(Box::new(plain.clone())),
        ),
    };
    match conversion(operand.clone(), &data_type.to_string()) {
        Some(converted) => Ok(converted),
        // Types without a conversion function (Bool, arrays...) are DataFusion casts, whose
        // NULL is of any type.
        None => parse_expression(&format!("CAST({} AS {plain})", sql_text(&operand))),
    }
}

/// The elements of an array in ClickHouse's text form, one level deep: quoted strings unquoted
/// (backslash escapes and doubled quotes read), `NULL` as `None`, nested arrays as their text.
pub fn array_elements(text: &str) -> Result<Vec<Option<String>>> {
    let malformed = || {
        Error::query(
            ErrorCode::CANNOT_PARSE_INPUT_ASSERTION_FAILED,
            format!("cannot read an array from {text:?}"),
        )
    };
    let inner = text
        .trim()
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .ok_or_else(malformed)?;
    let chars: Vec<char> = inner.chars().collect();
    let mut elements = Vec::new();
    let mut at = 0;
    let skip_blanks = |at: &mut usize| {
        while chars.get(*at).is_some_and(|c| c.is_whitespace()) {
            *at += 1;
        }
    };
    skip_blanks(&mut at);
    if at == chars.len() {
        return Ok(elements);
    }
    loop {
        skip_blanks(&mut at);
        match chars.get(at) {
            Some('\'') => {
                let mut value = String::new();
                at += 1;
                loop {
                    match chars.get(at) {
                        Some('\\') => {
                            let escaped = chars.get(at + 1).ok_or_else(malformed)?;
                            value.push(match escaped {
                                'n' => '\n',
                                't' => '\t',
                                'r' => '\r',
                                '0' => '\0',
                                other => *other,
                            });
                            at += 2;
                        }
                        Some('\'') if chars.get(at + 1) == Some(&'\'') => {
                            value.push('\'');
                            at += 2;
                        }
                        Some('\'') => {
                            at += 1;
                            break;
                        }
                        Some(c) => {
                            value.push(*c);
                            at += 1;
                        }
                        None => return Err(malformed()),
                    }
                }
                elements.push(Some(value));
            }
            Some('[') => {
                let start = at;
                let mut depth = 0;
                let mut quoted = false;
                while let Some(c) = chars.get(at) {
                    match c {
                        '\\' if quoted => at += 1,
                        '\'' => quoted = !quoted,
                        '[' if !quoted => depth += 1,
                        ']' if !quoted => depth -= 1,
                        _ => {}
                    }
                    at += 1;
                    if depth == 0 {
                        break;
                    }
                }
                if depth != 0 {
                    return Err(malformed());
                }
                elements.push(Some(chars[start..at].iter().collect()));
            }
            Some(_) => {
                let start = at;
                while chars.get(at).is_some_and(|c| *c != ',') {
                    at += 1;
                }
                let token: String = chars[start..at].iter().collect();
                let token = token.trim();
                if token.is_empty() {
                    return Err(malformed());
                }
                elements.push((!token.eq_ignore_ascii_case("null")).then(|| token.to_string()));
            }
            None => return Err(malformed()),
        }
        skip_blanks(&mut at);
        match chars.get(at) {
            Some(',') => at += 1,
            None => return Ok(elements),
            Some(_) => return Err(malformed()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::parser::parse_statement;

    #[test]
    fn arrays_in_clickhouse_text_are_read_element_by_element() {
        let some = |s: &str| Some(s.to_string());
        assert_eq!(
            array_elements(r"['a', 'it\'s', 'x''y', NULL, 5]").unwrap(),
            vec![some("a"), some("it's"), some("x'y"), None, some("5")]
        );
        assert_eq!(
            array_elements("[[1, 2], ['a]'], []]").unwrap(),
            vec![some("[1, 2]"), some("['a]']"), some("[]")]
        );
        assert!(array_elements(" [ ] ").unwrap().is_empty());
        assert!(array_elements("[1,").is_err());
        assert!(array_elements("{1,2}").is_err());
        let parameter = Parameter {
            value: some("['a', NULL]"),
            data_type: DataType::Array(Box::new(DataType::Nullable(Box::new(DataType::String)))),
        };
        assert!(literal(&parameter).unwrap().to_string().starts_with('['));
    }

    #[test]
    fn the_highest_placeholder_counts() {
        let statement = parse_statement("SELECT $2 + 1 WHERE $1 = 'a' AND $2 > 0").unwrap();
        assert_eq!(count(&statement).unwrap(), 2);
        let insert = parse_statement("INSERT INTO t VALUES ($1, $2), ($3, 'x')").unwrap();
        assert_eq!(count(&insert).unwrap(), 3);
        assert_eq!(count(&parse_statement("SELECT 1").unwrap()).unwrap(), 0);
    }

    #[test]
    fn casts_and_limits_type_their_parameters() {
        let statement =
            parse_statement("SELECT CAST($1 AS UInt8), $2::Nullable(String) LIMIT $3 OFFSET $4")
                .unwrap();
        assert_eq!(
            syntax_types(&statement),
            vec![
                (0, DataType::UInt8),
                (1, DataType::Nullable(Box::new(DataType::String))),
                (2, DataType::Int64),
                (3, DataType::Int64)
            ]
        );
    }

    #[test]
    fn insert_values_parameters_know_their_column() {
        let Statement::Insert(insert) =
            parse_statement("INSERT INTO t VALUES ($1, 2, $2), ($3, $4 + 1, 'x')").unwrap()
        else {
            panic!("not an insert");
        };
        let InsertSource::Query(query) = &insert.source else {
            panic!("rows in the query");
        };
        assert_eq!(insert_value_places(query), vec![(0, 0), (1, 2), (2, 0)]);
    }

    #[test]
    fn values_become_conversions_of_their_text() {
        let mut statement = parse_statement("SELECT $1, $2").unwrap();
        let parameters = [
            Parameter {
                value: Some("it's".to_string()),
                data_type: DataType::String,
            },
            Parameter {
                value: None,
                data_type: DataType::Int32,
            },
        ];
        substitute(&mut statement, &|index| {
            literal(&parameters[index]).map(Some)
        })
        .unwrap();
        let Statement::Query(query) = statement else {
            panic!("not a query");
        };
        assert_eq!(
            query.to_string(),
            "SELECT toString('it''s'), toNullable(toInt32(NULL))"
        );
    }
}
