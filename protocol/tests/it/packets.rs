//! Every packet of every capture, both directions, decodes at its recorded offset and length to
//! its recorded fields, and re-encodes to exactly its bytes (Data blocks aside: `captures.rs`
//! checks those).

use granary_protocol::ErrorCode;
use granary_protocol::io::Cursor;
use granary_protocol::packet::client::{Addendum, ClientHello, ClientPacket};
use granary_protocol::packet::server::ServerPacket;
use granary_protocol::packet::{Context, revision};
use serde_json::Value;

fn captures() -> Vec<(String, Value)> {
    let mut names: Vec<String> = std::fs::read_dir(crate::vectors_dir())
        .unwrap()
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter_map(|name| name.strip_suffix(".c2s.bin").map(str::to_string))
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|name| {
            let meta = crate::read_json(&format!("{name}.json"));
            (name, meta)
        })
        .collect()
}

fn stream(name: &str, direction: &str) -> Vec<u8> {
    std::fs::read(crate::vectors_dir().join(format!("{name}.{direction}.bin"))).unwrap()
}

fn span(packet: &Value) -> (usize, usize) {
    (
        packet["offset"].as_u64().unwrap() as usize,
        packet["length"].as_u64().unwrap() as usize,
    )
}

#[test]
fn client_packets_decode_at_their_offsets_and_reencode_exactly() {
    let mut checked = 0;
    for (name, meta) in captures() {
        let bytes = stream(&name, "c2s");
        let packets = meta["c2s_packets"].as_array().unwrap();
        let mut context = Context::new(0);
        for packet in packets {
            let (offset, length) = span(packet);
            let mut cursor = Cursor::new(&bytes[offset..]);
            let what = format!("{name} c2s @{offset} {}", packet["name"]);
            match packet["name"].as_str().unwrap() {
                "Hello" => {
                    let hello = ClientHello::decode(&mut cursor).unwrap();
                    assert_eq!(hello.client_name, packet["client_name"], "{what}");
                    assert_eq!(hello.revision, packet["revision"], "{what}");
                    assert_eq!(hello.user, packet["user"], "{what}");
                    assert_eq!(hello.password, packet["password"], "{what}");
                    let mut again = Vec::new();
                    hello.encode(&mut again);
                    assert_eq!(again, bytes[offset..offset + length], "{what}");
                    context = Context::new(packet["negotiated_revision"].as_u64().unwrap());
                }
                "Addendum" => {
                    let addendum = Addendum::decode(&mut cursor, context.revision).unwrap();
                    assert_eq!(addendum.quota_key, packet["quota_key"], "{what}");
                }
                "UNDECODABLE" => {
                    let err = ClientPacket::decode(&mut cursor, &context).unwrap_err();
                    assert_eq!(err.code(), ErrorCode::UNKNOWN_SETTING, "{what}");
                    checked += 1;
                    continue;
                }
                _ => {
                    let decoded = ClientPacket::decode(&mut cursor, &context)
                        .unwrap_or_else(|e| panic!("{what}: {e}"));
                    match decoded {
                        ClientPacket::Query(query) => {
                            assert_eq!(query.sql, packet["query"], "{what}");
                            assert_eq!(
                                u64::from(query.compression),
                                packet["compression"].as_u64().unwrap(),
                                "{what}"
                            );
                            let settings: Vec<(String, String)> = packet["settings"]
                                .as_array()
                                .unwrap()
                                .iter()
                                .map(|s| {
                                    (
                                        s["name"].as_str().unwrap().to_string(),
                                        match &s["value"] {
                                            Value::String(text) => text.clone(),
                                            other => other.to_string(),
                                        },
                                    )
                                })
                                .collect();
                            let decoded_settings: Vec<(String, String)> = query
                                .settings
                                .iter()
                                .map(|s| (s.name.clone(), s.value.clone()))
                                .collect();
                            assert_eq!(decoded_settings, settings, "{what}");
                            let mut again = Vec::new();
                            query.encode(&mut again, context.revision).unwrap();
                            assert_eq!(again, bytes[offset..offset + length], "{what}");
                            context.compression = query.compression;
                        }
                        ClientPacket::Data(data) => {
                            assert_eq!(
                                data.block.batch.num_rows() as u64,
                                packet["block"]["num_rows"].as_u64().unwrap(),
                                "{what}"
                            );
                        }
                        ClientPacket::Ping => assert_eq!(packet["name"], "Ping", "{what}"),
                        ClientPacket::Cancel => assert_eq!(packet["name"], "Cancel", "{what}"),
                        ClientPacket::KeepAlive => panic!("{what}: no capture has KeepAlive"),
                    }
                }
            }
            assert_eq!(cursor.position(), length, "{what}: decoded length");
            checked += 1;
        }
    }
    assert!(checked > 150, "only {checked} client packets checked");
}

#[test]
fn server_packets_decode_at_their_offsets_and_reencode_exactly() {
    let mut checked = 0;
    for (name, meta) in captures() {
        let bytes = stream(&name, "s2c");
        let client_revision = meta["c2s_packets"][0]["revision"].as_u64().unwrap();
        // The compression flag of each query, in order; packets after a query's first are its.
        let compressions: Vec<bool> = meta["c2s_packets"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["name"] == "Query")
            .map(|p| p["compression"].as_u64() == Some(1))
            .collect();
        let compressed = compressions.first().copied().unwrap_or(false);
        let mut context = Context::new(client_revision);
        for packet in meta["s2c_packets"].as_array().unwrap() {
            let (offset, length) = span(packet);
            let what = format!("{name} s2c @{offset} {}", packet["name"]);
            let mut cursor = Cursor::new(&bytes[offset..]);
            let decoded = ServerPacket::decode(&mut cursor, &context)
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_eq!(decoded.name(), packet["name"], "{what}");
            assert_eq!(cursor.position(), length, "{what}: decoded length");
            let exact = match &decoded {
                ServerPacket::Hello(hello) => {
                    let negotiated = revision::negotiate(client_revision, hello.revision);
                    assert_eq!(negotiated, packet["negotiated_revision"], "{what}");
                    assert_eq!(hello.timezone, packet["timezone"], "{what}");
                    context = Context::new(negotiated);
                    context.compression = compressed;
                    let mut again = Vec::new();
                    decoded.encode(&mut again, negotiated, None).unwrap();
                    Some(again)
                }
                ServerPacket::Exception(exception) => {
                    assert_eq!(exception.code, packet["exception"]["code"], "{what}");
                    assert!(exception.message.starts_with(&exception.name), "{what}");
                    let mut again = Vec::new();
                    decoded.encode(&mut again, context.revision, None).unwrap();
                    Some(again)
                }
                ServerPacket::Data(data) => {
                    assert_eq!(
                        data.block.batch.num_rows() as u64,
                        packet["block"]["num_rows"].as_u64().unwrap(),
                        "{what}"
                    );
                    None
                }
                ServerPacket::Log(_) | ServerPacket::ProfileEvents(_) => None,
                ServerPacket::Totals(_) | ServerPacket::Extremes(_) => None,
                _ => {
                    let mut again = Vec::new();
                    decoded.encode(&mut again, context.revision, None).unwrap();
                    Some(again)
                }
            };
            if let Some(again) = exact {
                assert_eq!(again, bytes[offset..offset + length], "{what}: re-encoded");
            }
            checked += 1;
        }
    }
    assert!(checked > 200, "only {checked} server packets checked");
}
