//! SQL: parsing one statement ([`parser`]), the statements the engine runs ([`statement`]), and the
//! rewrite of queries into what DataFusion plans with ClickHouse's meaning ([`rewrite`]).

pub mod parser;
pub mod rewrite;
pub mod statement;
