//! A table in the catalog: its definition, its Arrow schema, and its data directory opened with the
//! storage layout the definition implies.

use std::path::Path;
use std::sync::Arc;

use arrow_schema::{Schema, SchemaRef};
use datafusion::execution::session_state::SessionState;
use granary_protocol::DataType;
use granary_protocol::compress::Method;
use granary_protocol::types::{field_clickhouse_type, field_for};

use super::definition::{EngineKind, TableDefinition, is_summable};
use crate::error::Result;
use crate::exec::expressions::TableExpression;
use crate::storage::merge::{AggregatingMerge, MergingAlgorithm, OrdinaryMerge, ReplacingMerge};
use crate::storage::table::{TableData, TableLayout};
use crate::storage::{PartColumn, PartWriter};

/// A MergeTree table.
#[derive(Debug)]
pub struct Table {
    /// Its database.
    pub database: String,
    /// Its name.
    pub name: String,
    /// What CREATE TABLE said.
    pub definition: TableDefinition,
    /// Its columns as Arrow fields carrying their ClickHouse types.
    pub schema: SchemaRef,
    /// Its parts.
    pub data: Arc<TableData>,
    /// The partition key's expressions (empty: one partition).
    pub partition_key: Vec<TableExpression>,
}

impl Table {
    /// Opens the table's data directory `dir` (creating it if needed) for `definition`.
    pub fn open(
        database: &str,
        name: &str,
        dir: &Path,
        definition: TableDefinition,
        functions: &SessionState,
    ) -> Result<Table> {
        let schema = table_schema(&definition);
        let partition_key = definition
            .partition_by
            .iter()
            .map(|expr| TableExpression::compile(functions, expr, &schema))
            .collect::<Result<Vec<_>>>()?;
        let layout = layout(&definition, &partition_key)?;
        let data = Arc::new(TableData::open(dir, layout)?);
        Ok(Table {
            database: database.to_string(),
            name: name.to_string(),
            definition,
            schema,
            data,
            partition_key,
        })
    }

    /// Checks everything [`Table::open`] checks of a definition without touching the disk: column
    /// types, keys, expressions, settings, the engine's arguments.
    pub fn validate(definition: &TableDefinition, functions: &SessionState) -> Result<()> {
        let schema = table_schema(definition);
        let partition_key = definition
            .partition_by
            .iter()
            .map(|expr| TableExpression::compile(functions, expr, &schema))
            .collect::<Result<Vec<_>>>()?;
        layout(definition, &partition_key).map(drop)
    }

    /// The types of the partition key's values.
    pub fn partition_key_types(&self) -> &[DataType] {
        &self.data.layout().partition_key_types
    }
}

/// The Arrow schema of a definition's columns.
pub fn table_schema(definition: &TableDefinition) -> SchemaRef {
    Arc::new(Schema::new(
        definition
            .columns
            .iter()
            .map(|column| field_for(&column.name, &column.data_type))
            .collect::<Vec<_>>(),
    ))
}

/// The storage layout a definition implies.
fn layout(definition: &TableDefinition, partition_key: &[TableExpression]) -> Result<TableLayout> {
    let settings = definition.merge_tree_settings()?;
    let index = |name: &String| {
        definition.column_index(name).ok_or_else(|| {
            crate::Error::Logical(format!("key column {name} is not a column of the table"))
        })
    };
    let sorting_key = definition
        .order_by
        .iter()
        .map(index)
        .collect::<Result<Vec<_>>>()?;
    let mut minmax_columns: Vec<usize> = partition_key
        .iter()
        .flat_map(|expr| expr.columns.iter().copied())
        .collect();
    minmax_columns.sort_unstable();
    minmax_columns.dedup();
    let partition_key_types = partition_key
        .iter()
        .map(|expr| Ok(field_clickhouse_type(&expr.field)?))
        .collect::<Result<Vec<_>>>()?;
    let column_types: Vec<DataType> = definition
        .columns
        .iter()
        .map(|column| column.data_type.clone())
        .collect();
    let merging: Arc<dyn MergingAlgorithm> = match &definition.engine {
        EngineKind::MergeTree => Arc::new(OrdinaryMerge),
        EngineKind::ReplacingMergeTree { version } => Arc::new(ReplacingMerge {
            version: version.as_ref().map(index).transpose()?,
        }),
        EngineKind::AggregatingMergeTree => Arc::new(AggregatingMerge::new(&column_types)?),
        EngineKind::SummingMergeTree { columns } => {
            let summed = match columns {
                Some(columns) => columns.iter().map(index).collect::<Result<Vec<_>>>()?,
                None => (0..definition.columns.len())
                    .filter(|column| {
                        !sorting_key.contains(column)
                            && !minmax_columns.contains(column)
                            && is_summable(&column_types[*column])
                    })
                    .collect(),
            };
            Arc::new(AggregatingMerge::summing(&column_types, &summed)?)
        }
    };
    Ok(TableLayout {
        columns: definition
            .columns
            .iter()
            .map(|column| PartColumn {
                name: column.name.clone(),
                data_type: column.data_type.clone(),
                codec: column.codec.unwrap_or(Method::Lz4),
            })
            .collect(),
        sorting_key,
        primary_key_len: definition.primary_key_columns().len(),
        partition_key_types,
        minmax_columns,
        writer: PartWriter {
            index_granularity: settings.index_granularity,
            index_granularity_bytes: settings.index_granularity_bytes,
            block_sizes: settings.block_sizes,
            default_codec: Method::Lz4,
        },
        dedup_windows: settings.dedup_windows,
        merging,
    })
}
