//! ClickHouse's backslash escapes in string literals, ahead of `sqlparser`'s tokenizer.
//!
//! ClickHouse decodes `\0 \a \b \e \f \n \r \t \v`, `\xHH`, `\N` (nothing) and a backslash before
//! `\ ' " ` /` (that character); any other backslash stays in the value, so `'\1'` is two
//! characters and `'\d+'` reaches a regular expression as written. `sqlparser` drops the backslash
//! of escapes it does not know and reads `\Z` as a control character, so before tokenizing, the
//! escapes whose meanings differ are rewritten inside single-quoted literals (and nowhere else)
//! into text that `sqlparser` reads as ClickHouse does.

use std::borrow::Cow;

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
}
