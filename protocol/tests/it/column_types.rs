//! `column_types.json`: single-column Native blocks produced by ClickHouse 26.9 (chDB), one per type.

use granary_protocol::block::{BlockInfo, decode_block, encode_block};
use granary_protocol::io::Cursor;
use granary_protocol::types::field_clickhouse_type;

use crate::values::assert_column;

#[test]
fn every_clickhouse_column_decodes_to_its_values_and_reencodes_byte_exact() {
    let vectors = crate::read_json("column_types.json");
    let cases = vectors["cases"].as_array().expect("cases");
    assert!(
        cases.len() >= 50,
        "expected the 56 chDB cases, found {}",
        cases.len()
    );
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let block_bytes = hex::decode(case["native_block_hex"].as_str().unwrap()).unwrap();
        // The Native format is revision 0: no BlockInfo, no custom-serialization byte.
        let mut cursor = Cursor::new(&block_bytes);
        let block =
            decode_block(&mut cursor, 0).unwrap_or_else(|e| panic!("{name}: decode failed: {e}"));
        assert!(
            cursor.is_empty(),
            "{name}: {} bytes left after the block",
            cursor.remaining()
        );
        let batch = &block.batch;
        assert_eq!(batch.num_columns(), 1, "{name}");
        let field = batch.schema().field(0).clone();
        let data_type = field_clickhouse_type(&field).unwrap();
        if let Some(expected_type) = case["type"].as_str() {
            assert_eq!(data_type.to_string(), expected_type, "{name}: type name");
        }
        if let Some(rows) = case["rows"].as_u64() {
            assert_eq!(batch.num_rows() as u64, rows, "{name}: rows");
        }
        if let Some(values) = case["values"].as_array() {
            assert_column(name, &data_type, batch.column(0), values);
        }
        let mut encoded = Vec::new();
        encode_block(batch, &BlockInfo::default(), 0, &mut encoded).unwrap();
        assert_eq!(
            hex::encode(&encoded),
            hex::encode(&block_bytes),
            "{name}: re-encoded bytes"
        );
    }
}
