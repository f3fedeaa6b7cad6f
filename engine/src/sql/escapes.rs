//! ClickHouse's backslash escapes in string literals, ahead of `sqlparser`'s tokenizer.
//!
//! ClickHouse decodes `\0 \a \b \e \f \n \r \t \v`, `\xHH`, `\N` (nothing) and a backslash before
//! `\ ' " ` /` (that character); any other backslash stays in the value, so `'\1'` is two
//! characters and `'\d+'` reaches a regular expression as written. `sqlparser` drops the backslash
//! of escapes it does not know and reads `\Z` as a control character, so before tokenizing, the
//! escapes whose meanings differ are rewritten inside single-quoted literals (and nowhere else)
//! into text that `sqlparser` reads as ClickHouse does. The other way, `sql_text` prints a parsed
//! node so that its literals read back as the values they hold.

use std::borrow::Cow;
use std::fmt::Display;
use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{Value, ValueWithSpan, VisitMut, VisitorMut};

use crate::error::{Error, Result};

/// The escapes `sqlparser` decodes as ClickHouse does.
const SHARED: &[char] = &['0', 'a', 'b', 'f', 'n', 'r', 't', '\\', '\'', '"', '`', '/'];

/// `sql` with every single-quoted literal's escapes in the form `sqlparser` reads as ClickHouse.
pub fn clickhouse_escapes(sql: &str) -> Result<Cow<'_, str>> {
    if !sql.contains('\\') {
        return Ok(Cow::Borrowed(sql));
    }
    let mut out = String::with_capacity(sql.len() + 8);
    let mut chars = sql.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        out.push(c);
        match c {
            '\'' => {
                // Inside a literal until an unescaped, undoubled quote.
                while let Some((_, c)) = chars.next() {
                    if c == '\\' {
                        let Some((_, next)) = chars.next() else {
                            out.push(c);
                            break;
                        };
                        escape(next, &mut chars, &mut out)?;
                        continue;
                    }
                    out.push(c);
                    if c == '\'' {
                        if chars.peek().map(|&(_, c)| c) == Some('\'') {
                            out.push('\'');
                            chars.next();
                        } else {
                            break;
                        }
                    }
                }
            }
            '"' | '`' => {
                for (_, next) in chars.by_ref() {
                    out.push(next);
                    if next == c {
                        break;
                    }
                }
            }
            '-' if chars.peek().map(|&(_, c)| c) == Some('-') => {
                for (_, next) in chars.by_ref() {
                    out.push(next);
                    if next == '\n' {
                        break;
                    }
                }
            }
            '/' if chars.peek().map(|&(_, c)| c) == Some('*') => {
                let mut previous = ' ';
                for (_, next) in chars.by_ref() {
                    out.push(next);
                    if previous == '*' && next == '/' {
                        break;
                    }
                    previous = next;
                }
            }
            _ => {}
        }
    }
    Ok(Cow::Owned(out))
}

/// Writes the escape `\next` (the backslash already read) as `sqlparser` should see it.
fn escape(
    next: char,
    chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>,
    out: &mut String,
) -> Result<()> {
    match next {
        c if SHARED.contains(&c) => {
            out.push('\\');
            out.push(c);
        }
        'e' => out.push('\u{1b}'),
        'v' => out.push('\u{0b}'),
        'N' => {}
        'x' => {
            let mut digits = String::new();
            while digits.len() < 2 {
                match chars.peek() {
                    Some(&(_, d)) if d.is_ascii_hexdigit() => {
                        digits.push(d);
                        chars.next();
                    }
                    _ => break,
                }
            }
            let byte = u8::from_str_radix(&digits, 16)
                .map_err(|_| Error::syntax("\\x in a string literal needs hexadecimal digits"))?;
            if !byte.is_ascii() {
                return Err(Error::syntax(format!(
                    "string literal escape \\x{digits}: bytes above 0x7F are not supported \
                     (strings are UTF-8; write the character itself)"
                )));
            }
            push_literal_char(char::from(byte), out);
        }
        // A backslash ClickHouse keeps: doubled, so that `sqlparser` keeps one.
        c => {
            out.push_str("\\\\");
            out.push(c);
        }
    }
    Ok(())
}

/// A decoded character written back so that `sqlparser` reads it as itself.
fn push_literal_char(c: char, out: &mut String) {
    match c {
        '\\' => out.push_str("\\\\"),
        '\'' => out.push_str("''"),
        c => out.push(c),
    }
}

/// `node` as SQL text whose string literals read back as the same values, by `sqlparser` and by
/// ClickHouse alike. `sqlparser` prints a literal's value with only its quotes doubled, so a
/// backslash or control character in a value would read back as (part of) an escape: any text
/// that is parsed again, stored in metadata or shown as a definition is printed by this.
pub fn sql_text<T: Display + VisitMut + Clone>(node: &T) -> String {
    let text = node.to_string();
    if !text.chars().any(|c| c == '\\' || c.is_control()) {
        return text;
    }
    let mut escaped = node.clone();
    let _ = escaped.visit(&mut LiteralEscaper);
    escaped.to_string()
}

/// Rewrites each single-quoted literal's value into its escaped form (quotes are left for the
/// printer to double).
struct LiteralEscaper;

impl VisitorMut for LiteralEscaper {
    type Break = ();

    fn post_visit_value(&mut self, value: &mut ValueWithSpan) -> ControlFlow<()> {
        if let Value::SingleQuotedString(text) = &mut value.value
            && text.chars().any(|c| c == '\\' || c.is_control())
        {
            *text = escaped_body(text);
        }
        ControlFlow::Continue(())
    }
}

/// `text` with backslashes and the control characters both readers share escaped.
fn escaped_body(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\0' => out.push_str("\\0"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewritten(sql: &str) -> String {
        clickhouse_escapes(sql).unwrap().into_owned()
    }

    #[test]
    fn keeps_the_backslash_of_escapes_clickhouse_does_not_know() {
        assert_eq!(rewritten(r"SELECT '\1', '\d+'"), r"SELECT '\\1', '\\d+'");
        assert_eq!(rewritten(r"SELECT '\Z\%\_'"), r"SELECT '\\Z\\%\\_'");
    }

    #[test]
    fn shares_the_common_escapes_and_decodes_the_others() {
        assert_eq!(rewritten(r"SELECT '\n\t\\\'\0'"), r"SELECT '\n\t\\\'\0'");
        assert_eq!(rewritten(r"SELECT '\e\v\N'"), "SELECT '\u{1b}\u{0b}'");
        assert_eq!(rewritten(r"SELECT '\x41\x5c\x27'"), r"SELECT 'A\\'''");
        assert!(clickhouse_escapes(r"SELECT '\xff'").is_err());
        assert!(clickhouse_escapes(r"SELECT '\xg'").is_err());
    }

    #[test]
    fn leaves_identifiers_comments_and_doubled_quotes_alone() {
        let sql = "SELECT \"a\\1\", `b\\d` -- c\\1 'x\n/* '\\1 */ 'it''s \\1'";
        assert_eq!(
            rewritten(sql),
            "SELECT \"a\\1\", `b\\d` -- c\\1 'x\n/* '\\1 */ 'it''s \\\\1'"
        );
        assert!(matches!(
            clickhouse_escapes("SELECT 'plain'").unwrap(),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn printed_literals_read_back_as_the_same_values() {
        use crate::sql::parser::{parse_expression, parse_statement};
        let value = "a\\b\n\t'\0\u{8}\u{c}\\1 \u{1b}";
        let expr = datafusion::sql::sqlparser::ast::Expr::value(Value::SingleQuotedString(
            value.to_string(),
        ));
        let text = sql_text(&expr);
        assert_eq!(text, "'a\\\\b\\n\\t''\\0\\b\\f\\\\1 \u{1b}'");
        assert_eq!(parse_expression(&text).unwrap(), expr);
        let statement = parse_statement(&format!("SELECT {text}")).unwrap();
        assert!(format!("{statement:?}").contains(&format!("{value:?}")));
        let plain =
            datafusion::sql::sqlparser::ast::Expr::value(Value::SingleQuotedString("it's".into()));
        assert_eq!(sql_text(&plain), "'it''s'");
    }
}
