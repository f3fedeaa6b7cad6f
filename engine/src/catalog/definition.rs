//! A table's definition — what `CREATE TABLE` said, validated — and the canonical statement printed
//! back by `SHOW CREATE TABLE` and stored as the table's metadata file.

use std::fmt::{self, Write as _};

use datafusion::sql::sqlparser::ast::Expr;
use granary_protocol::compress::Method;
use granary_protocol::{DataType, ErrorCode};

use super::settings::{MergeTreeSettings, SettingValue};
use crate::error::{Error, Result};
use crate::sql::escapes::sql_text;

/// One column of a table.
#[derive(Debug, Clone)]
pub struct ColumnDefinition {
    /// The column name (case-sensitive).
    pub name: String,
    /// The ClickHouse type.
    pub data_type: DataType,
    /// `DEFAULT expr`: what an insert that omits the column stores.
    pub default: Option<Expr>,
    /// `COMMENT '...'`.
    pub comment: Option<String>,
    /// `CODEC(...)`: the compression of this column's streams.
    pub codec: Option<Method>,
}

/// The table engine and its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineKind {
    /// `MergeTree`: rows kept as inserted.
    MergeTree,
    /// `ReplacingMergeTree([ver])`: of the rows with one sorting key, merges keep the one with the
    /// highest version (without a version: the last inserted).
    ReplacingMergeTree {
        /// The version column.
        version: Option<String>,
    },
    /// `AggregatingMergeTree`: of the rows with one sorting key, merges keep one whose
    /// `AggregateFunction` and `SimpleAggregateFunction` columns combine the rows'.
    AggregatingMergeTree,
    /// `SummingMergeTree([columns])`: as AggregatingMergeTree, and the summed columns (the listed
    /// ones, by default every number outside the sorting and partition keys) are summed.
    SummingMergeTree {
        /// The columns to sum, when listed.
        columns: Option<Vec<String>>,
    },
}

impl EngineKind {
    /// The engine name (`system.tables.engine`).
    pub fn name(&self) -> &'static str {
        match self {
            EngineKind::MergeTree => "MergeTree",
            EngineKind::ReplacingMergeTree { .. } => "ReplacingMergeTree",
            EngineKind::AggregatingMergeTree => "AggregatingMergeTree",
            EngineKind::SummingMergeTree { .. } => "SummingMergeTree",
        }
    }
}

/// Whether SummingMergeTree sums columns of this type: integers, floats and decimals, Nullable or
/// not (not Bool, dates or enums).
pub fn is_summable(data_type: &DataType) -> bool {
    matches!(
        data_type.strip_nullable(),
        DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32
            | DataType::UInt64
            | DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::Float32
            | DataType::Float64
            | DataType::Decimal(..)
    )
}

/// A MergeTree table as `CREATE TABLE` defines it.
#[derive(Debug, Clone)]
pub struct TableDefinition {
    /// Columns in order.
    pub columns: Vec<ColumnDefinition>,
    /// The engine.
    pub engine: EngineKind,
    /// `PARTITION BY` (its elements when it is a tuple); empty: one partition.
    pub partition_by: Vec<Expr>,
    /// `ORDER BY` columns; empty for `ORDER BY tuple()`.
    pub order_by: Vec<String>,
    /// `PRIMARY KEY` columns when given (a prefix of `order_by`); otherwise the sorting key.
    pub primary_key: Option<Vec<String>>,
    /// `SETTINGS` as written, in order.
    pub settings: Vec<(String, SettingValue)>,
    /// `COMMENT '...'`.
    pub comment: Option<String>,
}

impl TableDefinition {
    /// The columns SummingMergeTree sums must exist, be numbers and lie outside the sorting key.
    fn check_summed_columns(&self, columns: &[String]) -> Result<()> {
        for name in columns {
            let column = self.column(name).ok_or_else(|| {
                Error::query(
                    ErrorCode::NO_SUCH_COLUMN_IN_TABLE,
                    format!("column {name} listed in SummingMergeTree does not exist"),
                )
            })?;
            if self.order_by.contains(name) {
                return Err(Error::query(
                    ErrorCode::BAD_ARGUMENTS,
                    format!("column {name} to sum is part of the sorting key"),
                ));
            }
            if !is_summable(&column.data_type) {
                return Err(Error::query(
                    ErrorCode::BAD_ARGUMENTS,
                    format!(
                        "column {name} to sum is of type {}, not a number",
                        column.data_type
                    ),
                ));
            }
        }
        Ok(())
    }

    /// ClickHouse refuses AggregatingMergeTree columns that are neither in the sorting key nor
    /// aggregates: merges would keep an arbitrary row's value of them.
    fn check_aggregating_columns(&self) -> Result<()> {
        let dimensions: Vec<&str> = self
            .columns
            .iter()
            .filter(|column| {
                !self.order_by.contains(&column.name)
                    && !matches!(
                        column.data_type,
                        DataType::AggregateFunction(_) | DataType::SimpleAggregateFunction(..)
                    )
            })
            .map(|column| column.name.as_str())
            .collect();
        if dimensions.is_empty() {
            return Ok(());
        }
        Err(Error::query(
            ErrorCode::BAD_ARGUMENTS,
            format!(
                "column(s) {} of the AggregatingMergeTree table are neither part of the sorting \
                 key nor aggregate measures (AggregateFunction or SimpleAggregateFunction): merges \
                 would keep an arbitrary row's value of them",
                dimensions.join(", ")
            ),
        ))
    }

    /// Checks what ClickHouse checks at CREATE time: unique column names, key columns that exist
    /// and are not Nullable, a primary key that is a prefix of the sorting key, a version column
    /// of a suitable type, known settings with valid values.
    pub fn validate(&self) -> Result<()> {
        if self.columns.is_empty() {
            return Err(Error::query(
                ErrorCode::EMPTY_LIST_OF_COLUMNS_QUERIED,
                "a table needs at least one column",
            ));
        }
        for (index, column) in self.columns.iter().enumerate() {
            if self.columns[..index].iter().any(|c| c.name == column.name) {
                return Err(Error::query(
                    ErrorCode::DUPLICATE_COLUMN,
                    format!("column {} specified more than once", column.name),
                ));
            }
        }
        for name in &self.order_by {
            let column = self.column(name).ok_or_else(|| {
                Error::query(
                    ErrorCode::UNKNOWN_IDENTIFIER,
                    format!("missing column {name} of the sorting key"),
                )
            })?;
            if column.data_type.is_nullable() {
                return Err(Error::query(
                    ErrorCode::ILLEGAL_COLUMN,
                    format!(
                        "sorting key contains the Nullable column {name}; Nullable keys \
                         (allow_nullable_key) are not supported"
                    ),
                ));
            }
        }
        if let Some(primary) = &self.primary_key {
            if primary.len() > self.order_by.len() {
                return Err(Error::query(
                    ErrorCode::BAD_ARGUMENTS,
                    "primary key must be a prefix of the sorting key, but it is longer",
                ));
            }
            for (position, (primary, sorting)) in primary.iter().zip(&self.order_by).enumerate() {
                if primary != sorting {
                    return Err(Error::query(
                        ErrorCode::BAD_ARGUMENTS,
                        format!(
                            "primary key must be a prefix of the sorting key, but the column in \
                             the position {position} is {sorting}, not {primary}"
                        ),
                    ));
                }
            }
        }
        if let EngineKind::ReplacingMergeTree {
            version: Some(version),
        } = &self.engine
        {
            let column = self.column(version).ok_or_else(|| {
                Error::query(
                    ErrorCode::NO_SUCH_COLUMN_IN_TABLE,
                    format!("version column {version} does not exist in the table"),
                )
            })?;
            let allowed = matches!(
                column.data_type,
                DataType::UInt8
                    | DataType::UInt16
                    | DataType::UInt32
                    | DataType::UInt64
                    | DataType::UInt128
                    | DataType::UInt256
                    | DataType::Date
                    | DataType::Date32
                    | DataType::DateTime(_)
                    | DataType::DateTime64(..)
            );
            if !allowed {
                return Err(Error::query(
                    ErrorCode::BAD_TYPE_OF_FIELD,
                    format!(
                        "the version column {version} of ReplacingMergeTree must be of an unsigned \
                         integer, Date or DateTime type, not {}",
                        column.data_type
                    ),
                ));
            }
        }
        if self.engine == EngineKind::AggregatingMergeTree {
            self.check_aggregating_columns()?;
        }
        if let EngineKind::SummingMergeTree {
            columns: Some(columns),
        } = &self.engine
        {
            self.check_summed_columns(columns)?;
        }
        MergeTreeSettings::from_pairs(&self.settings)?;
        Ok(())
    }

    /// The column called `name`.
    pub fn column(&self, name: &str) -> Option<&ColumnDefinition> {
        self.columns.iter().find(|column| column.name == name)
    }

    /// The position of the column called `name`.
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|column| column.name == name)
    }

    /// The primary key: the `PRIMARY KEY` columns, or the sorting key.
    pub fn primary_key_columns(&self) -> &[String] {
        self.primary_key.as_deref().unwrap_or(&self.order_by)
    }

    /// The table's MergeTree settings (defaults filled in).
    pub fn merge_tree_settings(&self) -> Result<MergeTreeSettings> {
        MergeTreeSettings::from_pairs(&self.settings)
    }

    /// The partition key as ClickHouse prints it (`system.tables.partition_key`).
    pub fn partition_key_text(&self) -> String {
        join(self.partition_by.iter().map(ToString::to_string))
    }

    /// The sorting key as ClickHouse prints it (`system.tables.sorting_key`).
    pub fn sorting_key_text(&self) -> String {
        join(self.order_by.iter().map(|name| quote_identifier(name)))
    }

    /// The primary key as ClickHouse prints it (`system.tables.primary_key`).
    pub fn primary_key_text(&self) -> String {
        join(
            self.primary_key_columns()
                .iter()
                .map(|name| quote_identifier(name)),
        )
    }

    /// The canonical `CREATE TABLE` statement for `name` (already quoted as needed), in
    /// ClickHouse's `SHOW CREATE TABLE` layout.
    pub fn create_statement(&self, name: &str) -> String {
        self.statement("CREATE", name)
    }

    /// The metadata file's text: the definition without the table's name, which is the file name,
    /// so that a rename is one file rename.
    pub fn metadata_text(&self) -> String {
        let mut text = self.statement("ATTACH", "_");
        text.push('\n');
        text
    }

    fn statement(&self, verb: &str, name: &str) -> String {
        let mut out = format!("{verb} TABLE {name}\n(\n");
        for (index, column) in self.columns.iter().enumerate() {
            let _ = write!(out, "    {}", column_declaration(column));
            out.push_str(if index + 1 < self.columns.len() {
                ",\n"
            } else {
                "\n"
            });
        }
        out.push_str(")\nENGINE = ");
        match &self.engine {
            EngineKind::MergeTree => out.push_str("MergeTree"),
            EngineKind::ReplacingMergeTree { version: None } => out.push_str("ReplacingMergeTree"),
            EngineKind::ReplacingMergeTree {
                version: Some(version),
            } => {
                let _ = write!(out, "ReplacingMergeTree({})", quote_identifier(version));
            }
            EngineKind::AggregatingMergeTree => out.push_str("AggregatingMergeTree"),
            EngineKind::SummingMergeTree { columns: None } => out.push_str("SummingMergeTree"),
            EngineKind::SummingMergeTree {
                columns: Some(columns),
            } => {
                let quoted: Vec<String> = columns.iter().map(|c| quote_identifier(c)).collect();
                let _ = write!(out, "SummingMergeTree(({}))", quoted.join(", "));
            }
        }
        if !self.partition_by.is_empty() {
            let _ = write!(
                out,
                "\nPARTITION BY {}",
                key_expression(self.partition_by.iter().map(sql_text))
            );
        }
        if let Some(primary) = &self.primary_key {
            let _ = write!(
                out,
                "\nPRIMARY KEY {}",
                key_expression(primary.iter().map(|name| quote_identifier(name)))
            );
        }
        let _ = write!(
            out,
            "\nORDER BY {}",
            key_expression(self.order_by.iter().map(|name| quote_identifier(name)))
        );
        let mut settings: Vec<String> = self
            .settings
            .iter()
            .map(|(name, value)| format!("{name} = {value}"))
            .collect();
        if !self
            .settings
            .iter()
            .any(|(name, _)| name == "index_granularity")
        {
            settings.push("index_granularity = 8192".into());
        }
        let _ = write!(out, "\nSETTINGS {}", settings.join(", "));
        if let Some(comment) = &self.comment {
            let _ = write!(out, "\nCOMMENT {}", quote_string(comment));
        }
        out
    }
}

/// One column as `SHOW CREATE TABLE` prints it.
fn column_declaration(column: &ColumnDefinition) -> String {
    let mut out = format!("{} {}", back_quote(&column.name), column.data_type);
    if let Some(default) = &column.default {
        let _ = write!(out, " DEFAULT {}", sql_text(default));
    }
    if let Some(comment) = &column.comment {
        let _ = write!(out, " COMMENT {}", quote_string(comment));
    }
    if let Some(codec) = column.codec {
        let _ = write!(out, " {}", crate::storage::codec_text(codec));
    }
    out
}

/// `a`, `(a, b)` or `tuple()`, as ClickHouse prints a key.
fn key_expression(items: impl Iterator<Item = String>) -> String {
    let items: Vec<String> = items.collect();
    match items.len() {
        0 => "tuple()".into(),
        1 => items[0].clone(),
        _ => format!("({})", items.join(", ")),
    }
}

fn join(items: impl Iterator<Item = String>) -> String {
    items.collect::<Vec<_>>().join(", ")
}

/// An identifier as ClickHouse prints it in expressions: bare when it is a plain word.
pub fn quote_identifier(name: &str) -> String {
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if plain {
        name.to_string()
    } else {
        back_quote(name)
    }
}

/// An identifier in back quotes (column declarations always quote).
pub fn back_quote(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 2);
    out.push('`');
    for c in name.chars() {
        match c {
            '`' => out.push_str("\\`"),
            '\\' => out.push_str("\\\\"),
            _ => out.push(c),
        }
    }
    out.push('`');
    out
}

/// A string literal in single quotes with ClickHouse's backslash escapes.
pub fn quote_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('\'');
    for c in text.chars() {
        match c {
            '\'' => out.push_str("\\'"),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\0' => out.push_str("\\0"),
            _ => out.push(c),
        }
    }
    out.push('\'');
    out
}

impl fmt::Display for SettingValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SettingValue::Number(text) => f.write_str(text),
            SettingValue::String(text) => f.write_str(&quote_string(text)),
        }
    }
}
