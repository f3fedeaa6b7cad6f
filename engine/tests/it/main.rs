//! Integration tests of granary-engine.

mod clickhouse;
mod crash;
mod parts;
mod table;
