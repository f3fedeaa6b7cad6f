//! Real ClickHouse (chDB, installed by `make test` into `.venv`) attaches a part Granary wrote,
//! passes `CHECK TABLE` on it, and reads back exactly the rows Granary wrote.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Int8Type, Int32Type};
use arrow_array::*;
use arrow_buffer::OffsetBuffer;
use arrow_schema::{DataType as ArrowType, Field, Schema};
use granary_engine::storage::table::TableData;
use granary_engine::storage::{PartColumn, PartWriter};
use granary_protocol::DataType;
use granary_protocol::block::decode_block;
use granary_protocol::compress::{BlockSizes, Method};
use granary_protocol::io::Cursor;

/// The Python with chDB that `make test` installs; missing means the test cannot run, loudly.
fn python() -> PathBuf {
    let python = match std::env::var_os("GRANARY_TEST_PYTHON") {
        Some(path) => PathBuf::from(path),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python"),
    };
    assert!(
        python.is_file(),
        "{} not found: run `make test`, which installs chDB (real ClickHouse) into .venv",
        python.display()
    );
    python
}

/// Runs `clickhouse_attach.py`: a chDB table with these columns and keys, the parts attached.
fn attach(
    root: &Path,
    columns: &str,
    order_by: &str,
    partition_by: &str,
    native: &Path,
    parts: &[PathBuf],
) -> serde_json::Value {
    let output = Command::new(python())
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/clickhouse_attach.py"
        ))
        .arg(root.join("session"))
        .arg(columns)
        .arg(order_by)
        .arg(partition_by)
        .arg(native)
        .args(parts)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "chDB failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(output.stdout.trim_ascii()).unwrap()
}

/// A partitioned table's parts: ClickHouse recomputes each partition id from `partition.dat` and
/// refuses a part whose name disagrees, and reads the min/max index.
#[test]
fn clickhouse_attaches_partitioned_parts_with_their_partition_ids() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("t");
    let table = TableData::open(&dir, crate::table::layout(true)).unwrap();
    let batch = crate::table::rows(0, 3000);
    let names = table
        .insert(&batch, &crate::table::yyyymm(&batch), None)
        .unwrap()
        .parts;
    assert_eq!(names.len(), 2);
    let parts: Vec<PathBuf> = names.iter().map(|name| dir.join(name)).collect();
    let native = root.path().join("dump.native");
    let report = attach(
        root.path(),
        "d Date, k UInt64, s String",
        "(k, d)",
        "toYYYYMM(d)",
        &native,
        &parts,
    );
    assert_eq!(report["check"], "1", "{report}");
    let expected: Vec<serde_json::Value> = table
        .snapshot()
        .unwrap()
        .parts
        .iter()
        .map(|part| serde_json::json!([part.name(), part.rows, part.granule_count() + 1]))
        .collect();
    assert_eq!(
        report["parts"],
        serde_json::Value::Array(expected),
        "{report}"
    );
    let dump = std::fs::read(&native).unwrap();
    let mut cursor = Cursor::new(&dump);
    let mut rows = 0;
    while !cursor.is_empty() {
        rows += decode_block(&mut cursor, 0).unwrap().batch.num_rows();
    }
    assert_eq!(rows, 3000);
}

#[test]
fn clickhouse_attaches_checks_and_reads_a_granary_part() {
    let rows = 20_000usize;
    let types = [
        ("k", "UInt32"),
        ("i64", "Int64"),
        ("f", "Float64"),
        ("s", "String"),
        ("fs", "FixedString(3)"),
        ("d", "Date"),
        ("dt", "DateTime('UTC')"),
        ("dt64", "DateTime64(3, 'UTC')"),
        ("dec", "Decimal(18, 4)"),
        ("u", "UUID"),
        ("e", "Enum8('a' = 1, 'b' = 2)"),
        ("ns", "Nullable(String)"),
        ("lc", "LowCardinality(String)"),
        ("lcn", "LowCardinality(Nullable(String))"),
        ("arr", "Array(Nullable(Int32))"),
        ("m", "Map(String, UInt64)"),
        ("t", "Tuple(a UInt8, b String)"),
    ];
    let columns: Vec<PartColumn> = types
        .iter()
        .map(|(name, type_name)| PartColumn {
            name: name.to_string(),
            data_type: DataType::parse(type_name).unwrap(),
            codec: if *name == "s" {
                Method::Zstd(1)
            } else {
                Method::Lz4
            },
        })
        .collect();
    let n = rows as u32;
    let lengths: Vec<usize> = (0..rows).map(|i| i % 4).collect();
    let item = Arc::new(Field::new("item", ArrowType::Int32, true));
    let elements = Int32Array::from_iter(
        (0..lengths.iter().sum::<usize>()).map(|i| (i % 5 != 0).then_some(i as i32)),
    );
    let ArrowType::Map(entries_field, _) = columns[15].data_type.to_arrow() else {
        unreachable!()
    };
    let ArrowType::Struct(entry_fields) = entries_field.data_type().clone() else {
        unreachable!()
    };
    let map_lengths: Vec<usize> = (0..rows).map(|i| i % 3).collect();
    let entry_count: usize = map_lengths.iter().sum();
    let ArrowType::Struct(tuple_fields) = columns[16].data_type.to_arrow() else {
        unreachable!()
    };
    let arrays: Vec<ArrayRef> = vec![
        Arc::new(UInt32Array::from_iter_values(0..n)),
        Arc::new(Int64Array::from_iter_values(
            (0..rows as i64).map(|i| i * -1_000_003),
        )),
        Arc::new(Float64Array::from_iter_values(
            (0..rows).map(|i| i as f64 / 7.0),
        )),
        Arc::new(StringArray::from_iter_values(
            (0..rows).map(|i| format!("https://example.com/{}", i * 13 % 997)),
        )),
        Arc::new(
            FixedSizeBinaryArray::try_from_iter(
                (0..rows).map(|i| [b'a' + (i % 26) as u8, b'x', 0]),
            )
            .unwrap(),
        ),
        Arc::new(Date32Array::from_iter_values(
            (0..rows as i32).map(|i| 19_000 + i % 400),
        )),
        Arc::new(
            TimestampSecondArray::from_iter_values(
                (0..rows as i64).map(|i| 1_700_000_000 + i * 61),
            )
            .with_timezone("UTC"),
        ),
        Arc::new(
            TimestampMillisecondArray::from_iter_values(
                (0..rows as i64).map(|i| 1_700_000_000_123 + i),
            )
            .with_timezone("UTC"),
        ),
        Arc::new(
            Decimal128Array::from_iter_values((0..rows as i128).map(|i| i * 12_345 - 99_999))
                .with_precision_and_scale(18, 4)
                .unwrap(),
        ),
        Arc::new(
            FixedSizeBinaryArray::try_from_iter(
                (0..rows as u128).map(|i| (i * 0x0123_4567_89ab_cdef_u128).to_be_bytes()),
            )
            .unwrap(),
        ),
        Arc::new(
            DictionaryArray::<Int8Type>::try_new(
                Int8Array::from_iter_values((0..rows).map(|i| (i % 2) as i8)),
                Arc::new(StringArray::from(vec!["a", "b"])),
            )
            .unwrap(),
        ),
        Arc::new(StringArray::from_iter(
            (0..rows).map(|i| (i % 3 != 0).then(|| format!("n{i}"))),
        )),
        Arc::new(StringArray::from_iter_values(
            (0..rows).map(|i| ["red", "green", "blue", ""][i % 4]),
        )),
        Arc::new(StringArray::from_iter(
            (0..rows).map(|i| (i % 5 != 0).then(|| format!("c{}", i % 7))),
        )),
        Arc::new(ListArray::new(
            item,
            OffsetBuffer::from_lengths(lengths),
            Arc::new(elements),
            None,
        )),
        Arc::new(MapArray::new(
            entries_field,
            OffsetBuffer::from_lengths(map_lengths),
            StructArray::new(
                entry_fields,
                vec![
                    Arc::new(StringArray::from_iter_values(
                        (0..entry_count).map(|i| format!("key{}", i % 3)),
                    )),
                    Arc::new(UInt64Array::from_iter_values(0..entry_count as u64)),
                ],
                None,
            ),
            None,
            false,
        )),
        Arc::new(StructArray::new(
            tuple_fields,
            vec![
                Arc::new(UInt8Array::from_iter_values((0..rows).map(|i| i as u8))),
                Arc::new(StringArray::from_iter_values(
                    (0..rows).map(|i| format!("t{i}")),
                )),
            ],
            None,
        )),
    ];
    let fields: Vec<Field> = columns
        .iter()
        .zip(&arrays)
        .map(|(c, a)| Field::new(&c.name, a.data_type().clone(), true))
        .collect();
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays.clone()).unwrap();

    let root = tempfile::tempdir().unwrap();
    let part_dir = root.path().join("all_1_1_0");
    std::fs::create_dir(&part_dir).unwrap();
    // Small granules and frames so that ClickHouse crosses many marks and frame boundaries.
    let writer = PartWriter {
        index_granularity: 1000,
        block_sizes: BlockSizes {
            min_bytes: 4096,
            max_bytes: 16384,
        },
        ..PartWriter::default()
    };
    // Written as three uneven blocks: granules continue across block boundaries.
    let mut stream = writer.start(&part_dir, &columns, &[0], None).unwrap();
    for (start, length) in [(0, 2500), (2500, 1), (2501, rows - 2501)] {
        stream.write_block(&batch.slice(start, length)).unwrap();
    }
    let written = stream.finish().unwrap();

    let definition: Vec<String> = columns
        .iter()
        .map(|c| match c.codec {
            Method::Zstd(level) => format!("`{}` {} CODEC(ZSTD({level}))", c.name, c.data_type),
            _ => format!("`{}` {}", c.name, c.data_type),
        })
        .collect();
    let native_path = root.path().join("dump.native");
    let report = attach(
        root.path(),
        &definition.join(", "),
        "k",
        "",
        &native_path,
        &[part_dir],
    );
    assert_eq!(
        report["check"], "1",
        "CHECK TABLE on the attached part: {report}"
    );
    assert_eq!(
        report["parts"],
        serde_json::json!([["all_1_1_0", rows, written.marks]]),
        "{report}"
    );

    // ClickHouse's Native dump of the table holds exactly what Granary wrote.
    let dump = std::fs::read(&native_path).unwrap();
    let mut cursor = Cursor::new(&dump);
    let mut read_rows = 0;
    while !cursor.is_empty() {
        let block = decode_block(&mut cursor, 0).unwrap();
        let length = block.batch.num_rows();
        for (index, column) in columns.iter().enumerate() {
            let actual = block.batch.column(index);
            let expected = arrays[index].slice(read_rows, length);
            let actual = match column.data_type {
                DataType::LowCardinality(_) => {
                    let dictionary = actual.as_dictionary::<Int32Type>();
                    arrow_select::take::take(dictionary.values(), dictionary.keys(), None).unwrap()
                }
                _ => actual.clone(),
            };
            if let DataType::DateTime(_) = column.data_type {
                // The Native format (revision 0) names the type plain `DateTime`: compare the instants.
                let values = |array: &ArrayRef| {
                    array
                        .as_primitive::<arrow_array::types::TimestampSecondType>()
                        .values()
                        .to_vec()
                };
                assert_eq!(values(&actual), values(&expected), "column {}", column.name);
                continue;
            }
            if let DataType::Enum8(_) = column.data_type {
                let (e, a) = (
                    expected.as_dictionary::<Int8Type>(),
                    actual.as_dictionary::<Int8Type>(),
                );
                assert_eq!(e.keys(), a.keys(), "column {}", column.name);
                continue;
            }
            assert_eq!(
                actual.as_ref(),
                expected.as_ref(),
                "column {} rows {read_rows}..",
                column.name
            );
        }
        read_rows += length;
    }
    assert_eq!(read_rows, rows);
}
