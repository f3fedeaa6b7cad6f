//! Integration tests of granary-engine.

mod clickhouse;
mod crash;
mod database;
mod dedup;
mod merges;
mod parts;
mod table;
