//! Integration tests of granary-engine.

mod clickhouse;
mod crash;
mod dedup;
mod parts;
mod table;
