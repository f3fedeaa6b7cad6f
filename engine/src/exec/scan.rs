//! A MergeTree table as a DataFusion table: the provider plans a scan over one snapshot of the
//! table's parts, pruned by the partitions' min/max indexes and the primary key, and the scan
//! reads granule ranges in parallel on blocking threads, streaming one batch per range.
//!
//! ```text
//! filters ─▶ pruning::key_condition ─▶ parts whose minmax may match ─▶ select_granules(primary.idx)
//!     ─▶ ReadTask { part, granules ≤ GRANULES_PER_TASK } ─▶ round-robin over DataFusion partitions
//!     ─▶ spawn_blocking: DataPart::read_granules ─▶ RecordBatch stream
//! FINAL: one task per partition ─▶ TableData::read_final (k-way merge + merging algorithm)
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use arrow_schema::SchemaRef;
use async_trait::async_trait;
use datafusion::catalog::Session;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{Statistics, stats::Precision};
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::Result as DfResult;
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchReceiverStream;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
    SendableRecordBatchStream,
};
use granary_protocol::{DataType, ErrorCode};

use super::limits::QueryLimits;
use super::pruning::key_condition;
use crate::catalog::Table;
use crate::error::{Error, Result};
use crate::storage::key_condition::{KeyCondition, part_may_match, select_granules};
use crate::storage::{DataPart, ReadStats, index_value_type};

/// Granules read as one batch (8 × 8192 rows by default).
const GRANULES_PER_TASK: usize = 8;
/// Rows per batch of a FINAL scan.
const FINAL_CHUNK_ROWS: usize = 65_536;

/// What a query read, shared by every scan of the query (a session-config extension).
#[derive(Debug, Default)]
pub struct QueryStats {
    /// Rows and bytes read from parts.
    pub read: ReadStats,
}

/// A table as DataFusion sees it; with `final_`, as `SELECT ... FINAL` sees it.
#[derive(Debug)]
pub struct MergeTreeProvider {
    table: Arc<Table>,
    final_: bool,
}

impl MergeTreeProvider {
    /// The provider of `table`.
    pub fn new(table: Arc<Table>, final_: bool) -> MergeTreeProvider {
        MergeTreeProvider { table, final_ }
    }
}

#[async_trait]
impl TableProvider for MergeTreeProvider {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.table.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DfResult<Vec<TableProviderFilterPushDown>> {
        // The scan only skips granules that cannot match; DataFusion still filters the rows.
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let stats = state
            .config()
            .get_extension::<QueryStats>()
            .unwrap_or_default();
        let partitions = state.config().target_partitions().max(1);
        let plan = plan_scan(
            &self.table,
            self.final_,
            projection.cloned(),
            filters,
            partitions,
            stats,
        )?;
        // The rows `max_rows_to_read` counts: a LIMIT without filters reads no more than it.
        let rows_to_read = match limit {
            Some(limit) => plan.rows_to_read.min(limit as u64),
            None => plan.rows_to_read,
        };
        Ok(Arc::new(MergeTreeScan {
            rows_to_read,
            ..plan
        }))
    }
}

/// One unit of reading.
#[derive(Debug, Clone)]
enum ReadTask {
    /// Granules of one part.
    Granules {
        part: Arc<DataPart>,
        granules: Range<usize>,
    },
    /// All parts of one partition, merged as FINAL.
    Final { parts: Vec<Arc<DataPart>> },
}

fn plan_scan(
    table: &Arc<Table>,
    final_: bool,
    projection: Option<Vec<usize>>,
    filters: &[Expr],
    partitions: usize,
    stats: Arc<QueryStats>,
) -> Result<MergeTreeScan> {
    if final_ && !table.data.layout().merging.supports_final() {
        return Err(Error::query(
            ErrorCode::ILLEGAL_FINAL,
            format!(
                "storage {} doesn't support FINAL",
                table.definition.engine.name()
            ),
        ));
    }
    let projection: Vec<usize> =
        projection.unwrap_or_else(|| (0..table.schema.fields().len()).collect());
    let schema = Arc::new(table.schema.project(&projection)?);
    let snapshot = table.data.snapshot()?;
    let layout = table.data.layout();
    let column_types: Vec<(String, DataType)> = layout
        .columns
        .iter()
        .map(|column| (column.name.clone(), column.data_type.clone()))
        .collect();
    let index_columns = |positions: &[usize]| -> Vec<(String, DataType)> {
        positions
            .iter()
            .map(|index| column_types[*index].clone())
            .collect()
    };
    let minmax_columns = index_columns(&layout.minmax_columns);
    let minmax_condition = condition_on(filters, &minmax_columns);
    let primary_columns = index_columns(&layout.sorting_key[..layout.primary_key_len]);
    let primary_condition = condition_on(filters, &primary_columns);
    let primary_types: Vec<DataType> = primary_columns.iter().map(|(_, t)| t.clone()).collect();
    // What `force_primary_key` refuses: a key that this scan's filters do not narrow.
    let unused_primary_key = (!primary_columns.is_empty()
        && !snapshot.parts.is_empty()
        && primary_condition.is_unconstrained())
    .then(|| {
        primary_columns
            .iter()
            .map(|(name, _)| name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    });

    let mut tasks = Vec::new();
    let mut total_granules = 0usize;
    let mut selected_granules = 0usize;
    let mut selected_parts = 0usize;
    let mut by_partition: BTreeMap<String, Vec<Arc<DataPart>>> = BTreeMap::new();
    for part in &snapshot.parts {
        total_granules += part.granule_count();
        if !minmax_columns.is_empty()
            && !part_may_match(&part.minmax(&minmax_columns)?, &minmax_condition)?
        {
            continue;
        }
        if final_ {
            selected_parts += 1;
            selected_granules += part.granule_count();
            by_partition
                .entry(part.info.partition_id.clone())
                .or_default()
                .push(Arc::clone(part));
            continue;
        }
        let ranges: Vec<Range<usize>> = if primary_condition.alternatives.is_empty() {
            Vec::new()
        } else if primary_types.is_empty() {
            std::iter::once(0..part.granule_count()).collect()
        } else {
            select_granules(&part.primary_index(&primary_types)?, &primary_condition)?
        };
        if !ranges.is_empty() {
            selected_parts += 1;
        }
        for range in ranges {
            selected_granules += range.len();
            let mut start = range.start;
            while start < range.end {
                let end = (start + GRANULES_PER_TASK).min(range.end);
                tasks.push(ReadTask::Granules {
                    part: Arc::clone(part),
                    granules: start..end,
                });
                start = end;
            }
        }
    }
    tasks.extend(
        by_partition
            .into_values()
            .map(|parts| ReadTask::Final { parts }),
    );
    let rows: u64 = tasks
        .iter()
        .map(|task| match task {
            ReadTask::Granules { part, granules } => {
                part.granule_rows[granules.clone()].iter().sum::<u64>()
            }
            ReadTask::Final { parts } => parts.iter().map(|part| part.rows).sum(),
        })
        .sum();
    let partition_count = partitions.min(tasks.len()).max(1);
    let mut assigned: Vec<Vec<ReadTask>> = vec![Vec::new(); partition_count];
    for (index, task) in tasks.into_iter().enumerate() {
        assigned[index % partition_count].push(task);
    }
    let properties = PlanProperties::new(
        EquivalenceProperties::new(Arc::clone(&schema)),
        Partitioning::UnknownPartitioning(partition_count),
        EmissionType::Incremental,
        Boundedness::Bounded,
    );
    Ok(MergeTreeScan {
        table: Arc::clone(table),
        schema,
        projection,
        final_,
        tasks: Arc::new(assigned),
        rows: if final_ {
            Precision::Inexact(rows as usize)
        } else {
            Precision::Exact(rows as usize)
        },
        summary: format!(
            "parts={selected_parts}/{}, granules={selected_granules}/{total_granules}",
            snapshot.parts.len()
        ),
        unused_primary_key,
        rows_to_read: rows,
        stats,
        properties: Arc::new(properties),
    })
}

/// The key condition of `filters` on `columns` (in the index's value types).
fn condition_on(filters: &[Expr], columns: &[(String, DataType)]) -> KeyCondition {
    let typed: Vec<(String, arrow_schema::DataType)> = columns
        .iter()
        .map(|(name, data_type)| (name.clone(), index_value_type(data_type).to_arrow()))
        .collect();
    key_condition(filters, &typed)
}

/// The physical scan of a MergeTree table.
#[derive(Debug)]
pub struct MergeTreeScan {
    table: Arc<Table>,
    schema: SchemaRef,
    projection: Vec<usize>,
    final_: bool,
    tasks: Arc<Vec<Vec<ReadTask>>>,
    rows: Precision<usize>,
    summary: String,
    /// The primary key (its columns) when the filters do not narrow it.
    unused_primary_key: Option<String>,
    /// The rows the scan is to read, checked against `max_rows_to_read` before it starts.
    rows_to_read: u64,
    stats: Arc<QueryStats>,
    properties: Arc<PlanProperties>,
}

impl MergeTreeScan {
    /// What the query's limits say of this scan before it reads: `force_primary_key` and the
    /// rows the primary key left to read against `max_rows_to_read`.
    fn check_limits(&self, limits: &QueryLimits) -> Result<()> {
        if limits.force_primary_key
            && let Some(key) = &self.unused_primary_key
        {
            return Err(Error::query(
                ErrorCode::INDEX_NOT_USED,
                format!("Primary key ({key}) is not used and setting 'force_primary_key' is set"),
            ));
        }
        limits.check_rows_to_read(self.rows_to_read)
    }
}

impl DisplayAs for MergeTreeScan {
    fn fmt_as(&self, _format: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "MergeTreeScan: {}.{}{}, {}",
            self.table.database,
            self.table.name,
            if self.final_ { " FINAL" } else { "" },
            self.summary
        )
    }
}

impl ExecutionPlan for MergeTreeScan {
    fn name(&self) -> &str {
        "MergeTreeScan"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        Vec::new()
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> DfResult<TreeNodeRecursion>,
    ) -> DfResult<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        _children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        Ok(self)
    }

    fn partition_statistics(&self, partition: Option<usize>) -> DfResult<Arc<Statistics>> {
        let mut statistics = Statistics::new_unknown(&self.schema);
        if partition.is_none() {
            statistics.num_rows = self.rows;
        }
        Ok(Arc::new(statistics))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> DfResult<SendableRecordBatchStream> {
        let limits = context
            .session_config()
            .get_extension::<QueryLimits>()
            .unwrap_or_default();
        self.check_limits(&limits)?;
        let tasks = self.tasks.get(partition).cloned().unwrap_or_default();
        let mut builder = RecordBatchReceiverStream::builder(Arc::clone(&self.schema), 2);
        let sender = builder.tx();
        let table = Arc::clone(&self.table);
        let projection = self.projection.clone();
        let stats = Arc::clone(&self.stats);
        builder.spawn_blocking(move || {
            let columns: Vec<(String, DataType)> = projection
                .iter()
                .map(|index| {
                    let column = &table.data.layout().columns[*index];
                    (column.name.clone(), column.data_type.clone())
                })
                .collect();
            for task in tasks {
                match task {
                    ReadTask::Granules { part, granules } => {
                        // Past the limit with what the query's scans have read so far.
                        limits.check_rows_to_read(stats.read.rows())?;
                        let batch = part.read_granules(&columns, granules, &stats.read)?;
                        if sender.blocking_send(Ok(batch)).is_err() {
                            return Ok(()); // the query stopped reading
                        }
                    }
                    ReadTask::Final { parts } => {
                        limits.check_rows_to_read(stats.read.rows())?;
                        let mut stream = table.data.read_final(&parts, FINAL_CHUNK_ROWS)?;
                        while let Some(chunk) = stream.next_chunk()? {
                            let batch = chunk.project(&projection)?;
                            if sender.blocking_send(Ok(batch)).is_err() {
                                return Ok(());
                            }
                        }
                        stats
                            .read
                            .add(stream.stats().rows(), stream.stats().bytes());
                    }
                }
            }
            Ok(())
        });
        Ok(builder.build())
    }
}
