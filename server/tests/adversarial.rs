//! One server against hostile clients on both wires at once: lengths and counts that claim what
//! cannot exist, malformed PostgreSQL messages (each once a pgwire panic), a compression bomb, a
//! LowCardinality column claiming 2^33 rows, clients that never read their results, hundreds of
//! idle connections. The server survives every one, answers queries throughout, and its memory
//! goes back near where it started.

mod common;

use std::time::Duration;

use common::ServerProcess;
use common::raw::{Raw, compressed_query, data, query};
use granary_protocol::client::{Client, Options};
use granary_protocol::compress::{Method, compress_frame};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The server's resident memory in bytes.
fn resident(server: &ServerProcess) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.pid())).unwrap();
    let line = status
        .lines()
        .find(|line| line.starts_with("VmRSS:"))
        .unwrap();
    let kilobytes: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kilobytes * 1024
}

/// A PostgreSQL message: its type, its length, its body.
fn pg_message(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut message = vec![kind];
    message.extend_from_slice(&(body.len() as i32 + 4).to_be_bytes());
    message.extend_from_slice(body);
    message
}

/// A raw PostgreSQL connection of `default`, ready for queries.
async fn pg_raw(server: &ServerProcess) -> TcpStream {
    let mut socket = TcpStream::connect(server.addr).await.unwrap();
    let mut body = 196_608i32.to_be_bytes().to_vec();
    body.extend_from_slice(b"user\0default\0\0");
    let mut packet = (body.len() as i32 + 4).to_be_bytes().to_vec();
    packet.extend_from_slice(&body);
    socket.write_all(&packet).await.unwrap();
    // Read to ReadyForQuery ('Z').
    loop {
        let kind = socket.read_u8().await.unwrap();
        let length = socket.read_i32().await.unwrap();
        let mut body = vec![0; length as usize - 4];
        socket.read_exact(&mut body).await.unwrap();
        assert_ne!(
            kind,
            b'E',
            "startup refused: {}",
            String::from_utf8_lossy(&body)
        );
        if kind == b'Z' {
            return socket;
        }
    }
}

/// What the server answers until it closes the connection: the message types and the
/// SQLSTATEs of its errors.
async fn pg_answers(socket: &mut TcpStream) -> Vec<String> {
    let mut answers = Vec::new();
    let read = async {
        loop {
            let Ok(kind) = socket.read_u8().await else {
                return;
            };
            let Ok(length) = socket.read_i32().await else {
                return;
            };
            let mut body = vec![0; (length as usize).saturating_sub(4)];
            if socket.read_exact(&mut body).await.is_err() {
                return;
            }
            if kind == b'E' {
                let code = body
                    .split(|byte| *byte == 0)
                    .find_map(|field| field.strip_prefix(b"C"))
                    .map(|code| String::from_utf8_lossy(code).into_owned())
                    .unwrap_or_default();
                answers.push(format!("E{code}"));
            } else {
                answers.push(char::from(kind).to_string());
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), read)
        .await
        .expect("the server neither answered nor closed the connection");
    answers
}

async fn both_wires_answer(server: &ServerProcess) {
    let pg = server.connect("default").await.unwrap();
    let rows = pg
        .simple_query("SELECT count() FROM numbers(1000)")
        .await
        .unwrap();
    assert!(!rows.is_empty());
    let mut native = Client::connect(Options::new(server.native_addr.to_string()))
        .await
        .unwrap();
    native.execute("SELECT 1").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_clients_on_both_wires_leave_the_server_serving_with_its_memory_back() {
    // Native blocks bounded at 64 MiB decompressed (native_packet_bytes_max; 1 GiB by default,
    // ClickHouse's frame limit), so the bomb below is past the bound.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("granary.toml");
    std::fs::write(&config, "native_packet_bytes_max = 67108864\n").unwrap();
    let server = ServerProcess::start_in(&dir.path().join("data"), &config);
    let pg = server.connect("default").await.unwrap();
    pg.simple_query(
        "CREATE TABLE t (k UInt64, s LowCardinality(String)) ENGINE = MergeTree ORDER BY k",
    )
    .await
    .unwrap();
    for _ in 0..3 {
        both_wires_answer(&server).await;
    }
    let before = resident(&server);

    // PostgreSQL: messages whose fields run past them, counts that are negative, lengths that
    // claim a gigabyte, a startup packet that claims 2 GB. Each ends its connection with FATAL
    // 08P01 (or a closed socket), never with a dead server.
    let mut bind_past_end = b"\0\0".to_vec();
    bind_past_end.extend_from_slice(&0u16.to_be_bytes());
    bind_past_end.extend_from_slice(&1u16.to_be_bytes());
    bind_past_end.extend_from_slice(&1_000_000i32.to_be_bytes());
    bind_past_end.extend_from_slice(b"42");
    let mut negative_formats = b"\0\0".to_vec();
    negative_formats.extend_from_slice(&0u16.to_be_bytes());
    negative_formats.extend_from_slice(&0u16.to_be_bytes());
    negative_formats.extend_from_slice(&(-1i16).to_be_bytes());
    let mut parse_many = b"\0SELECT $1\0".to_vec();
    parse_many.extend_from_slice(&65_535u16.to_be_bytes());
    parse_many.extend(std::iter::repeat_n(0u8, 65_535 * 4));
    let malformed: Vec<Vec<u8>> = vec![
        pg_message(b'B', &bind_past_end),
        pg_message(b'B', &negative_formats),
        pg_message(b'Q', b"SELECT 1"),
        vec![b'Q', 0x3f, 0xff, 0xff, 0xff, b'S', b'E'],
        vec![b'p', 0, 0, 0, 1],
    ];
    for case in malformed {
        let mut socket = pg_raw(&server).await;
        socket.write_all(&case).await.unwrap();
        socket.write_all(&pg_message(b'S', b"")).await.unwrap();
        let answers = pg_answers(&mut socket).await;
        assert_eq!(answers, ["E08P01"], "{:?}", &case[..case.len().min(16)]);
    }
    // Well framed but big: answered, and the connection goes on.
    let mut socket = pg_raw(&server).await;
    socket
        .write_all(&pg_message(b'P', &parse_many))
        .await
        .unwrap();
    socket.write_all(&pg_message(b'S', b"")).await.unwrap();
    socket.write_all(&pg_message(b'X', b"")).await.unwrap();
    let answers = pg_answers(&mut socket).await;
    assert_eq!(answers.last().map(String::as_str), Some("Z"), "{answers:?}");
    for packet in [
        vec![0x7f, 0xff, 0xff, 0xff, 0, 3, 0, 0],
        vec![0, 0, 0, 3, 0, 3, 0, 0],
        vec![0, 0, 0, 20, 0, 3, 0, 0, b'u', b's', b'e', b'r'],
    ] {
        let mut socket = TcpStream::connect(server.addr).await.unwrap();
        socket.write_all(&packet).await.unwrap();
        let _ = socket.shutdown().await;
        let mut rest = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(30), socket.read_to_end(&mut rest)).await;
    }
    both_wires_answer(&server).await;

    // Native: a LowCardinality column claiming 2^33 rows (once 32 GiB), a block of a billion
    // rows, a compression bomb (256 MiB of zeros in a few kilobytes of ZSTD, past the server's
    // 64 MiB bound on a block).
    let mut raw = Raw::connect(server.native_addr).await;
    raw.send(&query("INSERT INTO t (s) VALUES")).await;
    let mut low_cardinality = 1u64.to_le_bytes().to_vec(); // key version
    low_cardinality.extend_from_slice(&0x0600u64.to_le_bytes()); // UInt8 keys, with dictionary
    low_cardinality.extend_from_slice(&1u64.to_le_bytes()); // one key
    low_cardinality.extend_from_slice(b"\x01a");
    low_cardinality.extend_from_slice(&(1u64 << 33).to_le_bytes()); // rows
    raw.send(&data(
        "s",
        "LowCardinality(String)",
        1 << 33,
        &low_cardinality,
    ))
    .await;
    // The server waits for the rows the block claims, allocating nothing for them, until the
    // client goes away.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(resident(&server) < before + (256 << 20));
    drop(raw);

    let mut raw = Raw::connect(server.native_addr).await;
    raw.send(&query("INSERT INTO t (k) VALUES")).await;
    raw.send(&data("k", "UInt64", 1_000_000_000, &[0; 64]))
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(resident(&server) < before + (256 << 20));
    drop(raw);

    let mut raw = Raw::connect(server.native_addr).await;
    raw.send(&compressed_query("INSERT INTO t (k) VALUES"))
        .await;
    let mut block = data("k", "UInt64", 32 << 20, &[]);
    block.drain(..2); // the packet type and table name stay outside the compressed frame
    block.resize(block.len() + (256 << 20), 0);
    let mut bomb = vec![2, 0];
    compress_frame(Method::Zstd(1), &block, &mut bomb).unwrap();
    drop(block);
    assert!(bomb.len() < 1 << 20, "{} bytes", bomb.len());
    raw.compression = true;
    raw.send(&bomb).await;
    // Refused by its header, before the 256 MiB are allocated.
    assert!(raw.exception_code().await.is_some());
    assert!(resident(&server) < before + (128 << 20));
    drop(raw);
    both_wires_answer(&server).await;

    // Clients that never read: a result of 10^9 rows on each wire, left unread for a while.
    let mut slow_pg = pg_raw(&server).await;
    slow_pg
        .write_all(&pg_message(
            b'Q',
            b"SELECT number, toString(number) FROM numbers(1000000000)\0",
        ))
        .await
        .unwrap();
    let mut slow_native = Raw::connect(server.native_addr).await;
    slow_native
        .send(&query(
            "SELECT number, toString(number) FROM numbers(1000000000)",
        ))
        .await;
    // Hundreds of connections that say nothing.
    let mut idle = Vec::new();
    for index in 0..400 {
        let address = if index % 2 == 0 {
            server.addr
        } else {
            server.native_addr
        };
        idle.push(TcpStream::connect(address).await.unwrap());
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let during = resident(&server);
    assert!(
        during < before + (512 << 20),
        "the server holds {} MiB more while clients do not read",
        (during - before) >> 20
    );
    both_wires_answer(&server).await;
    drop(slow_pg);
    drop(slow_native);
    drop(idle);

    // Memory back near where it started (allocators keep some: within 256 MiB).
    let mut after = resident(&server);
    for _ in 0..20 {
        if after < before + (256 << 20) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        after = resident(&server);
    }
    assert!(
        after < before + (256 << 20),
        "{} MiB before, {} MiB after",
        before >> 20,
        after >> 20
    );
    both_wires_answer(&server).await;
    let count = pg.simple_query("SELECT count() FROM t").await.unwrap();
    let count = count.iter().find_map(|message| match message {
        tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_string),
        _ => None,
    });
    assert_eq!(count.as_deref(), Some("0"), "no hostile block was written");
}
