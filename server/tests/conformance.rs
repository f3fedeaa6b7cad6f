//! Every suite in `conformance/suites/` over the PostgreSQL wire protocol and over ClickHouse's
//! native protocol: each file against a server process of its own (fresh data directory), through
//! tokio-postgres and through Granary's Rust client. The pgwire runner reads
//! PostgreSQL's text back as ClickHouse's (`granary_conformance::PgDb`); records whose PostgreSQL
//! form differs are marked `onlyif pgwire`/`skipif pgwire` in the files.

mod common;

use common::ServerProcess;
use granary_conformance::{NativeDb, PgDb, run_file, suite_files};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suites_pass_over_pgwire() {
    let files = suite_files().expect("conformance/suites is readable");
    assert!(!files.is_empty(), "no suite matched");
    let mut failures = Vec::new();
    for (_, path) in files {
        let server = ServerProcess::start();
        let addr = server.addr;
        failures.extend(
            run_file(&path, &["pgwire"], move || {
                PgDb::connect(addr, "default", "default")
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suites_pass_over_the_native_protocol() {
    let files = suite_files().expect("conformance/suites is readable");
    assert!(!files.is_empty(), "no suite matched");
    let mut failures = Vec::new();
    for (_, path) in files {
        let server = ServerProcess::start();
        let address = server.native_addr.to_string();
        failures.extend(
            run_file(&path, &["native"], move || {
                let address = address.clone();
                async move { NativeDb::connect(&address, "default", "default").await }
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
