//! Every suite in `conformance/suites/` against the embedded engine, each file on a fresh data
//! directory. All files run; the failures are reported together.

use granary_conformance::{EngineDb, run_file, suite_files};
use granary_engine::Database;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suites_pass_on_the_embedded_engine() {
    let files = suite_files().expect("conformance/suites is readable");
    assert!(!files.is_empty(), "no suite matched");
    let mut failures = Vec::new();
    for (_, path) in files {
        let dir = tempfile::tempdir().unwrap();
        let database = Database::open(dir.path()).unwrap();
        failures.extend(
            run_file(&path, &["engine"], || {
                let db = EngineDb::new(&database);
                async move { Ok(db) }
            })
            .await,
        );
    }
    assert!(
        failures.is_empty(),
        "{} failing records:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
