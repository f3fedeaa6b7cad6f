//! Integration tests of granary-engine.

mod clickhouse;
mod crash;
mod database;
mod database_crash;
mod dedup;
mod fuzz;
mod merges;
mod parameters;
mod parts;
mod postgres;
mod sessions;
mod support;
mod table;
