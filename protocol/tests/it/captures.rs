//! Every block in the real and fake-server captures decodes to the values recorded beside it; the
//! blocks real ClickHouse programs wrote re-encode to exactly their bytes.

use granary_protocol::block::{BlockInfo, decode_block, encode_block};
use granary_protocol::compress::decompress_frame;
use granary_protocol::io::Cursor;
use granary_protocol::types::field_clickhouse_type;
use serde_json::Value;

use crate::values::assert_column;

fn capture_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(crate::vectors_dir())
        .unwrap()
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter_map(|name| name.strip_suffix(".c2s.bin").map(str::to_string))
        .collect();
    names.sort();
    assert!(
        names.len() >= 40,
        "expected the 41 captures, found {}",
        names.len()
    );
    names
}

/// The block bytes of a packet: decompressed from its frames, or the raw bytes after the table name.
fn block_bytes(stream: &[u8], packet: &Value) -> Vec<u8> {
    if let Some(frames) = packet.get("frames").and_then(Value::as_array) {
        let mut block = Vec::new();
        for frame in frames {
            let offset = frame["offset"].as_u64().unwrap() as usize;
            let length = frame["length"].as_u64().unwrap() as usize;
            let mut cursor = Cursor::new(&stream[offset..offset + length]);
            decompress_frame(&mut cursor, 1 << 30, &mut block).unwrap();
            assert!(cursor.is_empty());
        }
        return block;
    }
    let offset = packet["offset"].as_u64().unwrap() as usize;
    let length = packet["length"].as_u64().unwrap() as usize;
    let mut cursor = Cursor::new(&stream[offset..offset + length]);
    cursor.read_var_uint("packet type").unwrap();
    cursor.read_bytes("table name").unwrap();
    cursor.rest().to_vec()
}

#[test]
fn every_captured_block_decodes_to_its_recorded_values() {
    let mut blocks_checked = 0;
    let mut blocks_reencoded = 0;
    for name in capture_names() {
        let meta = crate::read_json(&format!("{name}.json"));
        let Some(revision) = meta["s2c_packets"]
            .as_array()
            .unwrap()
            .iter()
            .find_map(|packet| packet.get("negotiated_revision").and_then(Value::as_u64))
        else {
            continue; // no handshake completed (wrong password)
        };
        for (direction, by_clickhouse) in [
            (
                "s2c",
                meta["server"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("clickhouse-server"),
            ),
            (
                "c2s",
                meta["client"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("clickhouse-client"),
            ),
        ] {
            let stream =
                std::fs::read(crate::vectors_dir().join(format!("{name}.{direction}.bin")))
                    .unwrap();
            for packet in meta[format!("{direction}_packets")].as_array().unwrap() {
                let Some(expected) = packet.get("block") else {
                    continue;
                };
                let context = format!("{name} {direction}@{}", packet["offset"]);
                let bytes = block_bytes(&stream, packet);
                let mut cursor = Cursor::new(&bytes);
                let block = decode_block(&mut cursor, revision)
                    .unwrap_or_else(|e| panic!("{context}: {e}"));
                assert!(
                    cursor.is_empty(),
                    "{context}: {} bytes left after the block",
                    cursor.remaining()
                );
                assert_eq!(
                    block.batch.num_rows() as u64,
                    expected["num_rows"].as_u64().unwrap(),
                    "{context}"
                );
                let columns = expected["columns"].as_array().unwrap();
                assert_eq!(block.batch.num_columns(), columns.len(), "{context}");
                for (index, column) in columns.iter().enumerate() {
                    let field = block.batch.schema().field(index).clone();
                    assert_eq!(field.name(), column["name"].as_str().unwrap(), "{context}");
                    let data_type = field_clickhouse_type(&field).unwrap();
                    assert_eq!(
                        data_type.to_string(),
                        column["type"].as_str().unwrap(),
                        "{context}"
                    );
                    if let Some(values) = column.get("values").and_then(Value::as_array) {
                        let column_context = format!("{context} column {}", field.name());
                        assert_column(
                            &column_context,
                            &data_type,
                            block.batch.column(index),
                            values,
                        );
                    }
                }
                blocks_checked += 1;
                if by_clickhouse {
                    let mut encoded = Vec::new();
                    encode_block(&block.batch, &BlockInfo::default(), revision, &mut encoded)
                        .unwrap();
                    assert_eq!(
                        hex::encode(&encoded),
                        hex::encode(&bytes),
                        "{context}: re-encoded bytes"
                    );
                    blocks_reencoded += 1;
                }
            }
        }
    }
    assert!(blocks_checked > 100, "checked only {blocks_checked} blocks");
    assert!(
        blocks_reencoded > 40,
        "re-encoded only {blocks_reencoded} blocks"
    );
}
