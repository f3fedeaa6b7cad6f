//! Wide parts written and read back: ClickHouse's layout, every granule range, corruption detected.

use std::path::Path;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, UInt32Type};
use arrow_array::*;
use arrow_buffer::OffsetBuffer;
use arrow_schema::{DataType as ArrowType, Field, Schema};
use granary_engine::storage::{DataPart, PartColumn, PartWriter};
use granary_protocol::compress::{BlockSizes, Method};
use granary_protocol::{DataType, ErrorCode};

fn column(name: &str, type_name: &str) -> PartColumn {
    PartColumn {
        name: name.into(),
        data_type: DataType::parse(type_name).unwrap(),
        codec: Method::Lz4,
    }
}

fn batch(columns: &[PartColumn], arrays: Vec<ArrayRef>) -> RecordBatch {
    let fields: Vec<Field> = columns
        .iter()
        .zip(&arrays)
        .map(|(c, a)| Field::new(&c.name, a.data_type().clone(), true))
        .collect();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).unwrap()
}

fn write(
    dir: &Path,
    writer: &PartWriter,
    columns: &[PartColumn],
    arrays: Vec<ArrayRef>,
    key: &[usize],
) -> DataPart {
    std::fs::create_dir_all(dir).unwrap();
    writer
        .write(dir, columns, &batch(columns, arrays), key, None)
        .unwrap();
    DataPart::open(dir).unwrap()
}

/// The shape of ClickHouse's documented SSB `lineorder` part (mergetree.md §2.13).
#[test]
fn a_lineorder_shaped_part_has_clickhouse_marks_and_index() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("1993_1_1_0");
    let rows = 302_764u32;
    let columns = [
        column("LOORDERDATE", "Date"),
        column("LOORDERKEY", "UInt32"),
    ];
    let dates: ArrayRef = Arc::new(Date32Array::from_iter_values(
        (0..rows).map(|row| 8401 + (row / 1000) as i32),
    ));
    let keys: ArrayRef = Arc::new(UInt32Array::from_iter_values((0..rows).map(|row| row * 7)));
    let part = write(
        &dir,
        &PartWriter::default(),
        &columns,
        vec![dates.clone(), keys.clone()],
        &[0, 1],
    );

    assert_eq!(part.rows, 302_764);
    assert_eq!(
        std::fs::read_to_string(dir.join("count.txt")).unwrap(),
        "302764"
    );
    assert_eq!(part.granule_count(), 37);
    assert_eq!(part.granule_rows[36], 7852);
    // 37 granules + the final mark, each key Date (2 bytes) + UInt32 (4 bytes).
    assert_eq!(
        std::fs::metadata(dir.join("primary.idx")).unwrap().len(),
        38 * 6
    );
    let marks = std::fs::read(dir.join("LOORDERKEY.mrk2")).unwrap();
    let mark = |index: usize| -> [u64; 3] {
        let word = |w: usize| {
            u64::from_le_bytes(
                marks[index * 24 + w * 8..index * 24 + w * 8 + 8]
                    .try_into()
                    .unwrap(),
            )
        };
        [word(0), word(1), word(2)]
    };
    assert_eq!(marks.len(), 38 * 24);
    assert_eq!(mark(0), [0, 0, 8192]);
    assert_eq!(mark(1), [0, 32768, 8192]);
    assert!(
        mark(2)[0] > 0 && mark(2)[1] == 0,
        "the third granule starts a fresh 64 KiB block"
    );
    assert_eq!(mark(3), [mark(2)[0], 32768, 8192]);
    assert_eq!(mark(36)[1..], [0, 7852]);
    assert_eq!(
        mark(37),
        [mark(36)[0], 31408, 0],
        "the final mark points at the end of the stream"
    );
    assert_eq!(
        std::fs::read(dir.join("LOORDERKEY.bin")).unwrap()[16],
        0x82,
        "LZ4 blocks"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("default_compression_codec.txt")).unwrap(),
        "CODEC(LZ4)"
    );

    part.verify_checksums().unwrap();
    assert_eq!(
        part.read_column("LOORDERKEY", 0..37).unwrap().as_ref(),
        keys.as_ref()
    );
    assert_eq!(
        part.read_column("LOORDERDATE", 5..7).unwrap().as_ref(),
        dates.slice(5 * 8192, 2 * 8192).as_ref()
    );
    assert_eq!(
        part.read_column("LOORDERKEY", 36..37).unwrap().as_ref(),
        keys.slice(36 * 8192, 7852).as_ref()
    );
    assert_eq!(part.read_column("LOORDERKEY", 3..3).unwrap().len(), 0);

    let index = part
        .read_primary_index(&[DataType::Date, DataType::UInt32])
        .unwrap();
    let index_keys = index[1].as_primitive::<UInt32Type>();
    assert_eq!(index_keys.len(), 38);
    assert_eq!(index_keys.value(1), 8192 * 7);
    assert_eq!(
        index_keys.value(37),
        (rows - 1) * 7,
        "the final entry holds the last row"
    );
}

/// Nested and dictionary types across granules that span several tiny compressed frames.
#[test]
fn every_granule_range_of_nested_columns_reads_back() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("all_1_1_0");
    let rows = 50usize;
    let columns = [
        column("id", "UInt64"),
        column("s", "String"),
        column("ns", "Nullable(String)"),
        column("arr", "Array(Nullable(Int32))"),
        column("lc", "LowCardinality(Nullable(String))"),
        column("m", "Map(String, UInt64)"),
        column("t", "Tuple(a UInt8, b Array(String))"),
        column("z", "Float64"),
    ];
    let mut columns = columns.to_vec();
    columns[7] = PartColumn {
        name: "z".into(),
        data_type: DataType::Float64,
        codec: Method::Zstd(3),
    };
    let ids: ArrayRef = Arc::new(UInt64Array::from_iter_values(0..rows as u64));
    let strings: ArrayRef = Arc::new(StringArray::from_iter_values(
        (0..rows).map(|i| "x".repeat(i % 7)),
    ));
    let nullable: ArrayRef = Arc::new(StringArray::from_iter(
        (0..rows).map(|i| (i % 3 != 0).then(|| format!("v{i}"))),
    ));
    let lengths: Vec<usize> = (0..rows).map(|i| i % 4).collect();
    let elements = Int32Array::from_iter(
        (0..lengths.iter().sum::<usize>()).map(|i| (i % 5 != 0).then_some(i as i32)),
    );
    let arrays: ArrayRef = Arc::new(ListArray::new(
        Arc::new(Field::new("item", ArrowType::Int32, true)),
        OffsetBuffer::from_lengths(lengths),
        Arc::new(elements),
        None,
    ));
    let lc: ArrayRef = Arc::new(StringArray::from_iter(
        (0..rows).map(|i| (i % 4 != 1).then(|| ["red", "green", ""][i % 3])),
    ));
    let map_type = DataType::parse("Map(String, UInt64)").unwrap().to_arrow();
    let ArrowType::Map(entries_field, _) = map_type else {
        unreachable!()
    };
    let ArrowType::Struct(entry_fields) = entries_field.data_type().clone() else {
        unreachable!()
    };
    let map_lengths: Vec<usize> = (0..rows).map(|i| i % 3).collect();
    let entry_count: usize = map_lengths.iter().sum();
    let entries = StructArray::new(
        entry_fields,
        vec![
            Arc::new(StringArray::from_iter_values(
                (0..entry_count).map(|i| format!("k{i}")),
            )),
            Arc::new(UInt64Array::from_iter_values(0..entry_count as u64)),
        ],
        None,
    );
    let maps: ArrayRef = Arc::new(MapArray::new(
        entries_field,
        OffsetBuffer::from_lengths(map_lengths),
        entries,
        None,
        false,
    ));
    let tuple_type = DataType::parse("Tuple(a UInt8, b Array(String))")
        .unwrap()
        .to_arrow();
    let ArrowType::Struct(tuple_fields) = tuple_type else {
        unreachable!()
    };
    let ArrowType::List(item) = tuple_fields[1].data_type().clone() else {
        unreachable!()
    };
    let tuple_lengths: Vec<usize> = (0..rows).map(|i| i % 2).collect();
    let tuples: ArrayRef = Arc::new(StructArray::new(
        tuple_fields,
        vec![
            Arc::new(UInt8Array::from_iter_values((0..rows).map(|i| i as u8))),
            Arc::new(ListArray::new(
                item,
                OffsetBuffer::from_lengths(tuple_lengths.clone()),
                Arc::new(StringArray::from_iter_values(
                    (0..tuple_lengths.iter().sum()).map(|i| format!("e{i}")),
                )),
                None,
            )),
        ],
        None,
    ));
    let floats: ArrayRef = Arc::new(Float64Array::from_iter_values(
        (0..rows).map(|i| i as f64 / 3.0),
    ));
    let inputs = vec![ids, strings, nullable, arrays, lc, maps, tuples, floats];
    let writer = PartWriter {
        index_granularity: 4,
        block_sizes: BlockSizes {
            min_bytes: 16,
            max_bytes: 64,
        },
        ..PartWriter::default()
    };
    let part = write(&dir, &writer, &columns, inputs.clone(), &[0]);
    assert_eq!(part.granule_count(), 13);
    part.verify_checksums().unwrap();
    for (column, input) in columns.iter().zip(&inputs) {
        for start in 0..=part.granule_count() {
            for end in start..=part.granule_count() {
                let read = part.read_column(&column.name, start..end).unwrap();
                let first = (start * 4).min(rows);
                let expected = input.slice(first, (end * 4).min(rows) - first);
                let read = match column.data_type {
                    DataType::LowCardinality(_) => {
                        let dictionary = read.as_dictionary::<Int32Type>();
                        arrow_select::take::take(dictionary.values(), dictionary.keys(), None)
                            .unwrap()
                    }
                    _ => read,
                };
                assert_eq!(
                    read.as_ref(),
                    expected.as_ref(),
                    "{} granules {start}..{end}",
                    column.name
                );
            }
        }
    }
    for stream in [
        "ns.null.bin",
        "arr.size0.bin",
        "arr.null.bin",
        "lc.dict.bin",
        "m.size0.bin",
        "m%2Ekeys.bin",
        "m%2Evalues.bin",
        "t%2Ea.bin",
        "t%2Eb.size0.bin",
        "t%2Eb.bin",
    ] {
        assert!(dir.join(stream).is_file(), "{stream}");
    }
    assert_eq!(
        std::fs::read(dir.join("z.bin")).unwrap()[16],
        0x90,
        "ZSTD column"
    );
}

#[test]
fn damaged_parts_are_refused_with_the_right_code() {
    let root = tempfile::tempdir().unwrap();
    let columns = [column("k", "UInt32"), column("s", "String")];
    let arrays = || -> Vec<ArrayRef> {
        vec![
            Arc::new(UInt32Array::from_iter_values(0..1000)),
            Arc::new(StringArray::from_iter_values(
                (0..1000).map(|i| i.to_string()),
            )),
        ]
    };
    let fresh = |name: &str| {
        let dir = root.path().join(name);
        write(&dir, &PartWriter::default(), &columns, arrays(), &[0]);
        dir
    };

    let dir = fresh("all_1_1_0");
    let mut bin = std::fs::read(dir.join("s.bin")).unwrap();
    let last = bin.len() - 1;
    bin[last] ^= 0xff;
    std::fs::write(dir.join("s.bin"), &bin).unwrap();
    let part = DataPart::open(&dir).unwrap();
    assert_eq!(
        part.verify_checksums().unwrap_err().code(),
        ErrorCode::CHECKSUM_DOESNT_MATCH
    );
    assert_eq!(
        part.read_column("s", 0..1).unwrap_err().code(),
        ErrorCode::CHECKSUM_DOESNT_MATCH
    );

    let dir = fresh("all_2_2_0");
    let bin = std::fs::read(dir.join("k.bin")).unwrap();
    std::fs::write(dir.join("k.bin"), &bin[..bin.len() - 3]).unwrap();
    assert_eq!(
        DataPart::open(&dir).unwrap_err().code(),
        ErrorCode::BAD_SIZE_OF_FILE_IN_DATA_PART
    );

    let dir = fresh("all_3_3_0");
    std::fs::remove_file(dir.join("s.mrk2")).unwrap();
    assert_eq!(
        DataPart::open(&dir).unwrap_err().code(),
        ErrorCode::NO_FILE_IN_DATA_PART
    );

    let dir = fresh("all_4_4_0");
    std::fs::write(
        dir.join("checksums.txt"),
        b"checksums format version: 4\n\x00",
    )
    .unwrap();
    assert_eq!(
        DataPart::open(&dir).unwrap_err().code(),
        ErrorCode::CORRUPTED_DATA
    );

    let dir = root.path().join("not_a_part");
    std::fs::create_dir(&dir).unwrap();
    PartWriter::default()
        .write(&dir, &columns, &batch(&columns, arrays()), &[0], None)
        .unwrap();
    assert_eq!(
        DataPart::open(&dir).unwrap_err().code(),
        ErrorCode::BAD_DATA_PART_NAME
    );
}

/// A part written block by block has the same granules as one written at once: a granule left
/// open at the end of a block continues into the next.
#[test]
fn a_part_written_in_blocks_continues_granules_across_them() {
    let root = tempfile::tempdir().unwrap();
    let columns = [
        column("k", "UInt32"),
        column("lc", "LowCardinality(String)"),
    ];
    let rows = 3000u32;
    let arrays: Vec<ArrayRef> = vec![
        Arc::new(UInt32Array::from_iter_values(0..rows)),
        Arc::new(StringArray::from_iter_values(
            (0..rows).map(|i| format!("v{}", i % 13)),
        )),
    ];
    let whole = batch(&columns, arrays.clone());
    let writer = PartWriter {
        index_granularity: 1000,
        ..PartWriter::default()
    };
    let dir = root.path().join("all_1_1_0");
    std::fs::create_dir(&dir).unwrap();
    let mut stream = writer.start(&dir, &columns, &[0], None).unwrap();
    for (start, length) in [(0, 999), (999, 2), (1001, 0), (1001, 1999)] {
        stream.write_block(&whole.slice(start, length)).unwrap();
    }
    assert_eq!(stream.finish().unwrap().marks, 4);
    let part = DataPart::open(&dir).unwrap();
    assert_eq!(part.granule_rows, [1000, 1000, 1000]);
    part.verify_checksums().unwrap();
    assert_eq!(
        part.read_column("k", 1..3).unwrap().as_ref(),
        arrays[0].slice(1000, 2000).as_ref()
    );
    let lc = part.read_column("lc", 0..3).unwrap();
    let lc = lc.as_dictionary::<Int32Type>();
    let plain = arrow_select::take::take(lc.values(), lc.keys(), None).unwrap();
    assert_eq!(plain.as_ref(), arrays[1].as_ref());
    let index = part.read_primary_index(&[DataType::UInt32]).unwrap();
    assert_eq!(
        index[0].as_primitive::<UInt32Type>().values(),
        &[0, 1000, 2000, 2999]
    );
}
