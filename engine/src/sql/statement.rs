//! The statements the engine runs, as the parser hands them over.

use datafusion::sql::sqlparser::ast::{Expr, Query};

use crate::catalog::definition::TableDefinition;

/// `[database.]table`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableName {
    /// The database, when given.
    pub database: Option<String>,
    /// The table.
    pub table: String,
}

/// `CREATE [OR REPLACE] TABLE [IF NOT EXISTS] name (...) ENGINE = ...`.
#[derive(Debug, Clone)]
pub struct CreateTable {
    /// The table.
    pub name: TableName,
    /// `IF NOT EXISTS`.
    pub if_not_exists: bool,
    /// `OR REPLACE`.
    pub or_replace: bool,
    /// Columns, engine, keys, settings.
    pub definition: TableDefinition,
}

/// Which partition `OPTIMIZE ... PARTITION` names.
#[derive(Debug, Clone)]
pub enum PartitionSpec {
    /// `PARTITION ID 'id'`.
    Id(String),
    /// `PARTITION expr`: the partition key's value.
    Value(Box<Expr>),
}

/// `OPTIMIZE TABLE name [PARTITION p] [FINAL]`.
#[derive(Debug, Clone)]
pub struct OptimizeTable {
    /// The table.
    pub name: TableName,
    /// Only this partition.
    pub partition: Option<PartitionSpec>,
    /// `FINAL`: merge even a partition's single part.
    pub final_: bool,
}

/// Where inserted rows come from.
#[derive(Debug, Clone)]
pub enum InsertSource {
    /// `VALUES (...), ...` or `SELECT ...`.
    Query(Box<Query>),
    /// Nothing after `VALUES` or `FORMAT name`: the client sends the rows as blocks (the
    /// native protocol's INSERT).
    Blocks,
}

/// `INSERT INTO table [(columns)] [SETTINGS ...] VALUES | SELECT`.
#[derive(Debug, Clone)]
pub struct Insert {
    /// The table.
    pub table: TableName,
    /// The listed columns; all columns when absent.
    pub columns: Option<Vec<String>>,
    /// `SETTINGS name = value` of this insert (`insert_deduplication_token`, ...).
    pub settings: Vec<(String, Expr)>,
    /// The rows.
    pub source: InsertSource,
}

/// One parsed statement.
#[derive(Debug, Clone)]
pub enum Statement {
    /// `CREATE DATABASE [IF NOT EXISTS] name`.
    CreateDatabase {
        /// The database.
        name: String,
        /// `IF NOT EXISTS`.
        if_not_exists: bool,
    },
    /// `CREATE TABLE ...`.
    CreateTable(Box<CreateTable>),
    /// `DROP DATABASE [IF EXISTS] name`.
    DropDatabase {
        /// The database.
        name: String,
        /// `IF EXISTS`.
        if_exists: bool,
    },
    /// `DROP TABLE [IF EXISTS] name`.
    DropTable {
        /// The table.
        name: TableName,
        /// `IF EXISTS`.
        if_exists: bool,
    },
    /// `TRUNCATE TABLE [IF EXISTS] name`.
    Truncate {
        /// The table.
        name: TableName,
        /// `IF EXISTS`.
        if_exists: bool,
    },
    /// `RENAME TABLE a TO b [, c TO d]`.
    Rename(Vec<(TableName, TableName)>),
    /// `SHOW DATABASES [LIKE 'p']`.
    ShowDatabases {
        /// `LIKE` pattern.
        like: Option<String>,
    },
    /// `SHOW TABLES [FROM db] [LIKE 'p']`.
    ShowTables {
        /// The database; the current one when absent.
        database: Option<String>,
        /// `LIKE` pattern.
        like: Option<String>,
    },
    /// `SHOW CREATE TABLE name`.
    ShowCreateTable(TableName),
    /// `SHOW CREATE DATABASE name`.
    ShowCreateDatabase(String),
    /// `DESCRIBE TABLE name`.
    Describe(TableName),
    /// `EXISTS TABLE name`.
    ExistsTable(TableName),
    /// `EXISTS DATABASE name`.
    ExistsDatabase(String),
    /// `OPTIMIZE TABLE ...`.
    Optimize(OptimizeTable),
    /// `INSERT INTO ...`.
    Insert(Box<Insert>),
    /// `USE db`.
    Use(String),
    /// `SET name = value, ...`.
    Set(Vec<(String, Expr)>),
    /// Anything else: a query for DataFusion (SELECT, VALUES, EXPLAIN, ...).
    Query(Box<datafusion::sql::sqlparser::ast::Statement>),
}
