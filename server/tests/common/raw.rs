//! A native-protocol connection byte by byte, for the tests of hostile clients: the handshake
//! done properly, then whatever packets a test builds.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use granary_protocol::connection::{PACKET_BYTES_MAX, PacketReader};
use granary_protocol::io::write_var_uint;
use granary_protocol::packet::client::{Addendum, ClientHello, ClientInfo, Query, STAGE_COMPLETE};
use granary_protocol::packet::server::ServerPacket;
use granary_protocol::packet::{Context, revision};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

/// A raw connection after the handshake at revision 54468.
pub struct Raw {
    pub reader: PacketReader<OwnedReadHalf>,
    pub writer: OwnedWriteHalf,
    /// Whether the server's Data packets come compressed (after a [`compressed_query`]).
    pub compression: bool,
}

impl Raw {
    pub async fn connect(address: SocketAddr) -> Raw {
        let socket = TcpStream::connect(address).await.unwrap();
        let (read_half, mut writer) = socket.into_split();
        let mut out = Vec::new();
        ClientHello {
            client_name: "raw".into(),
            version_major: 24,
            version_minor: 8,
            revision: revision::GRANARY,
            database: "default".into(),
            user: "default".into(),
            password: String::new(),
        }
        .encode(&mut out);
        writer.write_all(&out).await.unwrap();
        let mut raw = Raw {
            reader: PacketReader::new(read_half, PACKET_BYTES_MAX),
            writer,
            compression: false,
        };
        assert!(matches!(raw.receive().await, Some(ServerPacket::Hello(_))));
        let mut out = Vec::new();
        Addendum::default().encode(&mut out, revision::GRANARY);
        raw.send(&out).await;
        raw
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        // The server may already have closed the connection; what it answered is what counts.
        let _ = self.writer.write_all(bytes).await;
    }

    /// The next packet, or `None` when the server closed the connection.
    pub async fn receive(&mut self) -> Option<ServerPacket> {
        let context = Context {
            compression: self.compression,
            ..Context::new(revision::GRANARY)
        };
        let read = self
            .reader
            .read(|input| ServerPacket::decode(input, &context));
        match tokio::time::timeout(Duration::from_secs(30), read).await {
            Ok(Ok(packet)) => Some(packet),
            Ok(Err(error)) if error.is_disconnect() => None,
            Ok(Err(error)) => panic!("unreadable answer: {error}"),
            Err(_) => panic!("the server neither answered nor closed the connection"),
        }
    }

    /// The code of the Exception the server answers with; `None` if it closed without one.
    pub async fn exception_code(&mut self) -> Option<i32> {
        loop {
            match self.receive().await? {
                ServerPacket::Exception(exception) => return Some(exception.code),
                ServerPacket::Data(_)
                | ServerPacket::ProfileEvents(_)
                | ServerPacket::Progress(_) => {}
                other => panic!("expected an Exception, got {}", other.name()),
            }
        }
    }

    /// Whether the server closed the connection (after anything it still had to say).
    pub async fn closed(&mut self) -> bool {
        loop {
            match self.receive().await {
                None => return true,
                Some(ServerPacket::Exception(_)) => {}
                Some(other) => panic!("expected the connection to close, got {}", other.name()),
            }
        }
    }
}

/// A Query packet of `sql` whose data blocks are not compressed.
pub fn query(sql: &str) -> Vec<u8> {
    query_packet(sql, false)
}

/// A Query packet of `sql` whose data blocks (both ways) are compressed frames.
pub fn compressed_query(sql: &str) -> Vec<u8> {
    query_packet(sql, true)
}

fn query_packet(sql: &str, compression: bool) -> Vec<u8> {
    let mut out = Vec::new();
    Query {
        query_id: String::new(),
        client_info: Some(ClientInfo::tcp("raw", 24, 8, 1)),
        settings: Vec::new(),
        interserver_secret: String::new(),
        stage: STAGE_COMPLETE,
        compression,
        sql: sql.to_string(),
        parameters: Vec::new(),
    }
    .encode(&mut out, revision::GRANARY)
    .unwrap();
    out
}

/// A Data packet (no compression) of one column with `rows` declared and `values` bytes given.
pub fn data(name: &str, type_name: &str, rows: u64, values: &[u8]) -> Vec<u8> {
    let mut out = vec![2, 0]; // Data, empty table name
    out.extend_from_slice(&[1, 0, 2, 0xff, 0xff, 0xff, 0xff, 0]); // BlockInfo
    write_var_uint(&mut out, 1);
    write_var_uint(&mut out, rows);
    for text in [name, type_name] {
        write_var_uint(&mut out, text.len() as u64);
        out.extend_from_slice(text.as_bytes());
    }
    out.push(0); // no custom serialization
    out.extend_from_slice(values);
    out
}

/// The empty Data packet that ends external tables and INSERT data.
pub const END: [u8; 12] = [2, 0, 1, 0, 2, 0xff, 0xff, 0xff, 0xff, 0, 0, 0];
