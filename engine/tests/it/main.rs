//! Integration tests of granary-engine.

mod clickhouse;
mod parts;
