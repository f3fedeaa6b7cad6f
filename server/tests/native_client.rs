//! Granary's Rust client (`granary_protocol::client`) against the server process over the native
//! protocol: large results stream in batches with progress (also through a spawned task), inserts
//! are cut into blocks and write one part per block and
//! land exactly once through connections cut mid-block or before the answer, errors carry the
//! server's codes, cancel stops a query, parameters and settings reach the server.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, UInt64Type};
use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch, UInt64Array};
use common::ServerProcess;
use futures::StreamExt;
use granary_protocol::ErrorCode;
use granary_protocol::client::{
    BatchReceiver, Client, InsertOptions, Options, QueryOptions, RetryPolicy,
};
use granary_protocol::compress::Method;
use granary_protocol::packet::settings::{IMPORTANT, Setting};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn options(address: SocketAddr) -> Options {
    Options {
        retry: RetryPolicy {
            attempts: 5,
            initial_backoff: Duration::from_millis(20),
            max_backoff: Duration::from_millis(200),
        },
        ..Options::new(address.to_string())
    }
}

async fn count(client: &mut Client, sql: &str) -> u64 {
    let batches = client.query(sql).await.unwrap().collect().await.unwrap();
    assert_eq!(batches.len(), 1, "{sql}");
    batches[0].column(0).as_primitive::<UInt64Type>().value(0)
}

/// A block of `rows` rows with keys from `start`.
fn block(start: u64, rows: u64) -> RecordBatch {
    let keys: ArrayRef = Arc::new(UInt64Array::from_iter_values(start..start + rows));
    let values: ArrayRef = Arc::new(Float64Array::from_iter_values(
        (start..start + rows).map(|k| k as f64 / 2.0),
    ));
    RecordBatch::try_from_iter([("k", keys), ("v", values)]).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_results_stream_in_batches_with_progress() {
    let server = ServerProcess::start();
    for compression in [None, Some(Method::Lz4), Some(Method::Zstd(1))] {
        let mut client = Client::connect(Options {
            compression,
            ..options(server.native_addr)
        })
        .await
        .unwrap();
        assert_eq!(client.server().unwrap().display_name, "granary");
        let progress_calls = Arc::new(AtomicUsize::new(0));
        let calls = progress_calls.clone();
        let mut stream = client
            .query_with(
                "SELECT number, toString(number) AS s FROM numbers(3000000)",
                QueryOptions {
                    on_progress: Some(Box::new(move |_| {
                        calls.fetch_add(1, Ordering::Relaxed);
                    })),
                    ..QueryOptions::default()
                },
            )
            .await
            .unwrap();
        let schema = stream.schema();
        assert_eq!(schema.field(0).name(), "number");
        assert_eq!(schema.field(1).metadata()["clickhouse.type"], "String");
        let (mut rows, mut batches, mut sum) = (0u64, 0, 0u64);
        while let Some(batch) = stream.next_batch().await.unwrap() {
            batches += 1;
            rows += batch.num_rows() as u64;
            sum += batch
                .column(0)
                .as_primitive::<UInt64Type>()
                .values()
                .iter()
                .sum::<u64>();
            let last = batch.num_rows() - 1;
            assert_eq!(
                batch.column(1).as_string::<i32>().value(last),
                batch
                    .column(0)
                    .as_primitive::<UInt64Type>()
                    .value(last)
                    .to_string()
            );
        }
        assert_eq!(rows, 3_000_000);
        assert_eq!(sum, 3_000_000 * 2_999_999 / 2);
        assert!(
            batches > 10,
            "a large result streams in many blocks, not one"
        );
        assert_eq!(stream.progress().read_rows, 3_000_000);
        assert!(progress_calls.load(Ordering::Relaxed) >= 1);
        assert_eq!(stream.summary().profile.unwrap().rows, 3_000_000);
        drop(stream);
        // The stream as a futures Stream, on the same connection.
        let total: usize = client
            .query("SELECT number FROM numbers(100000)")
            .await
            .unwrap()
            .into_stream()
            .map(|batch| batch.unwrap().num_rows())
            .fold(0, |total, rows| async move { total + rows })
            .await;
        assert_eq!(total, 100_000);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_inserts_are_cut_into_blocks_and_report_progress() {
    let server = ServerProcess::start();
    let mut client = Client::connect(options(server.native_addr)).await.unwrap();
    client
        .execute("CREATE TABLE cut (k UInt64, v Float64) ENGINE = MergeTree ORDER BY k")
        .await
        .unwrap();
    // Many small batches and one large one: 2.5 blocks of the default 1 048 576 rows.
    let mut batches: Vec<RecordBatch> = (0..100).map(|i| block(i * 1000, 1000)).collect();
    batches.push(block(100_000, 2_521_440));
    let reports = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = reports.clone();
    let summary = client
        .insert(
            "cut",
            &batches,
            &InsertOptions {
                on_progress: Some(Arc::new(move |progress| {
                    seen.lock().unwrap().push(*progress)
                })),
                ..InsertOptions::with_token("cut-1")
            },
        )
        .await
        .unwrap();
    assert_eq!((summary.rows, summary.blocks), (2_621_440, 3));
    let reports = reports.lock().unwrap().clone();
    let written: Vec<(u64, usize)> = reports
        .iter()
        .map(|progress| (progress.rows_written, progress.blocks_written))
        .collect();
    assert_eq!(written, [(1_048_576, 1), (2_097_152, 2), (2_621_440, 3)]);
    assert!(
        reports
            .iter()
            .all(|progress| progress.rows_total == 2_621_440)
    );
    assert_eq!(
        count(
            &mut client,
            "SELECT count() FROM system.parts WHERE table = 'cut' AND active"
        )
        .await,
        3
    );
    assert_eq!(
        count(&mut client, "SELECT uniqExact(k) FROM cut").await,
        2_621_440
    );
    // The same call again (same token, same rows, same block size) writes nothing.
    client
        .insert("cut", &batches, &InsertOptions::with_token("cut-1"))
        .await
        .unwrap();
    assert_eq!(
        count(&mut client, "SELECT count() FROM cut").await,
        2_621_440
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spawned_query_streams_through_a_channel_and_frees_the_client_when_dropped() {
    let server = ServerProcess::start();
    let client = Arc::new(tokio::sync::Mutex::new(
        Client::connect(options(server.native_addr)).await.unwrap(),
    ));
    let sql = "SELECT number FROM numbers(2000000)";
    let mut receiver =
        BatchReceiver::spawn(client.clone(), sql.to_string(), QueryOptions::default())
            .await
            .unwrap();
    assert_eq!(receiver.schema().field(0).name(), "number");
    let mut rows = 0;
    while let Some(batch) = receiver.next_batch().await.unwrap() {
        rows += batch.num_rows();
    }
    assert_eq!(rows, 2_000_000);
    assert_eq!(
        receiver.summary().await.unwrap().progress.read_rows,
        2_000_000
    );
    // Dropped after one batch: the query is cancelled and the client takes the next one.
    let mut receiver =
        BatchReceiver::spawn(client.clone(), sql.to_string(), QueryOptions::default())
            .await
            .unwrap();
    receiver.next_batch().await.unwrap().unwrap();
    drop(receiver);
    let mut client = client.lock().await;
    assert_eq!(
        count(&mut client, "SELECT count() FROM numbers(10)").await,
        10
    );
    // A query that fails reports the server's error when spawned.
    drop(client);
    let error = BatchReceiver::spawn(
        Arc::new(tokio::sync::Mutex::new(
            Client::connect(options(server.native_addr)).await.unwrap(),
        )),
        "SELECT * FROM nowhere".to_string(),
        QueryOptions::default(),
    )
    .await
    .unwrap_err();
    assert_eq!(error.code(), ErrorCode::UNKNOWN_TABLE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inserts_write_a_part_per_block_and_tokens_make_them_idempotent() {
    let server = ServerProcess::start();
    let mut client = Client::connect(options(server.native_addr)).await.unwrap();
    client.execute("CREATE DATABASE ingest").await.unwrap();
    client
        .execute("CREATE TABLE ingest.events (k UInt64, v Float64, s LowCardinality(String) DEFAULT 'none') ENGINE = MergeTree ORDER BY k")
        .await
        .unwrap();
    let blocks: Vec<RecordBatch> = (0..4).map(|i| block(i * 1000, 1000)).collect();
    let by_thousands = InsertOptions {
        block_rows: 1000,
        ..InsertOptions::with_token("load-1")
    };
    let summary = client
        .insert("ingest.events", &blocks, &by_thousands)
        .await
        .unwrap();
    assert_eq!(
        (summary.rows, summary.blocks, summary.attempts),
        (4000, 4, 1)
    );
    assert_eq!(
        count(&mut client, "SELECT count() FROM ingest.events").await,
        4000
    );
    assert_eq!(
        count(&mut client, "SELECT count() FROM system.parts WHERE database = 'ingest' AND table = 'events' AND active").await,
        4
    );
    // The same token again: nothing lands. No token: every call lands.
    client
        .insert("ingest.events", &blocks, &by_thousands)
        .await
        .unwrap();
    assert_eq!(
        count(&mut client, "SELECT count() FROM ingest.events").await,
        4000
    );
    for _ in 0..2 {
        client
            .insert("ingest.events", &blocks[..1], &InsertOptions::default())
            .await
            .unwrap();
    }
    assert_eq!(
        count(&mut client, "SELECT count() FROM ingest.events").await,
        6000
    );
    // Arrow types convert to the table's where no value changes; a missing column takes its
    // default.
    let converted = RecordBatch::try_from_iter([
        ("k", Arc::new(Int64Array::from(vec![-0, 7])) as ArrayRef),
        ("v", Arc::new(Int64Array::from(vec![1, 2])) as ArrayRef),
    ])
    .unwrap();
    client
        .insert("ingest.events", &[converted], &InsertOptions::default())
        .await
        .unwrap();
    let batches = client
        .query("SELECT v, s FROM ingest.events WHERE k = 7 AND v = 2")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(
        batches[0].column(0).as_primitive::<Float64Type>().value(0),
        2.0
    );
    let negative =
        RecordBatch::try_from_iter([("k", Arc::new(Int64Array::from(vec![-1])) as ArrayRef)])
            .unwrap();
    let error = client
        .insert("ingest.events", &[negative], &InsertOptions::default())
        .await
        .unwrap_err();
    assert_eq!(error.code(), ErrorCode::TYPE_MISMATCH);
    // A block the server refuses: a typed error, nothing written, the client still works.
    let wrong =
        RecordBatch::try_from_iter([("s", Arc::new(Float64Array::from(vec![1.0])) as ArrayRef)])
            .unwrap();
    let error = client
        .insert("ingest.events", &[wrong], &InsertOptions::default())
        .await
        .unwrap_err();
    assert_eq!(error.code(), ErrorCode::TYPE_MISMATCH, "{error}");
    assert!(!error.is_retryable());
    assert_eq!(
        count(&mut client, "SELECT count() FROM ingest.events").await,
        6002
    );
}

/// How a [`Proxy`] breaks the connections it forwards, one plan per connection in order; later
/// connections pass untouched.
#[derive(Debug, Clone, Copy)]
enum Cut {
    /// Forward this many bytes from the client, then close both sides: the server sees the
    /// client vanish in the middle of a block.
    ClientBytes(usize),
    /// Forward everything, but once the client has sent this many bytes, swallow the server's
    /// next answer and close: the data arrived and the acknowledgement was lost.
    AnswerAfter(usize),
}

struct Proxy {
    address: SocketAddr,
    connections: Arc<AtomicUsize>,
}

impl Proxy {
    async fn start(upstream: SocketAddr, cuts: Vec<Cut>) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let connections = Arc::new(AtomicUsize::new(0));
        let counter = connections.clone();
        tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                let index = counter.fetch_add(1, Ordering::SeqCst);
                let cut = cuts.get(index).copied();
                tokio::spawn(forward(client, upstream, cut));
            }
        });
        Proxy {
            address,
            connections,
        }
    }
}

async fn forward(client: TcpStream, upstream: SocketAddr, cut: Option<Cut>) {
    let server = TcpStream::connect(upstream).await.unwrap();
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let sent = Arc::new(AtomicUsize::new(0));
    let sent_up = sent.clone();
    let limit = match cut {
        Some(Cut::ClientBytes(limit)) => limit,
        _ => usize::MAX,
    };
    let up = async move {
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            let read = client_read.read(&mut buffer).await.unwrap_or(0);
            if read == 0 {
                return;
            }
            let before = sent_up.load(Ordering::SeqCst);
            let take = read.min(limit - before);
            if server_write.write_all(&buffer[..take]).await.is_err() {
                return;
            }
            sent_up.store(before + take, Ordering::SeqCst);
            if before + take >= limit {
                return;
            }
        }
    };
    let swallow_after = match cut {
        Some(Cut::AnswerAfter(bytes)) => bytes,
        _ => usize::MAX,
    };
    let down = async move {
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            let read = server_read.read(&mut buffer).await.unwrap_or(0);
            if read == 0 || sent.load(Ordering::SeqCst) >= swallow_after {
                return;
            }
            if client_write.write_all(&buffer[..read]).await.is_err() {
                return;
            }
        }
    };
    // Whichever direction ends first ends the connection: dropping the halves closes both sockets.
    tokio::select! {
        _ = up => {}
        _ = down => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inserts_land_exactly_once_through_dropped_connections() {
    let server = ServerProcess::start();
    let mut direct = Client::connect(options(server.native_addr)).await.unwrap();
    direct
        .execute("CREATE TABLE once (k UInt64, v Float64) ENGINE = MergeTree ORDER BY k")
        .await
        .unwrap();
    // Ten plain blocks of 50 000 rows, 16 bytes a row: about 800 KB each on the wire.
    let blocks: Vec<RecordBatch> = (0..10).map(|i| block(i * 50_000, 50_000)).collect();
    let block_bytes = 50_000 * 16;
    let plans = [
        // Cut in the middle of the fourth block; the retry goes on from the fourth block and
        // is cut in the middle of its third (the sixth), and the next from the sixth.
        vec![
            Cut::ClientBytes(3 * block_bytes + block_bytes / 2),
            Cut::ClientBytes(2 * block_bytes + block_bytes / 3),
        ],
        // Every block arrives and is written; the last acknowledgement is lost.
        vec![Cut::AnswerAfter(10 * block_bytes)],
    ];
    let mut expected = 0;
    for (round, cuts) in plans.into_iter().enumerate() {
        let drops = cuts.len();
        let proxy = Proxy::start(server.native_addr, cuts).await;
        let mut client = Client::connect(Options {
            compression: None,
            ..options(proxy.address)
        })
        .await
        .unwrap();
        let table = "once";
        let summary = client
            .insert(
                table,
                &blocks,
                &InsertOptions {
                    block_rows: 50_000,
                    ..InsertOptions::with_token(format!("round-{round}"))
                },
            )
            .await
            .unwrap();
        expected += 500_000;
        assert_eq!(summary.attempts as usize, drops + 1, "round {round}");
        assert_eq!(proxy.connections.load(Ordering::SeqCst), drops + 1);
        assert_eq!(
            count(&mut direct, "SELECT count() FROM once").await,
            expected
        );
        assert_eq!(
            count(&mut direct, "SELECT uniqExact(k) FROM once").await,
            500_000,
            "every key once per round"
        );
    }
    // Without retries the same cut is reported as retryable, with the outcome unknown.
    let proxy = Proxy::start(server.native_addr, vec![Cut::ClientBytes(block_bytes)]).await;
    let mut client = Client::connect(Options {
        compression: None,
        retry: RetryPolicy::never(),
        ..options(proxy.address)
    })
    .await
    .unwrap();
    let round_2 = InsertOptions {
        block_rows: 50_000,
        ..InsertOptions::with_token("round-2")
    };
    let error = client.insert("once", &blocks, &round_2).await.unwrap_err();
    assert!(error.is_retryable(), "{error}");
    // The caller retries with the same token: exactly once again.
    client.insert("once", &blocks, &round_2).await.unwrap();
    assert_eq!(
        count(&mut direct, "SELECT count() FROM once").await,
        1_500_000
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_carry_the_server_codes_and_cancel_stops_a_query() {
    let server = ServerProcess::start();
    let mut client = Client::connect(options(server.native_addr)).await.unwrap();
    let error = client.query("SELECT * FROM nope").await.unwrap_err();
    assert_eq!(error.code(), ErrorCode::UNKNOWN_TABLE, "{error}");
    assert!(!error.is_retryable());
    let error = client.execute("SELEC 1").await.unwrap_err();
    assert_eq!(error.code(), ErrorCode::SYNTAX_ERROR);
    client.ping().await.unwrap();

    // Parameters and settings.
    let batches = client
        .query_with(
            "SELECT {x:UInt8} + 1 AS y, {s:String} AS s",
            QueryOptions {
                parameters: vec![("x".into(), "41".into()), ("s".into(), "it's".into())],
                ..QueryOptions::default()
            },
        )
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(batches[0].column(1).as_string::<i32>().value(0), "it's");
    let error = client
        .execute_with(
            "SELECT number FROM numbers(100000)",
            QueryOptions {
                settings: vec![Setting::new("max_result_rows", "10")],
                ..QueryOptions::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(error.code(), ErrorCode::TOO_MANY_ROWS_OR_BYTES);
    let error = client
        .execute_with(
            "SELECT 1",
            QueryOptions {
                settings: vec![Setting {
                    flags: IMPORTANT,
                    ..Setting::new("no_such_setting", "1")
                }],
                ..QueryOptions::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(error.code(), ErrorCode::UNKNOWN_SETTING);

    // Cancel: from the stream, and through a handle from another task.
    let mut stream = client
        .query("SELECT number FROM numbers(100000000000)")
        .await
        .unwrap();
    stream.next_batch().await.unwrap().unwrap();
    stream.cancel().await.unwrap();
    let mut stream = client
        .query("SELECT number FROM numbers(100000000000)")
        .await
        .unwrap();
    let handle = stream.cancel_handle();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        handle.cancel().await.unwrap();
    });
    let mut rows = 0;
    while let Some(batch) = stream.next_batch().await.unwrap() {
        rows += batch.num_rows();
    }
    assert!(rows > 0 && rows < 100_000_000_000);
    drop(stream);
    let batches = client
        .query("SELECT 7")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(batches[0].num_rows(), 1);

    // A stream dropped before its end: the next call gets a fresh connection.
    let mut stream = client
        .query("SELECT number FROM numbers(10000000)")
        .await
        .unwrap();
    stream.next_batch().await.unwrap();
    drop(stream);
    assert_eq!(
        count(&mut client, "SELECT count() FROM numbers(5)").await,
        5
    );

    // Logins and connections that cannot be made.
    let error = Client::connect(Options {
        user: "nobody".into(),
        ..options(server.native_addr)
    })
    .await
    .unwrap_err();
    assert_eq!(error.code(), ErrorCode::AUTHENTICATION_FAILED);
    let error = Client::connect(Options {
        database: "no_such_database".into(),
        ..options(server.native_addr)
    })
    .await
    .unwrap_err();
    assert_eq!(error.code(), ErrorCode::UNKNOWN_DATABASE);
    let closed = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let error = Client::connect(Options {
        retry: RetryPolicy::never(),
        ..options(closed)
    })
    .await
    .unwrap_err();
    assert!(error.is_retryable(), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_idle_connections_of_both_protocols() {
    let server = ServerProcess::start();
    let mut native = Client::connect(Options {
        retry: RetryPolicy::never(),
        ..options(server.native_addr)
    })
    .await
    .unwrap();
    native.ping().await.unwrap();
    let pg = server.connect("default").await.unwrap();
    pg.simple_query("SELECT 1").await.unwrap();
    let pid = server.pid().to_string();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(status.success());
    // Idle connections do not hold the shutdown up to its timeout (30 s): the server closes
    // them at once, the PostgreSQL one with 57P01 as PostgreSQL's fast shutdown does.
    let mut pg_error = None;
    let mut native_closed = false;
    for _ in 0..100 {
        if pg_error.is_none() {
            pg_error = pg.simple_query("SELECT 1").await.err();
        }
        native_closed = native_closed || native.ping().await.is_err();
        if pg_error.is_some() && native_closed {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let error = pg_error.expect("the idle PostgreSQL connection was closed");
    assert!(
        pg.is_closed() || error.code() == Some(&tokio_postgres::error::SqlState::ADMIN_SHUTDOWN),
        "{error}"
    );
    assert!(native_closed, "the idle native connection was closed");
    assert!(server.wait().success());
}
