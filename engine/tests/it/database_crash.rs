//! The whole database killed (SIGKILL) during inserts while background merges run: every
//! acknowledged insert is there, whole, after a reopen; nothing torn is visible.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use arrow_array::{ArrayRef, RecordBatch, StringArray, UInt32Array};
use arrow_schema::{DataType as ArrowType, Field, Schema};
use granary_engine::{Database, DatabaseOptions, InsertOptions};

use crate::crash::spawn_self;

const CHILD_DIR: &str = "GRANARY_CRASH_TEST_DATABASE_DIR";
const ROWS_PER_INSERT: u32 = 300;

fn batch(insert: u32) -> RecordBatch {
    let start = insert * ROWS_PER_INSERT;
    let schema = Arc::new(Schema::new(vec![
        Field::new("k", ArrowType::UInt32, false),
        Field::new("p", ArrowType::UInt32, false),
        Field::new("s", ArrowType::Utf8, false),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(UInt32Array::from_iter_values(
                start..start + ROWS_PER_INSERT,
            )) as ArrayRef,
            Arc::new(UInt32Array::from_iter_values(
                (start..start + ROWS_PER_INSERT).map(|k| k % 3),
            )),
            Arc::new(StringArray::from_iter_values(
                (start..start + ROWS_PER_INSERT).map(|k| format!("value-{k}")),
            )),
        ],
    )
    .unwrap()
}

/// In the child: create the table once, then insert forever with tokens, announcing each
/// acknowledged insert on stdout, while merges run in the background.
fn run_child(dir: &str) -> ! {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let mut options = DatabaseOptions::default();
        options.merges.sleep_min = Duration::from_millis(1);
        options.merges.sleep_max = Duration::from_millis(5);
        let db = Database::open_with(dir, options).unwrap();
        db.execute(
            "CREATE TABLE IF NOT EXISTS t (k UInt32, p UInt32, s String) \
             ENGINE = MergeTree PARTITION BY p ORDER BY k",
        )
        .await
        .unwrap();
        let mut result = db
            .execute("SELECT count(*) FROM t")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let rows = result
            .pop()
            .map(|batch| {
                datafusion::arrow::compute::cast(batch.column(0), &ArrowType::UInt64)
                    .unwrap()
                    .as_any()
                    .downcast_ref::<arrow_array::UInt64Array>()
                    .unwrap()
                    .value(0)
            })
            .unwrap_or(0);
        let start = rows as u32 / ROWS_PER_INSERT;
        for insert in start.. {
            let options = InsertOptions {
                dedup_token: Some(format!("insert-{insert}")),
            };
            db.insert("t", vec![batch(insert)], options).await.unwrap();
            let mut stdout = std::io::stdout().lock();
            writeln!(stdout, "acked {insert}").unwrap();
            stdout.flush().unwrap();
        }
    });
    unreachable!()
}

#[test]
fn a_killed_database_keeps_every_acknowledged_insert() {
    if let Ok(dir) = std::env::var(CHILD_DIR) {
        run_child(&dir);
    }
    let root = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut acknowledged = Vec::new();
    for round in 0..4u64 {
        let (mut child, mut lines) = spawn_self(
            "database_crash::a_killed_database_keeps_every_acknowledged_insert",
            CHILD_DIR,
            root.path(),
        );
        let mut seen = 0;
        while seen < 5 + round as usize * 4 {
            let line = lines.next().expect("the child died early").unwrap();
            if let Some(insert) = line.strip_prefix("acked ") {
                acknowledged.push(insert.parse::<u32>().unwrap());
                seen += 1;
            }
        }
        std::thread::sleep(Duration::from_micros(round * 900));
        child.kill().unwrap();
        child.wait().unwrap();
        for line in lines.map_while(Result::ok) {
            if let Some(insert) = line.strip_prefix("acked ") {
                acknowledged.push(insert.parse().unwrap());
            }
        }
        let present: BTreeMap<u64, u64> = runtime.block_on(async {
            let db = Database::open_with(
                root.path(),
                DatabaseOptions {
                    background_merges: false,
                    ..DatabaseOptions::default()
                },
            )
            .unwrap();
            let batches = db
                .execute("SELECT CAST(k / 300 AS BIGINT UNSIGNED) AS i, count(*) FROM t GROUP BY i")
                .await
                .unwrap()
                .collect()
                .await
                .unwrap();
            let mut present = BTreeMap::new();
            for batch in batches {
                let inserts =
                    datafusion::arrow::compute::cast(batch.column(0), &ArrowType::UInt64).unwrap();
                let counts =
                    datafusion::arrow::compute::cast(batch.column(1), &ArrowType::UInt64).unwrap();
                let inserts = inserts
                    .as_any()
                    .downcast_ref::<arrow_array::UInt64Array>()
                    .unwrap();
                let counts = counts
                    .as_any()
                    .downcast_ref::<arrow_array::UInt64Array>()
                    .unwrap();
                for row in 0..batch.num_rows() {
                    present.insert(inserts.value(row), counts.value(row));
                }
            }
            present
        });
        for insert in &acknowledged {
            assert_eq!(
                present.get(&u64::from(*insert)),
                Some(&u64::from(ROWS_PER_INSERT)),
                "round {round}: acknowledged insert {insert} is whole"
            );
        }
        for (insert, count) in &present {
            assert_eq!(
                *count,
                u64::from(ROWS_PER_INSERT),
                "round {round}: insert {insert} is torn"
            );
        }
    }
}
