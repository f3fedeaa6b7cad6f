//! Insert deduplication: tokens always, data hashes within their window, across reopens, and the
//! crash ordering of dedup.log against the parts' renames.

use std::io::Write;

use granary_engine::storage::dedup::{BlockId, DedupWindows};
use granary_engine::storage::table::{TableData, TableLayout};

use crate::table::{layout, part_names, rows, yyyymm};

fn with_windows(partitioned: bool, token_blocks: usize, hash_blocks: usize) -> TableLayout {
    TableLayout {
        dedup_windows: DedupWindows {
            token_blocks,
            hash_blocks,
        },
        ..layout(partitioned)
    }
}

#[test]
fn a_retried_token_inserts_nothing_even_after_a_reopen() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("t");
    let first = BlockId::from_token("batch-0001", 0);
    {
        let table = TableData::open(&dir, with_windows(false, 100, 0)).unwrap();
        let outcome = table.insert(&rows(0, 10), &[], Some(&first)).unwrap();
        assert!(!outcome.deduplicated);
        let retry = table.insert(&rows(0, 10), &[], Some(&first)).unwrap();
        assert!(retry.deduplicated);
        assert_eq!(
            retry.parts, outcome.parts,
            "a duplicate reports the parts of the first insert"
        );
        // The token wins over the data.
        assert!(
            table
                .insert(&rows(100, 10), &[], Some(&first))
                .unwrap()
                .deduplicated
        );
        assert!(
            !table
                .insert(
                    &rows(0, 10),
                    &[],
                    Some(&BlockId::from_token("batch-0001", 1))
                )
                .unwrap()
                .deduplicated
        );
        assert_eq!(table.snapshot().unwrap().rows(), 20);
    }
    let table = TableData::open(&dir, with_windows(false, 100, 0)).unwrap();
    assert!(
        table
            .insert(&rows(0, 10), &[], Some(&first))
            .unwrap()
            .deduplicated
    );
    assert_eq!(table.snapshot().unwrap().rows(), 20);
}

#[test]
fn data_hashes_deduplicate_only_with_a_window() {
    let root = tempfile::tempdir().unwrap();
    let plain = TableData::open(&root.path().join("plain"), with_windows(false, 100, 0)).unwrap();
    let id = BlockId::from_data(&rows(0, 10)).unwrap();
    plain.insert(&rows(0, 10), &[], Some(&id)).unwrap();
    assert!(
        !plain
            .insert(&rows(0, 10), &[], Some(&id))
            .unwrap()
            .deduplicated,
        "window 0: ClickHouse's default"
    );
    assert_eq!(plain.snapshot().unwrap().rows(), 20);

    let windowed =
        TableData::open(&root.path().join("windowed"), with_windows(false, 100, 2)).unwrap();
    let ids: Vec<BlockId> = (0..3)
        .map(|i| BlockId::from_data(&rows(i * 10, 10)).unwrap())
        .collect();
    assert_eq!(
        ids[0],
        BlockId::from_data(&rows(0, 10)).unwrap(),
        "the id depends only on the data"
    );
    assert_ne!(ids[0], ids[1]);
    for (i, id) in ids.iter().enumerate() {
        windowed
            .insert(&rows(i as u32 * 10, 10), &[], Some(id))
            .unwrap();
    }
    assert!(
        windowed
            .insert(&rows(20, 10), &[], Some(&ids[2]))
            .unwrap()
            .deduplicated
    );
    assert!(
        !windowed
            .insert(&rows(0, 10), &[], Some(&ids[0]))
            .unwrap()
            .deduplicated,
        "outside the window of 2"
    );
}

#[test]
fn a_record_whose_parts_were_never_renamed_is_forgotten() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("t");
    let id = BlockId::from_token("lost", 0);
    {
        let table = TableData::open(&dir, with_windows(true, 100, 0)).unwrap();
        let batch = rows(0, 90);
        table.insert(&batch, &yyyymm(&batch), None).unwrap();
    }
    // A crash after the record was fsynced but before the renames, and a crash between the two
    // renames of a two-partition insert (all_9 never appeared; 202203_1_1_0 did).
    let mut log = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.join("dedup.log"))
        .unwrap();
    writeln!(log, "ADD\tT\t{}\t202205_7_7_0", id.id).unwrap();
    let partial = BlockId::from_token("partial", 0);
    writeln!(log, "ADD\tT\t{}\t202203_1_1_0,202204_9_9_0", partial.id).unwrap();
    write!(log, "ADD\tT\ttorn-rec").unwrap();
    drop(log);

    let table = TableData::open(&dir, with_windows(true, 100, 0)).unwrap();
    let names: Vec<String> = table
        .snapshot()
        .unwrap()
        .parts
        .iter()
        .map(|part| part.name())
        .collect();
    assert_eq!(
        names,
        ["202204_2_2_0"],
        "the half-committed insert's part is no longer visible"
    );
    assert!(
        dir.join("detached")
            .join("unfinished-insert_202203_1_1_0")
            .is_dir()
    );
    let batch = rows(0, 10);
    assert!(
        !table
            .insert(&batch, &yyyymm(&batch), Some(&id))
            .unwrap()
            .deduplicated,
        "the retry inserts"
    );
    assert!(
        !table
            .insert(&batch, &yyyymm(&batch), Some(&partial))
            .unwrap()
            .deduplicated
    );
    let log = std::fs::read_to_string(dir.join("dedup.log")).unwrap();
    assert!(
        !log.contains("torn-rec") && !log.contains("202204_9_9_0"),
        "{log}"
    );
}

/// An insert of two partitions whose second part cannot be published is all or nothing: the
/// first part is withdrawn and the dedup record taken back (a DEL line), so a retry with the same
/// token writes the block again, and exactly once — also after a reopen.
#[test]
fn an_insert_that_fails_half_published_is_withdrawn_and_its_retry_lands() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("t");
    let table = TableData::open(&dir, with_windows(true, 100, 0)).unwrap();
    let id = BlockId::from_token("half", 0);
    let batch = rows(0, 60);
    // Its parts will be 202203_1_1_0 and 202204_2_2_0; something already holds the second name.
    std::fs::create_dir(dir.join("202204_2_2_0")).unwrap();
    let error = table
        .insert(&batch, &yyyymm(&batch), Some(&id))
        .unwrap_err();
    assert!(error.to_string().contains("already exists"), "{error}");
    assert!(part_names(&table).is_empty(), "the first part is withdrawn");
    assert!(!dir.join("202203_1_1_0").exists());
    let log = std::fs::read_to_string(dir.join("dedup.log")).unwrap();
    assert!(log.contains(&format!("DEL\tT\t{}", id.id)), "{log}");

    std::fs::remove_dir(dir.join("202204_2_2_0")).unwrap();
    let retried = table.insert(&batch, &yyyymm(&batch), Some(&id)).unwrap();
    assert!(!retried.deduplicated, "the retry writes the block");
    assert_eq!(part_names(&table), ["202203_3_3_0", "202204_4_4_0"]);
    assert_eq!(table.snapshot().unwrap().rows(), 60);
    drop(table);
    let reopened = TableData::open(&dir, with_windows(true, 100, 0)).unwrap();
    assert_eq!(reopened.snapshot().unwrap().rows(), 60);
    assert!(
        reopened
            .insert(&batch, &yyyymm(&batch), Some(&id))
            .unwrap()
            .deduplicated,
        "once landed, the block is deduplicated"
    );
}
