//! The PostgreSQL wire protocol front end (the `pgwire` crate): one [`PgConnection`] per client
//! connection, holding the engine session (current database, settings). This first part serves
//! the simple query protocol with text results; the extended protocol, authentication, COPY,
//! cancel and the catalogs follow (issue #5).
//!
//! A query's Arrow batches are turned into rows as the client reads them, so a large result is
//! never held whole.

pub mod errors;
pub mod settings;
pub mod types;

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::sql::sqlparser::dialect::ClickHouseDialect;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};
use futures::{Sink, StreamExt, stream};
use granary_engine::functions::type_name::clickhouse_type;
use granary_engine::{Database, QueryResult, Session};
use pgwire::api::auth::{
    DefaultServerParameterProvider, StartupHandler, finish_authentication, protocol_negotiation,
    save_startup_parameters_to_metadata,
};
use pgwire::api::query::SimpleQueryHandler;
use pgwire::api::results::{DataRowEncoder, FieldFormat, FieldInfo, QueryResponse, Response, Tag};
use pgwire::api::{ClientInfo, PgWireServerHandlers};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use tokio::sync::Mutex;

/// The PostgreSQL version whose behaviour (and catalogs) Granary presents; clients parse it.
const PG_VERSION: &str = "15.0";

/// The handlers of one client connection.
#[derive(Debug)]
pub struct PgConnection {
    handler: Arc<Handler>,
}

impl PgConnection {
    /// A connection to `database` with a session of its own.
    pub fn new(database: &Database) -> PgConnection {
        PgConnection {
            handler: Arc::new(Handler {
                connection: Mutex::new(Connection {
                    session: database.session(),
                    settings: settings::PgSettings::new(&server_version()),
                }),
            }),
        }
    }
}

impl PgWireServerHandlers for PgConnection {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        Arc::clone(&self.handler)
    }

    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        Arc::clone(&self.handler)
    }
}

struct Handler {
    connection: Mutex<Connection>,
}

/// What one connection holds: the engine session and the PostgreSQL settings kept here.
struct Connection {
    session: Session,
    settings: settings::PgSettings,
}

impl Debug for Handler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handler").finish_non_exhaustive()
    }
}

/// The settings reported to clients at startup (pgjdbc requires `ISO` dates and UTF8).
/// `server_version` as clients see it: a PostgreSQL version first (they parse it), then ours.
fn server_version() -> String {
    format!("{PG_VERSION} (Granary {})", env!("CARGO_PKG_VERSION"))
}

fn server_parameters() -> DefaultServerParameterProvider {
    let mut parameters = DefaultServerParameterProvider::default();
    parameters.server_version = server_version();
    parameters.date_style = "ISO, MDY".to_string();
    parameters.time_zone = "UTC".to_string();
    parameters
}

fn fatal(code: &str, message: String) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "FATAL".to_string(),
        code.to_string(),
        message,
    )))
}

#[async_trait]
impl StartupHandler for Handler {
    async fn on_startup<C>(
        &self,
        client: &mut C,
        message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let PgWireFrontendMessage::Startup(ref startup) = message else {
            return Ok(());
        };
        protocol_negotiation(client, startup).await?;
        save_startup_parameters_to_metadata(client, startup);
        if let Some(database) = startup
            .parameters
            .get("database")
            .filter(|name| !name.is_empty())
        {
            let mut connection = self.connection.lock().await;
            let quoted = format!("USE `{}`", database.replace('`', "``"));
            if connection.session.execute(&quoted).await.is_err() {
                return Err(fatal(
                    "3D000",
                    format!("database \"{database}\" does not exist"),
                ));
            }
        }
        finish_authentication(client, &server_parameters()).await?;
        tracing::debug!(client = %client.socket_addr(), "connected");
        Ok(())
    }
}

#[async_trait]
impl SimpleQueryHandler for Handler {
    async fn do_query<C>(&self, _client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        let statements = split_statements(query);
        if statements.is_empty() {
            return Ok(vec![Response::EmptyQuery]);
        }
        let mut responses = Vec::with_capacity(statements.len());
        let mut connection = self.connection.lock().await;
        for statement in statements {
            let response = if let Some(response) = transaction_tag(&statement) {
                response
            } else if let Some(request) = connection.settings.handle(&statement) {
                setting_response(request)?
            } else {
                match connection.session.execute(&statement).await {
                    Ok(result) => respond(&statement, result)?,
                    Err(error) => Response::Error(Box::new(errors::error_info(&error))),
                }
            };
            let failed = matches!(response, Response::Error(_));
            responses.push(response);
            // As PostgreSQL does, statements after a failed one in the same query do not run.
            if failed {
                break;
            }
        }
        Ok(responses)
    }
}

/// The statements of a simple query, split at top-level semicolons (empty ones dropped).
fn split_statements(query: &str) -> Vec<String> {
    let Ok(tokens) = Tokenizer::new(&ClickHouseDialect {}, query).tokenize() else {
        // The engine reports the syntax error of the whole text.
        return vec![query.to_string()];
    };
    let mut statements = Vec::new();
    let mut current = String::new();
    for token in tokens {
        if token == Token::SemiColon {
            statements.push(std::mem::take(&mut current));
        } else {
            current.push_str(&token.to_string());
        }
    }
    statements.push(current);
    statements
        .into_iter()
        .map(|statement| statement.trim().to_string())
        .filter(|statement| !statement.is_empty())
        .collect()
}

/// The first word of a statement, upper-cased.
fn keyword(statement: &str) -> String {
    statement
        .split(|c: char| c.is_whitespace() || c == '(')
        .find(|word| !word.is_empty())
        .unwrap_or("")
        .to_ascii_uppercase()
}

/// `BEGIN`, `COMMIT`, `ROLLBACK`: accepted, each statement being atomic on its own.
fn transaction_tag(statement: &str) -> Option<Response> {
    match keyword(statement).as_str() {
        "BEGIN" | "START" => Some(Response::TransactionStart(Tag::new("BEGIN"))),
        "COMMIT" | "END" => Some(Response::TransactionEnd(Tag::new("COMMIT"))),
        "ROLLBACK" | "ABORT" => Some(Response::TransactionEnd(Tag::new("ROLLBACK"))),
        _ => None,
    }
}

/// The response to a statement about a PostgreSQL setting.
fn setting_response(
    request: Result<settings::Request, settings::Refusal>,
) -> PgWireResult<Response> {
    Ok(match request {
        Ok(settings::Request::Set) => Response::Execution(Tag::new("SET")),
        Ok(settings::Request::Show(name, value)) => {
            let fields = Arc::new(vec![FieldInfo::new(
                name,
                None,
                None,
                pgwire::api::Type::TEXT,
                FieldFormat::Text,
            )]);
            let mut encoder = DataRowEncoder::new(Arc::clone(&fields));
            encoder.encode_field(&Some(value))?;
            let row = encoder.finish();
            Response::Query(QueryResponse::new(fields, stream::iter(vec![row])))
        }
        Err(refusal) => Response::Error(Box::new(ErrorInfo::new(
            "ERROR".to_string(),
            refusal.sqlstate.to_string(),
            refusal.message,
        ))),
    })
}

/// The command tag of a statement that returns no rows.
fn command_tag(statement: &str, result: &QueryResult) -> Tag {
    let words: Vec<String> = statement
        .split_whitespace()
        .take(2)
        .map(str::to_ascii_uppercase)
        .collect();
    match words.first().map(String::as_str) {
        Some("INSERT") => Tag::new("INSERT 0").with_rows(result.written_rows() as usize),
        Some("CREATE" | "DROP" | "ALTER" | "TRUNCATE" | "RENAME") => Tag::new(&words.join(" ")),
        Some(word) => Tag::new(word),
        None => Tag::new("OK"),
    }
}

/// The response to an executed statement: its rows as they stream, or its command tag.
fn respond(statement: &str, result: QueryResult) -> PgWireResult<Response> {
    let schema = result.schema();
    if schema.fields().is_empty() {
        return Ok(Response::Execution(command_tag(statement, &result)));
    }
    let mut fields = Vec::with_capacity(schema.fields().len());
    let mut column_types = Vec::with_capacity(schema.fields().len());
    for field in schema.fields() {
        let data_type = clickhouse_type(field).map_err(|error| engine_error(&error))?;
        fields.push(FieldInfo::new(
            field.name().clone(),
            None,
            None,
            types::pg_type(&data_type),
            FieldFormat::Text,
        ));
        column_types.push(data_type);
    }
    let fields = Arc::new(fields);
    let row_fields = Arc::clone(&fields);
    let rows = result
        .map(move |batch| -> Vec<PgWireResult<_>> {
            let batch = match batch {
                Ok(batch) => batch,
                Err(error) => return vec![Err(engine_error(&error))],
            };
            (0..batch.num_rows())
                .map(|row| {
                    let mut encoder = DataRowEncoder::new(Arc::clone(&row_fields));
                    for (column, data_type) in batch.columns().iter().zip(&column_types) {
                        let text = types::text_value(column.as_ref(), row, data_type)
                            .map_err(|error| engine_error(&granary_engine::Error::from(error)))?;
                        encoder.encode_field(&text)?;
                    }
                    encoder.finish()
                })
                .collect()
        })
        .flat_map(stream::iter);
    Ok(Response::Query(QueryResponse::new(fields, rows)))
}

fn engine_error(error: &granary_engine::Error) -> PgWireError {
    PgWireError::UserError(Box::new(errors::error_info(error)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_split_at_top_level_semicolons() {
        assert_eq!(
            split_statements("SELECT 1; SELECT ';' ;;  "),
            vec!["SELECT 1".to_string(), "SELECT ';'".to_string()]
        );
        assert!(split_statements(" ; ").is_empty());
    }
}
