//! `numbers(N)`, `numbers(start, N)` and `system.numbers`: a `number UInt64` column counting up,
//! generated lazily in blocks, so `system.numbers` (which never ends) stops when its reader does
//! (under a `LIMIT`). DataFusion refuses to sort or aggregate an infinite input; a `LIMIT` it
//! pushes into the scan (`SELECT count() FROM (SELECT number FROM system.numbers LIMIT 10)`)
//! makes `system.numbers` a finite table for that query.

use std::sync::Arc;

use arrow_array::{RecordBatch, UInt64Array};
use arrow_schema::{Schema, SchemaRef};
use datafusion::catalog::TableFunctionImpl;
use datafusion::catalog::streaming::StreamingTable;
use datafusion::common::{Result as DfResult, ScalarValue};
use datafusion::datasource::TableProvider;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::PartitionStream;
use granary_protocol::ErrorCode;
use granary_protocol::types::{DataType, field_for};

use super::limits::QueryLimits;
use super::scan::QueryStats;
use crate::Error;

/// Rows per generated block (ClickHouse's default block size).
const BLOCK_ROWS: u64 = 65_536;

/// `system.numbers`: the numbers from 0, without end unless the scan is limited.
pub fn system_numbers() -> DfResult<Arc<dyn TableProvider>> {
    Ok(Arc::new(SystemNumbers {
        unlimited: numbers_table(0, None)?,
    }))
}

#[derive(Debug)]
struct SystemNumbers {
    unlimited: Arc<dyn TableProvider>,
}

#[async_trait::async_trait]
impl TableProvider for SystemNumbers {
    fn schema(&self) -> SchemaRef {
        self.unlimited.schema()
    }

    fn table_type(&self) -> datafusion::logical_expr::TableType {
        datafusion::logical_expr::TableType::Temporary
    }

    async fn scan(
        &self,
        state: &dyn datafusion::catalog::Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn datafusion::physical_plan::ExecutionPlan>> {
        match limit {
            // A pushed-down limit comes with no filter to apply first: the first rows are it.
            Some(limit) if filters.is_empty() => {
                numbers_table(0, Some(limit as u64))?
                    .scan(state, projection, filters, Some(limit))
                    .await
            }
            _ => self.unlimited.scan(state, projection, filters, limit).await,
        }
    }
}

/// The numbers `start..start + count` (unbounded without a count) as a table.
pub fn numbers_table(start: u64, count: Option<u64>) -> DfResult<Arc<dyn TableProvider>> {
    let schema = Arc::new(Schema::new(vec![field_for("number", &DataType::UInt64)]));
    let stream = Arc::new(Numbers {
        schema: Arc::clone(&schema),
        start,
        count,
    });
    let table = StreamingTable::try_new(schema, vec![stream])?.with_infinite_table(count.is_none());
    Ok(Arc::new(table))
}

/// The `numbers` table function.
#[derive(Debug, Default)]
pub struct NumbersFunction;

impl TableFunctionImpl for NumbersFunction {
    fn call(&self, args: &[Expr]) -> DfResult<Arc<dyn TableProvider>> {
        let values: Vec<u64> = args.iter().map(argument).collect::<DfResult<_>>()?;
        match values.as_slice() {
            [count] => numbers_table(0, Some(*count)),
            [start, count] => numbers_table(*start, Some(*count)),
            _ => Err(Error::query(
                ErrorCode::NUMBER_OF_ARGUMENTS_DOESNT_MATCH,
                format!(
                    "Table function 'numbers' requires 1 or 2 arguments: (N) or (offset, N), got {}",
                    args.len()
                ),
            )
            .into()),
        }
    }
}

fn argument(expr: &Expr) -> DfResult<u64> {
    let value = match expr {
        Expr::Literal(value, _) => match value {
            ScalarValue::UInt64(Some(v)) => Some(*v),
            ScalarValue::Int64(Some(v)) => u64::try_from(*v).ok(),
            ScalarValue::UInt8(Some(v)) => Some(u64::from(*v)),
            ScalarValue::UInt16(Some(v)) => Some(u64::from(*v)),
            ScalarValue::UInt32(Some(v)) => Some(u64::from(*v)),
            _ => None,
        },
        _ => None,
    };
    value.ok_or_else(|| {
        Error::query(
            ErrorCode::ILLEGAL_TYPE_OF_ARGUMENT,
            format!("the arguments of table function 'numbers' must be non-negative integer literals, not {expr}"),
        )
        .into()
    })
}

#[derive(Debug)]
struct Numbers {
    schema: SchemaRef,
    start: u64,
    count: Option<u64>,
}

impl PartitionStream for Numbers {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let schema = Arc::clone(&self.schema);
        // Generated rows count as read, as ClickHouse counts them (Progress, read_rows).
        let stats = ctx
            .session_config()
            .get_extension::<QueryStats>()
            .unwrap_or_default();
        let limits = ctx
            .session_config()
            .get_extension::<QueryLimits>()
            .unwrap_or_default();
        let end = self.count.map(|count| self.start.saturating_add(count));
        let blocks = futures::stream::unfold(Some(self.start), move |next| {
            let schema = Arc::clone(&schema);
            let stats = Arc::clone(&stats);
            let limits = Arc::clone(&limits);
            async move {
                let next = next?;
                let mut rows = match end {
                    Some(end) if next >= end => return None,
                    Some(end) => (end - next).min(BLOCK_ROWS),
                    None => BLOCK_ROWS,
                };
                if let Some(limit) = limits.rows_to_read {
                    // Past `max_rows_to_read` only once a row beyond it is generated, so that a
                    // LIMIT within it (which stops reading) is answered, as in ClickHouse.
                    let read = stats.read.rows();
                    if let Err(error) = limits.check_rows_to_read(read) {
                        return Some((Err(error.into()), None));
                    }
                    rows = rows.min(limit.saturating_add(1) - read);
                }
                let stop = next.saturating_add(rows);
                stats.read.add(stop - next, (stop - next) * 8);
                let values = UInt64Array::from_iter_values(next..stop);
                let batch =
                    RecordBatch::try_new(schema, vec![Arc::new(values)]).map_err(Into::into);
                Some((batch, Some(stop)))
            }
        });
        Box::pin(RecordBatchStreamAdapter::new(
            Arc::clone(&self.schema),
            blocks,
        ))
    }
}
