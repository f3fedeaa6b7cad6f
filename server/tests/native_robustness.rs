//! Hostile and broken native-protocol clients, byte by byte on a raw socket: malformed packets,
//! absurd sizes and varints, unknown packet types, wrong column types, short blocks, and clients
//! that vanish mid-block. Each gets a coded Exception or a closed connection; the server keeps
//! serving and no partial part becomes visible.

mod common;

use std::net::SocketAddr;

use common::ServerProcess;
use common::raw::{END, Raw, compressed_query, data, query};
use granary_protocol::ErrorCode;
use granary_protocol::client::{Client, Options};
use granary_protocol::io::write_var_uint;
use granary_protocol::packet::server::ServerPacket;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn rows(address: SocketAddr, sql: &str) -> u64 {
    let mut client = Client::connect(Options::new(address.to_string()))
        .await
        .unwrap();
    let batches = client.query(sql).await.unwrap().collect().await.unwrap();
    let column = batches[0].column(0);
    let values = column
        .as_any()
        .downcast_ref::<arrow_array::UInt64Array>()
        .unwrap();
    values.value(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_clients_get_coded_errors_and_the_server_keeps_serving() {
    let server = ServerProcess::start();
    let address = server.native_addr;
    let mut client = Client::connect(Options::new(address.to_string()))
        .await
        .unwrap();
    client
        .execute("CREATE TABLE t (k UInt64) ENGINE = MergeTree ORDER BY k")
        .await
        .unwrap();

    // An unknown packet type: an Exception, then the connection closes.
    let mut raw = Raw::connect(address).await;
    raw.send(&[99]).await;
    assert_eq!(
        raw.exception_code().await,
        Some(ErrorCode::UNKNOWN_PACKET_FROM_CLIENT.0)
    );
    assert!(raw.closed().await);

    // A Hello in the middle of a conversation.
    let mut raw = Raw::connect(address).await;
    raw.send(&[0, 0]).await;
    assert_eq!(
        raw.exception_code().await,
        Some(ErrorCode::UNEXPECTED_PACKET_FROM_CLIENT.0)
    );

    // A varint longer than ten bytes.
    let mut raw = Raw::connect(address).await;
    raw.send(&[
        1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
    ])
    .await;
    assert!(raw.exception_code().await.is_some());
    assert!(raw.closed().await);

    // A query id claiming a terabyte: refused before anything is allocated.
    let mut raw = Raw::connect(address).await;
    let mut packet = vec![1];
    write_var_uint(&mut packet, 1 << 40);
    raw.send(&packet).await;
    assert_eq!(
        raw.exception_code().await,
        Some(ErrorCode::TOO_LARGE_STRING_SIZE.0)
    );
    assert!(raw.closed().await);

    // A block claiming a billion columns.
    let mut raw = Raw::connect(address).await;
    raw.send(&query("INSERT INTO t VALUES")).await;
    raw.send(&END).await;
    assert!(matches!(raw.receive().await, Some(ServerPacket::Data(_))));
    let mut block = vec![2, 0, 0];
    write_var_uint(&mut block, 1_000_000_000);
    write_var_uint(&mut block, 1);
    raw.send(&block).await;
    assert_eq!(
        raw.exception_code().await,
        Some(ErrorCode::TOO_MANY_COLUMNS.0)
    );

    // A column of the wrong type: TYPE_MISMATCH, the rest of the data is dropped, and the
    // connection takes the next query.
    let mut raw = Raw::connect(address).await;
    raw.send(&query("INSERT INTO t VALUES")).await;
    raw.send(&END).await;
    assert!(matches!(raw.receive().await, Some(ServerPacket::Data(_))));
    raw.send(&data("k", "String", 1, b"\x01x")).await;
    assert_eq!(raw.exception_code().await, Some(ErrorCode::TYPE_MISMATCH.0));
    // This block is part of the refused INSERT: read and dropped.
    raw.send(&data("k", "UInt64", 1, &8u64.to_le_bytes())).await;
    raw.send(&END).await;
    raw.send(&query("INSERT INTO t VALUES (7)")).await;
    raw.send(&END).await;
    let mut answered = false;
    while let Some(packet) = raw.receive().await {
        match packet {
            ServerPacket::EndOfStream => {
                answered = true;
                break;
            }
            ServerPacket::Exception(exception) => panic!("{exception}"),
            _ => {}
        }
    }
    assert!(answered);

    // A type name that is no type.
    let mut raw = Raw::connect(address).await;
    raw.send(&query("INSERT INTO t VALUES")).await;
    raw.send(&END).await;
    assert!(matches!(raw.receive().await, Some(ServerPacket::Data(_))));
    raw.send(&data("k", "NoSuchType", 1, &[0; 8])).await;
    assert_eq!(raw.exception_code().await, Some(ErrorCode::UNKNOWN_TYPE.0));

    // A block shorter than its row count, then the client vanishes: no part appears.
    let mut raw = Raw::connect(address).await;
    raw.send(&query("INSERT INTO t VALUES")).await;
    raw.send(&END).await;
    assert!(matches!(raw.receive().await, Some(ServerPacket::Data(_))));
    raw.send(&data("k", "UInt64", 1000, &[0; 4000])).await;
    drop(raw);

    // A compressed block with a frame that lies about its size.
    let mut raw = Raw::connect(address).await;
    raw.send(&compressed_query("SELECT 1")).await;
    let mut frame = vec![2, 0];
    frame.extend_from_slice(&[0u8; 16]); // checksum
    frame.push(0x82);
    frame.extend_from_slice(&40u32.to_le_bytes());
    frame.extend_from_slice(&u32::MAX.to_le_bytes());
    frame.extend_from_slice(&[0u8; 31]);
    raw.send(&frame).await;
    assert!(raw.exception_code().await.is_some());
    assert!(raw.closed().await);

    // A client that sends half a Hello and goes away, and one that sends HTTP.
    let mut socket = TcpStream::connect(address).await.unwrap();
    socket.write_all(&[0, 10, b'h']).await.unwrap();
    drop(socket);
    let mut socket = TcpStream::connect(address).await.unwrap();
    socket.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
    let mut answer = String::new();
    socket.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.0 400"), "{answer}");

    // Through all of it: the server serves, and only the one good block was written.
    assert_eq!(rows(address, "SELECT count() FROM t").await, 1);
    assert_eq!(rows(address, "SELECT sum(k) FROM t").await, 7);
    client.ping().await.unwrap();
}
