//! ClickHouse's names for result columns. A select item without an alias is named after its
//! expression as ClickHouse formats it: operators become their functions (`x + 1` is
//! `plus(x, 1)`, `a AND b AND c` is `and(a, b, c)`), literals are written back in their canonical
//! form (`1.50` is `1.5`, strings in single quotes with `\'`), `CAST(x AS T)` is `CAST(x, 'T')`,
//! `count(*)` is `count()`. Front ends show these names, so they must be ClickHouse's.

use datafusion::sql::sqlparser::ast::{
    BinaryOperator, CastKind, DateTimeField, Expr, Function, FunctionArg, FunctionArgExpr,
    FunctionArguments, TrimWhereField, UnaryOperator, Value,
};

/// The ClickHouse name of a result column computed by `expr`.
pub fn column_name(expr: &Expr) -> String {
    let mut out = String::new();
    write_expr(&mut out, expr);
    out
}

fn write_expr(out: &mut String, expr: &Expr) {
    match expr {
        Expr::Identifier(ident) => out.push_str(&ident.value),
        Expr::CompoundIdentifier(parts) => {
            let parts: Vec<&str> = parts.iter().map(|part| part.value.as_str()).collect();
            out.push_str(&parts.join("."));
        }
        Expr::Value(value) => write_value(out, &value.value),
        Expr::Nested(inner) => write_expr(out, inner),
        // `x -> body` is named `lambda(tuple(x), body)`.
        Expr::Lambda(lambda) => {
            out.push_str("lambda(tuple(");
            let params: Vec<&str> = lambda
                .params
                .iter()
                .map(|param| param.name.value.as_str())
                .collect();
            out.push_str(&params.join(", "));
            out.push_str("), ");
            write_expr(out, &lambda.body);
            out.push(')');
        }
        Expr::UnaryOp {
            op: UnaryOperator::Minus,
            expr: inner,
        } if matches!(inner.as_ref(), Expr::Value(value) if matches!(value.value, Value::Number(..))) =>
        {
            out.push('-');
            write_expr(out, inner);
        }
        Expr::UnaryOp { op, expr: inner } => {
            let name = match op {
                UnaryOperator::Minus => "negate",
                UnaryOperator::Not => "not",
                UnaryOperator::Plus => return write_expr(out, inner),
                _ => return out.push_str(&expr.to_string()),
            };
            call(out, name, [inner.as_ref()]);
        }
        Expr::BinaryOp { left, op, right } => match binary_function(op) {
            Some(name @ ("and" | "or")) => {
                let mut operands = Vec::new();
                flatten(expr, op, &mut operands);
                call(out, name, operands);
            }
            Some(name) => call(out, name, [left.as_ref(), right.as_ref()]),
            None => out.push_str(&expr.to_string()),
        },
        Expr::IsNull(inner) => call(out, "isNull", [inner.as_ref()]),
        Expr::IsNotNull(inner) => call(out, "isNotNull", [inner.as_ref()]),
        Expr::InList {
            expr: inner,
            list,
            negated,
        } => {
            out.push_str(if *negated { "notIn(" } else { "in(" });
            write_expr(out, inner);
            out.push_str(", (");
            write_list(out, list.iter());
            out.push_str("))");
        }
        Expr::InSubquery {
            expr: inner,
            subquery,
            negated,
        } => {
            out.push_str(if *negated { "notIn(" } else { "in(" });
            write_expr(out, inner);
            out.push_str(", (");
            out.push_str(&subquery.to_string());
            out.push_str("))");
        }
        Expr::Between {
            expr: inner,
            negated,
            low,
            high,
        } => {
            let (outer, lower, upper) = if *negated {
                ("or", "less", "greater")
            } else {
                ("and", "greaterOrEquals", "lessOrEquals")
            };
            out.push_str(outer);
            out.push('(');
            call(out, lower, [inner.as_ref(), low.as_ref()]);
            out.push_str(", ");
            call(out, upper, [inner.as_ref(), high.as_ref()]);
            out.push(')');
        }
        Expr::Like {
            negated,
            expr: inner,
            pattern,
            ..
        } => call(
            out,
            if *negated { "notLike" } else { "like" },
            [inner.as_ref(), pattern.as_ref()],
        ),
        Expr::ILike {
            negated,
            expr: inner,
            pattern,
            ..
        } => call(
            out,
            if *negated { "notILike" } else { "ilike" },
            [inner.as_ref(), pattern.as_ref()],
        ),
        Expr::Cast {
            kind: CastKind::Cast | CastKind::DoubleColon,
            expr: inner,
            data_type,
            ..
        } => {
            out.push_str("CAST(");
            write_expr(out, inner);
            out.push_str(", ");
            // sqlparser writes some ClickHouse names in capitals (`STRING`, `FLOAT64`).
            write_string(out, &super::casts::type_name(&data_type.to_string()));
            out.push(')');
        }
        Expr::Array(array) => {
            out.push('[');
            write_list(out, array.elem.iter());
            out.push(']');
        }
        Expr::Tuple(elements) => {
            out.push('(');
            write_list(out, elements.iter());
            out.push(')');
        }
        Expr::CompoundFieldAccess { root, access_chain } if access_chain.len() == 1 => {
            match &access_chain[0] {
                datafusion::sql::sqlparser::ast::AccessExpr::Subscript(
                    datafusion::sql::sqlparser::ast::Subscript::Index { index },
                ) => call(out, "arrayElement", [root.as_ref(), index]),
                _ => out.push_str(&expr.to_string()),
            }
        }
        Expr::Case {
            operand,
            conditions,
            else_result,
            ..
        } => {
            let mut args: Vec<&Expr> = Vec::new();
            if let Some(operand) = operand {
                args.push(operand);
            }
            for when in conditions {
                args.push(&when.condition);
                args.push(&when.result);
            }
            let null = Expr::value(Value::Null);
            args.push(else_result.as_deref().unwrap_or(&null));
            let name = if operand.is_some() {
                "caseWithExpression"
            } else {
                "multiIf"
            };
            call(out, name, args);
        }
        Expr::Interval(interval) => {
            let unit = match &interval.leading_field {
                Some(field) => interval_unit(field),
                None => "Second",
            };
            call(out, &format!("toInterval{unit}"), [interval.value.as_ref()]);
        }
        Expr::Extract {
            field, expr: inner, ..
        } => {
            let name = match field {
                DateTimeField::Year => "toYear",
                DateTimeField::Quarter => "toQuarter",
                DateTimeField::Month => "toMonth",
                DateTimeField::Day => "toDayOfMonth",
                DateTimeField::Hour => "toHour",
                DateTimeField::Minute => "toMinute",
                DateTimeField::Second => "toSecond",
                _ => return out.push_str(&expr.to_string()),
            };
            call(out, name, [inner.as_ref()]);
        }
        Expr::Substring {
            expr: inner,
            substring_from,
            substring_for,
            ..
        } => {
            let mut args = vec![inner.as_ref()];
            args.extend(substring_from.as_deref());
            args.extend(substring_for.as_deref());
            call(out, "substring", args);
        }
        Expr::Trim {
            expr: inner,
            trim_where,
            ..
        } => {
            let name = match trim_where {
                Some(TrimWhereField::Leading) => "trimLeft",
                Some(TrimWhereField::Trailing) => "trimRight",
                _ => "trimBoth",
            };
            call(out, name, [inner.as_ref()]);
        }
        Expr::Function(function) => write_function(out, function),
        other => out.push_str(&other.to_string()),
    }
}

fn write_function(out: &mut String, function: &Function) {
    let name = function.name.to_string();
    let distinct = matches!(&function.args, FunctionArguments::List(list)
        if matches!(list.duplicate_treatment, Some(datafusion::sql::sqlparser::ast::DuplicateTreatment::Distinct)));
    out.push_str(&name);
    if distinct {
        out.push_str("Distinct");
    }
    if let FunctionArguments::List(parameters) = &function.parameters {
        out.push('(');
        write_arguments(out, &parameters.args);
        out.push(')');
    }
    out.push('(');
    if let FunctionArguments::List(list) = &function.args {
        write_arguments(out, &list.args);
    }
    out.push(')');
}

fn write_arguments(out: &mut String, args: &[FunctionArg]) {
    let mut first = true;
    for arg in args {
        let expr = match arg {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(expr))
            | FunctionArg::Named {
                arg: FunctionArgExpr::Expr(expr),
                ..
            }
            | FunctionArg::ExprNamed {
                arg: FunctionArgExpr::Expr(expr),
                ..
            } => expr,
            // `count(*)` is `count()`.
            _ => continue,
        };
        if !first {
            out.push_str(", ");
        }
        first = false;
        write_expr(out, expr);
    }
}

fn call<'a>(out: &mut String, name: &str, args: impl IntoIterator<Item = &'a Expr>) {
    out.push_str(name);
    out.push('(');
    write_list(out, args.into_iter());
    out.push(')');
}

fn write_list<'a>(out: &mut String, items: impl Iterator<Item = &'a Expr>) {
    for (index, item) in items.enumerate() {
        if index > 0 {
            out.push_str(", ");
        }
        write_expr(out, item);
    }
}

/// The operands of a chain of the same associative operator, left to right.
fn flatten<'a>(expr: &'a Expr, op: &BinaryOperator, operands: &mut Vec<&'a Expr>) {
    match expr {
        Expr::BinaryOp {
            left,
            op: inner,
            right,
        } if inner == op => {
            flatten(left, op, operands);
            flatten(right, op, operands);
        }
        Expr::Nested(inner) if matches!(inner.as_ref(), Expr::BinaryOp { op: inner, .. } if inner == op) => {
            flatten(inner, op, operands)
        }
        other => operands.push(other),
    }
}

fn binary_function(op: &BinaryOperator) -> Option<&'static str> {
    Some(match op {
        BinaryOperator::Plus => "plus",
        BinaryOperator::Minus => "minus",
        BinaryOperator::Multiply => "multiply",
        BinaryOperator::Divide => "divide",
        BinaryOperator::Modulo => "modulo",
        BinaryOperator::Eq => "equals",
        BinaryOperator::NotEq => "notEquals",
        BinaryOperator::Lt => "less",
        BinaryOperator::LtEq => "lessOrEquals",
        BinaryOperator::Gt => "greater",
        BinaryOperator::GtEq => "greaterOrEquals",
        BinaryOperator::And => "and",
        BinaryOperator::Or => "or",
        BinaryOperator::Xor => "xor",
        BinaryOperator::StringConcat => "concat",
        _ => return None,
    })
}

fn interval_unit(field: &DateTimeField) -> &'static str {
    match field {
        DateTimeField::Year | DateTimeField::Years => "Year",
        DateTimeField::Quarter => "Quarter",
        DateTimeField::Month | DateTimeField::Months => "Month",
        DateTimeField::Week(_) | DateTimeField::Weeks => "Week",
        DateTimeField::Day | DateTimeField::Days => "Day",
        DateTimeField::Hour | DateTimeField::Hours => "Hour",
        DateTimeField::Minute | DateTimeField::Minutes => "Minute",
        _ => "Second",
    }
}

fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::Number(text, _) => out.push_str(&canonical_number(text)),
        Value::SingleQuotedString(text) | Value::DoubleQuotedString(text) => {
            write_string(out, text)
        }
        Value::Boolean(value) => out.push_str(if *value { "true" } else { "false" }),
        Value::Null => out.push_str("NULL"),
        other => out.push_str(&other.to_string()),
    }
}

fn write_string(out: &mut String, text: &str) {
    out.push('\'');
    for c in text.chars() {
        match c {
            '\'' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out.push('\'');
}

/// A number literal as ClickHouse writes it back: integers as written, floats in their shortest
/// form with a trailing `.` when integral (`1e3` is `1000.`).
fn canonical_number(text: &str) -> String {
    let is_integer = text.bytes().all(|b| b.is_ascii_digit());
    if is_integer {
        return text.to_string();
    }
    match text.parse::<f64>() {
        Ok(value) => {
            let mut formatted = String::new();
            granary_protocol::text::format_float(value, &mut formatted);
            if formatted.bytes().all(|b| b.is_ascii_digit() || b == b'-') {
                formatted.push('.');
            }
            formatted
        }
        Err(_) => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::sqlparser::dialect::ClickHouseDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    /// Names checked against ClickHouse (chDB 4.4).
    #[test]
    fn names_are_clickhouses() {
        let cases = [
            ("1.50", "1.5"),
            ("1e3", "1000."),
            ("-1", "-1"),
            ("-x", "negate(x)"),
            ("'it''s'", "'it\\'s'"),
            ("x + 1", "plus(x, 1)"),
            ("x <> 1", "notEquals(x, 1)"),
            (
                "x = 1 AND y = 2 AND x = 3",
                "and(equals(x, 1), equals(y, 2), equals(x, 3))",
            ),
            ("x NOT IN (1, 2)", "notIn(x, (1, 2))"),
            (
                "x BETWEEN 1 AND 2",
                "and(greaterOrEquals(x, 1), lessOrEquals(x, 2))",
            ),
            ("s NOT LIKE 'a%'", "notLike(s, 'a%')"),
            ("CAST(x AS String)", "CAST(x, 'String')"),
            ("x::String", "CAST(x, 'String')"),
            ("a[1]", "arrayElement(a, 1)"),
            ("count(*)", "count()"),
            ("COUNT(*)", "COUNT()"),
            ("count(DISTINCT x)", "countDistinct(x)"),
            ("quantile(0.5)(x)", "quantile(0.5)(x)"),
            (
                "CASE WHEN x = 1 THEN 'a' ELSE 'b' END",
                "multiIf(equals(x, 1), 'a', 'b')",
            ),
            (
                "CASE x WHEN 1 THEN 'a' ELSE 'b' END",
                "caseWithExpression(x, 1, 'a', 'b')",
            ),
            ("INTERVAL 1 DAY", "toIntervalDay(1)"),
            ("s || 'x'", "concat(s, 'x')"),
            ("((x + 1)) * 2", "multiply(plus(x, 1), 2)"),
            ("SUBSTRING(s FROM 1 FOR 2)", "substring(s, 1, 2)"),
            ("TRIM(s)", "trimBoth(s)"),
            ("[1, 2]", "[1, 2]"),
            ("(1, 'a')", "(1, 'a')"),
        ];
        for (sql, expected) in cases {
            let expr = Parser::new(&ClickHouseDialect {})
                .try_with_sql(sql)
                .unwrap()
                .parse_expr()
                .unwrap();
            assert_eq!(column_name(&expr), expected, "{sql}");
        }
    }
}
