//! Replays of the captured conversations in `../shared/vectors/native/`: the client's bytes, exactly
//! as clickhouse-client 18.16 and clickhouse-driver 0.2.11 sent them, go to granary-server turn by
//! turn, and its answers must be what those clients got from ClickHouse (or the reference fake
//! server): the same packets in the same order (Progress, ProfileInfo, Log and TableColumns aside,
//! and runs of Data blocks counted as one, since block sizes are the server's choice), the same
//! rows, the same Exception codes.
//!
//! A capture replays only where Granary negotiates the revision the capture's client used (a
//! driver talking to the 18.16 server wrote 54412 packets after announcing 54468; Granary
//! negotiates 54468 with it). Tables the conversation reads or fills are created first with the
//! columns of the header block the capture's server sent, and filled with the rows it returned.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use arrow_array::RecordBatch;
use common::ServerProcess;
use granary_conformance::result_rows;
use granary_protocol::client::{Client, InsertOptions, Options};
use granary_protocol::connection::{PACKET_BYTES_MAX, PacketReader};
use granary_protocol::io::Cursor;
use granary_protocol::packet::server::ServerPacket;
use granary_protocol::packet::{Context, revision};
use granary_protocol::types::field_clickhouse_type;
use serde_json::Value;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

fn vectors_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/vectors/native");
    assert!(
        dir.is_dir(),
        "test vectors not found at {}: the shared/ directory must sit beside the repository",
        dir.display()
    );
    dir
}

/// One capture: its metadata and both byte streams.
struct Capture {
    name: String,
    meta: Value,
    c2s: Vec<u8>,
    s2c: Vec<u8>,
}

impl Capture {
    fn load(name: &str) -> Capture {
        let dir = vectors_dir();
        let read = |suffix: &str| std::fs::read(dir.join(format!("{name}{suffix}"))).unwrap();
        Capture {
            name: name.to_string(),
            meta: serde_json::from_slice(&read(".json")).unwrap(),
            c2s: read(".c2s.bin"),
            s2c: read(".s2c.bin"),
        }
    }

    fn hello(&self) -> &Value {
        &self.meta["c2s_packets"][0]
    }

    fn client_revision(&self) -> u64 {
        self.hello()["revision"].as_u64().unwrap()
    }

    /// The revision the capture's conversation used (none when the login failed).
    fn negotiated(&self) -> Option<u64> {
        self.hello()["negotiated_revision"].as_u64()
    }

    fn packets(&self, direction: &str) -> impl Iterator<Item = &Value> {
        self.meta[format!("{direction}_packets")]
            .as_array()
            .unwrap()
            .iter()
    }

    /// The capture's server packets in `[start, end)` of its stream, decoded by Granary's codec.
    fn server_packets(&self, start: usize, end: usize, context: &mut Context) -> Vec<ServerPacket> {
        let mut packets = Vec::new();
        for packet in self.packets("s2c") {
            let offset = packet["offset"].as_u64().unwrap() as usize;
            let length = packet["length"].as_u64().unwrap() as usize;
            if offset < start || offset >= end {
                continue;
            }
            let mut cursor = Cursor::new(&self.s2c[offset..offset + length]);
            let decoded = ServerPacket::decode(&mut cursor, context)
                .unwrap_or_else(|error| panic!("{}: s2c @{offset}: {error}", self.name));
            if let ServerPacket::Hello(hello) = &decoded {
                context.revision = revision::negotiate(context.revision, hello.revision);
            }
            packets.push(decoded);
        }
        packets
    }
}

/// The packets a conversation is compared by: Progress, ProfileInfo, Log, TableColumns and
/// TimezoneUpdate vary between servers; so do ProfileEvents, except as the answer to an INSERT
/// block, where they are the acknowledgement; so does the empty block before EndOfStream (the
/// fake server left it out; clients do not need it). Consecutive Data blocks with rows count as
/// one. An Exception ends an answer: what 18.16 sent after one is its failure to drain the
/// client's packets (`native-protocol.md` §7.4), which Granary must not copy.
fn shape(packets: &[ServerPacket], acknowledgement: bool) -> Vec<String> {
    let mut shape: Vec<String> = Vec::new();
    for packet in packets {
        let name = match packet {
            ServerPacket::Progress(_)
            | ServerPacket::ProfileInfo(_)
            | ServerPacket::Log(_)
            | ServerPacket::TableColumns(..)
            | ServerPacket::TimezoneUpdate(_) => continue,
            ServerPacket::ProfileEvents(_) if !acknowledgement => continue,
            ServerPacket::Data(data) if data.block.is_end_marker() => continue,
            ServerPacket::Data(data) if data.block.batch.num_rows() == 0 => {
                "Data(header)".to_string()
            }
            ServerPacket::Data(_) => "Data(rows)".to_string(),
            ServerPacket::Exception(exception) => {
                shape.push(format!("Exception({})", current_code(exception.code)));
                break;
            }
            other => other.name().to_string(),
        };
        if name == "Data(rows)" && shape.last().is_some_and(|last| *last == name) {
            continue;
        }
        shape.push(name);
    }
    shape
}

/// The code today's ClickHouse uses where 18.16 used another: every failed login is
/// AUTHENTICATION_FAILED (516) since ClickHouse 20.x; 18.16 said WRONG_PASSWORD (193).
fn current_code(code: i32) -> i32 {
    match code {
        193 => 516,
        other => other,
    }
}

/// The rows of the Data packets, as ClickHouse's text.
fn rows(packets: &[ServerPacket]) -> Vec<Vec<String>> {
    let batches: Vec<RecordBatch> = packets
        .iter()
        .filter_map(|packet| match packet {
            ServerPacket::Data(data) if data.block.batch.num_rows() > 0 => {
                Some(data.block.batch.clone())
            }
            _ => None,
        })
        .collect();
    result_rows(&batches).unwrap()
}

/// The turns of a capture: direction and byte range.
fn turns(capture: &Capture) -> Vec<(String, usize, usize)> {
    capture.meta["turns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|turn| {
            let offset = turn["offset"].as_u64().unwrap() as usize;
            (
                turn["dir"].as_str().unwrap().to_string(),
                offset,
                offset + turn["length"].as_u64().unwrap() as usize,
            )
        })
        .collect()
}

/// Creates the tables the capture's queries use, with the columns of the header its server sent
/// for them, and fills those its client reads with the rows its server returned.
async fn prepare(capture: &Capture, client: &mut Client) {
    let queries: Vec<(usize, String)> = capture
        .packets("c2s")
        .filter(|packet| packet["name"] == "Query")
        .map(|packet| {
            (
                packet["offset"].as_u64().unwrap() as usize,
                packet["query"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let turns = turns(capture);
    for (offset, sql) in queries {
        let words: Vec<&str> = sql.split_whitespace().collect();
        let table = match words.as_slice() {
            ["INSERT", "INTO", table, ..] => table.to_string(),
            ["SELECT", "*", "FROM", table] if !table.starts_with("default.no_such") => {
                table.to_string()
            }
            _ => continue,
        };
        // The server's answer: the first s2c turn after the query's turn.
        let query_turn = turns
            .iter()
            .position(|(dir, start, end)| dir == "c2s" && (*start..*end).contains(&offset))
            .unwrap();
        let (_, start, end) = turns[query_turn + 1..]
            .iter()
            .find(|(dir, ..)| dir == "s2c")
            .unwrap();
        let compression = capture
            .packets("c2s")
            .find(|packet| packet["offset"].as_u64() == Some(offset as u64))
            .unwrap()["compression"]
            .as_u64()
            == Some(1);
        let mut context = Context {
            compression,
            ..Context::new(capture.negotiated().unwrap())
        };
        let answer = capture.server_packets(*start, *end, &mut context);
        let Some(header) = answer.iter().find_map(|packet| match packet {
            ServerPacket::Data(data) if !data.block.is_end_marker() => Some(&data.block.batch),
            _ => None,
        }) else {
            continue;
        };
        let columns: Vec<String> = header
            .schema()
            .fields()
            .iter()
            .map(|field| {
                format!(
                    "`{}` {}",
                    field.name(),
                    field_clickhouse_type(field).unwrap()
                )
            })
            .collect();
        client
            .execute(&format!(
                "CREATE TABLE IF NOT EXISTS {table} ({}) ENGINE = MergeTree ORDER BY tuple()",
                columns.join(", ")
            ))
            .await
            .unwrap_or_else(|error| panic!("{}: {error}", capture.name));
        let data: Vec<RecordBatch> = answer
            .iter()
            .filter_map(|packet| match packet {
                ServerPacket::Data(data) if data.block.batch.num_rows() > 0 => {
                    Some(data.block.batch.clone())
                }
                _ => None,
            })
            .collect();
        if !data.is_empty() {
            client
                .insert(&table, &data, &InsertOptions::default())
                .await
                .unwrap_or_else(|error| panic!("{}: {error}", capture.name));
        }
    }
}

/// Replays `name` against a server of its own; the differences found, if any.
async fn replay(name: &str) -> Vec<String> {
    let capture = Capture::load(name);
    let hello = capture.hello();
    let user = hello["user"].as_str().unwrap().to_string();
    let password = hello["password"].as_str().unwrap().to_string();
    let database = hello["database"].as_str().unwrap().to_string();
    // The capture's own user, with its password (a wrong-password capture keeps the right one
    // unknown: any password but the one sent).
    let configured_password = if name.contains("password_wrong") {
        "right".to_string()
    } else {
        password.clone()
    };
    let mut users = vec![(user.as_str(), configured_password.as_str())];
    if user != "default" {
        users.push(("default", ""));
    }
    let server = ServerProcess::start_with_users(&users);
    let mut setup = Client::connect(Options {
        user: user.clone(),
        password: if name.contains("password_wrong") {
            configured_password.clone()
        } else {
            password
        },
        ..Options::new(server.native_addr.to_string())
    })
    .await
    .unwrap();
    if !database.is_empty() {
        setup
            .execute(&format!("CREATE DATABASE IF NOT EXISTS {database}"))
            .await
            .unwrap();
    }
    prepare(&capture, &mut setup).await;

    let socket = TcpStream::connect(server.native_addr).await.unwrap();
    let (read_half, mut writer) = socket.into_split();
    let mut reader = PacketReader::new(read_half, PACKET_BYTES_MAX);
    // Context as the capture's client read: its own revision for the Hello, then the negotiated
    // one, with the compression of the latest Query.
    let mut ours = Context::new(capture.client_revision());
    let mut theirs = Context::new(capture.client_revision());
    let mut last_block_was_insert_data = false;
    let mut differences = Vec::new();
    for (dir, start, end) in turns(&capture) {
        if dir == "c2s" {
            for packet in capture.packets("c2s") {
                let offset = packet["offset"].as_u64().unwrap() as usize;
                if (start..end).contains(&offset) && packet["name"] == "Query" {
                    let compression = packet["compression"].as_u64() == Some(1);
                    ours.compression = compression;
                    theirs.compression = compression;
                }
                if (start..end).contains(&offset) && packet["name"] == "Data" {
                    last_block_was_insert_data = true;
                }
            }
            writer.write_all(&capture.c2s[start..end]).await.unwrap();
            continue;
        }
        let expected = capture.server_packets(start, end, &mut theirs);
        let acknowledgement = last_block_was_insert_data
            && expected.iter().all(|packet| {
                matches!(
                    packet,
                    ServerPacket::ProfileEvents(_) | ServerPacket::EndOfStream
                )
            });
        last_block_was_insert_data = false;
        let wanted = shape(&expected, acknowledgement);
        let Some(last) = wanted.last().cloned() else {
            continue;
        };
        // Read until the packet that ends the capture's turn (or an Exception, or the end).
        let mut got = Vec::new();
        loop {
            let read = reader.read(|input| ServerPacket::decode(input, &ours));
            let packet = match tokio::time::timeout(Duration::from_secs(20), read).await {
                Ok(Ok(packet)) => packet,
                Ok(Err(error)) => {
                    differences.push(format!("{name}: reading the answer: {error}"));
                    return differences;
                }
                Err(_) => {
                    differences.push(format!(
                        "{name}: no answer ending in {last} within 20 s; got {:?}",
                        shape(&got, acknowledgement)
                    ));
                    return differences;
                }
            };
            if let ServerPacket::Hello(hello) = &packet {
                ours.revision = revision::negotiate(ours.revision, hello.revision);
            }
            let exception = matches!(packet, ServerPacket::Exception(_));
            got.push(packet);
            let current = shape(&got, acknowledgement);
            if exception || current.last() == Some(&last) && current.len() >= wanted.len() {
                break;
            }
        }
        let shape_got = shape(&got, acknowledgement);
        if shape_got != wanted {
            differences.push(format!(
                "{name}: turn at s2c {start}: expected {wanted:?}, got {shape_got:?}"
            ));
        }
        if !CANNED_ANSWERS.contains(&name) && rows(&got) != rows(&expected) {
            differences.push(format!(
                "{name}: turn at s2c {start}: rows differ:\n  expected {:?}\n  got      {:?}",
                rows(&expected),
                rows(&got)
            ));
        }
    }
    differences
}

/// Captures whose server answered every query with the same rows (the fake server's canned
/// 16-type block): their shape is compared, not their rows.
const CANNED_ANSWERS: &[&str] = &["fake54468_driver_params"];

/// Replayable captures left out, with the reason; each is a gap to close.
const NOT_YET: &[(&str, &str)] = &[(
    "cli_select_types",
    "the engine lacks toFixedString and CAST to FixedString/Enum8/Enum16 (issue #4)",
)];

/// The captures Granary replays.
const REPLAYED: &[&str] = &[
    "cli_exception",
    "cli_insert_tsv",
    "cli_insert_values",
    "cli_password",
    "cli_select1",
    "cli_select1_nocompress",
    "driver_password_wrong",
    "fake54468_cli_insert_tsv",
    "fake54468_cli_select",
    "fake54468_cli_select_nocompress",
    "fake54468_driver_insert_dedup",
    "fake54468_driver_insert_dedup_lz4",
    "fake54468_driver_params",
    "fake54468_driver_ping",
    "fake54468_driver_select_types",
    "fake54468_driver_select_types_lz4",
    "raw_unknown_binary_setting",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn captured_conversations_replay_against_granary() {
    let mut skipped = BTreeMap::new();
    for entry in std::fs::read_dir(vectors_dir()).unwrap() {
        let file = entry.unwrap().file_name().into_string().unwrap();
        let Some(name) = file.strip_suffix(".c2s.bin") else {
            continue;
        };
        let capture = Capture::load(name);
        let replayable = capture.negotiated().is_none_or(|negotiated| {
            negotiated == revision::negotiate(capture.client_revision(), revision::GRANARY)
        });
        if !REPLAYED.contains(&name) && !NOT_YET.iter().any(|(gap, _)| *gap == name) {
            skipped.insert(name.to_string(), replayable);
        }
    }
    // Every capture whose bytes Granary can take is replayed; the rest were written at a revision
    // Granary does not negotiate with that client, or show a server misbehaving on purpose.
    for (name, replayable) in &skipped {
        assert!(
            !replayable || name.ends_with("progress_rejected"),
            "{name} can be replayed: add it to REPLAYED"
        );
    }
    let mut differences = Vec::new();
    for name in REPLAYED {
        differences.extend(replay(name).await);
    }
    assert!(
        differences.is_empty(),
        "{} differences:\n{}",
        differences.len(),
        differences.join("\n")
    );
}
