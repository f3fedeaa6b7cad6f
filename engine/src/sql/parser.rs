//! Parses one SQL statement. Statements the engine runs itself (DDL, INSERT, SHOW, OPTIMIZE, ...)
//! are parsed here on top of `sqlparser`'s tokenizer and expression parser, so that ClickHouse's
//! grammar (engines, CODECs, type names exactly as ClickHouse spells them) is ours to follow;
//! queries go to `sqlparser`'s ClickHouse dialect whole, for DataFusion.

use datafusion::sql::sqlparser::ast::{Expr, Ident, ObjectName, Statement as SqlStatement, Value};
use datafusion::sql::sqlparser::dialect::ClickHouseDialect;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use datafusion::sql::sqlparser::tokenizer::{Token, Word};
use granary_protocol::compress::Method;
use granary_protocol::{DataType, ErrorCode};

use super::statement::{
    CreateTable, Insert, InsertSource, OptimizeTable, PartitionSpec, Statement, TableName,
};
use crate::catalog::definition::{ColumnDefinition, EngineKind, TableDefinition};
use crate::catalog::settings::SettingValue;
use crate::error::{Error, Result};

/// Words that end a column's type in a column declaration.
const COLUMN_CLAUSES: &[&str] = &[
    "NULL",
    "NOT",
    "DEFAULT",
    "MATERIALIZED",
    "EPHEMERAL",
    "ALIAS",
    "COMMENT",
    "CODEC",
    "STATISTICS",
    "TTL",
    "PRIMARY",
    "SETTINGS",
];

fn syntax(error: ParserError) -> Error {
    let message = match error {
        ParserError::TokenizerError(message) | ParserError::ParserError(message) => message,
        ParserError::RecursionLimitExceeded => "the query is nested too deeply".into(),
    };
    Error::syntax(format!("syntax error: {message}"))
}

/// Parses one statement (a trailing `;` is allowed; several statements are not).
pub fn parse_statement(sql: &str) -> Result<Statement> {
    let dialect = ClickHouseDialect {};
    super::limits::check(sql, &dialect)?;
    let escaped = super::escapes::clickhouse_escapes(sql)?;
    let quoted = quoted_cast_types(escaped.as_ref());
    let limited = limit_by_forms(quoted.as_ref());
    let sql = limited.as_ref();
    let parser = Parser::new(&dialect).try_with_sql(sql).map_err(syntax)?;
    let mut parser = StatementParser { parser, sql };
    let statement = parser.statement()?;
    parser.end()?;
    Ok(statement)
}

/// `CAST(x AS DateTime('Asia/Tokyo'))`: `sqlparser` reads no string among a type's arguments, so
/// such a type is passed as text instead (`CAST(x, 'DateTime(\'Asia/Tokyo\')')`), which means the
/// same in ClickHouse. Only the type's span of the text changes.
fn quoted_cast_types(sql: &str) -> std::borrow::Cow<'_, str> {
    use datafusion::sql::sqlparser::tokenizer::Tokenizer;
    let dialect = ClickHouseDialect {};
    let Ok(tokens) = Tokenizer::new(&dialect, sql).tokenize_with_location() else {
        return sql.into();
    };
    let offsets = LineOffsets::new(sql);
    let offset = |location| offsets.at(location);
    let meaningful: Vec<_> = tokens
        .iter()
        .filter(|token| !matches!(token.token, Token::Whitespace(_)))
        .collect();
    let mut splices: Vec<(usize, usize, String)> = Vec::new();
    for (index, window) in meaningful.windows(3).enumerate() {
        let [as_word, type_word, open] = window else {
            continue;
        };
        let is_cast_type = is_word(&as_word.token, "AS")
            && (is_word(&type_word.token, "DateTime") || is_word(&type_word.token, "DateTime64"))
            && open.token == Token::LParen;
        if !is_cast_type {
            continue;
        }
        let Some(close) = meaningful[index + 3..]
            .iter()
            .position(|token| token.token == Token::RParen)
            .map(|at| index + 3 + at)
        else {
            continue;
        };
        let has_text = meaningful[index + 3..close]
            .iter()
            .any(|token| matches!(token.token, Token::SingleQuotedString(_)));
        let (Some(start), Some(type_start), Some(end)) = (
            offset(as_word.span.start),
            offset(type_word.span.start),
            offset(meaningful[close].span.start),
        ) else {
            continue;
        };
        if has_text {
            let type_text = sql[type_start..=end]
                .replace('\\', "\\\\")
                .replace('\'', "\\'");
            splices.push((start, end + 1, format!(", '{type_text}'")));
        }
    }
    splice(sql, splices)
}

/// The function a per-key offset or a second LIMIT of `LIMIT ... BY` travels in:
/// `LIMIT granary_limit_by(count, offset, limit, limit_offset) BY keys` (`sql::limit_by` reads
/// it), as `sqlparser` reads neither `LIMIT n OFFSET m BY`, `LIMIT m, n BY` nor a LIMIT after the
/// keys.
pub const LIMIT_BY_FUNCTION: &str = "granary_limit_by";

/// Rewrites ClickHouse's forms of `LIMIT ... BY` that `sqlparser` does not read into
/// [`LIMIT_BY_FUNCTION`]; other text is left as it is.
fn limit_by_forms(sql: &str) -> std::borrow::Cow<'_, str> {
    use datafusion::sql::sqlparser::tokenizer::Tokenizer;
    let dialect = ClickHouseDialect {};
    let Ok(tokens) = Tokenizer::new(&dialect, sql).tokenize_with_location() else {
        return sql.into();
    };
    let offsets = LineOffsets::new(sql);
    let meaningful: Vec<_> = tokens
        .iter()
        .filter(|token| !matches!(token.token, Token::Whitespace(_)))
        .collect();
    // Parenthesis depth of each token.
    let mut depth = 0usize;
    let depths: Vec<usize> = meaningful
        .iter()
        .map(|token| match token.token {
            Token::LParen => {
                depth += 1;
                depth - 1
            }
            Token::RParen => {
                depth = depth.saturating_sub(1);
                depth
            }
            _ => depth,
        })
        .collect();
    let ends_clause = |index: usize, level: usize| {
        let token = &meaningful[index].token;
        (depths[index] < level)
            || (depths[index] == level
                && (matches!(token, Token::SemiColon | Token::RParen)
                    || ["SETTINGS", "FORMAT", "UNION", "LIMIT", "INTO"]
                        .iter()
                        .any(|word| is_word(token, word))))
    };
    let text = |from: usize, to: usize| -> Option<&str> {
        let start = offsets.at(meaningful.get(from)?.span.start)?;
        let end = match meaningful.get(to) {
            Some(token) => offsets.at(token.span.start)?,
            None => sql.len(),
        };
        Some(sql[start..end].trim())
    };
    let mut splices: Vec<(usize, usize, String)> = Vec::new();
    let mut index = 0;
    while index < meaningful.len() {
        if !is_word(&meaningful[index].token, "LIMIT") {
            index += 1;
            continue;
        }
        let level = depths[index];
        // The BY of this LIMIT, before anything that ends the clause.
        let Some(by) = (index + 1..meaningful.len())
            .take_while(|&at| !ends_clause(at, level))
            .find(|&at| depths[at] == level && is_word(&meaningful[at].token, "BY"))
        else {
            index += 1;
            continue;
        };
        let split = |from: usize, to: usize| -> Option<(String, Option<String>)> {
            let offset_word = (from..to)
                .find(|&at| depths[at] == level && is_word(&meaningful[at].token, "OFFSET"));
            let comma =
                (from..to).find(|&at| depths[at] == level && meaningful[at].token == Token::Comma);
            Some(match (offset_word, comma) {
                (Some(at), _) => (
                    text(from, at)?.to_string(),
                    Some(text(at + 1, to)?.to_string()),
                ),
                (None, Some(at)) => (
                    text(at + 1, to)?.to_string(),
                    Some(text(from, at)?.to_string()),
                ),
                (None, None) => (text(from, to)?.to_string(), None),
            })
        };
        let Some((count, offset)) = split(index + 1, by) else {
            break;
        };
        // A second LIMIT after the keys, up to the end of the query.
        let keys_end = (by + 1..meaningful.len())
            .find(|&at| ends_clause(at, level))
            .unwrap_or(meaningful.len());
        let second = (keys_end < meaningful.len() && is_word(&meaningful[keys_end].token, "LIMIT"))
            .then(|| {
                let end = (keys_end + 1..meaningful.len())
                    .find(|&at| ends_clause(at, level))
                    .unwrap_or(meaningful.len());
                (end, split(keys_end + 1, end))
            });
        if offset.is_none() && second.is_none() {
            index = by + 1;
            continue;
        }
        let null = || "NULL".to_string();
        let (limit, limit_offset, second_end) = match second {
            Some((end, Some((limit, limit_offset)))) => {
                (limit, limit_offset.unwrap_or_else(null), Some(end))
            }
            Some((_, None)) => break,
            None => (null(), null(), None),
        };
        let (Some(start), Some(by_start)) = (
            offsets.at(meaningful[index].span.start),
            offsets.at(meaningful[by].span.start),
        ) else {
            break;
        };
        splices.push((
            start,
            by_start,
            format!(
                "LIMIT {LIMIT_BY_FUNCTION}({count}, {}, {limit}, {limit_offset}) ",
                offset.unwrap_or_else(null)
            ),
        ));
        if let Some(end) = second_end {
            let second_start = offsets.at(meaningful[keys_end].span.start);
            let second_end = match meaningful.get(end) {
                Some(token) => offsets.at(token.span.start),
                None => Some(sql.len()),
            };
            if let (Some(from), Some(to)) = (second_start, second_end) {
                splices.push((from, to, " ".to_string()));
            }
        }
        index = second_end.unwrap_or(by + 1);
    }
    splice(sql, splices)
}

/// Byte offsets of the tokenizer's line and column locations.
struct LineOffsets<'a> {
    sql: &'a str,
    line_starts: Vec<usize>,
}

impl<'a> LineOffsets<'a> {
    fn new(sql: &'a str) -> LineOffsets<'a> {
        let line_starts = std::iter::once(0)
            .chain(sql.match_indices('\n').map(|(at, _)| at + 1))
            .collect();
        LineOffsets { sql, line_starts }
    }

    fn at(&self, location: datafusion::sql::sqlparser::tokenizer::Location) -> Option<usize> {
        let line = self
            .line_starts
            .get((location.line as usize).checked_sub(1)?)?;
        let column = (location.column as usize).checked_sub(1)?;
        // Columns count characters.
        self.sql[*line..]
            .char_indices()
            .nth(column)
            .map(|(at, _)| line + at)
    }
}

/// `sql` with the `(start, end, replacement)` byte ranges replaced (in order, not overlapping).
fn splice(sql: &str, splices: Vec<(usize, usize, String)>) -> std::borrow::Cow<'_, str> {
    if splices.is_empty() {
        return sql.into();
    }
    let mut out = String::with_capacity(sql.len());
    let mut at = 0;
    for (start, end, replacement) in splices {
        out.push_str(&sql[at..start]);
        out.push_str(&replacement);
        at = end;
    }
    out.push_str(&sql[at..]);
    out.into()
}

/// Parses a table's metadata file (`ATTACH TABLE _ (...) ENGINE = ...`).
pub fn parse_metadata(text: &str) -> Result<TableDefinition> {
    let dialect = ClickHouseDialect {};
    let parser = Parser::new(&dialect).try_with_sql(text).map_err(syntax)?;
    let mut parser = StatementParser { parser, sql: text };
    parser.expect_word("ATTACH")?;
    parser.expect_word("TABLE")?;
    parser.table_name()?;
    let definition = parser.table_definition()?;
    parser.end()?;
    Ok(definition)
}

/// Parses a standalone expression, such as the text a rewrite builds (see `escapes::sql_text`).
pub fn parse_expression(text: &str) -> Result<Expr> {
    let dialect = ClickHouseDialect {};
    let parser = Parser::new(&dialect).try_with_sql(text).map_err(syntax)?;
    let mut parser = StatementParser { parser, sql: text };
    let expr = parser.parser.parse_expr().map_err(syntax)?;
    parser.end()?;
    Ok(expr)
}

struct StatementParser<'a> {
    parser: Parser<'a>,
    /// The text being parsed.
    sql: &'a str,
}

impl StatementParser<'_> {
    fn peek(&self) -> Token {
        self.parser.peek_token().token
    }

    fn peek_word(&self, word: &str) -> bool {
        is_word(&self.peek(), word)
    }

    fn eat_word(&mut self, word: &str) -> bool {
        if self.peek_word(word) {
            self.parser.next_token();
            true
        } else {
            false
        }
    }

    fn eat_words(&mut self, words: &[&str]) -> bool {
        let start = self.parser.index();
        for word in words {
            if !self.eat_word(word) {
                while self.parser.index() > start {
                    self.parser.prev_token();
                }
                return false;
            }
        }
        true
    }

    fn expect_word(&mut self, word: &str) -> Result<()> {
        if self.eat_word(word) {
            Ok(())
        } else {
            Err(self.unexpected(word))
        }
    }

    fn expect_token(&mut self, token: &Token) -> Result<()> {
        self.parser.expect_token(token).map(|_| ()).map_err(syntax)
    }

    fn unexpected(&self, expected: &str) -> Error {
        let found = self.parser.peek_token();
        Error::syntax(format!(
            "syntax error: expected {expected}, found {} at {}",
            describe(&found.token),
            found.span.start
        ))
    }

    /// Only `;` and the end of input may follow a statement.
    /// True when only semicolons follow the next `skip` tokens.
    fn ends_after(&self, skip: usize) -> bool {
        let mut index = skip;
        loop {
            match self.parser.peek_nth_token(index).token {
                Token::SemiColon => index += 1,
                Token::EOF => return true,
                _ => return false,
            }
        }
    }

    fn end(&mut self) -> Result<()> {
        while self.parser.consume_token(&Token::SemiColon) {}
        match self.peek() {
            Token::EOF => Ok(()),
            _ => Err(self.unexpected("the end of the statement")),
        }
    }

    fn identifier(&mut self) -> Result<String> {
        let token = self.parser.next_token();
        match token.token {
            // ClickHouse's lexer has no empty identifier: `` is a syntax error wherever a name goes.
            Token::Word(word) if word.value.is_empty() => Err(Error::syntax(format!(
                "syntax error: an empty identifier at {}",
                token.span.start
            ))),
            Token::Word(word) => Ok(word.value),
            other => Err(Error::syntax(format!(
                "syntax error: expected an identifier, found {} at {}",
                describe(&other),
                token.span.start
            ))),
        }
    }

    fn table_name(&mut self) -> Result<TableName> {
        let first = self.identifier()?;
        if self.parser.consume_token(&Token::Period) {
            let table = self.identifier()?;
            Ok(TableName {
                database: Some(first),
                table,
            })
        } else {
            Ok(TableName {
                database: None,
                table: first,
            })
        }
    }

    fn if_not_exists(&mut self) -> bool {
        self.eat_words(&["IF", "NOT", "EXISTS"])
    }

    fn if_exists(&mut self) -> bool {
        self.eat_words(&["IF", "EXISTS"])
    }

    fn refuse_on_cluster(&mut self) -> Result<()> {
        if self.eat_words(&["ON", "CLUSTER"]) {
            return Err(Error::not_implemented(
                "ON CLUSTER (Granary has no clusters)",
            ));
        }
        Ok(())
    }

    fn statement(&mut self) -> Result<Statement> {
        let keyword = match self.peek() {
            Token::Word(word) if word.quote_style.is_none() => word.value.to_ascii_uppercase(),
            _ => String::new(),
        };
        match keyword.as_str() {
            "CREATE" => self.create(),
            "DROP" => self.drop(),
            "TRUNCATE" => self.truncate(),
            "RENAME" => self.rename(),
            "SHOW" => self.show(),
            "DESCRIBE" | "DESC" => {
                self.parser.next_token();
                self.eat_word("TABLE");
                Ok(Statement::Describe(self.table_name()?))
            }
            "EXISTS" => {
                self.parser.next_token();
                if self.eat_word("DATABASE") {
                    return Ok(Statement::ExistsDatabase(self.identifier()?));
                }
                self.eat_word("TEMPORARY");
                self.eat_word("TABLE");
                Ok(Statement::ExistsTable(self.table_name()?))
            }
            "OPTIMIZE" => self.optimize(),
            "INSERT" => self.insert(),
            "USE" => {
                self.parser.next_token();
                Ok(Statement::Use(self.identifier()?))
            }
            "SET" => {
                self.parser.next_token();
                Ok(Statement::Set(self.settings()?))
            }
            "WITH" => self.query_with_items(),
            "ATTACH" | "DETACH" | "ALTER" | "SYSTEM" | "KILL" | "GRANT" | "REVOKE" | "UPDATE"
            | "DELETE" => Err(Error::not_implemented(format!("{keyword} queries"))),
            _ => {
                let statement = self.parser.parse_statement().map_err(syntax)?;
                Ok(Statement::Query(Box::new(statement)))
            }
        }
    }

    /// A query after `WITH`: ClickHouse's `WITH expr AS name, ...` items (which `sqlparser` does
    /// not read) are taken here and applied to the query as aliases; common table expressions
    /// (`WITH name AS (SELECT ...)`), before or after them, go to `sqlparser`.
    fn query_with_items(&mut self) -> Result<Statement> {
        let start = self.parser.index();
        self.parser.next_token();
        let mut items = Vec::new();
        while !self.at_common_table_expression() {
            let expr = self.parser.parse_expr().map_err(syntax)?;
            self.expect_word("AS")?;
            let name = self.parser.parse_identifier().map_err(syntax)?;
            items.push((name, expr));
            if !self.parser.consume_token(&Token::Comma) {
                break;
            }
        }
        if items.is_empty() {
            while self.parser.index() > start {
                self.parser.prev_token();
            }
            let statement = self.parser.parse_statement().map_err(syntax)?;
            return Ok(Statement::Query(Box::new(statement)));
        }
        // The rest is parsed on its own, behind a WITH again if common table expressions follow.
        let rest = &self.sql[self.offset_of_next_token()..];
        let rest = if self.at_common_table_expression() {
            format!("WITH {rest}")
        } else {
            rest.to_string()
        };
        let dialect = ClickHouseDialect {};
        let mut parser = StatementParser {
            parser: Parser::new(&dialect).try_with_sql(&rest).map_err(syntax)?,
            sql: &rest,
        };
        let mut statement = parser.parser.parse_statement().map_err(syntax)?;
        parser.end()?;
        if !matches!(statement, SqlStatement::Query(_)) {
            return Err(self.unexpected("a query after WITH"));
        }
        while self.parser.next_token().token != Token::EOF {}
        super::aliases::apply_with_items(&mut statement, &items);
        Ok(Statement::Query(Box::new(statement)))
    }

    /// Whether the next tokens start a common table expression: `name AS (`.
    fn at_common_table_expression(&self) -> bool {
        matches!(self.parser.peek_nth_token(0).token, Token::Word(_))
            && is_word(&self.parser.peek_nth_token(1).token, "AS")
            && self.parser.peek_nth_token(2).token == Token::LParen
    }

    /// The byte offset in the text of the next token.
    fn offset_of_next_token(&self) -> usize {
        let location = self.parser.peek_token().span.start;
        let mut offset = 0;
        for (index, line) in self.sql.split_inclusive('\n').enumerate() {
            if index + 1 == location.line as usize {
                return offset
                    + line
                        .char_indices()
                        .nth(location.column as usize - 1)
                        .map_or(line.len(), |(byte, _)| byte);
            }
            offset += line.len();
        }
        self.sql.len()
    }

    fn create(&mut self) -> Result<Statement> {
        self.expect_word("CREATE")?;
        let or_replace = self.eat_words(&["OR", "REPLACE"]);
        if self.eat_word("DATABASE") {
            if or_replace {
                return Err(Error::not_implemented("CREATE OR REPLACE DATABASE"));
            }
            let if_not_exists = self.if_not_exists();
            let name = self.identifier()?;
            self.refuse_on_cluster()?;
            if self.eat_word("ENGINE") {
                self.expect_token(&Token::Eq)?;
                let engine = self.identifier()?;
                if !matches!(engine.as_str(), "Atomic" | "Ordinary") {
                    return Err(Error::not_implemented(format!("database engine {engine}")));
                }
                if self.parser.consume_token(&Token::LParen) {
                    self.expect_token(&Token::RParen)?;
                }
            }
            return Ok(Statement::CreateDatabase {
                name,
                if_not_exists,
            });
        }
        if self.eat_word("TEMPORARY") {
            return Err(Error::not_implemented("temporary tables"));
        }
        for kind in [
            "VIEW",
            "MATERIALIZED",
            "DICTIONARY",
            "FUNCTION",
            "USER",
            "ROLE",
        ] {
            if self.peek_word(kind) {
                return Err(Error::not_implemented(format!("CREATE {kind}")));
            }
        }
        self.expect_word("TABLE")?;
        let if_not_exists = self.if_not_exists();
        let name = self.table_name()?;
        self.refuse_on_cluster()?;
        if self.peek_word("AS") {
            return Err(Error::not_implemented("CREATE TABLE ... AS"));
        }
        let definition = self.table_definition()?;
        Ok(Statement::CreateTable(Box::new(CreateTable {
            name,
            if_not_exists,
            or_replace,
            definition,
        })))
    }

    /// `( columns ) ENGINE = ... [clauses]`.
    fn table_definition(&mut self) -> Result<TableDefinition> {
        self.expect_token(&Token::LParen)?;
        let mut columns = Vec::new();
        let mut inline_primary_key: Option<Vec<String>> = None;
        loop {
            if self.eat_words(&["PRIMARY", "KEY"]) {
                let expr = self.parser.parse_expr().map_err(syntax)?;
                inline_primary_key = Some(key_columns(&expr, "PRIMARY KEY")?);
            } else if let Some(kind) = ["INDEX", "PROJECTION", "CONSTRAINT"]
                .into_iter()
                .find(|kind| self.peek_word(kind))
            {
                return Err(Error::not_implemented(format!("{kind} in CREATE TABLE")));
            } else {
                let (column, primary) = self.column_declaration()?;
                if primary {
                    inline_primary_key = Some(vec![column.name.clone()]);
                }
                columns.push(column);
            }
            if self.parser.consume_token(&Token::Comma) {
                continue;
            }
            self.expect_token(&Token::RParen)?;
            break;
        }
        let engine = if self.eat_word("ENGINE") {
            let _ = self.parser.consume_token(&Token::Eq);
            self.engine()?
        } else {
            EngineKind::MergeTree
        };
        let mut partition_by = Vec::new();
        let mut order_by: Option<Vec<String>> = None;
        let mut primary_key: Option<Vec<String>> = None;
        let mut settings = Vec::new();
        let mut comment = None;
        loop {
            if self.eat_words(&["PARTITION", "BY"]) {
                let expr = self.parser.parse_expr().map_err(syntax)?;
                partition_by = tuple_elements(expr);
            } else if self.eat_words(&["ORDER", "BY"]) {
                let expr = self.parser.parse_expr().map_err(syntax)?;
                order_by = Some(key_columns(&expr, "ORDER BY")?);
            } else if self.eat_words(&["PRIMARY", "KEY"]) {
                let expr = self.parser.parse_expr().map_err(syntax)?;
                primary_key = Some(key_columns(&expr, "PRIMARY KEY")?);
            } else if self.eat_word("SETTINGS") {
                settings = self
                    .settings()?
                    .into_iter()
                    .map(|(name, expr)| Ok((name, setting_value(&expr)?)))
                    .collect::<Result<_>>()?;
            } else if self.eat_word("COMMENT") {
                comment = Some(self.parser.parse_literal_string().map_err(syntax)?);
            } else if let Some(clause) = ["SAMPLE", "TTL"]
                .into_iter()
                .find(|clause| self.peek_word(clause))
            {
                return Err(Error::not_implemented(format!("{clause} in CREATE TABLE")));
            } else if self.peek_word("AS") {
                return Err(Error::not_implemented("CREATE TABLE ... AS SELECT"));
            } else {
                break;
            }
        }
        if primary_key.is_some() && inline_primary_key.is_some() {
            return Err(Error::query(
                ErrorCode::BAD_ARGUMENTS,
                "the primary key is given both in the column list and as a clause",
            ));
        }
        let primary_key = primary_key.or(inline_primary_key);
        // Without ORDER BY, the primary key is the sorting key (ClickHouse does the same).
        let order_by = match order_by {
            Some(order_by) => order_by,
            None => primary_key.clone().unwrap_or_default(),
        };
        let definition = TableDefinition {
            columns,
            engine,
            partition_by,
            order_by,
            primary_key,
            settings,
            comment,
        };
        definition.validate()?;
        Ok(definition)
    }

    fn engine(&mut self) -> Result<EngineKind> {
        let name = self.identifier()?;
        let mut arguments = Vec::new();
        if self.parser.consume_token(&Token::LParen) && !self.parser.consume_token(&Token::RParen) {
            arguments = self
                .parser
                .parse_comma_separated(Parser::parse_expr)
                .map_err(syntax)?;
            self.expect_token(&Token::RParen)?;
        }
        let engine = match name.as_str() {
            "MergeTree" => EngineKind::MergeTree,
            "ReplacingMergeTree" => {
                if arguments.len() > 1 {
                    return Err(Error::not_implemented(
                        "ReplacingMergeTree with an is_deleted column",
                    ));
                }
                let version = arguments
                    .first()
                    .map(|expr| column_name(expr, "the version of ReplacingMergeTree"))
                    .transpose()?;
                return Ok(EngineKind::ReplacingMergeTree { version });
            }
            "AggregatingMergeTree" if arguments.is_empty() => EngineKind::AggregatingMergeTree,
            "AggregatingMergeTree" => {
                return Err(Error::query(
                    ErrorCode::NUMBER_OF_ARGUMENTS_DOESNT_MATCH,
                    "AggregatingMergeTree takes no arguments",
                ));
            }
            "SummingMergeTree" => {
                let columns = match arguments.as_slice() {
                    [] => None,
                    [Expr::Tuple(columns)] => Some(columns.as_slice()),
                    columns => Some(columns),
                };
                let columns = columns
                    .map(|columns| {
                        columns
                            .iter()
                            .map(|expr| column_name(expr, "the columns of SummingMergeTree"))
                            .collect::<Result<Vec<_>>>()
                    })
                    .transpose()?;
                return Ok(EngineKind::SummingMergeTree { columns });
            }
            "CollapsingMergeTree"
            | "VersionedCollapsingMergeTree"
            | "GraphiteMergeTree"
            | "CoalescingMergeTree"
            | "Null"
            | "Memory"
            | "Log"
            | "TinyLog"
            | "StripeLog"
            | "Distributed"
            | "Merge"
            | "Buffer"
            | "Join"
            | "Set"
            | "File"
            | "URL"
            | "S3"
            | "Kafka"
            | "Dictionary" => {
                return Err(Error::not_implemented(format!("table engine {name}")));
            }
            name if name.starts_with("Replicated") || name.starts_with("Shared") => {
                return Err(Error::not_implemented(format!(
                    "table engine {name} (Granary has no replication)"
                )));
            }
            _ => {
                return Err(Error::query(
                    ErrorCode::UNKNOWN_STORAGE,
                    format!("unknown table engine {name}"),
                ));
            }
        };
        if !arguments.is_empty() {
            return Err(Error::query(
                ErrorCode::NUMBER_OF_ARGUMENTS_DOESNT_MATCH,
                format!("engine {name} takes no arguments (use ORDER BY, PARTITION BY, SETTINGS)"),
            ));
        }
        Ok(engine)
    }

    /// `name [type] [NULL | NOT NULL] [DEFAULT expr] [COMMENT 'text'] [CODEC(...)] [PRIMARY KEY]`;
    /// returns the column and whether it carried `PRIMARY KEY`.
    fn column_declaration(&mut self) -> Result<(ColumnDefinition, bool)> {
        let name = self.identifier()?;
        let type_text = self.type_text()?;
        if type_text.is_empty() {
            return Err(Error::not_implemented(format!(
                "a column without a type ({name}): declare the type"
            )));
        }
        let mut data_type = DataType::parse(&type_text).map_err(|error| {
            Error::query(
                error.code(),
                format!("column {name}: {error} (type {type_text})"),
            )
        })?;
        let mut column = ColumnDefinition {
            name,
            data_type: DataType::Nothing,
            default: None,
            comment: None,
            codec: None,
        };
        let mut primary = false;
        loop {
            if self.eat_words(&["NOT", "NULL"]) {
                continue;
            }
            if self.eat_word("NULL") {
                if data_type.can_be_inside_nullable() {
                    data_type = DataType::Nullable(Box::new(data_type));
                } else if !data_type.is_nullable() {
                    return Err(Error::query(
                        ErrorCode::ILLEGAL_TYPE_OF_ARGUMENT,
                        format!("column {}: {data_type} cannot be NULL", column.name),
                    ));
                }
                continue;
            }
            if self.eat_word("DEFAULT") {
                column.default = Some(self.parser.parse_expr().map_err(syntax)?);
                continue;
            }
            if self.eat_word("COMMENT") {
                column.comment = Some(self.parser.parse_literal_string().map_err(syntax)?);
                continue;
            }
            if self.eat_word("CODEC") {
                column.codec = Some(self.codec()?);
                continue;
            }
            if self.eat_words(&["PRIMARY", "KEY"]) {
                primary = true;
                continue;
            }
            if let Some(clause) = ["MATERIALIZED", "EPHEMERAL", "ALIAS", "STATISTICS", "TTL"]
                .into_iter()
                .find(|clause| self.peek_word(clause))
            {
                return Err(Error::not_implemented(format!("{clause} columns")));
            }
            break;
        }
        column.data_type = data_type;
        Ok((column, primary))
    }

    /// The tokens of a column type, up to the next column clause, `,` or `)`, as text.
    fn type_text(&mut self) -> Result<String> {
        let mut text = String::new();
        let mut depth = 0usize;
        loop {
            let token = self.peek();
            match &token {
                Token::EOF => break,
                Token::Comma | Token::RParen if depth == 0 => break,
                Token::Word(word)
                    if depth == 0
                        && word.quote_style.is_none()
                        && COLUMN_CLAUSES
                            .iter()
                            .any(|clause| word.value.eq_ignore_ascii_case(clause)) =>
                {
                    break;
                }
                Token::LParen => depth += 1,
                Token::RParen => depth -= 1,
                _ => {}
            }
            self.parser.next_token();
            if !text.is_empty() {
                text.push(' ');
            }
            match token {
                Token::Word(Word { value, .. }) => text.push_str(&value),
                Token::SingleQuotedString(value) => {
                    text.push_str(&crate::catalog::definition::quote_string(&value))
                }
                other => text.push_str(&other.to_string()),
            }
        }
        Ok(text)
    }

    /// `(LZ4 | ZSTD[(level)] | NONE)`.
    fn codec(&mut self) -> Result<Method> {
        self.expect_token(&Token::LParen)?;
        let name = self.identifier()?;
        let mut level = None;
        if self.parser.consume_token(&Token::LParen) {
            level = Some(self.parser.parse_literal_uint().map_err(syntax)?);
            self.expect_token(&Token::RParen)?;
        }
        let method = match (name.to_ascii_uppercase().as_str(), level) {
            ("LZ4", None) => Method::Lz4,
            ("NONE", None) => Method::None,
            ("ZSTD", None) => Method::Zstd(1),
            ("ZSTD", Some(level)) if (1..=22).contains(&level) => Method::Zstd(level as i32),
            ("ZSTD", Some(level)) => {
                return Err(Error::query(
                    ErrorCode::ILLEGAL_CODEC_PARAMETER,
                    format!("ZSTD codec level {level} is not in 1..=22"),
                ));
            }
            ("LZ4HC" | "DELTA" | "DOUBLEDELTA" | "GORILLA" | "T64" | "FPC" | "GCD", _) => {
                return Err(Error::not_implemented(format!("codec {name}")));
            }
            _ => {
                return Err(Error::query(
                    ErrorCode::UNKNOWN_CODEC,
                    format!("unknown codec {name}"),
                ));
            }
        };
        if self.parser.consume_token(&Token::Comma) {
            return Err(Error::not_implemented("codec chains (CODEC(a, b))"));
        }
        self.expect_token(&Token::RParen)?;
        Ok(method)
    }

    /// `name = value, ...` (SET, SETTINGS).
    fn settings(&mut self) -> Result<Vec<(String, Expr)>> {
        let mut settings = Vec::new();
        loop {
            let name = self.identifier()?;
            self.expect_token(&Token::Eq)?;
            let value = self.parser.parse_expr().map_err(syntax)?;
            settings.push((name, value));
            if !self.parser.consume_token(&Token::Comma) {
                return Ok(settings);
            }
        }
    }

    fn drop(&mut self) -> Result<Statement> {
        self.expect_word("DROP")?;
        if self.eat_word("DATABASE") {
            let if_exists = self.if_exists();
            let name = self.identifier()?;
            self.refuse_on_cluster()?;
            return Ok(Statement::DropDatabase { name, if_exists });
        }
        self.eat_word("TEMPORARY");
        if !self.eat_word("TABLE") {
            return Err(Error::not_implemented(
                "DROP of anything but a TABLE or DATABASE",
            ));
        }
        let if_exists = self.if_exists();
        let name = self.table_name()?;
        self.refuse_on_cluster()?;
        self.eat_word("SYNC");
        Ok(Statement::DropTable { name, if_exists })
    }

    fn truncate(&mut self) -> Result<Statement> {
        self.expect_word("TRUNCATE")?;
        self.eat_word("TABLE");
        let if_exists = self.if_exists();
        let name = self.table_name()?;
        self.refuse_on_cluster()?;
        Ok(Statement::Truncate { name, if_exists })
    }

    fn rename(&mut self) -> Result<Statement> {
        self.expect_word("RENAME")?;
        if !self.eat_word("TABLE") {
            return Err(Error::not_implemented("RENAME of anything but tables"));
        }
        let mut pairs = Vec::new();
        loop {
            let from = self.table_name()?;
            self.expect_word("TO")?;
            let to = self.table_name()?;
            pairs.push((from, to));
            if !self.parser.consume_token(&Token::Comma) {
                break;
            }
        }
        self.refuse_on_cluster()?;
        Ok(Statement::Rename(pairs))
    }

    fn show(&mut self) -> Result<Statement> {
        self.expect_word("SHOW")?;
        if self.eat_word("DATABASES") {
            return Ok(Statement::ShowDatabases { like: self.like()? });
        }
        if self.eat_word("TABLES") {
            let database = if self.eat_word("FROM") || self.eat_word("IN") {
                Some(self.identifier()?)
            } else {
                None
            };
            return Ok(Statement::ShowTables {
                database,
                like: self.like()?,
            });
        }
        if self.eat_word("CREATE") {
            if self.eat_word("DATABASE") {
                return Ok(Statement::ShowCreateDatabase(self.identifier()?));
            }
            self.eat_word("TABLE");
            return Ok(Statement::ShowCreateTable(self.table_name()?));
        }
        Err(Error::not_implemented("this SHOW query"))
    }

    fn like(&mut self) -> Result<Option<String>> {
        if self.eat_word("LIKE") {
            return Ok(Some(self.parser.parse_literal_string().map_err(syntax)?));
        }
        Ok(None)
    }

    fn optimize(&mut self) -> Result<Statement> {
        self.expect_word("OPTIMIZE")?;
        self.expect_word("TABLE")?;
        let name = self.table_name()?;
        self.refuse_on_cluster()?;
        let partition = if self.eat_word("PARTITION") {
            if self.eat_word("ID") {
                Some(PartitionSpec::Id(
                    self.parser.parse_literal_string().map_err(syntax)?,
                ))
            } else {
                Some(PartitionSpec::Value(Box::new(
                    self.parser.parse_expr().map_err(syntax)?,
                )))
            }
        } else {
            None
        };
        let final_ = self.eat_word("FINAL");
        if self.peek_word("DEDUPLICATE") {
            return Err(Error::not_implemented("OPTIMIZE ... DEDUPLICATE"));
        }
        Ok(Statement::Optimize(OptimizeTable {
            name,
            partition,
            final_,
        }))
    }

    fn insert(&mut self) -> Result<Statement> {
        self.expect_word("INSERT")?;
        self.expect_word("INTO")?;
        if self.eat_word("FUNCTION") {
            return Err(Error::not_implemented("INSERT INTO FUNCTION"));
        }
        self.eat_word("TABLE");
        let table = self.table_name()?;
        let columns = if self.parser.consume_token(&Token::LParen) {
            let columns = self
                .parser
                .parse_comma_separated(Parser::parse_identifier)
                .map_err(syntax)?
                .into_iter()
                .map(|ident: Ident| ident.value)
                .collect();
            self.expect_token(&Token::RParen)?;
            Some(columns)
        } else {
            None
        };
        let settings = if self.eat_word("SETTINGS") {
            self.settings()?
        } else {
            Vec::new()
        };
        let source = if self.peek_word("FORMAT") {
            self.parser.next_token();
            self.identifier()?;
            if !self.ends_after(0) {
                return Err(Error::not_implemented(
                    "INSERT ... FORMAT with the data in the query (send the data through the \
                     client's insert API)",
                ));
            }
            InsertSource::Blocks
        } else if self.peek_word("VALUES") && self.ends_after(1) {
            self.parser.next_token();
            InsertSource::Blocks
        } else if self.peek_word("VALUES") || self.peek_word("SELECT") || self.peek_word("WITH") {
            InsertSource::Query(self.parser.parse_query().map_err(syntax)?)
        } else if self.parser.consume_token(&Token::LParen) {
            self.parser.prev_token();
            InsertSource::Query(self.parser.parse_query().map_err(syntax)?)
        } else {
            return Err(self.unexpected("VALUES, SELECT or FORMAT"));
        };
        Ok(Statement::Insert(Box::new(Insert {
            table,
            columns,
            settings,
            source,
        })))
    }
}

fn is_word(token: &Token, word: &str) -> bool {
    matches!(token, Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(word))
}

fn describe(token: &Token) -> String {
    match token {
        Token::EOF => "the end of the query".into(),
        other => format!("'{other}'"),
    }
}

/// The elements of a key expression: `(a, b)` -> [a, b]; `tuple()` -> []; `a` -> [a].
fn tuple_elements(expr: Expr) -> Vec<Expr> {
    match expr {
        Expr::Tuple(items) => items,
        Expr::Nested(inner) => tuple_elements(*inner),
        Expr::Function(function)
            if function.name.to_string().eq_ignore_ascii_case("tuple")
                && function.args.to_string() == "()" =>
        {
            Vec::new()
        }
        Expr::Function(function) if function.name.to_string() == "tuple" => match function.args {
            datafusion::sql::sqlparser::ast::FunctionArguments::List(list) => list
                .args
                .into_iter()
                .filter_map(|arg| match arg {
                    datafusion::sql::sqlparser::ast::FunctionArg::Unnamed(
                        datafusion::sql::sqlparser::ast::FunctionArgExpr::Expr(expr),
                    ) => Some(expr),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        },
        other => vec![other],
    }
}

/// The columns of a sorting or primary key; expressions other than columns are refused.
fn key_columns(expr: &Expr, clause: &str) -> Result<Vec<String>> {
    tuple_elements(expr.clone())
        .iter()
        .map(|element| column_name(element, clause))
        .collect()
}

fn column_name(expr: &Expr, context: &str) -> Result<String> {
    match expr {
        Expr::Identifier(ident) => Ok(ident.value.clone()),
        Expr::Nested(inner) => column_name(inner, context),
        other => Err(Error::not_implemented(format!(
            "expression {other} in {context} (only columns for now)"
        ))),
    }
}

/// A setting value: a number, a string or a bare word.
pub fn setting_value(expr: &Expr) -> Result<SettingValue> {
    match expr {
        Expr::Value(value) => match &value.value {
            Value::Number(number, _) => Ok(SettingValue::Number(number.to_string())),
            Value::SingleQuotedString(text) => Ok(SettingValue::String(text.clone())),
            Value::Boolean(flag) => Ok(SettingValue::Number(u8::from(*flag).to_string())),
            other => Err(Error::query(
                ErrorCode::BAD_ARGUMENTS,
                format!("a setting cannot be {other}"),
            )),
        },
        Expr::UnaryOp { op, expr } if op.to_string() == "-" => match setting_value(expr)? {
            SettingValue::Number(number) => Ok(SettingValue::Number(format!("-{number}"))),
            SettingValue::String(_) => Err(Error::query(
                ErrorCode::BAD_ARGUMENTS,
                "a setting cannot be a negated string",
            )),
        },
        Expr::Identifier(ident) => Ok(SettingValue::String(ident.value.clone())),
        other => Err(Error::query(
            ErrorCode::BAD_ARGUMENTS,
            format!("a setting must be a literal, not {other}"),
        )),
    }
}

/// `db.table` or `table` from an object name in a query.
pub fn object_table_name(name: &ObjectName) -> Result<TableName> {
    let parts: Vec<String> = name
        .0
        .iter()
        .map(|part| {
            part.as_ident()
                .map(|ident| ident.value.clone())
                .ok_or_else(|| Error::syntax(format!("bad table name {name}")))
        })
        .collect::<Result<_>>()?;
    match parts.as_slice() {
        [table] => Ok(TableName {
            database: None,
            table: table.clone(),
        }),
        [database, table] => Ok(TableName {
            database: Some(database.clone()),
            table: table.clone(),
        }),
        _ => Err(Error::syntax(format!("bad table name {name}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn create(sql: &str) -> CreateTable {
        match parse_statement(sql).unwrap() {
            Statement::CreateTable(create) => *create,
            other => panic!("not a CREATE TABLE: {other:?}"),
        }
    }

    #[test]
    fn clickhouse_create_table_round_trips_through_the_canonical_statement() {
        let sql = "CREATE TABLE d1.t (a UInt32, b String DEFAULT 'x' CODEC(ZSTD(3)), \
                   c Nullable(Int64), d Date DEFAULT toDate(now()) COMMENT 'hello', \
                   e LowCardinality(String)) ENGINE = ReplacingMergeTree(a) \
                   PARTITION BY toYYYYMM(d) ORDER BY (a, b) SETTINGS index_granularity = 1024";
        let create = create(sql);
        // What ClickHouse 26.9 prints for the same statement.
        let expected = "CREATE TABLE d1.t\n(\n    `a` UInt32,\n    `b` String DEFAULT 'x' \
                        CODEC(ZSTD(3)),\n    `c` Nullable(Int64),\n    `d` Date DEFAULT \
                        toDate(now()) COMMENT 'hello',\n    `e` LowCardinality(String)\n)\n\
                        ENGINE = ReplacingMergeTree(a)\nPARTITION BY toYYYYMM(d)\nORDER BY \
                        (a, b)\nSETTINGS index_granularity = 1024";
        assert_eq!(create.definition.create_statement("d1.t"), expected);
        let reparsed = parse_metadata(&create.definition.metadata_text()).unwrap();
        assert_eq!(reparsed.create_statement("d1.t"), expected);
    }

    #[test]
    fn sql_type_aliases_null_and_an_inline_primary_key() {
        let create = create(
            "CREATE OR REPLACE TABLE h (WatchID BIGINT NOT NULL, Title TEXT NOT NULL, \
             EventTime TIMESTAMP NOT NULL, x INTEGER NULL, PRIMARY KEY (WatchID, EventTime)) \
             ENGINE = MergeTree SETTINGS fsync_after_insert=1",
        );
        assert!(create.or_replace);
        let expected = "CREATE TABLE h\n(\n    `WatchID` Int64,\n    `Title` String,\n    \
                        `EventTime` DateTime,\n    `x` Nullable(Int32)\n)\nENGINE = MergeTree\n\
                        PRIMARY KEY (WatchID, EventTime)\nORDER BY (WatchID, EventTime)\n\
                        SETTINGS fsync_after_insert = 1, index_granularity = 8192";
        assert_eq!(create.definition.create_statement("h"), expected);
    }

    #[test]
    fn refusals_carry_clickhouse_codes() {
        let code = |sql: &str| parse_statement(sql).unwrap_err().code();
        assert_eq!(
            code("CREATE TABLE t (a UInt8) ENGINE = FooTree ORDER BY a"),
            ErrorCode::UNKNOWN_STORAGE
        );
        assert_eq!(
            code("CREATE TABLE t (a Nullable(UInt8)) ENGINE = MergeTree ORDER BY a"),
            ErrorCode::ILLEGAL_COLUMN
        );
        assert_eq!(
            code("CREATE TABLE t (a UInt8, b UInt8) ENGINE = MergeTree ORDER BY a PRIMARY KEY b"),
            ErrorCode::BAD_ARGUMENTS
        );
        assert_eq!(
            code("CREATE TABLE t (a UInt8) ENGINE = MergeTree ORDER BY a SETTINGS bogus = 1"),
            ErrorCode::UNKNOWN_SETTING
        );
        assert_eq!(
            code("CREATE TABLE t (a Strin) ENGINE = MergeTree ORDER BY a"),
            ErrorCode::UNKNOWN_TYPE
        );
        assert_eq!(
            code("CREATE TABLE t (a UInt8) ENGINE = CollapsingMergeTree(a) ORDER BY a"),
            ErrorCode::NOT_IMPLEMENTED
        );
        assert_eq!(code("SELECT 1; SELECT 2"), ErrorCode::SYNTAX_ERROR);
        assert_eq!(code("CREATE TABLE t (a UInt8"), ErrorCode::SYNTAX_ERROR);
    }

    #[test]
    fn the_clickbench_schema_parses() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/bench/clickbench/create.sql"
        );
        // The shared inputs sit beside the repository, here and in CI.
        let sql = std::fs::read_to_string(path).expect("../shared/bench/clickbench/create.sql");
        let create = create(&sql);
        assert_eq!(create.definition.columns.len(), 105);
        assert_eq!(
            create.definition.order_by,
            ["CounterID", "EventDate", "UserID", "EventTime", "WatchID"]
        );
    }
}

#[cfg(test)]
mod cast_type_tests {
    use super::quoted_cast_types;

    #[test]
    fn types_with_text_arguments_after_cast_as_become_text() {
        assert_eq!(
            quoted_cast_types(
                "SELECT CAST(t AS DateTime('UTC')),\n CAST(u AS DateTime64(3, 'Asia/Tokyo'))"
            ),
            "SELECT CAST(t , 'DateTime(\\'UTC\\')'),\n CAST(u , 'DateTime64(3, \\'Asia/Tokyo\\')')"
        );
        // Nothing else changes: other casts, strings that look alike.
        let unchanged = "SELECT CAST(x AS DateTime), 'AS DateTime(''x'')', CAST(y AS UInt8)";
        assert_eq!(quoted_cast_types(unchanged), unchanged);
    }
}

#[cfg(test)]
mod limit_by_tests {
    use super::limit_by_forms;

    #[test]
    fn offsets_and_second_limits_travel_in_the_first_limit() {
        assert_eq!(
            limit_by_forms("SELECT a FROM t LIMIT 1, 2 BY a"),
            "SELECT a FROM t LIMIT granary_limit_by(2, 1, NULL, NULL) BY a"
        );
        assert_eq!(
            limit_by_forms("SELECT * FROM (SELECT a FROM t LIMIT 2 OFFSET 1 BY a, b LIMIT 5) AS s"),
            "SELECT * FROM (SELECT a FROM t LIMIT granary_limit_by(2, 1, 5, NULL) BY a, b  ) AS s"
        );
        let unchanged = "SELECT a FROM t ORDER BY a LIMIT 2 BY a";
        assert_eq!(limit_by_forms(unchanged), unchanged);
        let plain = "SELECT a FROM t LIMIT 10 OFFSET 2";
        assert_eq!(limit_by_forms(plain), plain);
    }
}
