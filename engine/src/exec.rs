//! Query execution on DataFusion: the session and catalog bridge ([`session`]), MergeTree scans
//! with pruning ([`scan`], [`pruning`]), system tables ([`system`]) and `numbers` ([`numbers`]), ClickHouse's typing ([`semantics`]), table expressions
//! ([`expressions`]) and the conversion of inserted rows ([`insert`]).

pub mod expressions;
pub mod insert;
pub mod join_defaults;
pub mod limits;
pub mod memory;
pub mod numbers;
pub mod planner;
pub mod pruning;
pub mod scan;
pub mod semantics;
pub mod session;
pub mod system;
