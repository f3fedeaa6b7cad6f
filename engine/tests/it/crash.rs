//! A writer killed (SIGKILL) at arbitrary points of an insert loses no acknowledged insert, leaves
//! nothing torn visible, and the table opens; retrying every insert with its token afterwards
//! leaves each insert exactly once.

use std::io::{BufRead, BufReader, Lines, Write};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

use arrow_array::cast::AsArray;
use granary_engine::storage::dedup::BlockId;
use granary_engine::storage::table::TableData;

use crate::table::{layout, rows, yyyymm};

const CHILD_DIR: &str = "GRANARY_CRASH_TEST_TABLE_DIR";
const ROWS_PER_INSERT: u32 = 500;

/// In the child: insert blocks forever, announcing each acknowledged one on stdout.
fn run_child(dir: &str) -> ! {
    let table = TableData::open(std::path::Path::new(dir), layout(true)).unwrap();
    let start = table.snapshot().unwrap().rows() as u32 / ROWS_PER_INSERT;
    for insert in start.. {
        let batch = rows(insert * ROWS_PER_INSERT, ROWS_PER_INSERT);
        let token = BlockId::from_token(&format!("insert-{insert}"), 0);
        table.insert(&batch, &yyyymm(&batch), Some(&token)).unwrap();
        // The parent reads the acknowledgements from stdout.
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "acked {insert}").unwrap();
        stdout.flush().unwrap();
    }
    unreachable!()
}

/// Runs this test binary again as a child, running only `test` with `env` set to `dir`; returns the
/// child and its stdout lines.
pub fn spawn_self(test: &str, env: &str, dir: &Path) -> (Child, Lines<BufReader<ChildStdout>>) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(env, dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    (child, lines)
}

/// No `tmp_*` directory is left in a table directory after it was opened.
pub fn assert_no_temporary_parts(dir: &Path) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        assert!(!name.starts_with("tmp_"), "{name} was left behind");
    }
}

#[test]
fn killed_writers_lose_no_acknowledged_insert() {
    if let Ok(dir) = std::env::var(CHILD_DIR) {
        run_child(&dir);
    }
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("t");
    let mut acknowledged: Vec<u32> = Vec::new();
    for round in 0..6u64 {
        let (mut child, mut lines) = spawn_self(
            "crash::killed_writers_lose_no_acknowledged_insert",
            CHILD_DIR,
            &dir,
        );
        let wanted = 2 + round as usize * 3;
        let mut seen = 0;
        while seen < wanted {
            let line = lines
                .next()
                .expect("the writer died before it was killed")
                .unwrap();
            if let Some(insert) = line.strip_prefix("acked ") {
                acknowledged.push(insert.parse().unwrap());
                seen += 1;
            }
        }
        // Kill at a different point of the next insert each round.
        std::thread::sleep(Duration::from_micros(round * 700));
        child.kill().unwrap();
        child.wait().unwrap();
        for line in lines.map_while(Result::ok) {
            if let Some(insert) = line.strip_prefix("acked ") {
                acknowledged.push(insert.parse().unwrap());
            }
        }

        let table = TableData::open(&dir, layout(true)).unwrap();
        let mut present = std::collections::BTreeMap::<u32, u32>::new();
        for part in &table.snapshot().unwrap().parts {
            part.verify_checksums().unwrap();
            let strings = part.read_column("s", 0..part.granule_count()).unwrap();
            for value in strings.as_string::<i32>().iter() {
                let row: u32 = value.unwrap().strip_prefix("row").unwrap().parse().unwrap();
                *present.entry(row / ROWS_PER_INSERT).or_default() += 1;
            }
        }
        for insert in &acknowledged {
            assert_eq!(
                present.get(insert),
                Some(&ROWS_PER_INSERT),
                "round {round}: acknowledged insert {insert} is whole"
            );
        }
        for (insert, count) in &present {
            assert_eq!(
                *count, ROWS_PER_INSERT,
                "round {round}: insert {insert} is torn"
            );
        }
        assert_no_temporary_parts(&dir);
    }
    assert!(acknowledged.len() >= 50);

    // The client retries everything it sent, acknowledged or not: each insert lands exactly once.
    let table = TableData::open(&dir, layout(true)).unwrap();
    let last = acknowledged.iter().max().copied().unwrap_or(0) + 2;
    for insert in 0..=last {
        let batch = rows(insert * ROWS_PER_INSERT, ROWS_PER_INSERT);
        let token = BlockId::from_token(&format!("insert-{insert}"), 0);
        table.insert(&batch, &yyyymm(&batch), Some(&token)).unwrap();
    }
    assert_eq!(
        table.snapshot().unwrap().rows(),
        u64::from(last + 1) * u64::from(ROWS_PER_INSERT)
    );
}
