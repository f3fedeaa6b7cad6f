//! Every suite in `conformance/suites/` against the embedded engine, each file on a fresh data
//! directory. All files run; the failures are reported together.

use granary_conformance::{EngineDb, suite_files};
use granary_engine::Database;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suites_pass_on_the_embedded_engine() {
    let filter = std::env::var("GRANARY_SUITE").ok();
    let mut failures = Vec::new();
    let mut ran = 0;
    for path in suite_files().expect("conformance/suites is readable") {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if filter
            .as_ref()
            .is_some_and(|filter| !name.contains(filter.as_str()))
        {
            continue;
        }
        let dir = tempfile::tempdir().unwrap();
        let database = Database::open(dir.path()).unwrap();
        let mut runner = sqllogictest::Runner::new(|| {
            let db = EngineDb::new(&database);
            async move { Ok(db) }
        });
        // `skipif granary` marks what Granary does not do yet (each file says what).
        runner.add_label("granary");
        let records = sqllogictest::parse_file::<sqllogictest::DefaultColumnType>(&path)
            .unwrap_or_else(|error| panic!("{name} does not parse: {error}"));
        for record in records {
            if let Err(error) = runner.run_async(record).await {
                failures.push(format!("{name}: {}", error.display(false)));
            }
        }
        ran += 1;
    }
    assert!(ran > 0, "no suite matched");
    assert!(
        failures.is_empty(),
        "{} failing records:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
