//! SQL: parsing one statement ([`parser`]), the statements the engine runs ([`statement`]), the
//! rewrite of queries into what DataFusion plans with ClickHouse's meaning ([`rewrite`]) and
//! ClickHouse's names for result columns ([`names`]) and
//! ClickHouse functions in DataFusion's terms ([`functions`]).

pub mod aliases;
pub mod array_join;
pub mod casts;
pub mod escapes;
pub mod functions;
pub mod limit_by;
pub mod limits;
pub mod names;
pub mod parameters;
pub mod parser;
pub mod query_parameters;
pub mod rewrite;
pub mod statement;
pub mod values;
