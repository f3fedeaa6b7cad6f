//! Corrupt input is an error with the right code, never a panic or a huge allocation.

use granary_protocol::block::{BlockInfo, decode_block, encode_block};
use granary_protocol::column::read_native;
use granary_protocol::compress::{CompressedReader, Method, compress_frame, decompress_frame};
use granary_protocol::io::{Cursor, write_string, write_var_uint};
use granary_protocol::{DataType, ErrorCode};
use proptest::prelude::*;

/// The 31-column block of `driver_select_types` (revision 54412), re-encoded by Granary.
fn rich_block() -> Vec<u8> {
    let bytes = std::fs::read(crate::vectors_dir().join("driver_select_types.s2c.bin")).unwrap();
    let meta = crate::read_json("driver_select_types.json");
    let packet = meta["s2c_packets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "Data" && p["block"]["num_rows"].as_u64() == Some(3))
        .unwrap()
        .clone();
    let start = packet["offset"].as_u64().unwrap() as usize + 2;
    let end =
        packet["offset"].as_u64().unwrap() as usize + packet["length"].as_u64().unwrap() as usize;
    let block = decode_block(&mut Cursor::new(&bytes[start..end]), 54412).unwrap();
    let mut out = Vec::new();
    encode_block(&block.batch, &BlockInfo::default(), 54412, &mut out).unwrap();
    out
}

#[test]
fn every_truncation_of_a_block_is_an_eof_error() {
    let block = rich_block();
    for length in 0..block.len() {
        let err = decode_block(&mut Cursor::new(&block[..length]), 54412)
            .expect_err("a truncated block cannot decode");
        assert!(
            matches!(
                err.code(),
                ErrorCode::ATTEMPT_TO_READ_AFTER_EOF
                    | ErrorCode::INCORRECT_DATA
                    | ErrorCode::SYNTAX_ERROR
                    | ErrorCode::UNKNOWN_TYPE
            ),
            "truncated at {length}: {err}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, .. ProptestConfig::default() })]

    /// Any byte changed anywhere: the decoder returns (Ok or Err) without panicking.
    #[test]
    fn mutated_blocks_never_panic(position in any::<prop::sample::Index>(), value in any::<u8>(), second in any::<prop::sample::Index>()) {
        let mut block = rich_block();
        let at = position.index(block.len());
        block[at] = value;
        let again = second.index(block.len());
        block[again] = block[again].wrapping_add(value | 1);
        let _decoded = decode_block(&mut Cursor::new(&block), 54412);
    }

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256), revision in prop::sample::select(vec![0u64, 54412, 54468])) {
        let _decoded = decode_block(&mut Cursor::new(&bytes), revision);
        let _frame = decompress_frame(&mut Cursor::new(&bytes), 1 << 20, &mut Vec::new());
    }
}

fn column_error(type_name: &str, rows: usize, bytes: &[u8]) -> ErrorCode {
    let data_type = DataType::parse(type_name).unwrap();
    read_native(&data_type, rows, &mut Cursor::new(bytes))
        .expect_err(type_name)
        .code()
}

#[test]
fn impossible_counts_are_refused_before_allocating() {
    // A block claiming 2^60 rows of UInt64 with 8 bytes of data.
    let mut block = Vec::new();
    write_var_uint(&mut block, 1);
    write_var_uint(&mut block, 1 << 60);
    write_string(&mut block, b"c");
    write_string(&mut block, b"UInt64");
    block.extend_from_slice(&[0u8; 8]);
    let err = decode_block(&mut Cursor::new(&block), 0).unwrap_err();
    assert!(
        matches!(
            err.code(),
            ErrorCode::ATTEMPT_TO_READ_AFTER_EOF | ErrorCode::TOO_LARGE_ARRAY_SIZE
        ),
        "{err}"
    );

    // A string claiming 2^62 bytes.
    let mut string = Vec::new();
    write_var_uint(&mut string, 1 << 62);
    assert_eq!(
        column_error("String", 1, &string),
        ErrorCode::ATTEMPT_TO_READ_AFTER_EOF
    );

    // A billion strings in ten bytes.
    assert_eq!(
        column_error("String", 1_000_000_000, &[0u8; 10]),
        ErrorCode::ATTEMPT_TO_READ_AFTER_EOF
    );

    // Array offsets that go backwards, and offsets past what i32 Arrow offsets hold.
    let mut offsets = Vec::new();
    offsets.extend_from_slice(&5u64.to_le_bytes());
    offsets.extend_from_slice(&3u64.to_le_bytes());
    assert_eq!(
        column_error("Array(UInt8)", 2, &offsets),
        ErrorCode::INCORRECT_DATA
    );
    assert_eq!(
        column_error("Array(UInt8)", 1, &(1u64 << 40).to_le_bytes()),
        ErrorCode::TOO_LARGE_ARRAY_SIZE
    );

    // LowCardinality: a key count past the input, an index past the keys, a global dictionary.
    let mut lc = Vec::new();
    lc.extend_from_slice(&1u64.to_le_bytes());
    lc.extend_from_slice(&0x600u64.to_le_bytes());
    lc.extend_from_slice(&u64::MAX.to_le_bytes());
    assert_eq!(
        column_error("LowCardinality(String)", 1, &lc),
        ErrorCode::ATTEMPT_TO_READ_AFTER_EOF
    );
    let mut lc = Vec::new();
    lc.extend_from_slice(&1u64.to_le_bytes());
    lc.extend_from_slice(&0x600u64.to_le_bytes());
    lc.extend_from_slice(&1u64.to_le_bytes());
    lc.push(0);
    lc.extend_from_slice(&1u64.to_le_bytes());
    lc.push(5);
    assert_eq!(
        column_error("LowCardinality(String)", 1, &lc),
        ErrorCode::INCORRECT_DATA
    );
    let mut global = Vec::new();
    global.extend_from_slice(&1u64.to_le_bytes());
    global.extend_from_slice(&0x100u64.to_le_bytes());
    assert_eq!(
        column_error("LowCardinality(String)", 1, &global),
        ErrorCode::NOT_IMPLEMENTED
    );

    // An enum value that is no item; a String that is not UTF-8.
    assert_eq!(
        column_error("Enum8('a' = 1)", 1, &[9]),
        ErrorCode::INCORRECT_DATA
    );
    assert_eq!(
        column_error("String", 1, &[2, 0xff, 0xfe]),
        ErrorCode::INCORRECT_DATA
    );

    // Sparse columns from a newer peer are refused by name.
    let mut sparse = vec![0x00u8];
    write_var_uint(&mut sparse, 1);
    write_var_uint(&mut sparse, 1);
    write_string(&mut sparse, b"c");
    write_string(&mut sparse, b"UInt8");
    sparse.push(1);
    let sparse = [vec![1u8, 0, 2, 0xff, 0xff, 0xff, 0xff], sparse].concat();
    let err = decode_block(&mut Cursor::new(&sparse), 54468).unwrap_err();
    assert_eq!(err.code(), ErrorCode::NOT_IMPLEMENTED);
}

#[test]
fn a_corrupted_frame_in_a_stream_fails_the_read_with_the_checksum_code() {
    let mut file = Vec::new();
    compress_frame(Method::Lz4, &[1u8; 10_000], &mut file).unwrap();
    compress_frame(Method::Zstd(3), &[2u8; 10_000], &mut file).unwrap();
    let length = file.len();
    file[length - 3] ^= 0xff;
    let mut reader = CompressedReader::new(std::io::Cursor::new(&file), 1 << 20);
    let mut out = Vec::new();
    let err = std::io::Read::read_to_end(&mut reader, &mut out).unwrap_err();
    let inner = err
        .into_inner()
        .unwrap()
        .downcast::<granary_protocol::Error>()
        .unwrap();
    assert_eq!(inner.code(), ErrorCode::CHECKSUM_DOESNT_MATCH);
}
