//! The embedded database: `Database::open(path)`, `execute(sql)` streaming Arrow batches, and
//! `insert(table, batches, options)` for bulk inserts. Front ends (the server) and tests use this
//! API and nothing below it.

use std::collections::BTreeMap;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use arrow_array::{ArrayRef, RecordBatch, StringArray, UInt8Array};
use arrow_schema::{Schema, SchemaRef};
use datafusion::dataframe::DataFrame;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::execution::session_state::SessionState;
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::{Expr, Statement as SqlStatement};
use futures::{FutureExt, Stream, StreamExt};
use granary_protocol::types::field_for;
use granary_protocol::{DataType, ErrorCode};

use crate::catalog::{Catalog, DEFAULT_DATABASE, SYSTEM_DATABASE, Table};
use crate::error::{Error, Result};
use crate::exec::insert::{prepare_block, target_columns};
use crate::exec::limits::QueryLimits;
use crate::exec::scan::QueryStats;
use crate::exec::session::{functions_state, query_state};
use crate::functions::type_name::clickhouse_type;
use crate::sql::parameters::{self, Parameter};
use crate::sql::parser::{parse_statement, setting_value};
use crate::sql::rewrite::{REPEATED_NAME, rewrite};
use crate::sql::statement::{Insert, InsertSource, PartitionSpec, Statement, TableName};
use crate::storage::dedup::BlockId;
use crate::storage::merge::{MergeScheduler, SchedulerSettings};
use crate::storage::partition::partition_id;

/// Rows per block written by `INSERT ... SELECT` and by large API inserts (ClickHouse's
/// `max_insert_block_size`).
const MAX_INSERT_BLOCK_ROWS: usize = 1_048_576;

/// How to open a database.
#[derive(Debug, Clone)]
pub struct DatabaseOptions {
    /// Run background merges (off: parts merge only at OPTIMIZE).
    pub background_merges: bool,
    /// The merge scheduler's settings.
    pub merges: SchedulerSettings,
    /// `max_server_memory_usage`: what all queries together may hold, in bytes (0: 90% of the
    /// machine's memory, ClickHouse's default share).
    pub max_server_memory_usage: usize,
    /// The default `max_memory_usage` of a query, in bytes (0: half the machine's memory); a
    /// session's or statement's setting overrides it (0 there: only the server's bound).
    pub max_memory_usage: usize,
}

impl Default for DatabaseOptions {
    fn default() -> Self {
        DatabaseOptions {
            background_merges: true,
            merges: SchedulerSettings::default(),
            max_server_memory_usage: 0,
            max_memory_usage: 0,
        }
    }
}

/// Options of one insert.
#[derive(Debug, Clone, Default)]
pub struct InsertOptions {
    /// `insert_deduplication_token`: a repeated token makes the insert a no-op that succeeds.
    pub dedup_token: Option<String>,
}

/// What an insert did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InsertSummary {
    /// Rows written (0 for a deduplicated insert).
    pub rows: u64,
    /// Parts written.
    pub parts: Vec<String>,
    /// Blocks skipped as duplicates.
    pub deduplicated_blocks: usize,
}

/// An open data directory.
#[derive(Debug, Clone)]
pub struct Database {
    catalog: Arc<Catalog>,
    state: SessionState,
    /// What every query's memory pool draws from (`max_server_memory_usage`).
    memory: Arc<crate::exec::memory::ServerMemory>,
    /// A query's `max_memory_usage` when its session sets none.
    query_memory: usize,
}

impl Database {
    /// Opens (creating if needed) the data directory at `path`, with background merges.
    pub fn open(path: impl AsRef<Path>) -> Result<Database> {
        Database::open_with(path, DatabaseOptions::default())
    }

    /// Opens the data directory at `path` with `options`.
    pub fn open_with(path: impl AsRef<Path>, options: DatabaseOptions) -> Result<Database> {
        let merges = options
            .background_merges
            .then(|| MergeScheduler::start(options.merges.clone()));
        let catalog = Arc::new(Catalog::open(path.as_ref(), functions_state(), merges)?);
        let state = query_state(Arc::clone(&catalog));
        let machine = crate::exec::memory::physical_memory();
        let server_limit = match options.max_server_memory_usage {
            0 => machine / 10 * 9,
            limit => limit,
        };
        let query_limit = match options.max_memory_usage {
            0 => machine / 2,
            limit => limit,
        };
        Ok(Database {
            catalog,
            state,
            memory: crate::exec::memory::ServerMemory::new(server_limit),
            query_memory: query_limit,
        })
    }

    /// The catalog (databases and tables).
    pub fn catalog(&self) -> &Arc<Catalog> {
        &self.catalog
    }

    /// A session in the `default` database.
    pub fn session(&self) -> Session {
        Session {
            database: self.clone(),
            current_database: DEFAULT_DATABASE.to_string(),
            settings: BTreeMap::new(),
            statement_timeout: None,
        }
    }

    /// Runs one statement in a fresh session.
    pub async fn execute(&self, sql: &str) -> Result<QueryResult> {
        self.session().execute(sql).await
    }

    /// Inserts Arrow batches into `table` (`db.table` or a table of `default`), columns matched by
    /// name; omitted columns get their defaults. The batches form one insert: with a dedup token,
    /// block `i` of it is deduplicated by the token (and `_i` for i > 0), as ClickHouse does.
    pub async fn insert(
        &self,
        table: &str,
        batches: Vec<RecordBatch>,
        options: InsertOptions,
    ) -> Result<InsertSummary> {
        let name = match table.split_once('.') {
            Some((database, table)) => TableName {
                database: Some(database.to_string()),
                table: table.to_string(),
            },
            None => TableName {
                database: None,
                table: table.to_string(),
            },
        };
        let session = self.session();
        let table = session.table(&name)?;
        let mut writer = BlockWriter::new(self.clone(), table, None, true, options.dedup_token);
        for batch in batches {
            writer.push(batch).await?;
        }
        writer.finish().await
    }
}

/// An insert fed batch by batch as the data arrives (PostgreSQL's COPY): the batches are gathered
/// into blocks like any insert's (one part per block of up to a million rows), and nothing is
/// written before [`Inserter::finish`] unless a block fills.
pub struct Inserter {
    writer: BlockWriter,
    columns: Vec<(String, DataType)>,
}

impl std::fmt::Debug for Inserter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inserter")
            .field("columns", &self.columns)
            .finish_non_exhaustive()
    }
}

impl Inserter {
    /// The columns each batch holds, in order, with their types.
    pub fn columns(&self) -> &[(String, DataType)] {
        &self.columns
    }

    /// Adds a batch whose columns are [`Inserter::columns`] in order (any Arrow types the
    /// columns' types can be read from, such as text).
    pub async fn push(&mut self, batch: RecordBatch) -> Result<()> {
        if batch.num_columns() != self.columns.len() {
            return Err(Error::query(
                ErrorCode::NUMBER_OF_COLUMNS_DOESNT_MATCH,
                format!(
                    "{} values for {} columns",
                    batch.num_columns(),
                    self.columns.len()
                ),
            ));
        }
        guarded(self.writer.push(batch)).await
    }

    /// Writes `batch` as one block of the insert, now: one part per partition, deduplicated by
    /// its own block id (the native protocol's INSERT, where each client block is a unit). Its
    /// columns are matched to [`Inserter::columns`] by name; omitted ones get their defaults.
    pub async fn write_block(&mut self, batch: RecordBatch) -> Result<()> {
        for field in batch.schema().fields() {
            if !self.columns.iter().any(|(name, _)| name == field.name()) {
                return Err(Error::query(
                    ErrorCode::NO_SUCH_COLUMN_IN_TABLE,
                    format!("no such column {} in the INSERT's columns", field.name()),
                ));
            }
        }
        guarded(async {
            self.writer.push(batch).await?;
            self.writer.flush().await
        })
        .await
    }

    /// Writes what is gathered.
    pub async fn finish(self) -> Result<InsertSummary> {
        guarded(self.writer.finish()).await
    }
}

/// What [`Session::prepare`] learns of a statement without running it.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The type each `$n` parameter's place implies; `None` where nothing does.
    pub parameters: Vec<Option<DataType>>,
    /// The PostgreSQL type (OID) a catalog query's text gives a parameter (`$1::oid[]`),
    /// which clients expect back as written; empty for other statements.
    pub pg_parameter_types: Vec<Option<u32>>,
    /// The result columns, for statements that return rows.
    pub columns: Option<SchemaRef>,
}

/// A connection's state: the current database and its settings.
#[derive(Debug, Clone)]
pub struct Session {
    database: Database,
    current_database: String,
    settings: BTreeMap<String, String>,
    /// PostgreSQL's `statement_timeout`, which the PostgreSQL front end keeps.
    statement_timeout: Option<std::time::Duration>,
}

impl Session {
    /// The current database.
    pub fn current_database(&self) -> &str {
        &self.current_database
    }

    /// A session setting set with `SET`.
    pub fn setting(&self, name: &str) -> Option<&str> {
        self.settings.get(name).map(String::as_str)
    }

    /// Sets `name` for the following statements as `SET name = value` does (refused in
    /// read-only sessions as SET is); `None` removes it. The native protocol's per-query settings
    /// go through here.
    pub fn set_setting(&mut self, name: &str, value: Option<&str>) -> Result<()> {
        let readonly = self.readonly();
        if readonly == 1 || (readonly == 2 && name == "readonly") {
            return Err(Error::query(
                ErrorCode::READONLY,
                format!("cannot modify setting {name} in readonly mode"),
            ));
        }
        match value {
            Some(value) => self.settings.insert(name.to_string(), value.to_string()),
            None => self.settings.remove(name),
        };
        Ok(())
    }

    fn resolve(&self, name: &TableName) -> (String, String) {
        (
            name.database
                .clone()
                .unwrap_or_else(|| self.current_database.clone()),
            name.table.clone(),
        )
    }

    fn table(&self, name: &TableName) -> Result<Arc<Table>> {
        let (database, table) = self.resolve(name);
        if database == SYSTEM_DATABASE {
            return Err(Error::query(
                ErrorCode::NOT_IMPLEMENTED,
                "system tables are read-only",
            ));
        }
        self.database.catalog.table(&database, &table)
    }

    /// Starts an insert into `table` (of `database`, else the current one) of `columns` (all
    /// of them, in order, when empty); the others get their defaults.
    pub fn insert_into(
        &self,
        database: Option<&str>,
        table: &str,
        columns: &[String],
    ) -> Result<Inserter> {
        self.check_writable()?;
        let table = self.table(&TableName {
            database: database.map(str::to_string),
            table: table.to_string(),
        })?;
        let names: Vec<String> = if columns.is_empty() {
            table
                .definition
                .columns
                .iter()
                .map(|column| column.name.clone())
                .collect()
        } else {
            columns.to_vec()
        };
        let mut typed = Vec::with_capacity(names.len());
        for name in &names {
            let column = table
                .definition
                .column_index(name)
                .map(|index| &table.definition.columns[index])
                .ok_or_else(|| {
                    Error::query(
                        ErrorCode::NO_SUCH_COLUMN_IN_TABLE,
                        format!(
                            "no such column {name} in table {}.{}",
                            table.database, table.name
                        ),
                    )
                })?;
            if typed.iter().any(|(seen, _)| seen == name) {
                return Err(Error::query(
                    ErrorCode::DUPLICATE_COLUMN,
                    format!("column {name} is listed twice"),
                ));
            }
            typed.push((name.clone(), column.data_type.clone()));
        }
        Ok(Inserter {
            writer: BlockWriter::new(self.database.clone(), table, Some(names), false, None),
            columns: typed,
        })
    }

    /// The insert of `sql` when it is an INSERT whose rows the client sends as blocks (nothing
    /// after `VALUES` or `FORMAT name`), ready for [`Inserter::write_block`]; `None` for any other
    /// statement. Blocks are deduplicated by the session's or the statement's
    /// `insert_deduplication_token` (block `i` by `token_i`), else by their data.
    pub fn insert_blocks(&self, sql: &str) -> Result<Option<Inserter>> {
        let Statement::Insert(insert) = parse_statement(sql)? else {
            return Ok(None);
        };
        if !matches!(insert.source, InsertSource::Blocks) {
            return Ok(None);
        }
        let token = self.insert_token(&insert)?;
        let columns = insert.columns.clone().unwrap_or_default();
        let mut inserter = self.insert_into(
            insert.table.database.as_deref(),
            &insert.table.table,
            &columns,
        )?;
        inserter.writer = BlockWriter::new(
            self.database.clone(),
            Arc::clone(&inserter.writer.table),
            None,
            true,
            token,
        );
        Ok(Some(inserter))
    }

    /// Runs one statement. Queries stream; other statements return an empty result (or, for
    /// SHOW / DESCRIBE / EXISTS, a small one).
    pub async fn execute(&mut self, sql: &str) -> Result<QueryResult> {
        guarded(async { self.run_limited(parse_statement(sql)?).await }).await
    }

    /// Runs a statement under its `max_execution_time` (its own `SETTINGS` clause, else the
    /// session's, else PostgreSQL's `statement_timeout`): planning and every later poll of its
    /// result fail with TIMEOUT_EXCEEDED once the time is up, whichever front end runs it.
    async fn run_limited(&mut self, statement: Statement) -> Result<QueryResult> {
        let limits = match &statement {
            Statement::Query(query) => self.limits(Some(query))?,
            _ => self.limits(None)?,
        };
        within(limits.execution_time, self.run(statement)).await
    }

    /// The limits `statement` (`None`: one without a SETTINGS clause) runs under: the settings
    /// of its own SETTINGS clause, else the session's (see [`crate::exec::limits`]).
    fn limits(&self, statement: Option<&SqlStatement>) -> Result<QueryLimits> {
        let own: Vec<(String, String)> = match statement {
            Some(SqlStatement::Query(query)) => query
                .settings
                .iter()
                .flatten()
                .filter(|setting| crate::exec::limits::NAMES.contains(&setting.key.value.as_str()))
                .map(|setting| Ok((setting.key.value.clone(), setting_text(&setting.value)?)))
                .collect::<Result<_>>()?,
            _ => Vec::new(),
        };
        QueryLimits::resolve(
            |name| {
                own.iter()
                    .rev()
                    .find(|(key, _)| key == name)
                    .map(|(_, value)| value.clone())
                    .or_else(|| self.settings.get(name).cloned())
            },
            self.statement_timeout,
        )
    }

    /// Sets PostgreSQL's `statement_timeout` for the following statements (`None`: none): it
    /// limits a statement for which no `max_execution_time` is set.
    pub fn set_statement_timeout(&mut self, timeout: Option<std::time::Duration>) {
        self.statement_timeout = timeout;
    }

    /// Runs one statement whose `$1`, `$2`, ... take the values of `parameters`.
    pub async fn execute_with(
        &mut self,
        sql: &str,
        parameters: &[Parameter],
    ) -> Result<QueryResult> {
        guarded(self.execute_with_unguarded(sql, parameters)).await
    }

    async fn execute_with_unguarded(
        &mut self,
        sql: &str,
        parameters: &[Parameter],
    ) -> Result<QueryResult> {
        let mut statement = parse_statement(sql)?;
        let expected = parameters::count(&statement)?;
        if expected != parameters.len() {
            return Err(Error::query(
                ErrorCode::NUMBER_OF_ARGUMENTS_DOESNT_MATCH,
                format!(
                    "the statement takes {expected} parameters, {} were given",
                    parameters.len()
                ),
            ));
        }
        parameters::substitute(&mut statement, &|index| {
            parameters::literal(&parameters[index]).map(Some)
        })?;
        self.run_limited(statement).await
    }

    /// What a statement with `$n` parameters takes and returns, without running it: the type
    /// each parameter's place implies (`None` where nothing does) and the result columns.
    pub async fn prepare(&self, sql: &str) -> Result<Prepared> {
        guarded(self.prepare_unguarded(sql)).await
    }

    async fn prepare_unguarded(&self, sql: &str) -> Result<Prepared> {
        let mut statement = parse_statement(sql)?;
        let mut types: Vec<Option<DataType>> = vec![None; parameters::count(&statement)?];
        for (index, data_type) in parameters::syntax_types(&statement) {
            types[index] = Some(data_type.strip_nullable().clone());
        }
        if let Statement::Insert(insert) = &statement {
            let table = self.table(&insert.table)?;
            let listed = match &insert.columns {
                Some(names) => names
                    .iter()
                    .map(|name| table.definition.column_index(name))
                    .collect::<Option<Vec<usize>>>()
                    .ok_or_else(|| {
                        Error::query(
                            ErrorCode::NO_SUCH_COLUMN_IN_TABLE,
                            format!("no such column in table {}.{}", table.database, table.name),
                        )
                    })?,
                None => (0..table.definition.columns.len()).collect(),
            };
            if let InsertSource::Query(query) = &insert.source {
                for (index, position) in parameters::insert_value_places(query) {
                    if let Some(column) = listed.get(position) {
                        types[index] = Some(table.definition.columns[*column].data_type.clone());
                    }
                }
            }
        }
        let typed_null = |data_type: &DataType| {
            parameters::literal(&Parameter {
                value: None,
                data_type: data_type.clone(),
            })
        };
        parameters::substitute(&mut statement, &|index| {
            types[index].as_ref().map(typed_null).transpose()
        })?;
        let query_of = |statement: &Statement| match statement {
            Statement::Query(query) => Some(query.as_ref().clone()),
            Statement::Insert(insert) => match &insert.source {
                InsertSource::Query(query) => Some(SqlStatement::Query(query.clone())),
                InsertSource::Blocks => None,
            },
            _ => None,
        };
        let mut columns = None;
        if let Some(query) = query_of(&statement) {
            if types.iter().any(Option::is_none) {
                // DataFusion types the places it can (comparisons with columns, IN lists...);
                // a plan it cannot make here is made again below with text in those places.
                if let Ok((_, plan, _)) = self.plan(query).await {
                    for (name, data_type) in plan.get_parameter_types()? {
                        let (Ok(index), Some(data_type)) = (parameters::index(&name), data_type)
                        else {
                            continue;
                        };
                        if let Some(slot) = types.get_mut(index).filter(|slot| slot.is_none()) {
                            let field = arrow_schema::Field::new("", data_type, true);
                            *slot = clickhouse_type(&field)
                                .ok()
                                .map(|data_type| data_type.strip_nullable().clone());
                        }
                    }
                }
                // Places nothing types are text, as in PostgreSQL.
                parameters::substitute(&mut statement, &|index| {
                    typed_null(types[index].as_ref().unwrap_or(&DataType::String)).map(Some)
                })?;
            }
            let query = query_of(&statement)
                .ok_or_else(|| Error::Logical("a query stopped being one".into()))?;
            let (state, plan, _) = self.plan(query).await?;
            if matches!(statement, Statement::Query(_)) {
                // The columns as running the query gives them: after the analyzer's rewrites
                // (ClickHouse's literal types, ...), renamed as results are.
                let physical = state
                    .create_physical_plan(&plan)
                    .await
                    .map_err(table_errors)?;
                let schema = physical.schema();
                columns = Some(output_schema(&schema).unwrap_or(schema));
            }
        } else if matches!(
            statement,
            Statement::ShowDatabases { .. }
                | Statement::ShowTables { .. }
                | Statement::ShowCreateTable(_)
                | Statement::ShowCreateDatabase(_)
                | Statement::Describe(_)
                | Statement::ExistsTable(_)
                | Statement::ExistsDatabase(_)
        ) {
            // Small answers without side effects: their columns are those of running them.
            columns = Some(self.clone().run(statement).await?.schema());
        }
        Ok(Prepared {
            parameters: types,
            pg_parameter_types: Vec::new(),
            columns,
        })
    }

    /// Runs a query on PostgreSQL's catalogs (see [`crate::postgres`]) in PostgreSQL's dialect,
    /// its `$n` taking the values of `parameters`; `context` is what the front end knows of the
    /// connection (`version()`, the user and roles, cancelling other backends).
    pub async fn execute_postgres(
        &self,
        sql: &str,
        context: &crate::postgres::PgContext,
        parameters: &[Parameter],
    ) -> Result<QueryResult> {
        guarded(async {
            let limit = self.limits(None)?.execution_time;
            within(
                limit,
                self.execute_postgres_unguarded(sql, context, parameters),
            )
            .await
        })
        .await
    }

    async fn execute_postgres_unguarded(
        &self,
        sql: &str,
        context: &crate::postgres::PgContext,
        parameters: &[Parameter],
    ) -> Result<QueryResult> {
        let (state, plan) =
            crate::postgres::plan(&self.database.catalog, &self.current_database, context, sql)
                .await?;
        let plan = crate::postgres::bind(plan, parameters)?;
        let stream = DataFrame::new(state, plan)
            .execute_stream()
            .await
            .map_err(table_errors)?;
        let schema = crate::postgres::result_schema(&stream.schema());
        let described = Arc::clone(&schema);
        let stream = Box::pin(RecordBatchStreamAdapter::new(
            schema,
            stream.map(move |batch| {
                batch.and_then(|batch| {
                    Ok(RecordBatch::try_new(
                        Arc::clone(&described),
                        batch.columns().to_vec(),
                    )?)
                })
            }),
        ));
        Ok(QueryResult::streaming(
            stream,
            Arc::new(QueryStats::default()),
        ))
    }

    /// What a query on PostgreSQL's catalogs takes and returns, without running it.
    pub async fn prepare_postgres(
        &self,
        sql: &str,
        context: &crate::postgres::PgContext,
    ) -> Result<Prepared> {
        guarded(self.prepare_postgres_unguarded(sql, context)).await
    }

    async fn prepare_postgres_unguarded(
        &self,
        sql: &str,
        context: &crate::postgres::PgContext,
    ) -> Result<Prepared> {
        let (state, plan) =
            crate::postgres::plan(&self.database.catalog, &self.current_database, context, sql)
                .await?;
        let parameters = crate::postgres::parameter_types(&plan)?;
        let typed: Vec<Parameter> = parameters
            .iter()
            .map(|data_type| Parameter {
                value: None,
                data_type: data_type.clone().unwrap_or(DataType::String),
            })
            .collect();
        let plan = crate::postgres::bind(plan, &typed)?;
        let physical = state
            .create_physical_plan(&plan)
            .await
            .map_err(table_errors)?;
        Ok(Prepared {
            pg_parameter_types: crate::postgres::parameter_casts(sql, parameters.len()),
            parameters,
            columns: Some(crate::postgres::result_schema(&physical.schema())),
        })
    }

    /// ClickHouse's `readonly` setting: 0 (writes allowed), 1 (reads only, no settings
    /// changed), 2 (reads only, settings other than `readonly` may change).
    fn readonly(&self) -> u8 {
        self.settings
            .get("readonly")
            .and_then(|value| value.parse::<u8>().ok())
            .unwrap_or(0)
    }

    /// READONLY for a write in a read-only session.
    fn check_writable(&self) -> Result<()> {
        if self.readonly() > 0 {
            return Err(Error::query(
                ErrorCode::READONLY,
                "cannot execute query in readonly mode (the user or session is read-only)",
            ));
        }
        Ok(())
    }

    async fn run(&mut self, statement: Statement) -> Result<QueryResult> {
        let catalog = Arc::clone(&self.database.catalog);
        let writes = !matches!(
            statement,
            Statement::Query(_)
                | Statement::Use(_)
                | Statement::Set(_)
                | Statement::ShowDatabases { .. }
                | Statement::ShowTables { .. }
                | Statement::ShowCreateTable(_)
                | Statement::ShowCreateDatabase(_)
                | Statement::Describe(_)
                | Statement::ExistsTable(_)
                | Statement::ExistsDatabase(_)
        );
        if writes {
            self.check_writable()?;
        }
        if let Statement::Set(settings) = &statement {
            let readonly = self.readonly();
            if readonly == 1
                || (readonly == 2 && settings.iter().any(|(name, _)| name == "readonly"))
            {
                return Err(Error::query(
                    ErrorCode::READONLY,
                    "cannot modify settings in readonly mode",
                ));
            }
        }
        match statement {
            Statement::CreateDatabase {
                name,
                if_not_exists,
            } => {
                blocking(move || catalog.create_database(&name, if_not_exists)).await?;
                Ok(QueryResult::empty())
            }
            Statement::CreateTable(create) => {
                let (database, table) = self.resolve(&create.name);
                blocking(move || {
                    catalog.create_table(
                        &database,
                        &table,
                        create.definition,
                        create.if_not_exists,
                        create.or_replace,
                    )
                })
                .await?;
                Ok(QueryResult::empty())
            }
            Statement::DropDatabase { name, if_exists } => {
                blocking(move || catalog.drop_database(&name, if_exists)).await?;
                if !self
                    .database
                    .catalog
                    .database_exists(&self.current_database)?
                {
                    self.current_database = DEFAULT_DATABASE.to_string();
                }
                Ok(QueryResult::empty())
            }
            Statement::DropTable { name, if_exists } => {
                let (database, table) = self.resolve(&name);
                blocking(move || catalog.drop_table(&database, &table, if_exists)).await?;
                Ok(QueryResult::empty())
            }
            Statement::Truncate { name, if_exists } => {
                let (database, table) = self.resolve(&name);
                let Some(table) = catalog.find(&database, &table)? else {
                    if if_exists {
                        return Ok(QueryResult::empty());
                    }
                    return Err(catalog.table(&database, &table).err().unwrap_or_else(|| {
                        Error::Logical("a table vanished during TRUNCATE".into())
                    }));
                };
                blocking(move || table.data.truncate()).await?;
                Ok(QueryResult::empty())
            }
            Statement::Rename(pairs) => {
                for (from, to) in pairs {
                    let from = self.resolve(&from);
                    let to = self.resolve(&to);
                    let catalog = Arc::clone(&catalog);
                    blocking(move || catalog.rename_table((&from.0, &from.1), (&to.0, &to.1)))
                        .await?;
                }
                Ok(QueryResult::empty())
            }
            Statement::ShowDatabases { like } => {
                let names = filter_like(catalog.database_names()?, like.as_deref());
                QueryResult::strings(&[("name", names)])
            }
            Statement::ShowTables { database, like } => {
                let database = database.unwrap_or_else(|| self.current_database.clone());
                let names: Vec<String> = if database == SYSTEM_DATABASE {
                    crate::exec::system::SystemSchema::new(Arc::clone(&catalog))
                        .table_names_sorted()
                } else {
                    catalog
                        .tables(&database)?
                        .iter()
                        .map(|table| table.name.clone())
                        .collect()
                };
                QueryResult::strings(&[("name", filter_like(names, like.as_deref()))])
            }
            Statement::ShowCreateTable(name) => {
                let table = self.table(&name)?;
                let text = table
                    .definition
                    .create_statement(&format!("{}.{}", table.database, table.name));
                QueryResult::strings(&[("statement", vec![text])])
            }
            Statement::ShowCreateDatabase(name) => {
                if !catalog.database_exists(&name)? {
                    return Err(Error::query(
                        ErrorCode::UNKNOWN_DATABASE,
                        format!("database {name} does not exist"),
                    ));
                }
                QueryResult::strings(&[(
                    "statement",
                    vec![format!("CREATE DATABASE {name}\nENGINE = Atomic")],
                )])
            }
            Statement::Describe(name) => {
                let table = self.table(&name)?;
                describe(&table)
            }
            Statement::ExistsTable(name) => {
                let (database, table) = self.resolve(&name);
                let exists = catalog.database_exists(&database)?
                    && database != SYSTEM_DATABASE
                    && catalog.find(&database, &table)?.is_some();
                QueryResult::flag("result", exists)
            }
            Statement::ExistsDatabase(name) => {
                QueryResult::flag("result", catalog.database_exists(&name)?)
            }
            Statement::Optimize(optimize) => {
                let table = self.table(&optimize.name)?;
                let partition = match &optimize.partition {
                    None => None,
                    Some(PartitionSpec::Id(id)) => Some(id.clone()),
                    Some(PartitionSpec::Value(expr)) => {
                        Some(self.partition_id_of(&table, expr).await?)
                    }
                };
                let final_ = optimize.final_;
                blocking(move || {
                    table.data.optimize(partition.as_deref(), final_)?;
                    table.data.remove_outdated()
                })
                .await?;
                Ok(QueryResult::empty())
            }
            Statement::Insert(insert) => self.insert(*insert).await,
            Statement::Use(database) => {
                if !catalog.database_exists(&database)? {
                    return Err(Error::query(
                        ErrorCode::UNKNOWN_DATABASE,
                        format!("database {database} does not exist"),
                    ));
                }
                self.current_database = database;
                Ok(QueryResult::empty())
            }
            Statement::Set(settings) => {
                for (name, value) in settings {
                    let value = setting_text(&value)?;
                    self.settings.insert(name, value);
                }
                Ok(QueryResult::empty())
            }
            Statement::Query(statement) => self.query(*statement).await,
        }
    }

    /// The partition id of `PARTITION expr` for `table`.
    async fn partition_id_of(&self, table: &Table, expr: &Expr) -> Result<String> {
        let types = table.partition_key_types().to_vec();
        let batch = self.constant_row(&format!("SELECT {expr}")).await?;
        let arrays: Vec<ArrayRef> = match (batch.num_columns(), types.len()) {
            (1, n) if n > 1 => {
                let column = batch.column(0);
                let tuple = column
                    .as_any()
                    .downcast_ref::<arrow_array::StructArray>()
                    .ok_or_else(|| {
                        Error::query(
                            ErrorCode::INVALID_PARTITION_VALUE,
                            format!("the partition key has {n} elements"),
                        )
                    })?;
                tuple.columns().to_vec()
            }
            _ => batch.columns().to_vec(),
        };
        if arrays.len() != types.len() {
            return Err(Error::query(
                ErrorCode::INVALID_PARTITION_VALUE,
                format!(
                    "the partition key has {} elements, the value {}",
                    types.len(),
                    arrays.len()
                ),
            ));
        }
        let value = types
            .iter()
            .zip(arrays)
            .map(|(data_type, array)| {
                let converted = crate::exec::insert::convert(&array, data_type, "PARTITION")?;
                Ok((data_type.clone(), converted))
            })
            .collect::<Result<Vec<_>>>()?;
        partition_id(&value, 0)
    }

    async fn constant_row(&self, sql: &str) -> Result<RecordBatch> {
        let Statement::Query(statement) = parse_statement(sql)? else {
            return Err(Error::Logical(format!("{sql} is not a query")));
        };
        let mut result = self.query(*statement).await?;
        let schema = result.schema();
        let mut batches = Vec::new();
        while let Some(batch) = result.next().await {
            batches.push(batch?);
        }
        Ok(arrow_select::concat::concat_batches(&schema, &batches)?)
    }

    fn query_state(&self, stats: &Arc<QueryStats>) -> SessionState {
        // A clone, not a rebuild: rebuilding re-registers every function in no set order, and
        // Granary's `length` or `empty` could lose to DataFusion's functions of those names.
        let mut state = self.database.state.clone();
        let config = state.config_mut();
        config.options_mut().catalog.default_schema = self.current_database.clone();
        config.set_extension(Arc::clone(stats));
        state
    }

    /// Runs a query for its client: its result is bounded by `max_result_rows`.
    async fn query(&self, statement: SqlStatement) -> Result<QueryResult> {
        let limits = self.limits(Some(&statement))?;
        let mut result = Box::pin(self.query_limited(statement, &limits)).await?;
        result.limits = Some(limits);
        Ok(result)
    }

    /// Runs a query under `limits` (memory, rows to read, the primary key); its result is not
    /// bounded (an INSERT's SELECT).
    async fn query_limited(
        &self,
        statement: SqlStatement,
        limits: &QueryLimits,
    ) -> Result<QueryResult> {
        let memory = self.query_memory(limits);
        let (mut state, plan, stats) = self.plan(statement).await?;
        state.config_mut().set_extension(Arc::new(limits.clone()));
        let frame = DataFrame::new(state, plan);
        let runtime = frame.task_ctx().runtime_env();
        let runtime = datafusion::execution::runtime_env::RuntimeEnv {
            memory_pool: Arc::new(memory),
            disk_manager: Arc::clone(&runtime.disk_manager),
            cache_manager: Arc::clone(&runtime.cache_manager),
            object_store_registry: Arc::clone(&runtime.object_store_registry),
        };
        let task = Arc::new(frame.task_ctx().with_runtime(Arc::new(runtime)));
        let plan = frame.create_physical_plan().await.map_err(table_errors)?;
        let stream = datafusion::physical_plan::execute_stream(plan, task).map_err(table_errors)?;
        Ok(QueryResult::streaming(stream, stats))
    }

    /// The memory pool of one query: its `max_memory_usage`, else the database's default
    /// (0: bounded by the server's limit only).
    fn query_memory(&self, limits: &QueryLimits) -> crate::exec::memory::QueryMemory {
        let server = &self.database.memory;
        let limit = match limits.memory {
            None => self.database.query_memory,
            Some(0) => server.limit(),
            Some(bytes) => usize::try_from(bytes).unwrap_or(usize::MAX),
        };
        crate::exec::memory::QueryMemory::new(limit.min(server.limit()), server)
    }

    /// The logical plan of a query, with the state to run it in.
    async fn plan(
        &self,
        mut statement: SqlStatement,
    ) -> Result<(SessionState, LogicalPlan, Arc<QueryStats>)> {
        if !matches!(
            statement,
            SqlStatement::Query(_) | SqlStatement::Explain { .. }
        ) {
            return Err(Error::not_implemented(format!(
                "this statement ({})",
                statement
                    .to_string()
                    .split_whitespace()
                    .take(2)
                    .collect::<Vec<_>>()
                    .join(" ")
            )));
        }
        let stats = Arc::new(QueryStats::default());
        let state = self.query_state(&stats);
        rewrite(&mut statement, &state, &self.current_database)?;
        self.check_databases(&statement)?;
        let plan = state
            .statement_to_plan(DfStatement::Statement(Box::new(statement)))
            .await
            .map_err(table_errors)?;
        Ok((state, plan, stats))
    }

    /// `UNKNOWN_DATABASE` for a table of a database that does not exist (DataFusion would only say
    /// that the table is not found).
    fn check_databases(&self, statement: &SqlStatement) -> Result<()> {
        let mut missing = None;
        let _ = datafusion::sql::sqlparser::ast::visit_relations(statement, |name| {
            let parts: Vec<String> = name
                .0
                .iter()
                .filter_map(|part| part.as_ident().map(|ident| ident.value.clone()))
                .collect();
            let database = match parts.as_slice() {
                [database, _] => Some(database.clone()),
                [_, database, _] => Some(database.clone()),
                _ => None,
            };
            if let Some(database) = database
                && !self
                    .database
                    .catalog
                    .database_exists(&database)
                    .unwrap_or(true)
            {
                missing = Some(database);
                return std::ops::ControlFlow::Break(());
            }
            std::ops::ControlFlow::Continue(())
        });
        match missing {
            Some(database) => Err(Error::query(
                ErrorCode::UNKNOWN_DATABASE,
                format!("database {database} does not exist"),
            )),
            None => Ok(()),
        }
    }

    /// The dedup token of `insert`: its own SETTINGS, else the session's.
    fn insert_token(&self, insert: &Insert) -> Result<Option<String>> {
        let mut token = self.settings.get("insert_deduplication_token").cloned();
        for (name, value) in &insert.settings {
            match name.as_str() {
                "insert_deduplication_token" => token = Some(setting_text(value)?),
                "insert_deduplicate" | "async_insert" | "wait_for_async_insert" => {}
                other => {
                    return Err(Error::query(
                        ErrorCode::UNKNOWN_SETTING,
                        format!("unknown setting {other}"),
                    ));
                }
            }
        }
        Ok(token.filter(|token| !token.is_empty()))
    }

    async fn insert(&self, insert: Insert) -> Result<QueryResult> {
        let table = self.table(&insert.table)?;
        let token = self.insert_token(&insert)?;
        let query = match insert.source {
            InsertSource::Query(query) => query,
            InsertSource::Blocks => {
                return Err(Error::query(
                    ErrorCode::SYNTAX_ERROR,
                    "INSERT without rows: write them after VALUES (only a native-protocol \
                     client sends them as blocks after the query)",
                ));
            }
        };
        let source = SqlStatement::Query(query);
        let limits = self.limits(Some(&source))?;
        let mut source = Box::pin(self.query_limited(source, &limits)).await?;
        let mut writer =
            BlockWriter::new(self.database.clone(), table, insert.columns, false, token);
        while let Some(batch) = source.next().await {
            writer.push(batch?).await?;
        }
        let summary = writer.finish().await?;
        let mut result = QueryResult::empty();
        result.written_rows = summary.rows;
        Ok(result)
    }
}

/// Gathers inserted batches into blocks of up to `MAX_INSERT_BLOCK_ROWS` and writes each as one
/// deduplicated unit.
struct BlockWriter {
    database: Database,
    table: Arc<Table>,
    columns: Option<Vec<String>>,
    by_name: bool,
    token: Option<String>,
    pending: Vec<RecordBatch>,
    pending_rows: usize,
    blocks: usize,
    summary: InsertSummary,
}

impl BlockWriter {
    fn new(
        database: Database,
        table: Arc<Table>,
        columns: Option<Vec<String>>,
        by_name: bool,
        token: Option<String>,
    ) -> BlockWriter {
        BlockWriter {
            database,
            table,
            columns,
            by_name,
            token,
            pending: Vec::new(),
            pending_rows: 0,
            blocks: 0,
            summary: InsertSummary::default(),
        }
    }

    async fn push(&mut self, batch: RecordBatch) -> Result<()> {
        self.pending_rows += batch.num_rows();
        self.pending.push(batch);
        if self.pending_rows >= MAX_INSERT_BLOCK_ROWS {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let schema = self.pending[0].schema();
        let input = arrow_select::concat::concat_batches(&schema, &self.pending)?;
        self.pending.clear();
        self.pending_rows = 0;
        if input.num_rows() == 0 {
            return Ok(());
        }
        let targets = target_columns(
            &self.table,
            &input.schema(),
            self.columns.as_deref(),
            self.by_name,
        )?;
        let table = Arc::clone(&self.table);
        let functions = self.database.catalog.functions().clone();
        let token = self.token.clone();
        let index = self.blocks;
        self.blocks += 1;
        let (outcome, rows) = blocking(move || {
            let block = prepare_block(&table, &functions, &input, &targets)?;
            let id = match &token {
                Some(token) => Some(BlockId::from_token(token, index)),
                None => Some(BlockId::from_data(&block.batch)?),
            };
            let outcome = table
                .data
                .insert(&block.batch, &block.partition_key, id.as_ref())?;
            Ok((outcome, block.batch.num_rows() as u64))
        })
        .await?;
        if outcome.deduplicated {
            self.summary.deduplicated_blocks += 1;
        } else {
            self.summary.rows += rows;
            self.summary.parts.extend(outcome.parts);
        }
        Ok(())
    }

    async fn finish(mut self) -> Result<InsertSummary> {
        self.flush().await?;
        if let Some(merges) = self.database.catalog.merges() {
            merges.wake();
        }
        Ok(self.summary)
    }
}

/// Runs blocking storage work off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|error| Error::Logical(format!("a storage task failed: {error}")))?
}

/// DataFusion's "table not found" / "schema not found" as ClickHouse's codes.
fn table_errors(error: datafusion::error::DataFusionError) -> Error {
    let message = error.to_string();
    if message.contains("table") && message.contains("not found") {
        return Error::query(ErrorCode::UNKNOWN_TABLE, message);
    }
    if message.contains("failed to resolve schema") {
        return Error::query(ErrorCode::UNKNOWN_DATABASE, message);
    }
    Error::from(error)
}

fn setting_text(value: &Expr) -> Result<String> {
    Ok(match setting_value(value)? {
        crate::catalog::settings::SettingValue::Number(text)
        | crate::catalog::settings::SettingValue::String(text) => text,
    })
}

/// Names matching a SQL `LIKE` pattern (`%` and `_`).
fn filter_like(names: Vec<String>, like: Option<&str>) -> Vec<String> {
    let Some(pattern) = like else {
        return names;
    };
    names
        .into_iter()
        .filter(|name| like_matches(pattern.as_bytes(), name.as_bytes()))
        .collect()
}

fn like_matches(pattern: &[u8], text: &[u8]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'%', rest)) => (0..=text.len()).any(|skip| like_matches(rest, &text[skip..])),
        Some((b'_', rest)) => !text.is_empty() && like_matches(rest, &text[1..]),
        Some((c, rest)) => text.first() == Some(c) && like_matches(rest, &text[1..]),
    }
}

/// `DESCRIBE TABLE`: ClickHouse's seven columns.
fn describe(table: &Table) -> Result<QueryResult> {
    let columns = &table.definition.columns;
    let text = |f: &dyn Fn(usize) -> String| (0..columns.len()).map(f).collect::<Vec<_>>();
    QueryResult::strings(&[
        ("name", text(&|i| columns[i].name.clone())),
        ("type", text(&|i| columns[i].data_type.to_string())),
        (
            "default_type",
            text(&|i| {
                if columns[i].default.is_some() {
                    "DEFAULT".into()
                } else {
                    String::new()
                }
            }),
        ),
        (
            "default_expression",
            text(&|i| {
                columns[i]
                    .default
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default()
            }),
        ),
        (
            "comment",
            text(&|i| columns[i].comment.clone().unwrap_or_default()),
        ),
        (
            "codec_expression",
            text(&|i| {
                columns[i]
                    .codec
                    .map(|codec| {
                        let text = crate::storage::codec_text(codec);
                        text.strip_prefix("CODEC(")
                            .and_then(|inner| inner.strip_suffix(')'))
                            .unwrap_or(&text)
                            .to_string()
                    })
                    .unwrap_or_default()
            }),
        ),
        ("ttl_expression", text(&|_| String::new())),
    ])
}

/// The schema a client sees for a plan's `schema`: output names that a SELECT repeats lose the
/// suffix that kept them apart in the plan (`None` when no name has one).
fn output_schema(schema: &SchemaRef) -> Option<SchemaRef> {
    if !schema
        .fields()
        .iter()
        .any(|field| field.name().contains(REPEATED_NAME))
    {
        return None;
    }
    let fields: Vec<_> = schema
        .fields()
        .iter()
        .map(|field| match field.name().split_once(REPEATED_NAME) {
            Some((name, _)) => Arc::new(field.as_ref().clone().with_name(name)),
            None => Arc::clone(field),
        })
        .collect();
    Some(Arc::new(Schema::new_with_metadata(
        fields,
        schema.metadata().clone(),
    )))
}

/// The result of a statement: a stream of Arrow batches.
pub struct QueryResult {
    schema: SchemaRef,
    stream: Option<SendableRecordBatchStream>,
    ready: Vec<RecordBatch>,
    stats: Arc<QueryStats>,
    written_rows: u64,
    /// `max_execution_time`: when the stream stops with TIMEOUT_EXCEEDED, and the limit.
    deadline: Option<(Pin<Box<tokio::time::Sleep>>, std::time::Duration)>,
    /// The limits of a query's result (`max_result_rows`), and the rows it has given.
    limits: Option<QueryLimits>,
    rows: u64,
}

impl std::fmt::Debug for QueryResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryResult")
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

impl QueryResult {
    fn empty() -> QueryResult {
        QueryResult {
            schema: Arc::new(Schema::empty()),
            stream: None,
            ready: Vec::new(),
            stats: Arc::new(QueryStats::default()),
            written_rows: 0,
            deadline: None,
            limits: None,
            rows: 0,
        }
    }

    /// The result, failing with TIMEOUT_EXCEEDED at `deadline`.
    fn with_deadline(mut self, deadline: tokio::time::Instant, limit: std::time::Duration) -> Self {
        self.deadline = Some((Box::pin(tokio::time::sleep_until(deadline)), limit));
        self
    }

    fn streaming(stream: SendableRecordBatchStream, stats: Arc<QueryStats>) -> QueryResult {
        let schema = stream.schema();
        let stream = match output_schema(&schema) {
            None => stream,
            Some(renamed) => {
                let mapped_schema = Arc::clone(&renamed);
                Box::pin(RecordBatchStreamAdapter::new(
                    renamed,
                    stream.map(move |batch| {
                        batch.and_then(|batch| {
                            Ok(RecordBatch::try_new(
                                Arc::clone(&mapped_schema),
                                batch.columns().to_vec(),
                            )?)
                        })
                    }),
                ))
            }
        };
        QueryResult {
            schema: stream.schema(),
            stream: Some(stream),
            ready: Vec::new(),
            stats,
            written_rows: 0,
            deadline: None,
            limits: None,
            rows: 0,
        }
    }

    fn batch(batch: RecordBatch) -> QueryResult {
        QueryResult {
            schema: batch.schema(),
            stream: None,
            ready: vec![batch],
            stats: Arc::new(QueryStats::default()),
            written_rows: 0,
            deadline: None,
            limits: None,
            rows: 0,
        }
    }

    fn strings(columns: &[(&str, Vec<String>)]) -> Result<QueryResult> {
        let fields: Vec<_> = columns
            .iter()
            .map(|(name, _)| field_for(name, &DataType::String))
            .collect();
        let arrays: Vec<ArrayRef> = columns
            .iter()
            .map(|(_, values)| Arc::new(StringArray::from(values.clone())) as ArrayRef)
            .collect();
        Ok(QueryResult::batch(RecordBatch::try_new(
            Arc::new(Schema::new(fields)),
            arrays,
        )?))
    }

    fn flag(name: &str, value: bool) -> Result<QueryResult> {
        let field = field_for(name, &DataType::UInt8);
        Ok(QueryResult::batch(RecordBatch::try_new(
            Arc::new(Schema::new(vec![field])),
            vec![Arc::new(UInt8Array::from(vec![u8::from(value)]))],
        )?))
    }

    /// The columns of the result (empty for statements that return nothing).
    pub fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    /// Rows and bytes this query has read from parts so far (complete once the stream ends).
    pub fn read_rows(&self) -> u64 {
        self.stats.read.rows()
    }

    /// Decompressed bytes read from parts so far.
    pub fn read_bytes(&self) -> u64 {
        self.stats.read.bytes()
    }

    /// Rows an INSERT wrote.
    pub fn written_rows(&self) -> u64 {
        self.written_rows
    }

    /// Reads the whole result (for small results and tests; queries otherwise stream).
    pub async fn collect(mut self) -> Result<Vec<RecordBatch>> {
        let mut batches = Vec::new();
        while let Some(batch) = self.next().await {
            batches.push(batch?);
        }
        Ok(batches)
    }
}

impl Stream for QueryResult {
    type Item = Result<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if !self.ready.is_empty() {
            return Poll::Ready(Some(Ok(self.ready.remove(0))));
        }
        let streaming = self.stream.is_some();
        if let Some((sleep, limit)) = self.deadline.as_mut()
            && streaming
            && sleep.as_mut().poll(cx).is_ready()
        {
            let limit = *limit;
            self.stream = None;
            self.deadline = None;
            return Poll::Ready(Some(Err(timeout_exceeded(limit))));
        }
        let Some(stream) = self.stream.as_mut() else {
            return Poll::Ready(None);
        };
        // A panic while computing the result costs this query only.
        let polled = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            stream.poll_next_unpin(cx)
        })) {
            Ok(polled) => polled,
            Err(panic) => {
                self.stream = None;
                return Poll::Ready(Some(Err(panicked(panic.as_ref()))));
            }
        };
        let Poll::Ready(Some(Ok(batch))) = polled else {
            return polled.map(|item| item.map(|result| result.map_err(Error::from)));
        };
        if let Some(limits) = &self.limits {
            let rows = self.rows + batch.num_rows() as u64;
            if let Some(error) = limits.result_exceeded(rows) {
                self.stream = None;
                return Poll::Ready(Some(Err(error)));
            }
            if limits.result_rows.is_some_and(|limit| rows > limit) {
                // result_overflow_mode = 'break': this block is the last.
                self.stream = None;
            }
            self.rows = rows;
        }
        Poll::Ready(Some(Ok(batch)))
    }
}

/// Runs `work`, turning a panic inside it into a `LOGICAL_ERROR` for this statement only.
/// The statement's future lives on the heap: its state machine is large, and a caller's stack
/// (2 MiB on a test or worker thread) should not have to hold it twice.
async fn guarded<T>(work: impl std::future::Future<Output = Result<T>>) -> Result<T> {
    match std::panic::AssertUnwindSafe(Box::pin(work))
        .catch_unwind()
        .await
    {
        Ok(result) => result,
        Err(panic) => Err(panicked(panic.as_ref())),
    }
}

/// Runs a statement within `limit` (`None`: unlimited): TIMEOUT_EXCEEDED when planning it or,
/// later, reading its result takes longer.
async fn within(
    limit: Option<std::time::Duration>,
    statement: impl std::future::Future<Output = Result<QueryResult>>,
) -> Result<QueryResult> {
    let Some(limit) = limit else {
        return statement.await;
    };
    let deadline = tokio::time::Instant::now() + limit;
    match tokio::time::timeout_at(deadline, statement).await {
        Ok(result) => Ok(result?.with_deadline(deadline, limit)),
        Err(_) => Err(timeout_exceeded(limit)),
    }
}

/// What a statement past its `max_execution_time` fails with (ClickHouse's words).
fn timeout_exceeded(limit: std::time::Duration) -> Error {
    Error::query(
        ErrorCode::TIMEOUT_EXCEEDED,
        format!(
            "Timeout exceeded: maximum: {} seconds (max_execution_time)",
            limit.as_secs_f64()
        ),
    )
}

/// The error a caught panic becomes.
fn panicked(panic: &(dyn std::any::Any + Send)) -> Error {
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("no message");
    tracing::error!(%message, "a query panicked");
    Error::Logical(format!("the query failed on an internal error: {message}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_match_as_in_sql() {
        assert!(like_matches(b"hi%", b"hits"));
        assert!(like_matches(b"%t_", b"hits"));
        assert!(!like_matches(b"h_t", b"hits"));
        assert!(like_matches(b"%", b""));
    }
}
