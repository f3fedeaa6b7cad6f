//! MergeTree storage: data parts on disk in ClickHouse's Wide format.
//!
//! ```text
//! <table>/<partition>_<min_block>_<max_block>_<level>/   one directory per part
//!     <stream>.bin   compressed column stream (one per substream: c, c.null, c.size0, c.dict, ...)
//!     <stream>.mrk2  marks: (offset in .bin, offset in the decompressed block, rows) per granule + final
//!     primary.idx    the ORDER BY key at each granule start, and of the last row
//!     count.txt  columns.txt  default_compression_codec.txt  checksums.txt
//! ```

mod checksums;
pub mod dedup;
pub mod fs;
pub mod key_condition;
pub mod lineage;
mod marks;
pub mod merge;
mod part;
pub mod partition;
mod primary_index;
mod reader;
pub mod table;
mod writer;

pub use checksums::{Checksums, FileChecksum, HashingWriter};
pub use marks::Mark;
pub use part::PartInfo;
pub use primary_index::{deserialize_binary, index_value_type, serialize_binary};
pub use reader::{DataPart, ReadStats};
pub use writer::{
    PartColumn, PartPartition, PartStream, PartWriter, WrittenPart, codec_text, min_max_rows,
};
