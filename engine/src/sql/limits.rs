//! ClickHouse's limits on a query's text, checked on its tokens before anything parses it: its
//! size (`max_query_size`), how deeply its parser would recurse (`max_parser_depth`) and how deep
//! its syntax tree would be (`max_ast_depth`). Every later step — the rewrites, DataFusion's
//! planner, expression evaluation, even dropping the tree — recurses over the tree, so a tree
//! deeper than the limit is never built.
//!
//! The depth is estimated the way ClickHouse counts it: each operator or function call adds two
//! levels (the function and its argument list); operators chained without a separator
//! (`1 + 1 + ...`, `a AND b AND ...`, `SELECT 1 UNION ALL SELECT 1 ...`) nest, each one inside the
//! last; arguments and list elements separated by commas do not. A bracket costs parser depth:
//! a parenthesis five levels, a subquery ten, an array bracket one (ClickHouse refuses 198 nested
//! parentheses, 99 nested subqueries and 984 nested arrays).

use datafusion::sql::sqlparser::dialect::Dialect;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};
use granary_protocol::ErrorCode;

use crate::error::{Error, Result};

/// ClickHouse's default `max_query_size`, in bytes.
pub const MAX_QUERY_SIZE: usize = 262_144;
/// ClickHouse's default `max_parser_depth`.
pub const MAX_PARSER_DEPTH: usize = 1000;
/// ClickHouse's default `max_ast_depth`.
pub const MAX_AST_DEPTH: usize = 1000;

/// Parser depth a `(` costs.
const PARENTHESIS_DEPTH: usize = 5;
/// Parser depth a function call's `(` costs.
const CALL_DEPTH: usize = 2;
/// Tree depth of the statement around its expressions (SELECT, its expression list, ...).
const STATEMENT_DEPTH: usize = 6;
/// Further parser depth of a subquery's `(SELECT`.
const SUBQUERY_DEPTH: usize = 5;

/// Keywords after which a parenthesis is not a function call's.
const OPENS_NO_CALL: &[Keyword] = &[
    Keyword::FROM,
    Keyword::JOIN,
    Keyword::IN,
    Keyword::AS,
    Keyword::AND,
    Keyword::OR,
    Keyword::NOT,
    Keyword::ON,
    Keyword::USING,
    Keyword::VALUES,
    Keyword::SELECT,
    Keyword::WHERE,
    Keyword::PREWHERE,
    Keyword::HAVING,
    Keyword::BY,
    Keyword::WITH,
    Keyword::EXISTS,
    Keyword::ANY,
    Keyword::ALL,
    Keyword::SOME,
    Keyword::WHEN,
    Keyword::THEN,
    Keyword::ELSE,
    Keyword::CASE,
    Keyword::UNION,
    Keyword::EXCEPT,
    Keyword::INTERSECT,
    Keyword::INTO,
    Keyword::TABLE,
    Keyword::IS,
    Keyword::LIKE,
    Keyword::ILIKE,
    Keyword::BETWEEN,
    Keyword::LIMIT,
    Keyword::OFFSET,
];

/// Operator precedence classes: OR, AND, NOT, comparisons, additive, multiplicative, others.
const CLASSES: usize = 7;
const OR: usize = 0;
const AND: usize = 1;
const NOT: usize = 2;
const COMPARISON: usize = 3;
const ADDITIVE: usize = 4;
const MULTIPLICATIVE: usize = 5;
const OTHER: usize = 6;

/// One open bracket.
struct Level {
    /// Parser depth it costs.
    parser_depth: usize,
    /// Tree depth it adds by itself (a function call's argument list).
    ast_depth: usize,
    /// Operators since the last comma or clause keyword at this level, by precedence class: a
    /// chain of one class nests each operator inside the last, while the operands of a chain hold
    /// the operators of tighter classes a level each.
    operators: [usize; CLASSES],
    /// Set operations (UNION, EXCEPT, INTERSECT) at this level: they chain across clauses.
    set_operations: usize,
}

impl Level {
    fn new(parser_depth: usize, ast_depth: usize) -> Level {
        Level {
            parser_depth,
            ast_depth,
            operators: [0; CLASSES],
            set_operations: 0,
        }
    }

    fn depth(&self) -> usize {
        let longest = self.operators.iter().copied().max().unwrap_or(0);
        let classes = self.operators.iter().filter(|count| **count > 0).count();
        self.ast_depth + 2 * (longest + classes.saturating_sub(1) + self.set_operations)
    }

    fn add(&mut self, class: usize) {
        self.operators[class] += 1;
    }

    fn separate(&mut self) {
        self.operators = [0; CLASSES];
    }
}

/// Checks `sql` against the limits. An INSERT's inline data does not count toward
/// `max_query_size` (ClickHouse reads it as data, not as query); its depth does.
pub fn check(sql: &str, dialect: &dyn Dialect) -> Result<()> {
    let is_insert = sql
        .trim_start()
        .get(..6)
        .is_some_and(|word| word.eq_ignore_ascii_case("INSERT"));
    if !is_insert && sql.len() > MAX_QUERY_SIZE {
        return Err(Error::query(
            ErrorCode::SYNTAX_ERROR,
            format!(
                "Max query size exceeded (can be increased with the `max_query_size` setting): \
                 the query is {} bytes, at most {MAX_QUERY_SIZE} are allowed",
                sql.len()
            ),
        ));
    }
    // A text the tokenizer refuses is the parser's to report.
    let Ok(tokens) = Tokenizer::new(dialect, sql).tokenize() else {
        return Ok(());
    };
    let mut levels = vec![Level::new(0, STATEMENT_DEPTH)];
    let (mut parser_depth, mut ast_depth) = (0usize, 0usize);
    let mut previous: Option<&Token> = None;
    for token in tokens
        .iter()
        .filter(|token| !matches!(token, Token::Whitespace(_)))
    {
        match token {
            Token::LParen | Token::LBracket | Token::LBrace => {
                let called = matches!(previous, Some(Token::Word(word)) if !OPENS_NO_CALL.contains(&word.keyword));
                let cost = match token {
                    Token::LParen if called => CALL_DEPTH,
                    Token::LParen => PARENTHESIS_DEPTH,
                    _ => 1,
                };
                levels.push(Level::new(cost, if called { 2 } else { 0 }));
            }
            Token::RParen | Token::RBracket | Token::RBrace if levels.len() > 1 => {
                levels.pop();
            }
            Token::Comma => {
                if let Some(level) = levels.last_mut() {
                    level.separate();
                }
            }
            Token::Word(word) => {
                let Some(level) = levels.last_mut() else {
                    continue;
                };
                match word.keyword {
                    Keyword::SELECT if matches!(previous, Some(Token::LParen)) => {
                        level.parser_depth += SUBQUERY_DEPTH;
                        level.separate();
                    }
                    Keyword::UNION | Keyword::EXCEPT | Keyword::INTERSECT => {
                        level.set_operations += 1;
                        level.separate();
                    }
                    Keyword::OR => level.add(OR),
                    Keyword::AND => level.add(AND),
                    Keyword::NOT => level.add(NOT),
                    Keyword::IS
                    | Keyword::LIKE
                    | Keyword::ILIKE
                    | Keyword::BETWEEN
                    | Keyword::IN
                    | Keyword::REGEXP => level.add(COMPARISON),
                    Keyword::SELECT
                    | Keyword::FROM
                    | Keyword::WHERE
                    | Keyword::PREWHERE
                    | Keyword::GROUP
                    | Keyword::ORDER
                    | Keyword::HAVING
                    | Keyword::LIMIT
                    | Keyword::OFFSET
                    | Keyword::SETTINGS
                    | Keyword::WHEN
                    | Keyword::THEN
                    | Keyword::ELSE
                    | Keyword::END
                    | Keyword::ON
                    | Keyword::USING
                    | Keyword::JOIN
                    | Keyword::WITH
                    | Keyword::VALUES
                    | Keyword::FORMAT => level.separate(),
                    _ => {}
                }
            }
            Token::Plus | Token::Minus | Token::StringConcat => add(&mut levels, ADDITIVE),
            Token::Mul | Token::Div | Token::Mod => add(&mut levels, MULTIPLICATIVE),
            Token::Eq
            | Token::DoubleEq
            | Token::Neq
            | Token::Lt
            | Token::Gt
            | Token::LtEq
            | Token::GtEq
            | Token::Spaceship => add(&mut levels, COMPARISON),
            Token::DoubleColon
            | Token::Arrow
            | Token::Caret
            | Token::Ampersand
            | Token::Pipe
            | Token::ExclamationMark
            | Token::Tilde
            | Token::Colon => add(&mut levels, OTHER),
            _ => {}
        }
        parser_depth = parser_depth.max(levels.iter().map(|level| level.parser_depth).sum());
        ast_depth = ast_depth.max(levels.iter().map(Level::depth).sum());
        if parser_depth > MAX_PARSER_DEPTH {
            return Err(Error::query(
                ErrorCode::TOO_DEEP_RECURSION,
                format!(
                    "Maximum parse depth ({MAX_PARSER_DEPTH}) exceeded. Consider rising \
                     max_parser_depth parameter."
                ),
            ));
        }
        if ast_depth > MAX_AST_DEPTH {
            return Err(Error::query(
                ErrorCode::TOO_DEEP_AST,
                format!("AST is too deep. Maximum: {MAX_AST_DEPTH}"),
            ));
        }
        previous = Some(token);
    }
    Ok(())
}

fn add(levels: &mut [Level], class: usize) {
    if let Some(level) = levels.last_mut() {
        level.add(class);
    }
}

#[cfg(test)]
mod tests {
    use datafusion::sql::sqlparser::dialect::ClickHouseDialect;

    use super::*;

    fn code(sql: &str) -> Option<ErrorCode> {
        check(sql, &ClickHouseDialect {})
            .err()
            .map(|error| error.code())
    }

    /// The thresholds are ClickHouse's (checked with chDB 4.4 = ClickHouse 26.9).
    #[test]
    fn depths_are_refused_where_clickhouse_refuses_them() {
        let plus = |n: usize| format!("SELECT {}1", "1+".repeat(n));
        assert_eq!(code(&plus(497)), None);
        assert_eq!(code(&plus(498)), Some(ErrorCode::TOO_DEEP_AST));
        let calls = |n: usize| format!("SELECT {}1{}", "abs(".repeat(n), ")".repeat(n));
        assert_eq!(code(&calls(497)), None);
        assert_eq!(code(&calls(498)), Some(ErrorCode::TOO_DEEP_AST));
        let nots = |n: usize| format!("SELECT {}1", "NOT ".repeat(n));
        assert_eq!(code(&nots(497)), None);
        assert_eq!(code(&nots(498)), Some(ErrorCode::TOO_DEEP_AST));
        let parens = |n: usize| format!("SELECT {}1{}", "(".repeat(n), ")".repeat(n));
        assert_eq!(code(&parens(197)), None);
        assert_eq!(code(&parens(201)), Some(ErrorCode::TOO_DEEP_RECURSION));
        let arrays = |n: usize| format!("SELECT {}1{}", "[".repeat(n), "]".repeat(n));
        assert_eq!(code(&arrays(983)), None);
        assert_eq!(code(&arrays(1001)), Some(ErrorCode::TOO_DEEP_RECURSION));
        let subqueries = |n: usize| {
            format!(
                "SELECT * FROM {}numbers(1){}",
                "(SELECT * FROM ".repeat(n),
                ")".repeat(n)
            )
        };
        assert_eq!(code(&subqueries(98)), None);
        assert_eq!(code(&subqueries(101)), Some(ErrorCode::TOO_DEEP_RECURSION));
    }

    #[test]
    fn lists_are_wide_not_deep() {
        let list = (0..20_000).map(|i| i.to_string()).collect::<Vec<_>>();
        assert_eq!(
            code(&format!(
                "SELECT count() FROM t WHERE x IN ({})",
                list.join(",")
            )),
            None
        );
        let args = vec!["'a'"; 10_000].join(",");
        assert_eq!(code(&format!("SELECT concat({args})")), None);
        let cases = (0..2_000)
            .map(|i| format!("WHEN x = {i} THEN {i}"))
            .collect::<Vec<_>>()
            .join(" ");
        assert_eq!(code(&format!("SELECT CASE {cases} END FROM t")), None);
    }

    #[test]
    fn long_chains_and_large_queries_are_refused() {
        let ands = vec!["x < 100"; 50_000].join(" AND ");
        assert_eq!(
            code(&format!("SELECT 1 WHERE {ands}")),
            Some(ErrorCode::SYNTAX_ERROR),
            "over max_query_size"
        );
        let ands = vec!["x<1"; 2_000].join(" AND ");
        assert_eq!(
            code(&format!("SELECT 1 WHERE {ands}")),
            Some(ErrorCode::TOO_DEEP_AST)
        );
        let ands = vec!["x < 1 + y"; 400].join(" AND ");
        assert_eq!(code(&format!("SELECT 1 WHERE {ands}")), None);
        let unions = vec!["SELECT 1"; 5_000].join(" UNION ALL ");
        assert_eq!(code(&unions), Some(ErrorCode::TOO_DEEP_AST));
        let comment = format!("SELECT 1 /* {} */", "x".repeat(300_000));
        assert_eq!(code(&comment), Some(ErrorCode::SYNTAX_ERROR));
        let rows = vec!["(1, 'a')"; 30_000].join(",");
        assert_eq!(code(&format!("INSERT INTO t VALUES {rows}")), None);
    }
}
