//! # granary-engine
//!
//! Granary's embedded database: [`Database::open`] a data directory, [`Database::execute`] SQL
//! (results stream as Arrow batches), [`Database::insert`] Arrow batches (exactly once with a
//! dedup token). Underneath: the [`catalog`] (table definitions persisted as metadata files),
//! [`sql`] (parsing and rewriting ClickHouse SQL), [`exec`] (DataFusion: MergeTree scans with
//! pruning, system tables, insert conversion) and [`storage`] (the MergeTree family in ClickHouse's
//! on-disk format: parts, merges, deduplication).
//!
//! ```text
//!  SQL ─parse─▶ DDL/INSERT/SHOW ─▶ Catalog / TableData          SELECT ─rewrite─▶ DataFusion
//!      ─▶ MergeTreeProvider::scan (snapshot, minmax + primary-key pruning) ─▶ streamed batches
//!  RecordBatch ─prepare_block─▶ TableData::insert ─▶ split by partition ─▶ sort ─▶ PartWriter
//!      ─▶ tmp_insert_*/ ─▶ dedup.log (fsync) ─▶ publish ─▶ new PartSet snapshot
//!  MergeScheduler ─▶ TableData::merge_once ─▶ select_merge ─▶ MergingAlgorithm ─▶ merged part
//! ```

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod catalog;
mod database;
mod error;
pub mod exec;
pub mod functions;
pub mod postgres;
pub mod sql;
pub mod storage;

pub use database::{
    Database, DatabaseOptions, InsertOptions, InsertSummary, Inserter, Prepared, QueryResult,
    Session,
};
pub use error::{Error, Result};
pub use sql::parameters::Parameter;
