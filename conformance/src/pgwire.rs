//! The suites over the PostgreSQL wire protocol, through `tokio-postgres` (a real client) on a
//! running server.
//!
//! Each statement is sent as a simple query, so values come back in PostgreSQL's text format,
//! the format psql shows. The expected results are ClickHouse's text, so the runner reads each
//! value back as ClickHouse would write it, exactly and by the column's PostgreSQL type (which a
//! `Describe` of the same statement gives): `t`/`f` are `true`/`false`, `Infinity`/`NaN` are
//! `inf`/`nan`, a PostgreSQL array `{1,NULL}` is `[1,NULL]` with strings, dates and the like
//! quoted as ClickHouse quotes them. Every other value is compared as the server sent it: a
//! `Map` or `Tuple` arrives as `json` and is compared as such, so records whose PostgreSQL form
//! differs from ClickHouse's say so with `onlyif pgwire`/`skipif pgwire`.

use std::net::SocketAddr;

use granary_engine::postgres::array_text::{self, Element};
use granary_protocol::ErrorCode;
use sqllogictest::{DBOutput, DefaultColumnType};
use tokio_postgres::types::{Kind, Type};
use tokio_postgres::{Client, NoTls, SimpleQueryMessage};

use crate::ConformanceError;

/// One connection to a server's PostgreSQL port.
#[derive(Debug)]
pub struct PgDb {
    client: Client,
    connection: tokio::task::JoinHandle<()>,
}

impl PgDb {
    /// Connects to the server at `addr` as `user`, in `database`.
    pub async fn connect(
        addr: SocketAddr,
        user: &str,
        database: &str,
    ) -> Result<PgDb, ConformanceError> {
        let config = format!(
            "host={} port={} user={user} dbname={database}",
            addr.ip(),
            addr.port()
        );
        let (client, connection) = tokio_postgres::connect(&config, NoTls)
            .await
            .map_err(client_error)?;
        let connection = tokio::spawn(async move {
            // The connection ends when the client is dropped; an error then has no one to tell.
            let _ = connection.await;
        });
        Ok(PgDb { client, connection })
    }
}

#[async_trait::async_trait]
impl sqllogictest::AsyncDB for PgDb {
    type Error = ConformanceError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, ConformanceError> {
        let messages = self.client.simple_query(sql).await.map_err(client_error)?;
        let mut described = false;
        let mut written = 0;
        let mut rows = Vec::new();
        for message in messages {
            match message {
                SimpleQueryMessage::RowDescription(_) => described = true,
                SimpleQueryMessage::Row(row) => rows.push(row),
                SimpleQueryMessage::CommandComplete(count) => written = count,
                _ => {}
            }
        }
        if !described {
            return Ok(DBOutput::StatementComplete(written));
        }
        // The simple protocol names the columns only; their types come from describing the
        // same statement.
        let statement = self.client.prepare(sql).await.map_err(client_error)?;
        let types: Vec<Type> = statement
            .columns()
            .iter()
            .map(|column| column.type_().clone())
            .collect();
        let rows = rows
            .iter()
            .map(|row| {
                types
                    .iter()
                    .enumerate()
                    .map(|(index, pg_type)| clickhouse_text(row.get(index), pg_type))
                    .collect()
            })
            .collect();
        Ok(DBOutput::Rows {
            types: types.iter().map(column_type).collect(),
            rows,
        })
    }

    async fn shutdown(&mut self) {
        self.connection.abort();
    }

    fn engine_name(&self) -> &str {
        "granary-pgwire"
    }

    async fn sleep(duration: std::time::Duration) {
        tokio::time::sleep(duration).await;
    }
}

/// A client error as ClickHouse reports it: the server puts the ClickHouse error in the detail
/// (`ClickHouse error code UNKNOWN_TABLE (60)`); the SQLSTATE goes in the message.
fn client_error(error: tokio_postgres::Error) -> ConformanceError {
    let Some(db) = error.as_db_error() else {
        return ConformanceError {
            code: ErrorCode(0),
            message: format!("client error: {error}"),
        };
    };
    let code = db
        .detail()
        .and_then(|detail| detail.strip_prefix("ClickHouse error code "))
        .and_then(|detail| detail.rsplit_once('('))
        .and_then(|(_, number)| number.trim_end_matches(')').parse().ok())
        .unwrap_or(0);
    ConformanceError {
        code: ErrorCode(code),
        message: format!("{} (SQLSTATE {})", db.message(), db.code().code()),
    }
}

/// A value in PostgreSQL's text format (`None` for NULL) as ClickHouse writes it, with the
/// sqllogictest conventions `NULL` and `(empty)`.
fn clickhouse_text(text: Option<&str>, pg_type: &Type) -> String {
    let Some(text) = text else {
        return "NULL".to_string();
    };
    let text = match pg_type.kind() {
        Kind::Array(element) => match array_text::parse(text) {
            Some(elements) => {
                let mut out = String::new();
                write_array(&elements, element, &mut out);
                out
            }
            None => format!("<malformed array {text}>"),
        },
        _ => scalar(text, pg_type),
    };
    if text.is_empty() {
        "(empty)".to_string()
    } else {
        text
    }
}

/// A scalar's text: PostgreSQL's spellings of booleans and special floats as ClickHouse's.
fn scalar(text: &str, pg_type: &Type) -> String {
    match (pg_type, text) {
        (&Type::BOOL, "t") => "true".to_string(),
        (&Type::BOOL, "f") => "false".to_string(),
        (&Type::FLOAT4 | &Type::FLOAT8, "Infinity") => "inf".to_string(),
        (&Type::FLOAT4 | &Type::FLOAT8, "-Infinity") => "-inf".to_string(),
        (&Type::FLOAT4 | &Type::FLOAT8, "NaN") => "nan".to_string(),
        _ => text.to_string(),
    }
}

/// An array's elements as ClickHouse's array text: `[1,NULL]`, `['a','b\'c']`.
fn write_array(elements: &[Element], element_type: &Type, out: &mut String) {
    out.push('[');
    for (index, element) in elements.iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        match element {
            Element::Null => out.push_str("NULL"),
            Element::Array(inner) => write_array(inner, element_type, out),
            Element::Value(text) => {
                let text = scalar(text, element_type);
                if quoted_in_arrays(element_type) {
                    granary_protocol::text::write_quoted(&text, out);
                } else {
                    out.push_str(&text);
                }
            }
        }
    }
    out.push(']');
}

/// Whether ClickHouse quotes values of the types sent as `pg_type` inside arrays: everything but
/// numbers, booleans and composites.
fn quoted_in_arrays(pg_type: &Type) -> bool {
    !matches!(
        *pg_type,
        Type::BOOL
            | Type::INT2
            | Type::INT4
            | Type::INT8
            | Type::FLOAT4
            | Type::FLOAT8
            | Type::NUMERIC
            | Type::JSON
    )
}

/// The sqllogictest column type of a PostgreSQL type: `I` integers, `R` floats and numerics, `T`
/// the rest.
fn column_type(pg_type: &Type) -> DefaultColumnType {
    match *pg_type {
        Type::INT2 | Type::INT4 | Type::INT8 => DefaultColumnType::Integer,
        Type::FLOAT4 | Type::FLOAT8 | Type::NUMERIC => DefaultColumnType::FloatingPoint,
        _ => DefaultColumnType::Text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgresql_text_reads_back_as_clickhouse_text() {
        let cases = [
            (Some("t"), Type::BOOL, "true"),
            (Some("-Infinity"), Type::FLOAT8, "-inf"),
            (Some("NaN"), Type::FLOAT4, "nan"),
            (Some("t"), Type::TEXT, "t"),
            (Some(""), Type::TEXT, "(empty)"),
            (None, Type::INT4, "NULL"),
            (Some("{1,NULL,3}"), Type::INT4_ARRAY, "[1,NULL,3]"),
            (
                Some(r#"{a,"b c","it's","NULL",NULL}"#),
                Type::TEXT_ARRAY,
                r"['a','b c','it\'s','NULL',NULL]",
            ),
            (Some("{{t,f},{}}"), Type::BOOL_ARRAY, "[[true,false],[]]"),
            (Some("{2024-01-02}"), Type::DATE_ARRAY, "['2024-01-02']"),
            (Some("{}"), Type::TEXT_ARRAY, "[]"),
        ];
        for (text, pg_type, expected) in cases {
            assert_eq!(clickhouse_text(text, &pg_type), expected, "{text:?}");
        }
    }
}
