//! Integration tests of granary-engine.

mod clickhouse;
mod crash;
mod dedup;
mod merges;
mod parts;
mod table;
