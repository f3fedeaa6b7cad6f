//! PostgreSQL's `COPY table [(columns)] FROM STDIN [WITH (...)]`: what it names and the format of
//! the data that follows (the front end reads the data; the rows go into an [`crate::Inserter`]).

use datafusion::sql::sqlparser::ast::{
    CopyLegacyCsvOption, CopyLegacyOption, CopyOption, CopySource, CopyTarget, Statement,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;
use granary_protocol::ErrorCode;

use crate::error::{Error, Result};

/// The formats of COPY data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyFormat {
    /// Tab-separated lines, `\N` for NULL, backslash escapes.
    Text,
    /// Comma-separated values with quoting; an unquoted empty field is NULL.
    Csv,
    /// PostgreSQL's binary tuples (`PGCOPY` header).
    Binary,
}

/// A `COPY ... FROM STDIN`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyIn {
    /// The database, when the table is qualified.
    pub database: Option<String>,
    /// The table.
    pub table: String,
    /// The listed columns (empty: all, in order).
    pub columns: Vec<String>,
    pub format: CopyFormat,
    /// The field separator (tab for text, comma for CSV).
    pub delimiter: u8,
    /// The text of a NULL (`\N` for text, the empty string for CSV).
    pub null: String,
    /// Whether the first line is a header to skip (CSV).
    pub header: bool,
    /// CSV's quote character.
    pub quote: u8,
    /// CSV's escape character inside quotes (the quote itself by default).
    pub escape: u8,
}

/// Whether `sql` is a COPY statement (by its first word).
pub fn is_copy(sql: &str) -> bool {
    sql.split_whitespace()
        .next()
        .is_some_and(|word| word.eq_ignore_ascii_case("copy"))
}

/// Reads a `COPY ... FROM STDIN` statement.
pub fn parse_copy(sql: &str) -> Result<CopyIn> {
    let mut statements = Parser::parse_sql(&PostgreSqlDialect {}, sql)
        .map_err(|error| Error::query(ErrorCode::SYNTAX_ERROR, error.to_string()))?;
    let (Some(statement), true) = (statements.pop(), statements.is_empty()) else {
        return Err(Error::query(
            ErrorCode::SYNTAX_ERROR,
            "COPY is one statement",
        ));
    };
    let Statement::Copy {
        source,
        to,
        target,
        options,
        legacy_options,
        ..
    } = statement
    else {
        return Err(Error::query(
            ErrorCode::SYNTAX_ERROR,
            "not a COPY statement",
        ));
    };
    if to {
        return Err(Error::not_implemented(
            "COPY ... TO (read rows with SELECT instead)",
        ));
    }
    if target != CopyTarget::Stdin {
        return Err(Error::not_implemented(
            "COPY FROM a file or program on the server (use COPY ... FROM STDIN)",
        ));
    }
    let CopySource::Table {
        table_name,
        columns,
    } = source
    else {
        return Err(Error::query(
            ErrorCode::SYNTAX_ERROR,
            "COPY FROM needs a table",
        ));
    };
    let mut parts: Vec<String> = table_name
        .0
        .iter()
        .filter_map(|part| part.as_ident().map(|ident| ident.value.clone()))
        .collect();
    let table = parts
        .pop()
        .ok_or_else(|| Error::query(ErrorCode::SYNTAX_ERROR, "COPY FROM needs a table"))?;
    let database = parts.pop();
    let mut copy = CopyIn {
        database,
        table,
        columns: columns.into_iter().map(|ident| ident.value).collect(),
        format: CopyFormat::Text,
        delimiter: b'\t',
        null: "\\N".to_string(),
        header: false,
        quote: b'"',
        escape: b'"',
    };
    let (mut delimiter, mut null, mut escape) = (None, None, None);
    for option in options {
        match option {
            CopyOption::Format(name) => {
                copy.format = match name.value.to_ascii_lowercase().as_str() {
                    "text" => CopyFormat::Text,
                    "csv" => CopyFormat::Csv,
                    "binary" => CopyFormat::Binary,
                    other => {
                        return Err(Error::query(
                            ErrorCode::BAD_ARGUMENTS,
                            format!("COPY format \"{other}\" not recognized"),
                        ));
                    }
                }
            }
            CopyOption::Delimiter(c) => delimiter = Some(c),
            CopyOption::Null(text) => null = Some(text),
            CopyOption::Header(on) => copy.header = on,
            CopyOption::Quote(c) => copy.quote = single_byte(c, "QUOTE")?,
            CopyOption::Escape(c) => escape = Some(c),
            CopyOption::Freeze(_) | CopyOption::Encoding(_) => {}
            other => {
                return Err(Error::not_implemented(format!("COPY option {other}")));
            }
        }
    }
    for option in legacy_options {
        match option {
            CopyLegacyOption::Binary => copy.format = CopyFormat::Binary,
            CopyLegacyOption::Delimiter(c) => delimiter = Some(c),
            CopyLegacyOption::Null(text) => null = Some(text),
            CopyLegacyOption::Header => copy.header = true,
            CopyLegacyOption::Csv(csv) => {
                copy.format = CopyFormat::Csv;
                for option in csv {
                    match option {
                        CopyLegacyCsvOption::Header => copy.header = true,
                        CopyLegacyCsvOption::Quote(c) => copy.quote = single_byte(c, "QUOTE")?,
                        CopyLegacyCsvOption::Escape(c) => escape = Some(c),
                        other => {
                            return Err(Error::not_implemented(format!("COPY option {other}")));
                        }
                    }
                }
            }
            other => return Err(Error::not_implemented(format!("COPY option {other}"))),
        }
    }
    if copy.format == CopyFormat::Csv {
        copy.delimiter = b',';
        copy.null = String::new();
    }
    if let Some(c) = delimiter {
        copy.delimiter = single_byte(c, "DELIMITER")?;
    }
    if let Some(text) = null {
        copy.null = text;
    }
    copy.escape = match escape {
        Some(c) => single_byte(c, "ESCAPE")?,
        None => copy.quote,
    };
    if copy.header && copy.format == CopyFormat::Binary {
        return Err(Error::query(
            ErrorCode::BAD_ARGUMENTS,
            "cannot specify HEADER in BINARY mode",
        ));
    }
    Ok(copy)
}

fn single_byte(c: char, option: &str) -> Result<u8> {
    u8::try_from(c).ok().filter(u8::is_ascii).ok_or_else(|| {
        Error::query(
            ErrorCode::BAD_ARGUMENTS,
            format!("COPY {option} must be a single one-byte character"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_their_defaults() {
        let text = parse_copy("COPY t FROM STDIN").unwrap();
        assert_eq!(
            (text.format, text.delimiter, text.null.as_str()),
            (CopyFormat::Text, b'\t', "\\N")
        );
        let csv = parse_copy("copy db.t (a, b) from stdin with (format csv, header true)").unwrap();
        assert_eq!(csv.database.as_deref(), Some("db"));
        assert_eq!(csv.columns, vec!["a".to_string(), "b".to_string()]);
        assert_eq!(
            (csv.format, csv.delimiter, csv.null.as_str(), csv.header),
            (CopyFormat::Csv, b',', "", true)
        );
        let legacy = parse_copy("COPY t FROM STDIN WITH CSV HEADER").unwrap();
        assert_eq!((legacy.format, legacy.header), (CopyFormat::Csv, true));
        let binary = parse_copy("COPY t FROM STDIN (FORMAT binary)").unwrap();
        assert_eq!(binary.format, CopyFormat::Binary);
        let custom = parse_copy("COPY t FROM STDIN (DELIMITER '|', NULL 'none')").unwrap();
        assert_eq!((custom.delimiter, custom.null.as_str()), (b'|', "none"));
    }

    #[test]
    fn copy_to_and_files_are_refused() {
        assert!(parse_copy("COPY t TO STDOUT").is_err());
        assert!(parse_copy("COPY t FROM '/etc/passwd'").is_err());
        assert!(parse_copy("COPY t FROM STDIN (FORMAT parquet)").is_err());
    }
}
