//! The extended query protocol: `Parse`, `Bind`, `Describe`, `Execute`, `Close`, `Flush` and
//! `Sync` over named and unnamed statements and portals.
//!
//! * `Parse` asks the engine what the statement's `$n` take and what it returns
//!   ([`granary_engine::Session::prepare`]); the parameter types are the client's where it declared
//!   them, else those their places imply, else `text`.
//! * `Bind` reads each parameter in its format ([`super::parameters`]); the wrong number of them
//!   is 08P01.
//! * `Execute` with a row limit sends at most that many rows and `PortalSuspended`; the next
//!   `Execute` of the portal goes on from there. Rows are encoded batch by batch as the engine
//!   produces them, never the whole result at once.
//! * The unnamed statement lives until the next `Parse("")`, the unnamed portal until the next
//!   `Bind` to it or `Sync`; named portals survive `Sync` inside a transaction block and are
//!   dropped at `Sync` outside one; named statements live until `Close` or `DEALLOCATE`.

use std::collections::{HashMap, VecDeque};
use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use futures::{Sink, SinkExt, StreamExt};
use granary_engine::{Parameter, QueryResult};
use granary_protocol::DataType;
use pgwire::api::portal::Portal as PgwirePortal;
use pgwire::api::results::{DescribePortalResponse, DescribeStatementResponse, FieldFormat, Tag};
use pgwire::api::stmt::{QueryParser, StoredStatement};
use pgwire::api::store::PortalStore;
use pgwire::api::{ClientInfo, ClientPortalStore, Type};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use pgwire::messages::data::{NoData, ParameterDescription};
use pgwire::messages::extendedquery::{
    Bind, BindComplete, Close, CloseComplete, Describe, Execute, Flush, Parse, ParseComplete,
    PortalSuspended, Sync as PgSync, TARGET_TYPE_BYTE_PORTAL, TARGET_TYPE_BYTE_STATEMENT,
};
use pgwire::messages::response::{EmptyQueryResponse, ReadyForQuery, TransactionStatus};
use tokio_util::sync::CancellationToken;

use super::errors::{engine_error, error};
use super::parameters::{Slot, parameter};
use super::rows::{self, Column};
use super::{Connection, Handler, StatementKind, classify, command_tag, types};

/// The named and unnamed statements and portals of one connection.
#[derive(Default)]
pub struct Extended {
    statements: HashMap<String, Arc<PreparedStatement>>,
    portals: HashMap<String, Portal>,
}

impl Debug for Extended {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Extended")
            .field("statements", &self.statements.len())
            .field("portals", &self.portals.len())
            .finish()
    }
}

impl Extended {
    /// `DEALLOCATE name` (`None`: `DEALLOCATE ALL`); false when there is no such statement.
    pub fn deallocate(&mut self, name: Option<&str>) -> bool {
        match name {
            Some(name) => self.statements.remove(name).is_some(),
            None => {
                self.statements.clear();
                true
            }
        }
    }
}

/// A parsed statement.
struct PreparedStatement {
    sql: String,
    kind: StatementKind,
    /// Each parameter's type as described to the client.
    parameter_types: Vec<Type>,
    /// The ClickHouse type each parameter's place implies.
    targets: Vec<Option<DataType>>,
    /// The result columns; `None` for statements without rows.
    columns: Option<Arc<Vec<Column>>>,
}

/// A statement bound to parameter values, and how far its execution got.
struct Portal {
    statement: Arc<PreparedStatement>,
    parameters: Vec<Parameter>,
    /// The format of each result column.
    formats: Vec<FieldFormat>,
    state: PortalState,
}

enum PortalState {
    Ready,
    Streaming(Box<Streaming>),
    Done,
}

/// A running query whose rows are being sent.
struct Streaming {
    result: QueryResult,
    columns: Arc<Vec<Column>>,
    pending: VecDeque<pgwire::messages::data::DataRow>,
}

/// The format of each of `count` columns from `Bind`'s result format codes.
fn result_formats(codes: &[i16], count: usize) -> PgWireResult<Vec<FieldFormat>> {
    match codes {
        [] => Ok(vec![FieldFormat::Text; count]),
        [code] => Ok(vec![FieldFormat::from(*code); count]),
        codes if codes.len() == count => Ok(codes.iter().map(|c| FieldFormat::from(*c)).collect()),
        codes => Err(error(
            "08P01",
            format!(
                "bind message has {} result formats but query has {count} columns",
                codes.len()
            ),
        )),
    }
}

fn name_of(name: &Option<String>) -> String {
    name.clone().unwrap_or_default()
}

impl Handler {
    async fn parse(&self, message: Parse) -> PgWireResult<()> {
        let mut connection = self.connection.lock().await;
        let name = name_of(&message.name);
        if !name.is_empty() && connection.extended.statements.contains_key(&name) {
            return Err(error(
                "42P05",
                format!("prepared statement \"{name}\" already exists"),
            ));
        }
        let kind = classify(&message.query, &self.settings)?;
        if matches!(kind, StatementKind::Copy(_)) {
            return Err(super::copy_needs_simple_query());
        }
        let declared: Vec<Option<Type>> = message
            .type_oids
            .iter()
            .map(|oid| Type::from_oid(*oid).filter(|_| *oid != 0))
            .collect();
        let (targets, written, columns) = match &kind {
            StatementKind::Engine(_) | StatementKind::Catalog(_) => {
                let prepared = match &kind {
                    StatementKind::Catalog(sql) => {
                        connection
                            .session
                            .prepare_postgres(sql, &self.pg_context())
                            .await
                    }
                    StatementKind::Engine(sql) => connection.session.prepare(sql).await,
                    _ => return Err(error("XX000", "a prepared statement changed its kind")),
                }
                .map_err(|e| engine_error(&e))?;
                let columns = match prepared.columns {
                    Some(schema) => Some(Arc::new(
                        rows::columns(&schema).map_err(|e| engine_error(&e))?,
                    )),
                    None => None,
                };
                (prepared.parameters, prepared.pg_parameter_types, columns)
            }
            StatementKind::Show(setting) => (
                Vec::new(),
                Vec::new(),
                Some(Arc::new(vec![rows::text_column(setting)])),
            ),
            _ => (Vec::new(), Vec::new(), None),
        };
        if declared.len() > targets.len() && !matches!(kind, StatementKind::Engine(_)) {
            return Err(error(
                "08P01",
                "parameters were declared for a statement that takes none",
            ));
        }
        let count = targets.len().max(declared.len());
        let parameter_types = (0..count)
            .map(|index| {
                // As the client declared it, else as the text casts it, else as its place
                // implies.
                declared
                    .get(index)
                    .cloned()
                    .flatten()
                    .or_else(|| {
                        written
                            .get(index)
                            .copied()
                            .flatten()
                            .and_then(Type::from_oid)
                    })
                    .or_else(|| {
                        targets
                            .get(index)
                            .cloned()
                            .flatten()
                            .map(|t| types::pg_type(&t))
                    })
                    .unwrap_or(Type::TEXT)
            })
            .collect();
        let statement = PreparedStatement {
            sql: message.query,
            kind,
            parameter_types,
            targets,
            columns,
        };
        connection
            .extended
            .statements
            .insert(name, Arc::new(statement));
        Ok(())
    }

    async fn bind(&self, message: Bind) -> PgWireResult<()> {
        let mut connection = self.connection.lock().await;
        let statement_name = name_of(&message.statement_name);
        let statement = connection
            .extended
            .statements
            .get(&statement_name)
            .cloned()
            .ok_or_else(|| {
                error(
                    "26000",
                    format!("prepared statement \"{statement_name}\" does not exist"),
                )
            })?;
        let portal_name = name_of(&message.portal_name);
        if !portal_name.is_empty() && connection.extended.portals.contains_key(&portal_name) {
            return Err(error(
                "42P03",
                format!("cursor \"{portal_name}\" already exists"),
            ));
        }
        let expected = statement.parameter_types.len();
        if message.parameters.len() != expected {
            return Err(error(
                "08P01",
                format!(
                    "bind message supplies {} parameters, but prepared statement \"{statement_name}\" requires {expected}",
                    message.parameters.len()
                ),
            ));
        }
        let codes = &message.parameter_format_codes;
        if codes.len() > 1 && codes.len() != expected {
            return Err(error(
                "08P01",
                format!(
                    "bind message has {} parameter formats but {expected} parameters",
                    codes.len()
                ),
            ));
        }
        let parameters = message
            .parameters
            .iter()
            .enumerate()
            .map(|(index, bytes)| {
                let code = match codes.as_slice() {
                    [] => 0,
                    [code] => *code,
                    codes => codes[index],
                };
                parameter(&Slot {
                    bytes: bytes.as_ref(),
                    binary: code == 1,
                    pg_type: &statement.parameter_types[index],
                    target: statement.targets.get(index).and_then(Option::as_ref),
                })
                .map_err(|refusal| error(refusal.sqlstate, refusal.message))
            })
            .collect::<PgWireResult<Vec<_>>>()?;
        let column_count = statement
            .columns
            .as_ref()
            .map_or(0, |columns| columns.len());
        let formats = result_formats(&message.result_column_format_codes, column_count)?;
        connection.extended.portals.insert(
            portal_name,
            Portal {
                statement,
                parameters,
                formats,
                state: PortalState::Ready,
            },
        );
        Ok(())
    }

    async fn describe<C>(&self, client: &mut C, message: Describe) -> PgWireResult<()>
    where
        C: Sink<PgWireBackendMessage> + Unpin + Send,
        PgWireError: From<C::Error>,
    {
        let connection = self.connection.lock().await;
        let name = name_of(&message.name);
        let (columns, formats) = match message.target_type {
            TARGET_TYPE_BYTE_STATEMENT => {
                let statement = connection.extended.statements.get(&name).ok_or_else(|| {
                    error(
                        "26000",
                        format!("prepared statement \"{name}\" does not exist"),
                    )
                })?;
                let oids = statement.parameter_types.iter().map(Type::oid).collect();
                client
                    .feed(PgWireBackendMessage::ParameterDescription(
                        ParameterDescription::new(oids),
                    ))
                    .await?;
                let count = statement.columns.as_ref().map_or(0, |c| c.len());
                (statement.columns.clone(), vec![FieldFormat::Text; count])
            }
            TARGET_TYPE_BYTE_PORTAL => {
                let portal =
                    connection.extended.portals.get(&name).ok_or_else(|| {
                        error("34000", format!("portal \"{name}\" does not exist"))
                    })?;
                (portal.statement.columns.clone(), portal.formats.clone())
            }
            other => {
                return Err(error(
                    "08P01",
                    format!("invalid DESCRIBE message subtype {other}"),
                ));
            }
        };
        let message = match columns {
            Some(columns) => {
                PgWireBackendMessage::RowDescription(rows::row_description(&columns, &formats))
            }
            None => PgWireBackendMessage::NoData(NoData::new()),
        };
        client.feed(message).await?;
        Ok(())
    }

    async fn execute<C>(&self, client: &mut C, message: Execute) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send,
        PgWireError: From<C::Error>,
    {
        let token = self.running.start();
        let result = self.execute_portal(client, message, &token).await;
        self.running.finish();
        result
    }

    /// `Execute` of a portal, stopped with 57014 when `token` is cancelled.
    async fn execute_portal<C>(
        &self,
        client: &mut C,
        message: Execute,
        token: &CancellationToken,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send,
        PgWireError: From<C::Error>,
    {
        let mut guard = self.connection.lock().await;
        let connection: &mut Connection = &mut guard;
        let name = name_of(&message.name);
        let Some(portal) = connection.extended.portals.get_mut(&name) else {
            return Err(error("34000", format!("portal \"{name}\" does not exist")));
        };
        let max_rows = usize::try_from(message.max_rows).unwrap_or(0);
        if matches!(portal.state, PortalState::Ready) {
            let status = client.transaction_status();
            let statement = Arc::clone(&portal.statement);
            if status == TransactionStatus::Error
                && !matches!(statement.kind, StatementKind::Transaction(_))
            {
                portal.state = PortalState::Done;
                return Err(super::aborted_transaction());
            }
            match &statement.kind {
                StatementKind::Empty => {
                    portal.state = PortalState::Done;
                    client
                        .feed(PgWireBackendMessage::EmptyQueryResponse(
                            EmptyQueryResponse::new(),
                        ))
                        .await?;
                    return Ok(());
                }
                StatementKind::Transaction(keyword) => {
                    portal.state = PortalState::Done;
                    let (tag, status) = super::transaction(keyword, status);
                    client.set_transaction_status(status);
                    client
                        .feed(PgWireBackendMessage::CommandComplete(Tag::new(tag).into()))
                        .await?;
                    return Ok(());
                }
                StatementKind::Copy(_) => {
                    portal.state = PortalState::Done;
                    return Err(super::copy_needs_simple_query());
                }
                StatementKind::Deallocate(target) => {
                    portal.state = PortalState::Done;
                    let tag = super::deallocate(&mut connection.extended, target.as_deref())?;
                    client
                        .feed(PgWireBackendMessage::CommandComplete(Tag::new(&tag).into()))
                        .await?;
                    return Ok(());
                }
                StatementKind::Set | StatementKind::Show(_) => {
                    portal.state = PortalState::Done;
                    let sql = statement.sql.clone();
                    let formats = portal.formats.clone();
                    let shown = super::apply_setting(&self.settings, &sql)?;
                    let tag = match shown {
                        Some(value) => {
                            let columns = statement.columns.clone().unwrap_or_default();
                            let row = super::setting_row(&columns, &formats, value)?;
                            client.feed(PgWireBackendMessage::DataRow(row)).await?;
                            Tag::new("SHOW")
                        }
                        None => Tag::new("SET"),
                    };
                    client
                        .feed(PgWireBackendMessage::CommandComplete(tag.into()))
                        .await?;
                    return Ok(());
                }
                StatementKind::Engine(sql) | StatementKind::Catalog(sql) => {
                    let context = self.pg_context();
                    let timeout = self.settings.lock().statement_timeout();
                    let session = &mut connection.session;
                    session.set_statement_timeout(timeout);
                    let result = if matches!(statement.kind, StatementKind::Catalog(_)) {
                        tokio::select! {
                            result = session.execute_postgres(sql, &context, &portal.parameters) => Some(result),
                            () = token.cancelled() => None,
                        }
                    } else {
                        tokio::select! {
                            result = session.execute_with(sql, &portal.parameters) => Some(result),
                            () = token.cancelled() => None,
                        }
                    };
                    let result = match result {
                        Some(Ok(result)) => result,
                        Some(Err(e)) => {
                            portal.state = PortalState::Done;
                            return Err(engine_error(&e));
                        }
                        None => {
                            portal.state = PortalState::Done;
                            return Err(super::cancelled());
                        }
                    };
                    if result.schema().fields().is_empty() {
                        portal.state = PortalState::Done;
                        let tag = command_tag(sql, &result);
                        client
                            .feed(PgWireBackendMessage::CommandComplete(tag.into()))
                            .await?;
                        return Ok(());
                    }
                    let columns = match rows::columns(&result.schema()) {
                        Ok(columns) => Arc::new(columns),
                        Err(e) => {
                            portal.state = PortalState::Done;
                            return Err(engine_error(&e));
                        }
                    };
                    if let Some(described) = &statement.columns {
                        let same = described.len() == columns.len()
                            && described
                                .iter()
                                .zip(columns.iter())
                                .all(|(a, b)| a.pg_type == b.pg_type);
                        if !same {
                            portal.state = PortalState::Done;
                            return Err(error(
                                "XX000",
                                "the result's column types differ from those described at Parse; \
                                 give the parameters explicit types (CAST($1 AS T))",
                            ));
                        }
                    }
                    if portal.formats.len() != columns.len() {
                        portal.formats = vec![FieldFormat::Text; columns.len()];
                    }
                    portal.state = PortalState::Streaming(Box::new(Streaming {
                        result,
                        columns,
                        pending: VecDeque::new(),
                    }));
                }
            }
        }
        let PortalState::Streaming(streaming) = &mut portal.state else {
            // PostgreSQL answers an exhausted portal with an empty completion.
            client
                .feed(PgWireBackendMessage::CommandComplete(
                    Tag::new("SELECT").with_rows(0).into(),
                ))
                .await?;
            return Ok(());
        };
        let mut sent = 0;
        loop {
            if max_rows > 0 && sent == max_rows {
                client
                    .feed(PgWireBackendMessage::PortalSuspended(PortalSuspended::new()))
                    .await?;
                return Ok(());
            }
            if let Some(row) = streaming.pending.pop_front() {
                client.feed(PgWireBackendMessage::DataRow(row)).await?;
                sent += 1;
                continue;
            }
            let next = tokio::select! {
                next = streaming.result.next() => next,
                () = token.cancelled() => {
                    portal.state = PortalState::Done;
                    return Err(super::cancelled());
                }
            };
            match next {
                Some(Ok(batch)) => {
                    match rows::data_rows(&batch, &streaming.columns, &portal.formats) {
                        Ok(encoded) => streaming.pending.extend(encoded),
                        Err(refusal) => {
                            portal.state = PortalState::Done;
                            return Err(error(refusal.sqlstate, refusal.message));
                        }
                    }
                }
                Some(Err(e)) => {
                    portal.state = PortalState::Done;
                    return Err(engine_error(&e));
                }
                None => {
                    portal.state = PortalState::Done;
                    client
                        .feed(PgWireBackendMessage::CommandComplete(
                            Tag::new("SELECT").with_rows(sent).into(),
                        ))
                        .await?;
                    return Ok(());
                }
            }
        }
    }

    async fn close(&self, message: Close) {
        let mut connection = self.connection.lock().await;
        let name = name_of(&message.name);
        // Closing what does not exist is not an error.
        match message.target_type {
            TARGET_TYPE_BYTE_STATEMENT => {
                connection.extended.statements.remove(&name);
            }
            TARGET_TYPE_BYTE_PORTAL => {
                connection.extended.portals.remove(&name);
            }
            _ => {}
        }
    }

    async fn sync(&self, in_block: bool) {
        let mut connection = self.connection.lock().await;
        if in_block {
            connection.extended.portals.remove("");
        } else {
            connection.extended.portals.clear();
        }
    }
}

/// What pgwire's own statement store would hold; Granary keeps statements itself
/// ([`Extended`]), so this only satisfies the trait.
#[derive(Debug)]
pub struct SqlText;

#[async_trait]
impl QueryParser for SqlText {
    type Statement = String;

    async fn parse_sql<C>(
        &self,
        _client: &C,
        sql: &str,
        _types: &[Option<Type>],
    ) -> PgWireResult<String>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        Ok(sql.to_string())
    }
}

fn served_elsewhere() -> PgWireError {
    error(
        "XX000",
        "internal: the extended protocol is served by Granary's own handlers",
    )
}

#[async_trait]
impl pgwire::api::query::ExtendedQueryHandler for Handler {
    type Statement = String;
    type QueryParser = SqlText;

    fn query_parser(&self) -> Arc<SqlText> {
        Arc::new(SqlText)
    }

    async fn on_parse<C>(&self, client: &mut C, message: Parse) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        self.parse(message).await?;
        client
            .feed(PgWireBackendMessage::ParseComplete(ParseComplete::new()))
            .await?;
        Ok(())
    }

    async fn on_bind<C>(&self, client: &mut C, message: Bind) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        self.bind(message).await?;
        client
            .feed(PgWireBackendMessage::BindComplete(BindComplete::new()))
            .await?;
        Ok(())
    }

    async fn on_execute<C>(&self, client: &mut C, message: Execute) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        self.execute(client, message).await
    }

    async fn on_describe<C>(&self, client: &mut C, message: Describe) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        self.describe(client, message).await
    }

    async fn on_flush<C>(&self, client: &mut C, _message: Flush) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        client.flush().await?;
        Ok(())
    }

    async fn on_sync<C>(&self, client: &mut C, _message: PgSync) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let status = client.transaction_status();
        self.sync(status != TransactionStatus::Idle).await;
        client
            .send(PgWireBackendMessage::ReadyForQuery(ReadyForQuery::new(
                status,
            )))
            .await?;
        Ok(())
    }

    async fn on_close<C>(&self, client: &mut C, message: Close) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        self.close(message).await;
        client
            .feed(PgWireBackendMessage::CloseComplete(CloseComplete::new()))
            .await?;
        Ok(())
    }

    async fn do_describe_statement<C>(
        &self,
        _client: &mut C,
        _target: &StoredStatement<Self::Statement>,
    ) -> PgWireResult<DescribeStatementResponse>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        Err(served_elsewhere())
    }

    async fn do_describe_portal<C>(
        &self,
        _client: &mut C,
        _target: &PgwirePortal<Self::Statement>,
    ) -> PgWireResult<DescribePortalResponse>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        Err(served_elsewhere())
    }

    async fn do_query<C>(
        &self,
        _client: &mut C,
        _portal: &PgwirePortal<Self::Statement>,
        _max_rows: usize,
    ) -> PgWireResult<pgwire::api::results::Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        Err(served_elsewhere())
    }
}
