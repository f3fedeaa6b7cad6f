//! The PostgreSQL wire protocol front end (the `pgwire` crate): one [`PgConnection`] per client
//! connection, holding the engine session (current database, settings), its prepared statements
//! and portals. It serves the simple query protocol ([`SimpleQueryHandler`]) and the extended one
//! ([`extended`]), `COPY ... FROM STDIN` ([`copy`]), cancel requests ([`cancel`]) and catalog
//! queries (answered by the engine's `postgres` module).
//!
//! A query's Arrow batches are turned into rows as the client reads them, so a large result is
//! never held whole.

pub mod binary;
pub mod cancel;
pub mod composite;
pub mod copy;
pub mod errors;
pub mod extended;
pub mod framing;
pub mod parameters;
pub mod rows;
pub mod serve;
pub mod settings;

/// What a connection over `max_connections` gets, before its startup packet is read: a FATAL
/// ErrorResponse with PostgreSQL's SQLSTATE and words for it (53300, "sorry, too many clients
/// already"), which libpq and the drivers report as such.
pub fn refusal(max_connections: usize) -> Vec<u8> {
    let mut body = Vec::new();
    for (field, value) in [
        (b'S', "FATAL".to_string()),
        (b'V', "FATAL".to_string()),
        (b'C', "53300".to_string()),
        (
            b'M',
            format!("sorry, too many clients already (max_connections = {max_connections})"),
        ),
    ] {
        body.push(field);
        body.extend_from_slice(value.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut out = vec![b'E'];
    out.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
    out.extend_from_slice(&body);
    out
}
pub mod types;

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::sql::sqlparser::dialect::ClickHouseDialect;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};
use futures::{Sink, SinkExt, StreamExt, stream};
use granary_engine::{Database, QueryResult, Session};

use granary_engine::postgres::{PgContext, PgSettingsAccess, Role};

use crate::auth::{ScramError, ScramExchange, User, Users};
use pgwire::api::auth::{
    DefaultServerParameterProvider, StartupHandler, finish_authentication, protocol_negotiation,
    save_startup_parameters_to_metadata,
};
use pgwire::api::copy::CopyHandler;
use pgwire::api::query::SimpleQueryHandler;
use pgwire::api::results::{FieldFormat, FieldInfo, QueryResponse, Response, Tag};
use pgwire::api::{ClientInfo, PgWireConnectionState, PgWireServerHandlers};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::copy::{CopyData, CopyDone, CopyFail};
use pgwire::messages::response::TransactionStatus;
use pgwire::messages::startup::{Authentication, PasswordMessageFamily};
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use tokio::sync::Mutex;

/// The PostgreSQL version whose behaviour (and catalogs) Granary presents; clients parse it.
const PG_VERSION: &str = "15.0";

/// The handlers of one client connection.
#[derive(Debug)]
pub struct PgConnection {
    handler: Arc<Handler>,
    canceller: Arc<cancel::Canceller>,
}

impl PgConnection {
    /// A connection to `database` with a session of its own; `registry` holds every
    /// connection's cancel key.
    pub fn new(
        database: &Database,
        users: &Arc<Users>,
        registry: &Arc<cancel::Registry>,
    ) -> PgConnection {
        PgConnection {
            handler: Arc::new(Handler {
                users: Arc::clone(users),
                login: Mutex::new(None),
                connection: Mutex::new(Connection {
                    session: database.session(),
                    extended: extended::Extended::default(),
                    copy: None,
                }),
                running: Arc::new(cancel::Running::default()),
                registry: Arc::clone(registry),
                pid: std::sync::OnceLock::new(),
                user: std::sync::OnceLock::new(),
                settings: Arc::new(settings::SharedSettings::new(&server_version())),
            }),
            canceller: Arc::new(cancel::Canceller {
                registry: Arc::clone(registry),
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

    fn extended_query_handler(&self) -> Arc<impl pgwire::api::query::ExtendedQueryHandler> {
        Arc::clone(&self.handler)
    }

    fn copy_handler(&self) -> Arc<impl CopyHandler> {
        Arc::clone(&self.handler)
    }

    fn cancel_handler(&self) -> Arc<impl pgwire::api::cancel::CancelHandler> {
        Arc::clone(&self.canceller)
    }
}

struct Handler {
    users: Arc<Users>,
    /// A password exchange in progress at startup.
    login: Mutex<Option<Login>>,
    connection: Mutex<Connection>,
    /// The running query, for cancel requests.
    running: Arc<cancel::Running>,
    registry: Arc<cancel::Registry>,
    /// The process id clients cancel by, once registered at startup.
    pid: std::sync::OnceLock<i32>,
    /// The user, once logged in.
    user: std::sync::OnceLock<User>,
    /// The PostgreSQL settings kept here (catalog queries' `set_config` changes them too).
    settings: Arc<settings::SharedSettings>,
}

impl Drop for Handler {
    fn drop(&mut self) {
        if let Some(pid) = self.pid.get() {
            self.registry.unregister(*pid);
        }
    }
}

/// 57014: what a cancelled query ends with.
fn cancelled() -> PgWireError {
    errors::error("57014", "canceling statement due to user request")
}

/// What one connection holds: the engine session and the statements and portals of the
/// extended protocol.
struct Connection {
    session: Session,
    extended: extended::Extended,
    /// The COPY FROM STDIN in progress.
    copy: Option<copy::CopyIn>,
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

/// What `version()` answers in catalog queries.
fn version_text() -> String {
    format!("PostgreSQL {}", server_version())
}

impl Handler {
    /// What catalog queries know of this connection.
    fn pg_context(&self) -> PgContext {
        let user = self.user.get().cloned().unwrap_or_else(|| User {
            name: String::new(),
            secret: None,
            readonly: true,
        });
        let registry = Arc::clone(&self.registry);
        let caller = user.clone();
        PgContext {
            version: version_text(),
            user: user.name.clone(),
            roles: self
                .users
                .all()
                .map(|user| Role {
                    name: user.name.clone(),
                    superuser: !user.readonly,
                })
                .collect(),
            backend_pid: self.pid.get().copied().unwrap_or(0),
            cancel_backend: Some(Arc::new(move |pid| {
                registry.cancel_backend(pid, &caller.name, !caller.readonly)
            })),
            settings: Some(Arc::clone(&self.settings) as Arc<dyn PgSettingsAccess>),
        }
    }
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

/// A startup waiting for the user's password proof.
struct Login {
    user: User,
    database: Option<String>,
    /// The SCRAM exchange, once the client's first message is read.
    exchange: Option<ScramExchange>,
}

/// 28P01, as PostgreSQL words it (the same whether the user or the password is wrong).
fn authentication_failed(user: &str) -> PgWireError {
    fatal(
        "28P01",
        format!("password authentication failed for user \"{user}\""),
    )
}

impl Handler {
    /// The end of a successful startup: the database, the user's read-only flag, the cancel
    /// key, then AuthenticationOk and the server's parameters.
    async fn admit<C>(
        &self,
        client: &mut C,
        user: &User,
        database: Option<&str>,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        {
            let mut connection = self.connection.lock().await;
            if let Some(database) = database {
                let quoted = format!("USE `{}`", database.replace('`', "``"));
                if connection.session.execute(&quoted).await.is_err() {
                    return Err(fatal(
                        "3D000",
                        format!("database \"{database}\" does not exist"),
                    ));
                }
            }
            if user.readonly {
                connection
                    .session
                    .execute("SET readonly = 1")
                    .await
                    .map_err(|error| errors::engine_error(&error))?;
            }
        }
        let _ = self.user.set(user.clone());
        let (pid, secret) = self
            .registry
            .register(Arc::clone(&self.running), &user.name);
        if self.pid.set(pid).is_err() {
            self.registry.unregister(pid);
        } else {
            client.set_pid_and_secret_key(pid, pgwire::messages::startup::SecretKey::I32(secret));
        }
        finish_authentication(client, &server_parameters()).await?;
        tracing::debug!(client = %client.socket_addr(), user = %user.name, "connected");
        Ok(())
    }

    /// One message of the SCRAM-SHA-256 exchange.
    async fn password_message<C>(
        &self,
        client: &mut C,
        message: PasswordMessageFamily,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let Some(mut login) = self.login.lock().await.take() else {
            return Err(fatal("08P01", "unexpected password message".to_string()));
        };
        let Some(secret) = login.user.secret.clone() else {
            return Err(fatal("08P01", "unexpected password message".to_string()));
        };
        let address = client.socket_addr().ip();
        let throttle = std::sync::Arc::clone(&self.users.throttle);
        let refused = async |error: ScramError, user: &str| match error {
            ScramError::Protocol(message) => fatal("08P01", message),
            ScramError::WrongPassword => {
                // Repeated failures from one address are answered ever more slowly.
                tokio::time::sleep(throttle.failed(address)).await;
                authentication_failed(user)
            }
        };
        match login.exchange.take() {
            None => {
                let initial = message.into_sasl_initial_response()?;
                if initial.auth_method != SCRAM_SHA_256 {
                    return Err(fatal(
                        "28000",
                        format!("SASL mechanism {} is not supported", initial.auth_method),
                    ));
                }
                let data = initial.data.unwrap_or_default();
                let (exchange, server_first) = match ScramExchange::start(&secret, &data) {
                    Ok(started) => started,
                    Err(error) => return Err(refused(error, &login.user.name).await),
                };
                login.exchange = Some(exchange);
                *self.login.lock().await = Some(login);
                client
                    .send(PgWireBackendMessage::Authentication(
                        Authentication::SASLContinue(server_first.into_bytes().into()),
                    ))
                    .await?;
                Ok(())
            }
            Some(exchange) => {
                let response = message.into_sasl_response()?;
                let server_final = match exchange.finish(&response.data) {
                    Ok(server_final) => server_final,
                    Err(error) => return Err(refused(error, &login.user.name).await),
                };
                self.users.throttle.succeeded(address);
                client
                    .send(PgWireBackendMessage::Authentication(
                        Authentication::SASLFinal(server_final.into_bytes().into()),
                    ))
                    .await?;
                self.admit(client, &login.user, login.database.as_deref())
                    .await
            }
        }
    }
}

/// The one SASL mechanism offered.
const SCRAM_SHA_256: &str = "SCRAM-SHA-256";

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
        let startup = match message {
            PgWireFrontendMessage::Startup(startup) => startup,
            PgWireFrontendMessage::PasswordMessageFamily(message) => {
                return self.password_message(client, message).await;
            }
            _ => return Ok(()),
        };
        protocol_negotiation(client, &startup).await?;
        save_startup_parameters_to_metadata(client, &startup);
        let name = startup.parameters.get("user").cloned().unwrap_or_default();
        let database = startup
            .parameters
            .get("database")
            .filter(|name| !name.is_empty())
            .cloned();
        // An unknown user gets a stand-in that fails at the end of the exchange as a wrong
        // password does: the answer never tells which names exist.
        let user = self
            .users
            .get(&name)
            .cloned()
            .unwrap_or_else(|| self.users.stand_in(&name));
        if user.secret.is_none() {
            return self.admit(client, &user, database.as_deref()).await;
        }
        *self.login.lock().await = Some(Login {
            user,
            database,
            exchange: None,
        });
        client.set_state(PgWireConnectionState::AuthenticationInProgress);
        client
            .send(PgWireBackendMessage::Authentication(Authentication::SASL(
                vec![SCRAM_SHA_256.to_string()],
            )))
            .await?;
        Ok(())
    }
}

#[async_trait]
impl SimpleQueryHandler for Handler {
    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        let statements = split_statements(query);
        if statements.is_empty() {
            return Ok(vec![Response::EmptyQuery]);
        }
        let mut responses = Vec::with_capacity(statements.len());
        let mut connection = self.connection.lock().await;
        let mut status = client.transaction_status();
        for statement in statements {
            let response = match self
                .simple_statement(&mut connection, &statement, &mut status)
                .await
            {
                Ok(response) => response,
                Err(PgWireError::UserError(info)) => Response::Error(info),
                Err(other) => return Err(other),
            };
            let stops = matches!(response, Response::Error(_) | Response::CopyIn(_));
            responses.push(response);
            // As PostgreSQL does, statements after a failed one in the same query do not run;
            // a COPY takes the connection until its data ends.
            if stops {
                break;
            }
        }
        Ok(responses)
    }
}

impl Handler {
    /// Runs one statement of a simple query; `status` is the transaction status as it stands
    /// after the statements before it.
    async fn simple_statement(
        &self,
        connection: &mut Connection,
        statement: &str,
        status: &mut TransactionStatus,
    ) -> PgWireResult<Response> {
        let kind = classify(statement, &self.settings)?;
        if *status == TransactionStatus::Error && !matches!(kind, StatementKind::Transaction(_)) {
            return Err(aborted_transaction());
        }
        let catalog = matches!(kind, StatementKind::Catalog(_));
        Ok(match kind {
            StatementKind::Empty => Response::EmptyQuery,
            StatementKind::Transaction(keyword) => {
                let (tag, next) = transaction(&keyword, *status);
                let starts = next == TransactionStatus::Transaction;
                *status = next;
                if starts {
                    Response::TransactionStart(Tag::new(tag))
                } else {
                    Response::TransactionEnd(Tag::new(tag))
                }
            }
            StatementKind::Copy(sql) => {
                let statement = granary_engine::postgres::copy::parse_copy(&sql)
                    .map_err(|error| errors::engine_error(&error))?;
                let inserter = connection
                    .session
                    .insert_into(
                        statement.database.as_deref(),
                        &statement.table,
                        &statement.columns,
                    )
                    .map_err(|error| errors::engine_error(&error))?;
                let copy = copy::CopyIn::new(&statement, inserter);
                let response = Response::CopyIn(copy.response());
                connection.copy = Some(copy);
                response
            }
            StatementKind::Deallocate(target) => Response::Execution(Tag::new(&deallocate(
                &mut connection.extended,
                target.as_deref(),
            )?)),
            StatementKind::Set | StatementKind::Show(_) => {
                match apply_setting(&self.settings, statement)? {
                    None => Response::Execution(Tag::new("SET")),
                    Some(value) => {
                        let StatementKind::Show(name) = classify(statement, &self.settings)? else {
                            return Err(errors::error("XX000", "a SHOW stopped being one"));
                        };
                        let columns = vec![rows::text_column(&name)];
                        let row = setting_row(&columns, &[FieldFormat::Text], value)?;
                        let fields = Arc::new(field_infos(&columns));
                        Response::Query(QueryResponse::new(fields, stream::iter(vec![Ok(row)])))
                    }
                }
            }
            StatementKind::Engine(sql) | StatementKind::Catalog(sql) => {
                let token = self.running.start();
                let timeout = self.settings.lock().statement_timeout();
                let session = &mut connection.session;
                session.set_statement_timeout(timeout);
                let context = self.pg_context();
                let result = if catalog {
                    tokio::select! {
                        result = session.execute_postgres(&sql, &context, &[]) => Some(result),
                        () = token.cancelled() => None,
                    }
                } else {
                    tokio::select! {
                        result = session.execute(&sql) => Some(result),
                        () = token.cancelled() => None,
                    }
                };
                match result {
                    None => return Err(cancelled()),
                    Some(Ok(result)) => respond(&sql, result, token)?,
                    Some(Err(error)) => Response::Error(Box::new(errors::error_info(&error))),
                }
            }
        })
    }
}

/// What a statement is to the front end.
#[derive(Debug, Clone)]
enum StatementKind {
    /// Nothing (only comments or blanks).
    Empty,
    /// `BEGIN`, `COMMIT`, `ROLLBACK` and their synonyms (the first word, upper-cased).
    Transaction(String),
    /// `COPY ... FROM STDIN`.
    Copy(String),
    /// `DEALLOCATE [PREPARE] name` (`None`: `ALL`).
    Deallocate(Option<String>),
    /// `SET`/`RESET` of a PostgreSQL setting kept here.
    Set,
    /// `SHOW` of a PostgreSQL setting: its name.
    Show(String),
    /// A query on PostgreSQL's catalogs (`pg_catalog`, `information_schema`), in PostgreSQL's
    /// dialect.
    Catalog(String),
    /// Anything else: the engine's.
    Engine(String),
}

/// What `sql` (one statement) is.
fn classify(sql: &str, settings: &settings::SharedSettings) -> PgWireResult<StatementKind> {
    let mut statements = split_statements(sql);
    if statements.len() > 1 {
        return Err(errors::error(
            "42601",
            "cannot insert multiple commands into a prepared statement",
        ));
    }
    let Some(statement) = statements.pop() else {
        return Ok(StatementKind::Empty);
    };
    let first = keyword(&statement);
    if matches!(
        first.as_str(),
        "BEGIN" | "START" | "COMMIT" | "END" | "ROLLBACK" | "ABORT"
    ) {
        return Ok(StatementKind::Transaction(first));
    }
    if first == "COPY" {
        return Ok(StatementKind::Copy(statement));
    }
    if first == "DEALLOCATE" {
        let words: Vec<&str> = statement.split_whitespace().skip(1).collect();
        let name = match words.as_slice() {
            [word] | ["PREPARE" | "prepare", word] if !word.eq_ignore_ascii_case("all") => {
                Some(word.trim_matches('"').to_string())
            }
            _ => None,
        };
        return Ok(StatementKind::Deallocate(name));
    }
    // A probe on a copy: classifying must not change the settings.
    let probe = settings.lock().clone().handle(&statement);
    Ok(match probe {
        Some(Ok(settings::Request::Show(name, _))) => StatementKind::Show(name),
        Some(_) => StatementKind::Set,
        None if granary_engine::postgres::is_catalog_query(&statement) => {
            StatementKind::Catalog(statement)
        }
        None => StatementKind::Engine(statement),
    })
}

/// The command tag of a transaction statement and the status after it. Each statement is atomic
/// on its own, so a block only tracks its status; `COMMIT` of a failed block is a `ROLLBACK`.
fn transaction(keyword: &str, status: TransactionStatus) -> (&'static str, TransactionStatus) {
    match keyword {
        "BEGIN" | "START" => ("BEGIN", status.to_in_transaction_state()),
        "COMMIT" | "END" if status != TransactionStatus::Error => {
            ("COMMIT", TransactionStatus::Idle)
        }
        _ => ("ROLLBACK", TransactionStatus::Idle),
    }
}

/// 0A000 for a COPY in the extended protocol.
fn copy_needs_simple_query() -> PgWireError {
    errors::error(
        "0A000",
        "COPY FROM STDIN is served in the simple query protocol only",
    )
}

#[async_trait]
impl CopyHandler for Handler {
    async fn on_copy_data<C>(&self, _client: &mut C, data: CopyData) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let mut connection = self.connection.lock().await;
        let Some(copy) = connection.copy.as_mut() else {
            return Ok(());
        };
        if let Err(error) = copy.data(&data.data).await {
            // The COPY ends here: the rest of its data is dropped, nothing more is written.
            connection.copy = None;
            return Err(error);
        }
        Ok(())
    }

    async fn on_copy_done<C>(&self, client: &mut C, _done: CopyDone) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let copy = self.connection.lock().await.copy.take();
        let Some(copy) = copy else {
            return Ok(());
        };
        let rows = copy.done().await?;
        client
            .send(PgWireBackendMessage::CommandComplete(
                Tag::new("COPY").with_rows(rows as usize).into(),
            ))
            .await?;
        Ok(())
    }

    async fn on_copy_fail<C>(&self, _client: &mut C, fail: CopyFail) -> PgWireError
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        self.connection.lock().await.copy = None;
        errors::error("57014", format!("COPY from stdin failed: {}", fail.message))
    }
}

/// 25P02: what a statement inside a failed transaction block gets.
fn aborted_transaction() -> PgWireError {
    errors::error(
        "25P02",
        "current transaction is aborted, commands ignored until end of transaction block",
    )
}

/// `DEALLOCATE`: its command tag, or 26000 for a statement that does not exist.
fn deallocate(extended: &mut extended::Extended, name: Option<&str>) -> PgWireResult<String> {
    if extended.deallocate(name) {
        Ok(if name.is_some() {
            "DEALLOCATE".to_string()
        } else {
            "DEALLOCATE ALL".to_string()
        })
    } else {
        Err(errors::error(
            "26000",
            format!(
                "prepared statement \"{}\" does not exist",
                name.unwrap_or_default()
            ),
        ))
    }
}

/// Applies a `SET`/`RESET`/`SHOW` of a PostgreSQL setting; the value for `SHOW`.
fn apply_setting(settings: &settings::SharedSettings, sql: &str) -> PgWireResult<Option<String>> {
    let handled = settings.lock().handle(sql);
    match handled {
        Some(Ok(settings::Request::Set)) => Ok(None),
        Some(Ok(settings::Request::Show(_, value))) => Ok(Some(value)),
        Some(Err(refusal)) => Err(errors::error(refusal.sqlstate, refusal.message)),
        None => Err(errors::error("XX000", "not a setting statement")),
    }
}

/// The one row of a `SHOW`.
fn setting_row(
    columns: &[rows::Column],
    formats: &[FieldFormat],
    value: String,
) -> PgWireResult<pgwire::messages::data::DataRow> {
    let batch = arrow_array::RecordBatch::try_from_iter([(
        "value",
        Arc::new(arrow_array::StringArray::from(vec![value])) as arrow_array::ArrayRef,
    )])
    .map_err(|e| errors::error("XX000", e.to_string()))?;
    let mut rows = rows::data_rows(&batch, columns, formats)
        .map_err(|refusal| errors::error(refusal.sqlstate, refusal.message))?;
    rows.pop()
        .ok_or_else(|| errors::error("XX000", "a SHOW without its row"))
}

/// pgwire's descriptions of result columns (for the simple protocol's responses).
fn field_infos(columns: &[rows::Column]) -> Vec<FieldInfo> {
    columns
        .iter()
        .map(|column| {
            FieldInfo::new(
                column.name.clone(),
                None,
                None,
                column.pg_type.clone(),
                FieldFormat::Text,
            )
        })
        .collect()
}

/// The statements of a simple query, split at top-level semicolons, each exactly as written;
/// those with nothing but whitespace and comments are dropped.
fn split_statements(query: &str) -> Vec<String> {
    let Ok(tokens) = Tokenizer::new(&ClickHouseDialect {}, query).tokenize_with_location() else {
        // The engine reports the syntax error of the whole text.
        return vec![query.to_string()];
    };
    // Byte offsets of the lines' starts: token locations are (line, character) pairs.
    let line_starts: Vec<usize> = std::iter::once(0)
        .chain(query.match_indices('\n').map(|(at, _)| at + 1))
        .collect();
    let offset = |line: u64, column: u64| -> usize {
        let line_start = usize::try_from(line.saturating_sub(1))
            .ok()
            .and_then(|line| line_starts.get(line))
            .copied()
            .unwrap_or(query.len());
        let column = usize::try_from(column.saturating_sub(1)).unwrap_or(usize::MAX);
        query[line_start..]
            .char_indices()
            .nth(column)
            .map_or(query.len(), |(at, _)| line_start + at)
    };
    let mut statements = Vec::new();
    let mut start = 0;
    let mut has_code = false;
    for token in tokens {
        match token.token {
            Token::SemiColon => {
                let at = offset(token.span.start.line, token.span.start.column);
                if has_code {
                    statements.push(query[start..at].trim().to_string());
                }
                start = at + 1;
                has_code = false;
            }
            Token::Whitespace(_) => {}
            _ => has_code = true,
        }
    }
    if has_code {
        statements.push(query[start..].trim().to_string());
    }
    statements
}

/// The first word of a statement, upper-cased.
fn keyword(statement: &str) -> String {
    statement
        .split(|c: char| c.is_whitespace() || c == '(')
        .find(|word| !word.is_empty())
        .unwrap_or("")
        .to_ascii_uppercase()
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

/// The response to an executed statement: its rows as they stream (until `token` cancels
/// them), or its command tag.
fn respond(
    statement: &str,
    result: QueryResult,
    token: tokio_util::sync::CancellationToken,
) -> PgWireResult<Response> {
    let schema = result.schema();
    if schema.fields().is_empty() {
        return Ok(Response::Execution(command_tag(statement, &result)));
    }
    let columns = rows::columns(&schema).map_err(|error| errors::engine_error(&error))?;
    let fields = Arc::new(field_infos(&columns));
    let formats = vec![FieldFormat::Text; columns.len()];
    let rows = result
        .map(move |batch| -> Vec<PgWireResult<_>> {
            let batch = match batch {
                Ok(batch) => batch,
                Err(error) => return vec![Err(errors::engine_error(&error))],
            };
            match rows::data_rows(&batch, &columns, &formats) {
                Ok(rows) => rows.into_iter().map(Ok).collect(),
                Err(refusal) => vec![Err(errors::error(refusal.sqlstate, refusal.message))],
            }
        })
        .flat_map(stream::iter);
    let rows = stream::unfold(
        (Box::pin(rows), token, false),
        |(mut rows, token, ended)| async move {
            if ended {
                return None;
            }
            tokio::select! {
                biased;
                () = token.cancelled() => Some((Err(cancelled()), (rows, token, true))),
                row = rows.next() => row.map(|row| (row, (rows, token, false))),
            }
        },
    );
    Ok(Response::Query(QueryResponse::new(fields, rows)))
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
        // Strings keep their escapes; a comment after the last statement is not one.
        let query = "SELECT 'it''s', '\\\\1', 'é;\\''\n;\nSELECT 2; -- done";
        assert_eq!(
            split_statements(query),
            vec![
                "SELECT 'it''s', '\\\\1', 'é;\\''".to_string(),
                "SELECT 2".to_string()
            ]
        );
    }
}
