//! # granary-engine
//!
//! Granary's storage engine: the MergeTree family with ClickHouse's on-disk part format.
//!
//! This first increment holds the part layer: [`storage::PartWriter`] writes a Wide part exactly as
//! `shared/docs/mergetree.md` §2.14 describes (per-stream `.bin` + `.mrk2`, `primary.idx`,
//! `count.txt`, `columns.txt`, `checksums.txt`), [`storage::DataPart`] opens, verifies and reads it
//! back by granule ranges, and [`storage::fs`] commits it with fsync and an atomic rename.
//!
//! ```text
//!  sorted RecordBatch ──PartWriter──▶ tmp_insert_*/ (files fsynced) ──fs::publish──▶ all_1_1_0/
//!                                                                                      │
//!  ArrayRef per column ◀──DataPart::read_column(granules)◀──DataPart::open (checks)◀──┘
//! ```
//!
//! Still to come (issue #3): the catalog and `Database::open`, the table layer (partitions, block
//! numbers, the part set snapshot), the DataFusion table provider, merges and insert deduplication.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod error;
pub mod storage;

pub use error::{Error, Result};
