//! # granary-engine
//!
//! Granary's storage engine: the MergeTree family with ClickHouse's on-disk part format.
//!
//! Built so far (issue #3, storage half): [`storage::PartWriter`] writes Wide parts exactly as
//! `shared/docs/mergetree.md` §2.14 describes (real ClickHouse attaches them and passes
//! `CHECK TABLE`); [`storage::DataPart`] opens, verifies and reads them by granule ranges;
//! [`storage::table::TableData`] is one table's data directory — inserts split by partition and
//! sorted by the key, snapshots, startup recovery, insert deduplication ([`storage::dedup`]),
//! merges with ClickHouse's selector and per-engine merging algorithms ([`storage::merge`]), and
//! primary-key granule selection ([`storage::key_condition`]).
//!
//! ```text
//!  RecordBatch ─TableData::insert─▶ split by partition ─▶ sort ─▶ PartWriter ─▶ tmp_insert_*/
//!      ─▶ dedup.log (fsync) ─▶ fs::publish ─▶ <partition>_<n>_<n>_0/ ─▶ new PartSet snapshot
//!  snapshot ─▶ key_condition::select_granules(primary.idx) ─▶ DataPart::read_granules ─▶ RecordBatch
//!  MergeScheduler ─▶ TableData::merge_once ─▶ select_merge ─▶ MergingAlgorithm ─▶ merged part
//! ```
//!
//! Still to come (issue #3, SQL half): the catalog and `Database::open`, CREATE/DROP/INSERT/SELECT
//! through DataFusion with a table provider over these pieces, and `system.*` tables.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod catalog;
mod database;
mod error;
pub mod exec;
pub mod functions;
pub mod sql;
pub mod storage;

pub use database::{Database, DatabaseOptions, InsertOptions, InsertSummary, QueryResult, Session};
pub use error::{Error, Result};
