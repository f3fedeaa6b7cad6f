//! ClickHouse's named query parameters: `{name:Type}` in the query text takes the value a client
//! sent beside the query (the native protocol's parameters list, `param_name` over HTTP). The value
//! arrives as a quoted literal (`'7'`, `'it\'s'`) whose contents are the value's text form; the
//! placeholder becomes `CAST(<literal> AS Type)`, so the text is read as the type, as ClickHouse
//! does.

use granary_protocol::ErrorCode;

use crate::error::{Error, Result};

/// `sql` with every `{name:Type}` outside literals, quoted names and comments replaced by its
/// parameter's value read as `Type`. A placeholder without a value is `UNKNOWN_QUERY_PARAMETER`.
pub fn substitute(sql: &str, parameters: &[(String, String)]) -> Result<String> {
    let bytes = sql.as_bytes();
    let mut out = String::with_capacity(sql.len());
    let mut copied = 0;
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            quote @ (b'\'' | b'"' | b'`') => index = skip_quoted(bytes, index, quote),
            b'-' if bytes.get(index + 1) == Some(&b'-') => {
                index = sql[index..]
                    .find('\n')
                    .map_or(bytes.len(), |end| index + end);
            }
            b'/' if bytes.get(index + 1) == Some(&b'*') => {
                index = sql[index + 2..]
                    .find("*/")
                    .map_or(bytes.len(), |end| index + 2 + end + 2);
            }
            b'{' => match placeholder(&sql[index..]) {
                Some((length, name, data_type)) => {
                    let value = parameters
                        .iter()
                        .find(|(candidate, _)| candidate == name)
                        .map(|(_, value)| value)
                        .ok_or_else(|| {
                            Error::query(
                                ErrorCode::UNKNOWN_QUERY_PARAMETER,
                                format!("Substitution `{name}` is not set"),
                            )
                        })?;
                    out.push_str(&sql[copied..index]);
                    out.push_str(&format!("CAST({} AS {data_type})", literal(value)));
                    index += length;
                    copied = index;
                }
                None => index += 1,
            },
            _ => index += 1,
        }
    }
    out.push_str(&sql[copied..]);
    Ok(out)
}

/// The index just past the quoted text starting at `start` (backslash and doubled-quote escapes).
fn skip_quoted(bytes: &[u8], start: usize, quote: u8) -> usize {
    let mut index = start + 1;
    while index < bytes.len() {
        match bytes[index] {
            b'\\' => index += 2,
            byte if byte == quote => {
                if bytes.get(index + 1) == Some(&quote) {
                    index += 2;
                } else {
                    return index + 1;
                }
            }
            _ => index += 1,
        }
    }
    bytes.len()
}

/// `{name:Type}` at the start of `text`: its length, the name and the type.
fn placeholder(text: &str) -> Option<(usize, &str, &str)> {
    let end = text.find('}')?;
    let inner = &text[1..end];
    let (name, data_type) = inner.split_once(':')?;
    let name = name.trim();
    let data_type = data_type.trim();
    let valid_name = !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit());
    (valid_name && !data_type.is_empty()).then_some((end + 1, name, data_type))
}

/// The value as a SQL string literal: as sent when it is one, quoted otherwise.
fn literal(value: &str) -> String {
    let trimmed = value.trim();
    let bytes = trimmed.as_bytes();
    if bytes.len() >= 2 && bytes[0] == b'\'' && skip_quoted(bytes, 0, b'\'') == bytes.len() {
        return trimmed.to_string();
    }
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect()
    }

    #[test]
    fn placeholders_become_casts_of_their_values() {
        let sql = substitute(
            "SELECT {x:UInt8} + 1, {s: String}, '{x:UInt8}' -- {x:UInt8}\n",
            &params(&[("x", "'7'"), ("s", r"'it\'s'")]),
        )
        .unwrap();
        assert_eq!(
            sql,
            "SELECT CAST('7' AS UInt8) + 1, CAST('it\\'s' AS String), '{x:UInt8}' -- {x:UInt8}\n"
        );
    }

    #[test]
    fn unquoted_values_are_quoted_and_missing_ones_refused() {
        let sql = substitute(
            "SELECT {d:DateTime('UTC')}",
            &params(&[("d", "2024-01-01")]),
        );
        assert_eq!(sql.unwrap(), "SELECT CAST('2024-01-01' AS DateTime('UTC'))");
        let err = substitute("SELECT {y:Int32}", &[]).unwrap_err();
        assert_eq!(err.code(), ErrorCode::UNKNOWN_QUERY_PARAMETER);
        assert_eq!(
            substitute("SELECT map('a', 1)", &[]).unwrap(),
            "SELECT map('a', 1)"
        );
    }
}
