//! The SQL front door fuzzed: statements from the conformance suites (the checked-in corpus),
//! mutated token by token — brackets dropped or repeated, operators, literals, comments and
//! placeholders spliced in — then parsed, planned and run, in ClickHouse's dialect and in
//! PostgreSQL's. Whatever the text, the answer is rows or an error with a code; a panic anywhere
//! (which the session turns into LOGICAL_ERROR) or a hang fails the test with the statement.

use std::path::Path;

use granary_engine::postgres::PgContext;
use granary_protocol::ErrorCode;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use crate::support::open;

/// Pieces spliced into statements: the shapes that stress a parser and a planner.
const PIECES: &[&str] = &[
    "(",
    ")",
    "[",
    "]",
    ",",
    "'",
    "\"",
    "`",
    "\\",
    "--",
    "/*",
    "*/",
    "::",
    ";",
    "?",
    "$1",
    "$70000",
    "{p:UInt8}",
    "NULL",
    "-",
    "+",
    "*",
    "/",
    "%",
    "=",
    "<>",
    "||",
    "AND",
    "OR",
    "NOT",
    "IN",
    "SELECT",
    "FROM",
    "WHERE",
    "GROUP BY",
    "ORDER BY",
    "LIMIT",
    "UNION ALL",
    "JOIN",
    "ON",
    "ARRAY JOIN",
    "FINAL",
    "SETTINGS",
    "FORMAT",
    "AS",
    "CAST(",
    "::String",
    "tuple(",
    "[[",
    "]]",
    "((((((((",
    "))))))))",
    "1e308",
    "-9223372036854775808",
    "18446744073709551616",
    "0x",
    "'\\x00'",
    "'\u{00e9}'",
    "toDate('2024-02-30')",
    "range(",
    "repeat(",
    "arrayMap(x ->",
    "count()",
    "sum(",
    "avg(",
    "number",
    "numbers(",
    "t",
    "a",
    "b",
    "*",
];

/// Statements of the conformance suites (the corpus): every SQL line that is not expected
/// output, with a few tables to run them against.
fn corpus() -> Vec<String> {
    let suites = Path::new(env!("CARGO_MANIFEST_DIR")).join("../conformance/suites");
    let mut statements = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(&suites)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "slt"))
        .collect();
    files.sort();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let mut in_sql = false;
        for line in text.lines() {
            if line.starts_with("statement") || line.starts_with("query") {
                in_sql = true;
                continue;
            }
            if line == "----" || line.is_empty() {
                in_sql = false;
                continue;
            }
            if in_sql && !line.starts_with('#') {
                statements.push(line.to_string());
            }
        }
    }
    assert!(
        statements.len() > 200,
        "the corpus is the conformance suites"
    );
    statements
}

/// `sql` with its tokens (split at spaces and brackets) edited.
fn mutate(sql: &str, edits: &[(usize, usize, u8)]) -> String {
    let mut tokens: Vec<String> = Vec::new();
    let mut current = String::new();
    for c in sql.chars() {
        if c == ' ' || "()[],".contains(c) {
            if !current.is_empty() {
                tokens.push(std::mem::take(&mut current));
            }
            if c != ' ' {
                tokens.push(c.to_string());
            }
        } else {
            current.push(c);
        }
    }
    if !current.is_empty() {
        tokens.push(current);
    }
    for (at, piece, kind) in edits {
        let at = at % (tokens.len() + 1);
        let piece = PIECES[piece % PIECES.len()].to_string();
        match kind % 4 {
            0 => tokens.insert(at, piece),
            1 if at < tokens.len() => tokens[at] = piece,
            2 if at < tokens.len() => {
                tokens.remove(at);
            }
            _ if at < tokens.len() => {
                // The token repeated: a long chain or a deep nest.
                let token = tokens[at].clone();
                for _ in 0..(usize::from(*kind) % 40) {
                    tokens.insert(at, token.clone());
                }
            }
            _ => tokens.push(piece),
        }
    }
    tokens.join(" ")
}

/// Mutated statements run through both dialects: an error is fine, a panic or an error
/// without its code is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutated_statements_get_answers_or_coded_errors_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    let database = open(dir.path());
    let mut setup = database.session();
    for statement in [
        "CREATE TABLE t (a UInt64, b String, c Nullable(Float64), d Date, e Array(UInt8)) \
         ENGINE = MergeTree ORDER BY a",
        "INSERT INTO t SELECT number, toString(number), number / 3, toDate('2024-01-01') + \
         number, [1, 2] FROM numbers(1000)",
    ] {
        setup.execute(statement).await.unwrap();
    }
    let corpus = corpus();
    let context = PgContext::with_version("15.0");
    // Cases: the seed is fixed so a failure is reproducible; PROPTEST_CASES runs more.
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(2000);
    let mut runner = TestRunner::new_with_rng(
        Config {
            cases,
            failure_persistence: None,
            ..Config::default()
        },
        proptest::test_runner::TestRng::deterministic_rng(
            proptest::test_runner::RngAlgorithm::ChaCha,
        ),
    );
    let strategy = (
        0..corpus.len(),
        proptest::collection::vec((any::<usize>(), any::<usize>(), any::<u8>()), 1..5),
    );
    let mut generated = Vec::new();
    for _ in 0..cases {
        let tree = strategy.new_tree(&mut runner).unwrap();
        let (seed, edits) = proptest::strategy::ValueTree::current(&tree);
        generated.push(mutate(&corpus[seed], &edits));
    }
    for sql in generated {
        if std::env::var_os("GRANARY_FUZZ_ECHO").is_some() {
            eprintln!("{sql}");
        }
        let mut session = database.session();
        session.execute("SET max_execution_time = 5").await.unwrap();
        session
            .execute("SET max_memory_usage = 1000000000")
            .await
            .unwrap();
        let outcome = tokio::time::timeout(std::time::Duration::from_secs(60), async {
            let clickhouse = match session.execute(&sql).await {
                Ok(result) => result.collect().await.map(drop),
                Err(error) => Err(error),
            };
            let postgres = match session.execute_postgres(&sql, &context, &[]).await {
                Ok(result) => result.collect().await.map(drop),
                Err(error) => Err(error),
            };
            (clickhouse, postgres)
        })
        .await;
        let (clickhouse, postgres) = outcome.unwrap_or_else(|_| panic!("hangs: {sql}"));
        for (dialect, outcome) in [("clickhouse", clickhouse), ("postgres", postgres)] {
            if let Err(error) = outcome {
                assert_ne!(
                    error.code(),
                    ErrorCode::LOGICAL_ERROR,
                    "{dialect} panicked or failed inside on: {sql}\n{error}"
                );
            }
        }
    }
}
