//! Runs SQL statements against the embedded engine and prints each result with its column names
//! and ClickHouse types, tab-separated — for comparing Granary with ClickHouse by hand:
//!
//! ```sh
//! cargo run -p granary-conformance --example sql -- "SELECT toDate('2024-02-29') + 1"
//! ```
//!
//! The data directory is a fresh temporary one unless `GRANARY_DATA_DIR` names one.

use std::io::Write;

use futures::StreamExt;
use granary_conformance::result_rows;
use granary_engine::Database;
use granary_protocol::types::field_clickhouse_type;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let temporary = tempfile::tempdir().expect("a temporary directory");
    let dir = std::env::var_os("GRANARY_DATA_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| temporary.path().to_path_buf());
    let database = Database::open(&dir).expect("the data directory opens");
    let mut session = database.session();
    let mut out = std::io::stdout().lock();
    for sql in std::env::args().skip(1) {
        let lines = match run(&mut session, &sql).await {
            Ok(lines) => lines,
            Err(error) => vec![format!("error: {error}")],
        };
        let written = std::iter::once(sql.clone())
            .chain(lines.iter().map(|line| format!("  {line}")))
            .try_for_each(|line| writeln!(out, "{line}"));
        if written.is_err() {
            return;
        }
    }
}

async fn run(
    session: &mut granary_engine::Session,
    sql: &str,
) -> Result<Vec<String>, granary_conformance::ConformanceError> {
    let mut result = session.execute(sql).await?;
    let schema = result.schema();
    let mut batches = Vec::new();
    while let Some(batch) = result.next().await {
        batches.push(batch?);
    }
    if schema.fields().is_empty() {
        return Ok(vec![format!("ok, {} rows written", result.written_rows())]);
    }
    let names: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
    let types: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| {
            field_clickhouse_type(f)
                .map(|t| t.to_string())
                .unwrap_or_else(|e| format!("?{e}"))
        })
        .collect();
    let mut lines = vec![names.join("\t"), types.join("\t")];
    lines.extend(result_rows(&batches)?.iter().map(|row| row.join("\t")));
    Ok(lines)
}
