//! # granary-protocol
//!
//! ClickHouse's data formats and native protocol, shared by Granary's storage engine, its
//! native-protocol server and the client the SDKs wrap. Codecs work on byte buffers; only
//! [`connection`] reads a stream, only [`client`] opens sockets, and nothing here opens a file.
//!
//! - [`types`]: [`DataType`], the ClickHouse type system: parse and print type names exactly, and map
//!   each type to its Arrow representation (the type name rides in Arrow field metadata).
//! - [`column`]: ClickHouse's Native column serialization to and from Arrow arrays, for every type,
//!   in the wire variant (cumulative array offsets, one stream) and the MergeTree variant (per-row
//!   array sizes, one stream per substream).
//! - [`block`]: Native blocks (BlockInfo, columns, rows) as Arrow `RecordBatch`es, per revision.
//! - [`compress`]: ClickHouse's compressed block framing (CityHash128 v1.0.2 checksum, LZ4, ZSTD,
//!   NONE), a writer that cuts blocks as ClickHouse does and a reader that seeks to marks.
//! - [`packet`]: the native TCP protocol's packets, both directions, per negotiated revision.
//! - [`connection`]: reading whole packets from an async byte stream.
//! - [`client`]: the async native-protocol client (queries as Arrow streams, exactly-once inserts
//!   with retries), which the SDKs wrap.
//! - [`text`]: ClickHouse's text form of values (floats, decimals, dates, nested values).
//! - [`ErrorCode`]: ClickHouse's error codes, used by every Granary crate.
//!
//! ```text
//!   Arrow RecordBatch ──block::encode──▶ Native bytes ──compress::Frame──▶ wire / .bin file
//!          ▲                                                                     │
//!          └──────────block::decode◀──── Native bytes ◀──compress::decompress───┘
//! ```

//!
//! A column round trip through the Native format:
//!
//! ```
//! use std::sync::Arc;
//! use arrow_array::{ArrayRef, StringArray};
//! use granary_protocol::{DataType, column, io::Cursor};
//!
//! let data_type = DataType::parse("LowCardinality(String)")?;
//! let values: ArrayRef = Arc::new(StringArray::from(vec!["red", "green", "red", ""]));
//! let mut bytes = Vec::new();
//! column::write_native(&data_type, values.as_ref(), &mut bytes)?;
//! let decoded = column::read_native(&data_type, 4, &mut Cursor::new(&bytes))?;
//! assert_eq!(decoded.len(), 4);
//! assert_eq!(data_type.to_string(), "LowCardinality(String)");
//! # Ok::<(), granary_protocol::Error>(())
//! ```

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod block;
pub mod client;
pub mod column;
pub mod compress;
pub mod connection;
mod error;
mod error_code;
pub mod io;
pub mod packet;
pub mod text;
pub mod types;

pub use error::{Error, Result};
pub use error_code::ErrorCode;
pub use types::DataType;
