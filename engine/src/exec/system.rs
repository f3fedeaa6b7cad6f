//! The `system` database: `databases`, `tables`, `columns`, `parts`, `one` and `numbers`, with ClickHouse's
//! column names and types, built from the catalog when a query names them (each query sees one
//! consistent snapshot of every table's parts).

use std::sync::Arc;

use arrow_array::{
    ArrayRef, RecordBatch, StringArray, TimestampSecondArray, UInt8Array, UInt64Array,
};
use arrow_array::{Int64Array, UInt32Array};
use arrow_schema::Schema;
use async_trait::async_trait;
use datafusion::catalog::SchemaProvider;
use datafusion::datasource::{MemTable, TableProvider};
use datafusion::error::Result as DfResult;
use granary_protocol::DataType;
use granary_protocol::types::field_for;

use crate::catalog::definition::quote_string;
use crate::catalog::{Catalog, SYSTEM_DATABASE, Table};
use crate::error::Result;

const TABLES: &[&str] = &["columns", "databases", "numbers", "one", "parts", "tables"];

/// The system database.
#[derive(Debug)]
pub struct SystemSchema {
    catalog: Arc<Catalog>,
}

impl SystemSchema {
    /// The system tables of `catalog`.
    pub fn new(catalog: Arc<Catalog>) -> SystemSchema {
        SystemSchema { catalog }
    }

    /// The names of the system tables, sorted.
    pub fn table_names_sorted(&self) -> Vec<String> {
        TABLES.iter().map(|name| name.to_string()).collect()
    }
}

#[async_trait]
impl SchemaProvider for SystemSchema {
    fn table_names(&self) -> Vec<String> {
        TABLES.iter().map(|name| name.to_string()).collect()
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        let batch = match name {
            "numbers" => return Ok(Some(super::numbers::system_numbers()?)),
            "databases" => databases(&self.catalog)?,
            "tables" => tables(&self.catalog)?,
            "columns" => columns(&self.catalog)?,
            "parts" => parts(&self.catalog)?,
            "one" => {
                let mut table = Columns::default();
                table.push(
                    "dummy",
                    DataType::UInt8,
                    Arc::new(UInt8Array::from(vec![0u8])),
                );
                table.finish()?
            }
            _ => return Ok(None),
        };
        let provider = MemTable::try_new(batch.schema(), vec![vec![batch]])?;
        Ok(Some(Arc::new(provider)))
    }

    fn table_exist(&self, name: &str) -> bool {
        TABLES.contains(&name)
    }
}

/// A system table under construction: named, typed columns.
#[derive(Default)]
struct Columns {
    fields: Vec<arrow_schema::Field>,
    arrays: Vec<ArrayRef>,
}

impl Columns {
    fn push(&mut self, name: &str, data_type: DataType, array: ArrayRef) {
        self.fields.push(field_for(name, &data_type));
        self.arrays.push(array);
    }

    fn strings(&mut self, name: &str, values: Vec<String>) {
        self.push(name, DataType::String, Arc::new(StringArray::from(values)));
    }

    fn u64s(&mut self, name: &str, values: Vec<u64>) {
        self.push(name, DataType::UInt64, Arc::new(UInt64Array::from(values)));
    }

    fn flags(&mut self, name: &str, values: Vec<bool>) {
        let values: Vec<u8> = values.into_iter().map(u8::from).collect();
        self.push(name, DataType::UInt8, Arc::new(UInt8Array::from(values)));
    }

    fn finish(self) -> Result<RecordBatch> {
        Ok(RecordBatch::try_new(
            Arc::new(Schema::new(self.fields)),
            self.arrays,
        )?)
    }
}

fn databases(catalog: &Catalog) -> Result<RecordBatch> {
    let names = catalog.database_names()?;
    let engines = names
        .iter()
        .map(|name| {
            if name == SYSTEM_DATABASE {
                "Memory"
            } else {
                "Atomic"
            }
            .to_string()
        })
        .collect();
    let comments = vec![String::new(); names.len()];
    let mut table = Columns::default();
    table.strings("name", names);
    table.strings("engine", engines);
    table.strings("comment", comments);
    table.finish()
}

fn tables(catalog: &Catalog) -> Result<RecordBatch> {
    let all = catalog.all_tables()?;
    let snapshots = all
        .iter()
        .map(|table| table.data.snapshot())
        .collect::<Result<Vec<_>>>()?;
    let mut table = Columns::default();
    let text = |f: &dyn Fn(&Table) -> String| all.iter().map(|t| f(t)).collect::<Vec<_>>();
    table.strings("database", text(&|t| t.database.clone()));
    table.strings("name", text(&|t| t.name.clone()));
    table.strings("engine", text(&|t| t.definition.engine.name().to_string()));
    table.flags("is_temporary", vec![false; all.len()]);
    table.strings(
        "create_table_query",
        text(&|t| {
            t.definition
                .create_statement(&format!("{}.{}", t.database, t.name))
        }),
    );
    table.strings(
        "partition_key",
        text(&|t| t.definition.partition_key_text()),
    );
    table.strings("sorting_key", text(&|t| t.definition.sorting_key_text()));
    table.strings("primary_key", text(&|t| t.definition.primary_key_text()));
    table.push(
        "total_rows",
        DataType::Nullable(Box::new(DataType::UInt64)),
        Arc::new(UInt64Array::from(
            snapshots.iter().map(|s| Some(s.rows())).collect::<Vec<_>>(),
        )),
    );
    table.push(
        "total_bytes",
        DataType::Nullable(Box::new(DataType::UInt64)),
        Arc::new(UInt64Array::from(
            snapshots
                .iter()
                .map(|s| Some(s.parts.iter().map(|p| p.bytes_on_disk).sum::<u64>()))
                .collect::<Vec<_>>(),
        )),
    );
    table.u64s(
        "parts",
        snapshots.iter().map(|s| s.parts.len() as u64).collect(),
    );
    table.strings(
        "comment",
        text(&|t| t.definition.comment.clone().unwrap_or_default()),
    );
    table.finish()
}

fn columns(catalog: &Catalog) -> Result<RecordBatch> {
    let mut rows: Vec<(Arc<Table>, usize)> = Vec::new();
    for table in catalog.all_tables()? {
        for index in 0..table.definition.columns.len() {
            rows.push((Arc::clone(&table), index));
        }
    }
    let text = |f: &dyn Fn(&Table, usize) -> String| {
        rows.iter()
            .map(|(table, index)| f(table, *index))
            .collect::<Vec<_>>()
    };
    let flag = |f: &dyn Fn(&Table, &str) -> bool| {
        rows.iter()
            .map(|(table, index)| f(table, &table.definition.columns[*index].name))
            .collect::<Vec<_>>()
    };
    let mut table = Columns::default();
    table.strings("database", text(&|t, _| t.database.clone()));
    table.strings("table", text(&|t, _| t.name.clone()));
    table.strings("name", text(&|t, i| t.definition.columns[i].name.clone()));
    table.strings(
        "type",
        text(&|t, i| t.definition.columns[i].data_type.to_string()),
    );
    table.u64s(
        "position",
        rows.iter().map(|(_, index)| *index as u64 + 1).collect(),
    );
    table.strings(
        "default_kind",
        text(&|t, i| {
            if t.definition.columns[i].default.is_some() {
                "DEFAULT".into()
            } else {
                String::new()
            }
        }),
    );
    table.strings(
        "default_expression",
        text(&|t, i| {
            t.definition.columns[i]
                .default
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default()
        }),
    );
    table.strings(
        "comment",
        text(&|t, i| t.definition.columns[i].comment.clone().unwrap_or_default()),
    );
    table.flags(
        "is_in_partition_key",
        flag(&|t, name| {
            let index = t.definition.column_index(name);
            t.data
                .layout()
                .minmax_columns
                .iter()
                .any(|c| Some(*c) == index)
        }),
    );
    table.flags(
        "is_in_sorting_key",
        flag(&|t, name| t.definition.order_by.iter().any(|c| c == name)),
    );
    table.flags(
        "is_in_primary_key",
        flag(&|t, name| t.definition.primary_key_columns().iter().any(|c| c == name)),
    );
    table.strings(
        "compression_codec",
        text(&|t, i| {
            t.definition.columns[i]
                .codec
                .map(crate::storage::codec_text)
                .unwrap_or_default()
        }),
    );
    table.finish()
}

fn parts(catalog: &Catalog) -> Result<RecordBatch> {
    let mut rows = Vec::new();
    for table in catalog.all_tables()? {
        for part in table.data.snapshot()?.parts.iter() {
            rows.push((Arc::clone(&table), Arc::clone(part)));
        }
    }
    let mut partitions = Vec::with_capacity(rows.len());
    for (table, part) in &rows {
        let value = table.data.partition_value(part)?;
        partitions.push(partition_text(&value)?);
    }
    let mut table = Columns::default();
    table.strings("partition", partitions);
    table.strings("name", rows.iter().map(|(_, part)| part.name()).collect());
    table.strings("part_type", vec!["Wide".to_string(); rows.len()]);
    table.flags("active", vec![true; rows.len()]);
    table.u64s(
        "marks",
        rows.iter()
            .map(|(_, part)| part.granule_count() as u64 + 1)
            .collect(),
    );
    table.u64s("rows", rows.iter().map(|(_, part)| part.rows).collect());
    table.u64s(
        "bytes_on_disk",
        rows.iter().map(|(_, part)| part.bytes_on_disk).collect(),
    );
    table.push(
        "modification_time",
        DataType::DateTime(None),
        Arc::new(TimestampSecondArray::from(
            rows.iter()
                .map(|(_, part)| {
                    part.modification_time
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|age| age.as_secs() as i64)
                        .unwrap_or(0)
                })
                .collect::<Vec<_>>(),
        )),
    );
    table.strings(
        "partition_id",
        rows.iter()
            .map(|(_, part)| part.info.partition_id.clone())
            .collect(),
    );
    table.push(
        "min_block_number",
        DataType::Int64,
        Arc::new(Int64Array::from(
            rows.iter()
                .map(|(_, part)| part.info.min_block as i64)
                .collect::<Vec<_>>(),
        )),
    );
    table.push(
        "max_block_number",
        DataType::Int64,
        Arc::new(Int64Array::from(
            rows.iter()
                .map(|(_, part)| part.info.max_block as i64)
                .collect::<Vec<_>>(),
        )),
    );
    table.push(
        "level",
        DataType::UInt32,
        Arc::new(UInt32Array::from(
            rows.iter()
                .map(|(_, part)| part.info.level)
                .collect::<Vec<_>>(),
        )),
    );
    table.strings(
        "database",
        rows.iter().map(|(t, _)| t.database.clone()).collect(),
    );
    table.strings("table", rows.iter().map(|(t, _)| t.name.clone()).collect());
    table.strings(
        "path",
        rows.iter()
            .map(|(_, part)| part.dir.display().to_string())
            .collect(),
    );
    table.finish()
}

/// A partition value as ClickHouse prints it: `tuple()`, `202401`, `'2024-01-01'`, `(1, 'x')`.
fn partition_text(value: &[(DataType, ArrayRef)]) -> Result<String> {
    let options = datafusion::arrow::util::display::FormatOptions::default();
    let items = value
        .iter()
        .map(|(data_type, array)| {
            let formatter = datafusion::arrow::util::display::ArrayFormatter::try_new(
                array.as_ref(),
                &options,
            )?;
            let text = formatter.value(0).to_string();
            let quoted = matches!(
                data_type.strip_nullable(),
                DataType::String
                    | DataType::FixedString(_)
                    | DataType::Date
                    | DataType::Date32
                    | DataType::DateTime(_)
                    | DataType::DateTime64(..)
                    | DataType::Uuid
                    | DataType::Enum8(_)
                    | DataType::Enum16(_)
            );
            Ok(if quoted { quote_string(&text) } else { text })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(match items.len() {
        0 => "tuple()".into(),
        1 => items[0].clone(),
        _ => format!("({})", items.join(", ")),
    })
}
