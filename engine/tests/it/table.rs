//! A table's data directory: inserts become parts, partitions split them, a reopen finds them, and
//! startup cleans up what a crash left.

use std::path::Path;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::UInt64Type;
use arrow_array::*;
use arrow_schema::{Field, Schema};
use granary_engine::storage::dedup::DedupWindows;
use granary_engine::storage::merge::OrdinaryMerge;
use granary_engine::storage::table::{TableData, TableLayout};
use granary_engine::storage::{PartColumn, PartWriter};
use granary_protocol::DataType;
use granary_protocol::compress::Method;

/// `(d Date, k UInt64, s String) PARTITION BY toYYYYMM(d) ORDER BY (k, d)`, or unpartitioned.
pub fn layout(partitioned: bool) -> TableLayout {
    let column = |name: &str, type_name: &str| PartColumn {
        name: name.into(),
        data_type: DataType::parse(type_name).unwrap(),
        codec: Method::Lz4,
    };
    TableLayout {
        columns: vec![
            column("d", "Date"),
            column("k", "UInt64"),
            column("s", "String"),
        ],
        sorting_key: vec![1, 0],
        primary_key_len: 2,
        partition_key_types: if partitioned {
            vec![DataType::UInt32]
        } else {
            vec![]
        },
        minmax_columns: if partitioned { vec![0] } else { vec![] },
        writer: PartWriter {
            index_granularity: 100,
            ..PartWriter::default()
        },
        dedup_windows: DedupWindows {
            token_blocks: 100,
            hash_blocks: 0,
        },
        merging: Arc::new(OrdinaryMerge),
    }
}

/// Rows `first..first + count`: day `first + i` (from 2022-03-01), key `(first + i) * 7 % 1000`.
pub fn rows(first: u32, count: u32) -> RecordBatch {
    let days: Vec<i32> = (first..first + count)
        .map(|i| 19_052 + (i % 60) as i32)
        .collect();
    let schema = Schema::new(vec![
        Field::new("d", arrow_schema::DataType::Date32, false),
        Field::new("k", arrow_schema::DataType::UInt64, false),
        Field::new("s", arrow_schema::DataType::Utf8, false),
    ]);
    RecordBatch::try_new(
        Arc::new(schema),
        vec![
            Arc::new(Date32Array::from(days)),
            Arc::new(UInt64Array::from_iter_values(
                (first..first + count).map(|i| u64::from(i) * 7 % 1000),
            )),
            Arc::new(StringArray::from_iter_values(
                (first..first + count).map(|i| format!("row{i}")),
            )),
        ],
    )
    .unwrap()
}

/// The names of the table's active parts, in order.
pub fn part_names(table: &TableData) -> Vec<String> {
    let snapshot = table.snapshot().unwrap();
    snapshot.parts.iter().map(|part| part.name()).collect()
}

/// toYYYYMM of the `d` column, as the SQL layer will compute it.
pub fn yyyymm(batch: &RecordBatch) -> Vec<ArrayRef> {
    let days = batch
        .column(0)
        .as_primitive::<arrow_array::types::Date32Type>();
    let months = days.values().iter().map(|day| {
        if *day < 19_052 + 31 {
            202203u32
        } else if *day < 19_052 + 61 {
            202204
        } else {
            202205
        }
    });
    vec![Arc::new(UInt32Array::from_iter_values(months))]
}

/// Every `s` value of the table's active parts, sorted.
pub fn all_strings(table: &TableData) -> Vec<String> {
    let snapshot = table.snapshot().unwrap();
    let mut values = Vec::new();
    for part in &snapshot.parts {
        let column = part.read_column("s", 0..part.granule_count()).unwrap();
        values.extend(
            column
                .as_string::<i32>()
                .iter()
                .map(|value| value.unwrap().to_string()),
        );
    }
    values.sort();
    values
}

#[test]
fn inserts_survive_a_reopen_and_keep_counting_blocks() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("t");
    {
        let table = TableData::open(&dir, layout(false)).unwrap();
        assert_eq!(
            table.insert(&rows(0, 250), &[], None).unwrap().parts[0],
            "all_1_1_0"
        );
        assert_eq!(
            table.insert(&rows(250, 10), &[], None).unwrap().parts[0],
            "all_2_2_0"
        );
    }
    let table = TableData::open(&dir, layout(false)).unwrap();
    let snapshot = table.snapshot().unwrap();
    assert_eq!(snapshot.parts.len(), 2);
    assert_eq!(snapshot.rows(), 260);
    assert_eq!(
        table.insert(&rows(260, 1), &[], None).unwrap().parts[0],
        "all_3_3_0"
    );
    assert_eq!(
        snapshot.parts.len(),
        2,
        "a snapshot does not see later inserts"
    );
    assert_eq!(table.snapshot().unwrap().parts.len(), 3);
    assert_eq!(all_strings(&table).len(), 261);
}

#[test]
fn parts_are_sorted_by_the_key_and_split_by_partition() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("t");
    let table = TableData::open(&dir, layout(true)).unwrap();
    let batch = rows(0, 90);
    let names = table.insert(&batch, &yyyymm(&batch), None).unwrap().parts;
    assert_eq!(names, ["202203_1_1_0", "202204_2_2_0"]);
    let part_dir = dir.join("202203_1_1_0");
    assert_eq!(
        std::fs::read(part_dir.join("partition.dat")).unwrap(),
        202203u32.to_le_bytes()
    );
    let minmax = std::fs::read(part_dir.join("minmax_d.idx")).unwrap();
    assert_eq!(
        minmax,
        [19_052u16.to_le_bytes(), (19_052u16 + 30).to_le_bytes()].concat()
    );
    for part in &table.snapshot().unwrap().parts {
        let keys = part.read_column("k", 0..part.granule_count()).unwrap();
        let keys = keys.as_primitive::<UInt64Type>().values();
        assert!(
            keys.windows(2).all(|w| w[0] <= w[1]),
            "{} is sorted by k",
            part.name()
        );
        part.verify_checksums().unwrap();
    }
    assert_eq!(all_strings(&table).len(), 90);
    let index = table.snapshot().unwrap().parts[0]
        .read_primary_index(&[DataType::UInt64, DataType::Date])
        .unwrap();
    assert_eq!(
        index[0].as_primitive::<UInt64Type>().value(0),
        0,
        "the first granule starts at the smallest key"
    );
    let partition = std::fs::read(dir.join("202204_2_2_0").join("partition.dat")).unwrap();
    assert_eq!(u32::from_le_bytes(partition.try_into().unwrap()), 202204);
}

#[test]
fn equal_keys_keep_their_insert_order() {
    let root = tempfile::tempdir().unwrap();
    let table = TableData::open(&root.path().join("t"), layout(false)).unwrap();
    // k = i * 7 % 1000 repeats every 1000 rows: rows 0 and 1000 have the same key.
    table.insert(&rows(0, 2000), &[], None).unwrap();
    let part = table.snapshot().unwrap().parts[0].clone();
    let strings = part.read_column("s", 0..part.granule_count()).unwrap();
    let strings = strings.as_string::<i32>();
    let first = strings.iter().position(|s| s == Some("row0")).unwrap();
    let second = strings.iter().position(|s| s == Some("row1000")).unwrap();
    assert!(
        first < second,
        "the earlier row of an equal key stays first"
    );
}

#[test]
fn startup_removes_leftovers_and_detaches_broken_parts_and_covered_ones_no_merge_made() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("t");
    {
        let table = TableData::open(&dir, layout(false)).unwrap();
        for first in [0, 10, 20] {
            table.insert(&rows(first, 10), &[], None).unwrap();
        }
    }
    // A crash mid-insert leaves a temporary directory.
    std::fs::create_dir(dir.join("tmp_insert_all_9_9_0")).unwrap();
    std::fs::write(dir.join("tmp_insert_all_9_9_0").join("k.bin"), b"torn").unwrap();
    // A damaged part.
    let bin = dir.join("all_2_2_0").join("s.bin");
    let bytes = std::fs::read(&bin).unwrap();
    std::fs::write(&bin, &bytes[..bytes.len() / 2]).unwrap();
    // A merged part that covers all_1_1_0 and all_3_3_0's range.
    copy_dir(&dir.join("all_1_1_0"), &dir.join("all_1_3_1"));

    let table = TableData::open(&dir, layout(false)).unwrap();
    assert_eq!(part_names(&table), ["all_1_3_1"]);
    assert!(!dir.join("tmp_insert_all_9_9_0").exists());
    assert!(
        dir.join("detached")
            .join("broken-on-start_all_2_2_0")
            .is_dir()
    );
    assert!(!dir.join("all_1_1_0").exists() && !dir.join("all_3_3_0").exists());
    // No recorded merge made all_1_3_1 from them: they are set aside, never deleted.
    for name in ["all_1_1_0", "all_3_3_0"] {
        assert!(
            dir.join("detached")
                .join(format!("covered-unmerged_{name}"))
                .is_dir(),
            "{name}"
        );
    }
    assert_eq!(
        table.insert(&rows(30, 1), &[], None).unwrap().parts[0],
        "all_4_4_0"
    );
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

/// A point query on the key reads about one granule of 8192 rows, not the table.
#[test]
fn a_point_query_on_the_key_reads_about_one_granule() {
    use granary_engine::storage::ReadStats;
    use granary_engine::storage::key_condition::{ColumnRange, KeyCondition, select_granules};

    let root = tempfile::tempdir().unwrap();
    let table_layout = TableLayout {
        sorting_key: vec![1],
        primary_key_len: 1,
        writer: PartWriter::default(),
        ..layout(false)
    };
    let table = TableData::open(&root.path().join("t"), table_layout).unwrap();
    // 100 000 rows, keys i * 7 % 1000 (each key 100 times).
    table.insert(&rows(0, 100_000), &[], None).unwrap();
    let snapshot = table.snapshot().unwrap();
    let part = &snapshot.parts[0];
    assert_eq!(part.granule_count(), 13);
    let index = part.read_primary_index(&[DataType::UInt64]).unwrap();
    let key: ArrayRef = Arc::new(UInt64Array::from(vec![500u64]));
    let condition = KeyCondition {
        alternatives: vec![vec![(0, ColumnRange::point(key))]],
    };
    let granules = select_granules(&index, &condition).unwrap();
    assert_eq!(granules.len(), 1);
    let stats = ReadStats::default();
    let columns = vec![
        ("k".to_string(), DataType::UInt64),
        ("s".to_string(), DataType::String),
    ];
    let mut matching = 0;
    for range in granules {
        let batch = part.read_granules(&columns, range, &stats).unwrap();
        let keys = batch.column(0).as_primitive::<UInt64Type>();
        matching += keys.values().iter().filter(|k| **k == 500).count();
    }
    assert_eq!(
        matching, 100,
        "every row with the key is in the selected granules"
    );
    assert!(
        stats.rows() <= 2 * 8192,
        "read {} rows of 100 000",
        stats.rows()
    );
}
