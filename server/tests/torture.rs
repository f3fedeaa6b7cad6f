//! The crash-and-race harness: writers insert blocks with dedup tokens over the native protocol
//! while background merges and `OPTIMIZE FINAL` run, and the server is killed (SIGKILL) or stopped
//! (SIGTERM) at random moments, then restarted on the same data directory. After every restart:
//! each acknowledged block is there exactly once, a block whose answer was lost is there whole or
//! not at all, no two active parts overlap, and sending every block again with its token leaves
//! each exactly once.
//!
//! `make test` runs a few restarts with a fixed seed; `make torture` runs many
//! (`GRANARY_TORTURE_RESTARTS`, `GRANARY_TORTURE_SEED`) and prints the figures.

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arrow_array::cast::AsArray;
use arrow_array::types::UInt64Type;
use arrow_array::{ArrayRef, RecordBatch, StringArray, UInt8Array, UInt32Array, UInt64Array};
use common::ServerProcess;
use granary_protocol::client::{Client, InsertOptions, Options, RetryPolicy};

const WRITERS: u64 = 4;

/// A small deterministic generator (xorshift64*), so that a seed replays a run's choices.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Block `b`'s rows: `i` in `0..rows`; partition `p` is `b % 3`, except that every seventh block
/// spans two partitions (one insert, two parts, all or nothing).
fn block(b: u64, rows: u32) -> RecordBatch {
    let spans = b.is_multiple_of(7);
    let partitions: ArrayRef = Arc::new(UInt8Array::from_iter_values(
        (0..rows).map(|i| if spans { (i % 2) as u8 } else { (b % 3) as u8 }),
    ));
    let blocks: ArrayRef = Arc::new(UInt64Array::from_iter_values((0..rows).map(|_| b)));
    let rows_: ArrayRef = Arc::new(UInt32Array::from_iter_values(0..rows));
    let text: ArrayRef = Arc::new(StringArray::from_iter_values(
        (0..rows).map(|i| format!("{b}-{i}")),
    ));
    RecordBatch::try_from_iter([("p", partitions), ("b", blocks), ("i", rows_), ("s", text)])
        .unwrap()
}

fn token(b: u64) -> String {
    format!("torture-{b}")
}

/// What the writers know of each block they sent.
#[derive(Debug, Default)]
struct Ledger {
    /// Rows of every block ever sent.
    rows: BTreeMap<u64, u32>,
    /// Blocks whose insert was acknowledged.
    acknowledged: std::collections::BTreeSet<u64>,
}

fn options(address: SocketAddr) -> Options {
    Options {
        retry: RetryPolicy {
            attempts: 1,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(1),
        },
        receive_timeout: Duration::from_secs(60),
        ..Options::new(address.to_string())
    }
}

fn insert_options(b: u64) -> InsertOptions {
    InsertOptions {
        block_rows: 1 << 20,
        ..InsertOptions::with_token(token(b))
    }
}

/// One writer until `stop`: blocks `writer, writer + WRITERS, ...` from `next`.
async fn write(
    address: SocketAddr,
    writer: u64,
    mut next: u64,
    seed: u64,
    ledger: Arc<Mutex<Ledger>>,
    stop: Arc<AtomicBool>,
) -> u64 {
    let mut rng = Rng(seed | 1);
    let Ok(mut client) = Client::connect(options(address)).await else {
        return next;
    };
    while !stop.load(Ordering::Relaxed) {
        let b = next * WRITERS + writer;
        next += 1;
        let rows = 50 + rng.below(3000) as u32;
        ledger.lock().unwrap().rows.insert(b, rows);
        match client
            .insert("t", &[block(b, rows)], &insert_options(b))
            .await
        {
            Ok(_) => {
                ledger.lock().unwrap().acknowledged.insert(b);
            }
            Err(_) => break,
        }
    }
    next
}

/// `OPTIMIZE TABLE t FINAL` every few tens of milliseconds until `stop`.
async fn optimize(address: SocketAddr, seed: u64, stop: Arc<AtomicBool>) {
    let mut rng = Rng(seed | 1);
    let Ok(mut client) = Client::connect(options(address)).await else {
        return;
    };
    while !stop.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(20 + rng.below(200))).await;
        if client.execute("OPTIMIZE TABLE t FINAL").await.is_err() {
            return;
        }
    }
}

/// Rows and the sum of `i` of every block present.
async fn present(client: &mut Client) -> BTreeMap<u64, (u64, u64)> {
    let batches = client
        .query("SELECT b, count(), sum(toUInt64(i)) FROM t GROUP BY b")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let mut present = BTreeMap::new();
    for batch in batches {
        let blocks = batch.column(0).as_primitive::<UInt64Type>();
        let counts = batch.column(1).as_primitive::<UInt64Type>();
        let sums = batch.column(2).as_primitive::<UInt64Type>();
        for row in 0..batch.num_rows() {
            present.insert(blocks.value(row), (counts.value(row), sums.value(row)));
        }
    }
    present
}

/// The active parts overlap nowhere.
async fn check_parts(client: &mut Client, round: usize) -> usize {
    let batches = client
        .query(
            "SELECT partition_id, min_block_number, max_block_number, name FROM system.parts \
             WHERE database = 'default' AND table = 't' AND active \
             ORDER BY partition_id, min_block_number",
        )
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let mut parts: Vec<(String, i64, i64, String)> = Vec::new();
    for batch in batches {
        let ids = batch.column(0).as_string::<i32>();
        let mins = arrow_cast(batch.column(1));
        let maxes = arrow_cast(batch.column(2));
        let names = batch.column(3).as_string::<i32>();
        for row in 0..batch.num_rows() {
            parts.push((
                ids.value(row).to_string(),
                mins[row],
                maxes[row],
                names.value(row).to_string(),
            ));
        }
    }
    for pair in parts.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        assert!(
            a.0 != b.0 || a.2 < b.1,
            "round {round}: active parts {} and {} overlap",
            a.3,
            b.3
        );
    }
    parts.len()
}

fn arrow_cast(array: &ArrayRef) -> Vec<i64> {
    let cast = datafusion::arrow::compute::cast(array, &arrow_schema::DataType::Int64).unwrap();
    cast.as_primitive::<arrow_array::types::Int64Type>()
        .values()
        .to_vec()
}

/// Every acknowledged block exactly once, every other sent block whole or absent.
fn check_blocks(ledger: &Ledger, present: &BTreeMap<u64, (u64, u64)>, round: usize, resent: bool) {
    for (b, (count, sum)) in present {
        let rows = u64::from(
            *ledger
                .rows
                .get(b)
                .unwrap_or_else(|| panic!("round {round}: block {b} was never sent")),
        );
        assert_eq!(
            (*count, *sum),
            (rows, rows * (rows - 1) / 2),
            "round {round}: block {b} of {rows} rows is not there exactly once (resent: {resent})"
        );
    }
    for b in &ledger.acknowledged {
        assert!(
            present.contains_key(b),
            "round {round}: acknowledged block {b} is lost (resent: {resent})"
        );
    }
    if resent {
        for b in ledger.rows.keys() {
            assert!(
                present.contains_key(b),
                "round {round}: block {b} is missing after it was sent again"
            );
        }
    }
}

fn config(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("granary.toml");
    std::fs::write(
        &path,
        "merge_selecting_sleep_ms = 1\nmax_merge_selecting_sleep_ms = 20\n\
         background_pool_size = 2\nshutdown_timeout_seconds = 20\n",
    )
    .unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_blocks_survive_kills_and_restarts_exactly_once() {
    let restarts: usize = std::env::var("GRANARY_TORTURE_RESTARTS")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(6);
    let seed: u64 = std::env::var("GRANARY_TORTURE_SEED")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(20_261_207);
    let mut rng = Rng(seed | 1);
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let config = config(root.path());
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let mut next = vec![0u64; WRITERS as usize];
    let (mut kills, mut terms, mut max_parts) = (0, 0, 0);
    let started = Instant::now();

    let server = ServerProcess::start_in(&data, &config);
    let mut client = Client::connect(options(server.native_addr)).await.unwrap();
    client
        .execute(
            "CREATE TABLE t (p UInt8, b UInt64, i UInt32, s String) \
             ENGINE = MergeTree PARTITION BY p ORDER BY (b, i)",
        )
        .await
        .unwrap();
    drop(client);
    let mut server = Some(server);

    for round in 0..restarts {
        let running = server.take().unwrap();
        let start = next.clone();
        let stop = Arc::new(AtomicBool::new(false));
        let mut writers = Vec::new();
        for writer in 0..WRITERS {
            writers.push(tokio::spawn(write(
                running.native_addr,
                writer,
                next[writer as usize],
                rng.next(),
                Arc::clone(&ledger),
                Arc::clone(&stop),
            )));
        }
        let optimizer = tokio::spawn(optimize(running.native_addr, rng.next(), stop.clone()));
        tokio::time::sleep(Duration::from_millis(200 + rng.below(1500))).await;
        if rng.below(3) == 0 {
            terms += 1;
            let status = running.terminate();
            assert!(status.success(), "round {round}: SIGTERM exit {status}");
        } else {
            kills += 1;
            running.kill();
        }
        stop.store(true, Ordering::Relaxed);
        for (writer, handle) in writers.into_iter().enumerate() {
            next[writer] = handle.await.unwrap();
        }
        optimizer.await.unwrap();

        let restarted = ServerProcess::start_in(&data, &config);
        let mut client = Client::connect(options(restarted.native_addr))
            .await
            .unwrap();
        let present_now = present(&mut client).await;
        check_blocks(&ledger.lock().unwrap(), &present_now, round, false);
        max_parts = max_parts.max(check_parts(&mut client, round).await);
        // Every block this round sent, again with its token: each ends up exactly once, whether
        // its first try landed or not.
        let again: Vec<(u64, u32)> = ledger
            .lock()
            .unwrap()
            .rows
            .iter()
            .filter(|(b, _)| **b / WRITERS >= start[(**b % WRITERS) as usize])
            .map(|(b, rows)| (*b, *rows))
            .collect();
        for (b, rows) in again {
            client
                .insert("t", &[block(b, rows)], &insert_options(b))
                .await
                .unwrap();
            ledger.lock().unwrap().acknowledged.insert(b);
        }
        // Blocks of earlier rounds were all sent again in their round.
        let present_now = present(&mut client).await;
        check_blocks(&ledger.lock().unwrap(), &present_now, round, true);
        drop(client);
        server = Some(restarted);
    }
    let ledger = ledger.lock().unwrap();
    let rows: u64 = ledger.rows.values().map(|rows| u64::from(*rows)).sum();
    eprintln!(
        "torture: seed {seed}, {restarts} restarts ({kills} SIGKILL, {terms} SIGTERM), {} blocks \
         ({rows} rows) sent, {} acknowledged, at most {max_parts} active parts, {:.1} s",
        ledger.rows.len(),
        ledger.acknowledged.len(),
        started.elapsed().as_secs_f64()
    );
    server.unwrap().terminate();
}
