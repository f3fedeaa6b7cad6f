//! ClickHouse functions expressed with DataFusion's: renames (`startsWith` is `starts_with`),
//! argument reorders (`splitByChar(sep, s)` is `string_to_array(s, sep)`), and rewrites into SQL
//! constructs (`if(c, a, b)` is a `CASE`, `isNull(x)` is `x IS NULL`, `argMax(a, b)` is
//! `first_value(a ORDER BY b DESC)`, `quantile(p)(x)` is `percentile_cont(p) WITHIN GROUP (ORDER BY
//! x)`, the `-If` combinator is `FILTER (WHERE ...)`). Functions of Granary's own (`toTypeName`,
//! the arithmetic, the date functions...) are registered UDFs and need no entry here.

use datafusion::sql::sqlparser::ast::{
    AccessExpr, BinaryOperator, CaseWhen, CastKind, DateTimeField, DuplicateTreatment, Expr,
    ExtractSyntax, Function, FunctionArg, FunctionArgExpr, FunctionArgumentClause,
    FunctionArguments, Ident, Interval, ObjectNamePart, OrderByExpr, OrderByOptions, Subscript,
    Value,
};

use super::rewrite::function_call;
use crate::functions::array_combinator;
use crate::functions::states::{PARAMETER_FUNCTION, takes_parameters};
use crate::functions::truth::TRUTH;

/// Plain renames: ClickHouse name, DataFusion name.
const RENAMES: &[(&str, &str)] = &[
    ("lengthUTF8", "character_length"),
    ("startsWith", "starts_with"),
    ("endsWith", "ends_with"),
    ("trimLeft", "ltrim"),
    ("trimRight", "rtrim"),
    ("trimBoth", "btrim"),
    ("replaceAll", "replace"),
    ("match", "regexp_like"),
    ("leftPad", "lpad"),
    ("rightPad", "rpad"),
    ("has", "array_has"),
    ("hasAll", "array_has_all"),
    ("hasAny", "array_has_any"),
    ("arraySort", "array_sort"),
    ("arrayReverse", "array_reverse"),
    ("arrayConcat", "array_concat"),
    ("arrayDistinct", "array_distinct"),
    ("arrayPushBack", "array_append"),
    ("arrayPushFront", "array_prepend"),
    ("arrayPopBack", "array_pop_back"),
    ("arrayPopFront", "array_pop_front"),
    ("arrayMax", "array_max"),
    ("arrayMin", "array_min"),
    ("arraySum", "array_sum"),
    ("arrayStringConcat", "array_to_string"),
    ("arrayElement", "array_element"),
    ("arrayIntersect", "array_intersect"),
    ("array", "make_array"),
    ("arrayJoin", "unnest"),
    ("any", "any_value"),
    ("anyLast", "last_value"),
    ("uniqHLL12", "approx_distinct"),
    ("varPop", "var_pop"),
    ("varSamp", "var_samp"),
    ("stddevPop", "stddev_pop"),
    ("stddevSamp", "stddev_samp"),
    ("covarPop", "covar_pop"),
    ("covarSamp", "covar_samp"),
    ("ifNull", "coalesce"),
];

/// Aggregates the `-If` combinator applies to.
const AGGREGATES: &[&str] = &[
    "count",
    "sum",
    "avg",
    "min",
    "max",
    "any",
    "anyLast",
    "uniq",
    "uniqExact",
    "uniqCombined",
    "uniqCombined64",
    "uniqHLL12",
    "argMin",
    "argMax",
    "groupArray",
    "groupUniqArray",
    "median",
    "quantile",
    "quantiles",
    "quantileExact",
    "medianExact",
    "quantilesExact",
    "topK",
    "sumMap",
    "varPop",
    "varSamp",
    "stddevPop",
    "stddevSamp",
];

/// `x -> NOT (body)` for a lambda `x -> body`.
fn negated_lambda(lambda: &Expr) -> Option<Expr> {
    let Expr::Lambda(function) = lambda else {
        return None;
    };
    let mut negated = function.clone();
    negated.body = Box::new(Expr::UnaryOp {
        op: datafusion::sql::sqlparser::ast::UnaryOperator::Not,
        expr: Box::new(Expr::Nested(negated.body)),
    });
    Some(Expr::Lambda(negated))
}

/// The ClickHouse function `EXTRACT(field FROM t)` is (`EXTRACT(MINUTE FROM t)` is `toMinute(t)`).
fn extracted_part(field: &DateTimeField) -> Option<&'static str> {
    Some(match field {
        DateTimeField::Year | DateTimeField::Years => "toYear",
        DateTimeField::Quarter => "toQuarter",
        DateTimeField::Month | DateTimeField::Months => "toMonth",
        DateTimeField::Day | DateTimeField::Days => "toDayOfMonth",
        DateTimeField::Hour | DateTimeField::Hours => "toHour",
        DateTimeField::Minute | DateTimeField::Minutes => "toMinute",
        DateTimeField::Second | DateTimeField::Seconds => "toSecond",
        _ => return None,
    })
}

/// Rewrites `expr` if it calls a ClickHouse function that DataFusion knows under another form.
pub fn map_function(expr: &mut Expr) {
    if let Expr::Extract {
        field,
        syntax: ExtractSyntax::From,
        expr: operand,
    } = expr
    {
        if let Some(name) = extracted_part(field) {
            *expr = function_call(name, vec![(**operand).clone()]);
        }
        return;
    }
    if let Expr::Cast {
        kind: CastKind::Cast | CastKind::DoubleColon,
        expr: operand,
        data_type,
        array: false,
        ..
    } = expr
    {
        if let Some(conversion) =
            super::casts::conversion((**operand).clone(), &data_type.to_string())
        {
            *expr = conversion;
        }
        return;
    }
    if let Expr::Tuple(items) = expr {
        *expr = function_call("tuple", std::mem::take(items));
        return;
    }
    let Expr::Function(function) = expr else {
        return;
    };
    let [ObjectNamePart::Identifier(ident)] = function.name.0.as_slice() else {
        return;
    };
    if ident.quote_style.is_some() {
        return;
    }
    let name = ident.value.clone();
    if let Some(base) = name.strip_suffix(array_combinator::SUFFIX)
        && AGGREGATES.contains(&base)
    {
        *expr = array_combined(function.clone(), base);
        return;
    }
    if let Some((base, fill)) = or_fill(&name) {
        *expr = or_filled(function.clone(), &base, fill);
        return;
    }
    if let Some((_, renamed)) = RENAMES.iter().find(|(from, _)| *from == name) {
        function.name.0[0] = ObjectNamePart::Identifier(Ident::new(*renamed));
        return;
    }
    let args = plain_arguments(function);
    if let (Some(shift), Some([value, amount])) = (date_shift(&name), args.as_deref()) {
        let (unit, op) = shift;
        *expr = shifted(value.clone(), amount.clone(), unit, op);
        return;
    }
    let replacement = match (
        name.as_str(),
        name.to_ascii_lowercase().as_str(),
        args.as_deref(),
    ) {
        (_, "if", Some([condition, then, otherwise])) => Some(case(
            vec![(condition.clone(), then.clone())],
            Some(otherwise.clone()),
        )),
        ("multiIf", _, Some(args)) if args.len() % 2 == 1 && args.len() >= 3 => {
            let branches = args[..args.len() - 1]
                .chunks(2)
                .map(|pair| (pair[0].clone(), pair[1].clone()))
                .collect();
            Some(case(branches, args.last().cloned()))
        }
        ("CAST" | "_CAST", _, Some([operand, Expr::Value(type_name)])) => match &type_name.value {
            Value::SingleQuotedString(type_name) => {
                super::casts::conversion(operand.clone(), type_name)
            }
            _ => None,
        },
        (_, "isnull", Some([operand])) => Some(Expr::IsNull(Box::new(operand.clone()))),
        (_, "isnotnull", Some([operand])) => Some(Expr::IsNotNull(Box::new(operand.clone()))),
        ("assumeNotNull", _, Some([operand])) => Some(operand.clone()),
        (_, "position", Some([haystack, needle])) => Some(function_call(
            "strpos",
            vec![haystack.clone(), needle.clone()],
        )),
        ("replaceRegexpAll", _, Some([subject, pattern, replacement])) => Some(function_call(
            "regexp_replace",
            vec![
                subject.clone(),
                pattern.clone(),
                replacement.clone(),
                string("g"),
            ],
        )),
        ("replaceRegexpOne", _, Some([subject, pattern, replacement])) => Some(function_call(
            "regexp_replace",
            vec![subject.clone(), pattern.clone(), replacement.clone()],
        )),
        ("extract", _, Some([subject, pattern])) => Some(function_call(
            "coalesce",
            vec![
                index(
                    function_call("regexp_match", vec![subject.clone(), pattern.clone()]),
                    number("1"),
                ),
                string(""),
            ],
        )),
        ("splitByChar" | "splitByString", _, Some([separator, subject])) => Some(function_call(
            "string_to_array",
            vec![subject.clone(), separator.clone()],
        )),
        ("indexOf", _, Some([array, value])) => Some(function_call(
            "coalesce",
            vec![
                function_call("array_position", vec![array.clone(), value.clone()]),
                number("0"),
            ],
        )),
        ("arraySlice", _, Some([array, offset, length])) => Some(function_call(
            "array_slice",
            vec![
                array.clone(),
                offset.clone(),
                Expr::BinaryOp {
                    left: Box::new(Expr::BinaryOp {
                        left: Box::new(offset.clone()),
                        op: BinaryOperator::Plus,
                        right: Box::new(length.clone()),
                    }),
                    op: BinaryOperator::Minus,
                    right: Box::new(number("1")),
                },
            ],
        )),
        ("arrayMap", _, Some([lambda, array])) => Some(function_call(
            "array_transform",
            vec![array.clone(), lambda.clone()],
        )),
        ("arrayFilter", _, Some([lambda, array])) => Some(function_call(
            "array_filter",
            vec![array.clone(), lambda.clone()],
        )),
        ("arrayExists", _, Some([lambda, array])) => Some(function_call(
            "array_any_match",
            vec![array.clone(), lambda.clone()],
        )),
        ("arrayAll", _, Some([lambda, array])) => {
            negated_lambda(lambda).map(|negated| Expr::UnaryOp {
                op: datafusion::sql::sqlparser::ast::UnaryOperator::Not,
                expr: Box::new(function_call(
                    "array_any_match",
                    vec![array.clone(), negated],
                )),
            })
        }
        ("arrayCount", _, Some([lambda @ Expr::Lambda(_), array])) => Some(function_call(
            "toUInt32",
            vec![function_call(
                "length",
                vec![function_call(
                    "array_filter",
                    vec![array.clone(), lambda.clone()],
                )],
            )],
        )),
        ("intDivOrZero", _, Some([dividend, divisor])) => {
            let is_zero = |divisor: &Expr| Expr::BinaryOp {
                left: Box::new(Expr::Nested(Box::new(divisor.clone()))),
                op: BinaryOperator::Eq,
                right: Box::new(number("0")),
            };
            Some(case(
                vec![(is_zero(divisor), number("0"))],
                Some(function_call(
                    "intDiv",
                    vec![
                        dividend.clone(),
                        case(vec![(is_zero(divisor), number("1"))], Some(divisor.clone())),
                    ],
                )),
            ))
        }
        (
            "bitAnd" | "bitOr" | "bitXor" | "bitShiftLeft" | "bitShiftRight",
            _,
            Some([left, right]),
        ) => {
            let op = match name.as_str() {
                "bitAnd" => BinaryOperator::BitwiseAnd,
                "bitOr" => BinaryOperator::BitwiseOr,
                "bitXor" => BinaryOperator::BitwiseXor,
                "bitShiftLeft" => BinaryOperator::PGBitwiseShiftLeft,
                _ => BinaryOperator::PGBitwiseShiftRight,
            };
            Some(Expr::Nested(Box::new(Expr::BinaryOp {
                left: Box::new(Expr::Nested(Box::new(left.clone()))),
                op,
                right: Box::new(Expr::Nested(Box::new(right.clone()))),
            })))
        }
        ("e", _, Some([])) => Some(function_call("exp", vec![number("1.0")])),
        ("arrayUniq", _, Some([array])) => Some(function_call(
            "toUInt32",
            vec![function_call(
                "length",
                vec![function_call("array_distinct", vec![array.clone()])],
            )],
        )),
        ("arrayEnumerate", _, Some([array])) => Some(function_call(
            "generate_series",
            vec![number("1"), function_call("length", vec![array.clone()])],
        )),
        // ClickHouse's concat is NULL when an argument is; DataFusion's skips NULLs, `||` does not.
        // A balanced tree of `||` (concatenation is associative): its depth grows with the
        // logarithm of the arguments, so concat of thousands of arguments nests shallowly.
        (_, "concat", Some(args)) if args.len() >= 2 => Some(concatenated(args)),
        ("lagInFrame" | "leadInFrame", _, Some(args)) => shifted_in_frame(function, &name, args),
        ("transform", _, Some(args)) => transformed(args),
        _ => None,
    };
    if let Some(replacement) = replacement {
        *expr = replacement;
        return;
    }
    rewrite_aggregate(function, &name, args);
}

/// `a || b || ...` over `args` (at least one), as a balanced tree.
fn concatenated(args: &[Expr]) -> Expr {
    match args {
        [] => string(""),
        [one] => one.clone(),
        _ => {
            let (left, right) = args.split_at(args.len() / 2);
            Expr::BinaryOp {
                left: Box::new(concatenated(left)),
                op: BinaryOperator::StringConcat,
                right: Box::new(concatenated(right)),
            }
        }
    }
}

/// Aggregates: `uniqExact`, `argMin`/`argMax`, `groupUniqArray`, `quantile(p)`, `median`,
/// `groupArray(n)` and the `-If` combinator.
fn rewrite_aggregate(function: &mut Function, name: &str, args: Option<Vec<Expr>>) {
    let Some(args) = args else {
        return;
    };
    let parameters = plain_parameters(function);
    if let Some(parameters) = &parameters
        && passes_parameters_as_arguments(name)
    {
        // `uniqCombined(12)(x)` is `uniqCombined(x, granary_parameter(12))`; an `-If` condition
        // stays last.
        let mut args = args;
        let condition = if name.ends_with("If") {
            args.pop()
        } else {
            None
        };
        args.extend(
            parameters
                .iter()
                .map(|parameter| function_call(PARAMETER_FUNCTION, vec![parameter.clone()])),
        );
        args.extend(condition);
        function.parameters = FunctionArguments::None;
        set_arguments(function, args.clone());
        return rewrite_aggregate(function, name, Some(args));
    }
    match (name, parameters.as_deref(), args.as_slice()) {
        ("uniqExact", None, [_, ..]) => {
            rename(function, "count");
            set_distinct(function);
        }
        ("groupUniqArray", None, [_]) => {
            rename(function, "array_agg");
            set_distinct(function);
        }
        ("argMin" | "argMax", None, [value, key]) => {
            rename(function, "first_value");
            set_arguments(function, vec![value.clone()]);
            if let FunctionArguments::List(list) = &mut function.args {
                list.clauses
                    .push(FunctionArgumentClause::OrderBy(vec![OrderByExpr {
                        expr: key.clone(),
                        options: OrderByOptions {
                            asc: Some(name == "argMin"),
                            nulls_first: None,
                        },
                        with_fill: None,
                    }]));
            }
        }
        ("groupArray", Some([limit]), [_]) => {
            let limit = limit.clone();
            function.parameters = FunctionArguments::None;
            rename(function, "array_agg");
            let aggregate = Expr::Function(function.clone());
            *function = match function_call("array_slice", vec![aggregate, number("1"), limit]) {
                Expr::Function(function) => function,
                _ => unreachable!("function_call makes a function"),
            };
        }
        (name, None, [.., condition]) if name.ends_with("If") => {
            let base = &name[..name.len() - 2];
            if !AGGREGATES.contains(&base) {
                return;
            }
            set_arguments(function, args[..args.len() - 1].to_vec());
            function.filter = Some(Box::new(function_call(TRUTH, vec![condition.clone()])));
            // The base aggregate as it is written without -If (`stddevSampIf` is `stddev_samp`,
            // `uniqExactIf` a `count(DISTINCT ...)`).
            match RENAMES.iter().find(|(from, _)| *from == base) {
                Some((_, renamed)) => rename(function, renamed),
                None => {
                    rename(function, base);
                    rewrite_aggregate(function, base, Some(args[..args.len() - 1].to_vec()));
                }
            }
        }
        _ => {}
    }
}

/// `transform(x, [from...], [to...][, default])`: the `to` value at the position of `x` among the
/// `from` values, else `default` (else `x` itself): a `CASE` over the constant arrays.
fn transformed(args: &[Expr]) -> Option<Expr> {
    let elements = |array: &Expr| match array {
        Expr::Array(array) => Some(array.elem.clone()),
        _ => None,
    };
    let (value, from, to, otherwise) = match args {
        [value, from, to] => (value, elements(from)?, elements(to)?, value.clone()),
        [value, from, to, otherwise] => (value, elements(from)?, elements(to)?, otherwise.clone()),
        _ => return None,
    };
    if from.len() != to.len() || from.is_empty() {
        return None;
    }
    let branches = from
        .into_iter()
        .zip(to)
        .map(|(from, to)| {
            let matches = Expr::BinaryOp {
                left: Box::new(value.clone()),
                op: BinaryOperator::Eq,
                right: Box::new(from),
            };
            (matches, to)
        })
        .collect();
    Some(case(branches, Some(otherwise)))
}

/// `lagInFrame(x[, n[, default]]) OVER w`: `lag` with the type's default where no row is
/// `n` back (ClickHouse fills with the default, not NULL); `leadInFrame` likewise with `lead`
/// when the frame reaches the partition's end. Other frames of `leadInFrame` end at the current
/// row, where ClickHouse's answer is always the default: those are left unknown.
fn shifted_in_frame(function: &Function, name: &str, args: &[Expr]) -> Option<Expr> {
    let over = function.over.as_ref()?;
    let lead = name == "leadInFrame";
    if lead {
        let reaches_end = matches!(
            over,
            datafusion::sql::sqlparser::ast::WindowType::WindowSpec(spec)
                if spec.window_frame.as_ref().is_some_and(|frame| matches!(
                    frame.end_bound,
                    Some(datafusion::sql::sqlparser::ast::WindowFrameBound::Following(None))
                ))
        );
        if !reaches_end {
            return None;
        }
    }
    let (value, offset, default) = match args {
        [value] => (value, None, None),
        [value, offset] => (value, Some(offset), None),
        [value, offset, default] => (value, Some(offset), Some(default)),
        _ => return None,
    };
    let mut shifted = function.clone();
    rename(&mut shifted, if lead { "lead" } else { "lag" });
    set_arguments(
        &mut shifted,
        std::iter::once(value.clone())
            .chain(offset.cloned())
            .collect(),
    );
    let default = default
        .cloned()
        .unwrap_or_else(|| function_call("defaultValueOfArgumentType", vec![value.clone()]));
    Some(function_call(
        "coalesce",
        vec![Expr::Function(shifted), default],
    ))
}

/// Whether `name` is a combination of an aggregate whose parameters Granary passes as marked
/// arguments ([`takes_parameters`]) with `-State`, `-Merge`, `-MergeState` or `-If`.
fn passes_parameters_as_arguments(name: &str) -> bool {
    let name = name.strip_suffix("If").unwrap_or(name);
    let base = ["MergeState", "State", "Merge"]
        .iter()
        .find_map(|suffix| name.strip_suffix(suffix))
        .unwrap_or(name);
    takes_parameters(base)
}

/// `fArray(arrays)`: `f` as the SQL rewrite expresses it, its function given its `-Array` form.
fn array_combined(mut function: Function, base: &str) -> Expr {
    rename(&mut function, base);
    let mut inner = Expr::Function(function);
    map_function(&mut inner);
    if let Expr::Function(rewritten) = &mut inner
        && let [ObjectNamePart::Identifier(ident)] = rewritten.name.0.as_slice()
    {
        let name = format!("{}{}", ident.value, array_combinator::SUFFIX);
        rename(rewritten, &name);
    }
    inner
}

/// What `-OrNull` and `-OrDefault` give over no rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fill {
    Null,
    Default,
}

/// The aggregate and the fill of a `fOrNull` or `fOrDefault` name; `sumIfOrNull` and
/// `sumOrNullIf` are both `sumIf` filled.
fn or_fill(name: &str) -> Option<(String, Fill)> {
    let (core, conditional) = match name.strip_suffix("If") {
        Some(core) if core.ends_with("OrNull") || core.ends_with("OrDefault") => (core, true),
        _ => (name, false),
    };
    let (base, fill) = if let Some(base) = core.strip_suffix("OrNull") {
        (base, Fill::Null)
    } else {
        (core.strip_suffix("OrDefault")?, Fill::Default)
    };
    let aggregate = base.strip_suffix("If").unwrap_or(base);
    let known = AGGREGATES.contains(&aggregate) || takes_parameters(aggregate);
    let base = if conditional {
        format!("{base}If")
    } else {
        base.to_string()
    };
    known.then_some((base, fill))
}

/// `fOrNull(args)`: NULL when no row reached `f` (none passed its `-If` condition, or every
/// argument was NULL), else `f(args)`, as a `Nullable` result; `fOrDefault` gives the type's
/// default instead and keeps the type. Rows are counted with `count` of the first argument under
/// the aggregate's own filter.
fn or_filled(mut function: Function, base: &str, fill: Fill) -> Expr {
    rename(&mut function, base);
    let mut inner = Expr::Function(function);
    map_function(&mut inner);
    let Expr::Function(rewritten) = &inner else {
        return inner;
    };
    let first = plain_arguments(rewritten).and_then(|args| args.into_iter().next());
    let mut counter = function_call("count", first.into_iter().collect());
    if let Expr::Function(count) = &mut counter {
        count.filter = rewritten.filter.clone();
    }
    let empty = Expr::BinaryOp {
        left: Box::new(counter),
        op: BinaryOperator::Eq,
        right: Box::new(number("0")),
    };
    let filler = match fill {
        Fill::Null => Expr::value(Value::Null),
        Fill::Default => function_call("defaultValueOfArgumentType", vec![inner.clone()]),
    };
    case(vec![(empty, filler)], Some(inner))
}

/// The arguments of a call when they are all plain expressions.
fn plain_arguments(function: &Function) -> Option<Vec<Expr>> {
    match &function.args {
        FunctionArguments::List(list) if list.clauses.is_empty() => expressions(&list.args),
        FunctionArguments::None => Some(Vec::new()),
        _ => None,
    }
}

/// The parameters of a parametric aggregate (`quantile(0.9)(x)`), if any.
fn plain_parameters(function: &Function) -> Option<Vec<Expr>> {
    match &function.parameters {
        FunctionArguments::List(list) => expressions(&list.args),
        _ => None,
    }
}

/// The expressions of an argument list when every argument is a plain, unnamed expression.
fn expressions(args: &[FunctionArg]) -> Option<Vec<Expr>> {
    args.iter()
        .map(|arg| match arg {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(expr)) => Some(expr.clone()),
            _ => None,
        })
        .collect()
}

fn rename(function: &mut Function, name: &str) {
    function.name.0 = vec![ObjectNamePart::Identifier(Ident::new(name))];
}

fn set_arguments(function: &mut Function, args: Vec<Expr>) {
    if let FunctionArguments::List(list) = &mut function.args {
        list.args = args
            .into_iter()
            .map(|arg| FunctionArg::Unnamed(FunctionArgExpr::Expr(arg)))
            .collect();
    }
}

fn set_distinct(function: &mut Function) {
    if let FunctionArguments::List(list) = &mut function.args {
        list.duplicate_treatment = Some(DuplicateTreatment::Distinct);
    }
}

fn case(branches: Vec<(Expr, Expr)>, otherwise: Option<Expr>) -> Expr {
    Expr::Case {
        case_token: datafusion::sql::sqlparser::ast::helpers::attached_token::AttachedToken::empty(
        ),
        end_token: datafusion::sql::sqlparser::ast::helpers::attached_token::AttachedToken::empty(),
        operand: None,
        conditions: branches
            .into_iter()
            .map(|(condition, result)| CaseWhen { condition, result })
            .collect(),
        else_result: otherwise.map(Box::new),
    }
}

fn index(array: Expr, position: Expr) -> Expr {
    Expr::CompoundFieldAccess {
        root: Box::new(array),
        access_chain: vec![AccessExpr::Subscript(Subscript::Index { index: position })],
    }
}

fn string(text: &str) -> Expr {
    Expr::value(Value::SingleQuotedString(text.to_string()))
}

fn number(text: &str) -> Expr {
    Expr::value(Value::Number(text.to_string(), false))
}

/// The unit and direction of `addDays`, `subtractHours` and the like.
fn date_shift(name: &str) -> Option<(DateTimeField, BinaryOperator)> {
    let (op, unit) = if let Some(unit) = name.strip_prefix("add") {
        (BinaryOperator::Plus, unit)
    } else {
        (BinaryOperator::Minus, name.strip_prefix("subtract")?)
    };
    let unit = match unit {
        "Years" => DateTimeField::Year,
        "Quarters" => DateTimeField::Quarter,
        "Months" => DateTimeField::Month,
        "Weeks" => DateTimeField::Week(None),
        "Days" => DateTimeField::Day,
        "Hours" => DateTimeField::Hour,
        "Minutes" => DateTimeField::Minute,
        "Seconds" => DateTimeField::Second,
        _ => return None,
    };
    Some((unit, op))
}

/// `value + INTERVAL amount unit` (`addDays` and friends).
fn shifted(value: Expr, amount: Expr, unit: DateTimeField, op: BinaryOperator) -> Expr {
    Expr::BinaryOp {
        left: Box::new(value),
        op,
        right: Box::new(Expr::Interval(Interval {
            value: Box::new(amount),
            leading_field: Some(unit),
            leading_precision: None,
            last_field: None,
            fractional_seconds_precision: None,
        })),
    }
}
