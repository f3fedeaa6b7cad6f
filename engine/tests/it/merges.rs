//! Merges: the selector's choice, OPTIMIZE, Replacing at FINAL and after OPTIMIZE FINAL, outdated
//! parts removed only when no snapshot holds them, and a writer killed mid-merge.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use arrow_array::cast::AsArray;
use arrow_array::types::UInt64Type;
use granary_engine::storage::merge::{MergeSelectorSettings, ReplacingMerge};
use granary_engine::storage::table::{TableData, TableLayout};

use crate::crash::{assert_no_temporary_parts, spawn_self};
use crate::table::{all_strings, layout, part_names, rows, yyyymm};

#[test]
fn the_selector_merges_small_parts_and_keeps_every_row() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("t");
    let table = TableData::open(&dir, layout(false)).unwrap();
    for insert in 0..10 {
        table.insert(&rows(insert * 50, 50), &[], None).unwrap();
    }
    let before = all_strings(&table);
    let held = table.snapshot().unwrap();
    let merged = table
        .merge_once(&MergeSelectorSettings::default())
        .unwrap()
        .unwrap();
    assert_eq!(merged.to_string(), "all_1_10_1");
    let snapshot = table.snapshot().unwrap();
    assert_eq!(snapshot.parts.len(), 1);
    assert_eq!(all_strings(&table), before);
    let part = &snapshot.parts[0];
    let keys = part.read_column("k", 0..part.granule_count()).unwrap();
    assert!(
        keys.as_primitive::<UInt64Type>()
            .values()
            .windows(2)
            .all(|w| w[0] <= w[1]),
        "merged part is sorted"
    );
    part.verify_checksums().unwrap();

    // A reader still holds the old parts: they stay on disk until it lets go.
    assert_eq!(table.remove_outdated().unwrap(), 0);
    assert!(dir.join("all_1_1_0").is_dir());
    assert_eq!(held.parts[0].read_column("s", 0..1).unwrap().len(), 50);
    drop(held);
    assert_eq!(table.remove_outdated().unwrap(), 10);
    assert!(!dir.join("all_1_1_0").exists());
    assert_eq!(
        table.merge_once(&MergeSelectorSettings::default()).unwrap(),
        None,
        "one part: nothing to merge"
    );

    drop(table);
    let reopened = TableData::open(&dir, layout(false)).unwrap();
    assert_eq!(all_strings(&reopened), before);
    assert_eq!(
        reopened.insert(&rows(999, 1), &[], None).unwrap().parts[0],
        "all_11_11_0"
    );
}

#[test]
fn optimize_merges_each_partition_separately() {
    let root = tempfile::tempdir().unwrap();
    let table = TableData::open(&root.path().join("t"), layout(true)).unwrap();
    for insert in 0..3 {
        let batch = rows(insert * 90, 90);
        table.insert(&batch, &yyyymm(&batch), None).unwrap();
    }
    let before = all_strings(&table);
    let merged: Vec<String> = table
        .optimize(None, false)
        .unwrap()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(merged, ["202203_1_5_1", "202204_2_6_1"]);
    assert_eq!(all_strings(&table), before);
    let snapshot = table.snapshot().unwrap();
    let partition = std::fs::read(snapshot.parts[1].dir.join("partition.dat")).unwrap();
    assert_eq!(partition, 202204u32.to_le_bytes());
    assert!(
        table.optimize(Some("202203"), false).unwrap().is_empty(),
        "one part and no FINAL: nothing to do"
    );
    assert_eq!(
        table.optimize(Some("202203"), true).unwrap()[0].to_string(),
        "202203_1_5_2"
    );
}

/// `ReplacingMergeTree([d]) ORDER BY k`.
fn replacing(version: Option<usize>) -> TableLayout {
    TableLayout {
        merging: Arc::new(ReplacingMerge { version }),
        sorting_key: vec![1],
        primary_key_len: 1,
        ..layout(false)
    }
}

#[test]
fn replacing_keeps_the_last_row_per_key_at_final_and_after_optimize_final() {
    let root = tempfile::tempdir().unwrap();
    let table = TableData::open(&root.path().join("t"), replacing(None)).unwrap();
    // k = i * 7 % 1000: rows 0..1000 and 1000..2000 have the same keys; the second insert wins.
    table.insert(&rows(0, 1000), &[], None).unwrap();
    table.insert(&rows(1000, 1000), &[], None).unwrap();
    let snapshot = table.snapshot().unwrap();
    let mut stream = table.read_final(&snapshot.parts, 100).unwrap();
    let mut chunks = Vec::new();
    while let Some(chunk) = stream.next_chunk().unwrap() {
        chunks.push(chunk);
    }
    assert!(chunks.len() > 1, "FINAL streams in chunks");
    let final_rows = arrow_select::concat::concat_batches(&chunks[0].schema(), &chunks).unwrap();
    assert_eq!(final_rows.num_rows(), 1000);
    let strings = final_rows.column(2).as_string::<i32>();
    assert!(
        strings
            .iter()
            .all(|s| s.unwrap()[3..].parse::<u32>().unwrap() >= 1000),
        "the newer insert wins every key"
    );
    assert_eq!(
        all_strings(&table).len(),
        2000,
        "before OPTIMIZE FINAL both versions are on disk"
    );
    table.optimize(None, true).unwrap();
    assert_eq!(all_strings(&table).len(), 1000);
    assert!(
        all_strings(&table)
            .iter()
            .all(|s| s[3..].parse::<u32>().unwrap() >= 1000)
    );
}

#[test]
fn replacing_with_a_version_keeps_the_highest_version() {
    let root = tempfile::tempdir().unwrap();
    // The version is column d (a Date): the first insert has the later dates for its keys.
    let table = TableData::open(&root.path().join("t"), replacing(Some(0))).unwrap();
    // Row i has key i * 7 % 1000 and day (i % 60): rows j and 1000 + j share a key; row 1000 + j
    // has day (40 + j) % 60, later than day j for j < 20 and earlier for j >= 20.
    let first = rows(1000, 30);
    let second = rows(0, 30);
    table.insert(&first, &[], None).unwrap();
    table.insert(&second, &[], None).unwrap();
    table.optimize(None, true).unwrap();
    let expected: Vec<String> = {
        let mut expected: Vec<String> = (0..30)
            .map(|j| {
                if j < 20 {
                    format!("row{}", 1000 + j)
                } else {
                    format!("row{j}")
                }
            })
            .collect();
        expected.sort();
        expected
    };
    assert_eq!(
        all_strings(&table),
        expected,
        "the higher version wins, whichever insert came last"
    );
}

const CHILD_DIR: &str = "GRANARY_MERGE_CRASH_TEST_TABLE_DIR";

fn run_child(dir: &str) -> ! {
    let table = TableData::open(std::path::Path::new(dir), layout(true)).unwrap();
    let mut stdout = std::io::stdout().lock();
    loop {
        let merged = table.optimize(None, true).unwrap();
        table.remove_outdated().unwrap();
        writeln!(stdout, "merged {}", merged.len()).unwrap();
        stdout.flush().unwrap();
    }
}

#[test]
fn killed_merges_lose_and_duplicate_nothing() {
    if let Ok(dir) = std::env::var(CHILD_DIR) {
        run_child(&dir);
    }
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("t");
    {
        let table = TableData::open(&dir, layout(true)).unwrap();
        for insert in 0..20 {
            let batch = rows(insert * 300, 300);
            table.insert(&batch, &yyyymm(&batch), None).unwrap();
        }
    }
    let expected = {
        let table = TableData::open(&dir, layout(true)).unwrap();
        all_strings(&table)
    };
    for round in 0..5u64 {
        let (mut child, mut lines) = spawn_self(
            "merges::killed_merges_lose_and_duplicate_nothing",
            CHILD_DIR,
            &dir,
        );
        for _ in 0..round {
            lines
                .next()
                .expect("the merger died before it was killed")
                .unwrap();
        }
        std::thread::sleep(Duration::from_millis(round * 3 + 1));
        child.kill().unwrap();
        child.wait().unwrap();
        let table = TableData::open(&dir, layout(true)).unwrap();
        assert_eq!(all_strings(&table), expected, "round {round}");
        assert_no_temporary_parts(&dir);
        // Another insert after the crash still gets a fresh block number.
        let batch = rows(90_000 + round as u32, 1);
        let name = table.insert(&batch, &yyyymm(&batch), None).unwrap().parts[0].clone();
        assert!(!expected.is_empty() && name.ends_with("_0"));
        drop(table);
        std::fs::remove_dir_all(dir.join(&name)).unwrap();
    }
}

#[test]
fn the_background_scheduler_merges_after_inserts() {
    use granary_engine::storage::merge::{MergeScheduler, SchedulerSettings};
    let root = tempfile::tempdir().unwrap();
    let table = Arc::new(TableData::open(&root.path().join("t"), layout(false)).unwrap());
    let scheduler = MergeScheduler::start(SchedulerSettings {
        threads: 2,
        ..SchedulerSettings::default()
    });
    scheduler.register(&table);
    for insert in 0..12 {
        table.insert(&rows(insert * 10, 10), &[], None).unwrap();
        scheduler.wake();
    }
    // Liveness, not timing: wait (bounded) until the parts have been merged down.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while table.snapshot().unwrap().parts.len() > 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "no background merge happened"
        );
        std::thread::sleep(Duration::from_millis(20));
        scheduler.wake();
    }
    assert_eq!(all_strings(&table).len(), 120);
    drop(scheduler);
}

/// The k-way merge reads a few granules at a time, keeps equal keys in source order, and cuts
/// chunks only between different keys.
#[test]
fn the_k_way_merge_streams_in_key_order_and_never_splits_a_key() {
    use granary_engine::storage::PartWriter;
    use granary_engine::storage::merge::stream::KWayMerge;
    use granary_protocol::DataType;

    let root = tempfile::tempdir().unwrap();
    let small_granules = TableLayout {
        sorting_key: vec![1],
        primary_key_len: 1,
        writer: PartWriter {
            index_granularity: 4,
            ..PartWriter::default()
        },
        ..layout(false)
    };
    let table = TableData::open(&root.path().join("t"), small_granules).unwrap();
    // Keys i * 7 % 1000 for rows 0..300 of each insert: three parts full of shared keys.
    for insert in 0..3 {
        table.insert(&rows(insert * 1000, 300), &[], None).unwrap();
    }
    let snapshot = table.snapshot().unwrap();
    let columns = vec![
        ("d".to_string(), DataType::Date),
        ("k".to_string(), DataType::UInt64),
        ("s".to_string(), DataType::String),
    ];

    // Expected: every row, ordered by key, then by part, then by position in the part.
    let mut expected: Vec<(u64, usize, usize, String)> = Vec::new();
    for (source, part) in snapshot.parts.iter().enumerate() {
        let batch = part.read_all(&columns).unwrap();
        let keys = batch.column(1).as_primitive::<UInt64Type>();
        let strings = batch.column(2).as_string::<i32>();
        for row in 0..batch.num_rows() {
            expected.push((keys.value(row), source, row, strings.value(row).to_string()));
        }
    }
    expected.sort();

    let mut merge = KWayMerge::new(&snapshot.parts, columns, vec![1], 5).unwrap();
    let mut merged: Vec<(u64, String)> = Vec::new();
    let mut chunk_edges: Vec<(u64, u64)> = Vec::new();
    while let Some(chunk) = merge.next_chunk().unwrap() {
        let keys = chunk.column(1).as_primitive::<UInt64Type>();
        let strings = chunk.column(2).as_string::<i32>();
        chunk_edges.push((keys.value(0), keys.value(chunk.num_rows() - 1)));
        merged.extend(
            (0..chunk.num_rows()).map(|row| (keys.value(row), strings.value(row).to_string())),
        );
    }
    let expected: Vec<(u64, String)> = expected.into_iter().map(|(k, _, _, s)| (k, s)).collect();
    assert_eq!(merged, expected);
    assert!(
        chunk_edges.len() > 50,
        "small chunks: {}",
        chunk_edges.len()
    );
    for pair in chunk_edges.windows(2) {
        assert_ne!(pair[0].1, pair[1].0, "a key run was split across chunks");
    }
    assert!(merge.stats().rows() >= 900);
}

#[test]
fn a_plain_merge_cuts_chunks_anywhere_and_keeps_key_order() {
    use granary_engine::storage::merge::stream::KWayMerge;
    let root = tempfile::tempdir().unwrap();
    let table = TableData::open(&root.path().join("t"), layout(false)).unwrap();
    for first in [0, 1000, 2000] {
        table.insert(&rows(first, 1000), &[], None).unwrap();
    }
    let snapshot = table.snapshot().unwrap();
    let columns: Vec<(String, granary_protocol::DataType)> = table
        .layout()
        .columns
        .iter()
        .map(|column| (column.name.clone(), column.data_type.clone()))
        .collect();
    let mut merge = KWayMerge::new(
        &snapshot.parts,
        columns,
        table.layout().sorting_key.clone(),
        100,
    )
    .unwrap()
    .cutting_anywhere();
    let mut keys = Vec::new();
    let mut chunks = 0;
    while let Some(chunk) = merge.next_chunk().unwrap() {
        assert!(
            chunk.num_rows() <= 100,
            "a chunk of {} rows",
            chunk.num_rows()
        );
        keys.extend(
            chunk
                .column(1)
                .as_primitive::<UInt64Type>()
                .values()
                .iter()
                .copied(),
        );
        chunks += 1;
    }
    assert_eq!(keys.len(), 3000);
    assert!(chunks >= 30);
    assert!(
        keys.windows(2).all(|pair| pair[0] <= pair[1]),
        "merged in key order"
    );
}

/// Startup removes a covered part only when a recorded merge consumed it. A part covered by a
/// merged part that was not made from it (the merge race that lost acknowledged inserts) is
/// detached with the reason, never deleted, and its dedup record goes with it so that a retry of
/// the block inserts it again.
#[test]
fn startup_detaches_a_covered_part_that_no_recorded_merge_consumed() {
    use granary_engine::storage::dedup::BlockId;
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("t");
    let table = TableData::open(&dir, layout(false)).unwrap();
    let token = |n: usize| BlockId::from_token("block", n);
    for n in 0..3u32 {
        table
            .insert(&rows(n * 10, 10), &[], Some(&token(n as usize)))
            .unwrap();
    }
    assert_eq!(
        table.optimize(None, false).unwrap()[0].to_string(),
        "all_1_3_1"
    );
    // The sources stay on disk (a crash before their removal), and the record is made to say that
    // block 2 was not among them.
    drop(table);
    let record = dir.join("merge_sources.txt");
    let text = std::fs::read_to_string(&record).unwrap();
    assert_eq!(text, "all_1_3_1\tall_1_1_0,all_2_2_0,all_3_3_0\n");
    std::fs::write(&record, text.replace("all_2_2_0,", "")).unwrap();

    let reopened = TableData::open(&dir, layout(false)).unwrap();
    assert_eq!(part_names(&reopened), ["all_1_3_1"]);
    assert!(!dir.join("all_1_1_0").exists() && !dir.join("all_3_3_0").exists());
    assert!(
        dir.join("detached/covered-unmerged_all_2_2_0").is_dir(),
        "set aside, not deleted"
    );
    assert_eq!(std::fs::read_to_string(&record).unwrap(), "");
    let retried = reopened
        .insert(&rows(10, 10), &[], Some(&token(1)))
        .unwrap();
    assert!(
        !retried.deduplicated,
        "the block's record went with its part"
    );
    let repeated = reopened.insert(&rows(0, 10), &[], Some(&token(0))).unwrap();
    assert!(repeated.deduplicated, "other records stay");
}

/// Sources removed after a merge leave no record behind, and a reopen finds only the merged part.
#[test]
fn the_merge_record_forgets_removed_sources() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("t");
    let table = TableData::open(&dir, layout(false)).unwrap();
    for n in 0..4u32 {
        table.insert(&rows(n * 10, 10), &[], None).unwrap();
    }
    table.optimize(None, false).unwrap();
    assert_eq!(table.remove_outdated().unwrap(), 4);
    assert_eq!(
        std::fs::read_to_string(dir.join("merge_sources.txt")).unwrap(),
        ""
    );
    drop(table);
    let reopened = TableData::open(&dir, layout(false)).unwrap();
    assert_eq!(reopened.snapshot().unwrap().rows(), 40);
}
