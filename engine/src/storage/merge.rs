//! Merges: choosing ranges of parts ([`selector`]), combining rows with equal keys per engine
//! ([`algorithm`]), and writing the merged part.
//!
//! ```text
//! select_merge(runs) ─▶ KWayMerge over the sources (a few granules of each at a time), chunks
//!     cut between keys ─▶ MergingAlgorithm (Ordinary, Replacing, Aggregating) per chunk ─▶ PartStream into
//!     tmp_merge_<name>/ ─▶ publish ─▶ the merged part replaces its sources in the active set
//! ```
//!
//! Sources that no snapshot holds any more are removed from disk by `TableData::remove_outdated`.

pub mod aggregating;
pub mod algorithm;
pub mod scheduler;
pub mod selector;
pub mod stream;

pub use aggregating::AggregatingMerge;
pub use algorithm::{MergingAlgorithm, OrdinaryMerge, ReplacingMerge};
pub use scheduler::{MergeScheduler, SchedulerSettings};
pub use selector::{MergeCandidate, MergeSelectorSettings, select_merge};
