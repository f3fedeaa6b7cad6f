//! ClickHouse's native TCP protocol: the packets of both directions, encoded and decoded for a
//! negotiated revision (`native-protocol.md` §4–§7). The server front end reads [`ClientPacket`]s
//! and writes server packets; the client does the reverse with the same code.
//!
//! Packets have no length prefix: a decoder must parse every field to find the next packet, so each
//! `decode` here either consumes exactly one packet or fails; an `ATTEMPT_TO_READ_AFTER_EOF` failure
//! means "not all of it has arrived yet" ([`crate::connection::PacketReader`] reads more and
//! retries).

pub mod client;
pub mod revision;
pub mod server;
pub mod settings;

use crate::block::{Block, BlockInfo, decode_block, encode_block};
use crate::compress::{self, Method};
use crate::error::{Error, Result};
use crate::io::{Cursor, write_string};
use arrow_array::RecordBatch;

/// What decoding a packet depends on besides its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Context {
    /// The negotiated revision.
    pub revision: u64,
    /// Whether the current query's Data blocks are compressed (the Query's compression flag).
    pub compression: bool,
    /// The largest decompressed block accepted, in bytes.
    pub block_bytes_max: usize,
}

impl Context {
    /// The context of a connection at `revision`, between queries.
    pub fn new(revision: u64) -> Context {
        Context {
            revision,
            compression: false,
            block_bytes_max: compress::FRAME_BYTES_MAX,
        }
    }
}

/// A block in a Data (or Totals, Extremes, Log, ProfileEvents) packet, with its table name.
#[derive(Debug, Clone)]
pub struct Data {
    /// The external or temporary table the block belongs to; empty for query data.
    pub table: String,
    /// The block.
    pub block: Block,
}

impl Data {
    /// A data packet body for `batch` with no table name.
    pub fn new(batch: RecordBatch) -> Data {
        Data {
            table: String::new(),
            block: Block {
                info: BlockInfo::default(),
                batch,
            },
        }
    }
}

/// Reads the table name and the block of a Data-like packet (after its type). `compressed`
/// blocks are read frame by frame: a block ends at a frame boundary, so frames are decompressed
/// until the block decodes.
pub(crate) fn read_data(
    input: &mut Cursor<'_>,
    context: &Context,
    compressed: bool,
) -> Result<Data> {
    let table = if context.revision >= revision::TEMPORARY_TABLES {
        input.read_str("table name")?.to_string()
    } else {
        String::new()
    };
    if !compressed {
        let block = decode_block(input, context.revision)?;
        return Ok(Data { table, block });
    }
    let mut bytes = Vec::new();
    // At least this many more decompressed bytes are needed before the block can be complete.
    let mut wanted = 0usize;
    loop {
        compress::decompress_frame(input, context.block_bytes_max, &mut bytes)?;
        if bytes.len() > context.block_bytes_max {
            return Err(Error::TooLarge {
                what: "block",
                size: bytes.len() as u64,
                max: context.block_bytes_max as u64,
                code: crate::ErrorCode::TOO_LARGE_SIZE_COMPRESSED,
            });
        }
        if bytes.len() < wanted {
            continue;
        }
        let mut block_input = Cursor::new(&bytes);
        match decode_block(&mut block_input, context.revision) {
            Ok(block) if block_input.is_empty() => return Ok(Data { table, block }),
            Ok(_) => {
                return Err(Error::incorrect(format!(
                    "{} bytes after a compressed block",
                    block_input.remaining()
                )));
            }
            Err(Error::UnexpectedEof {
                needed, remaining, ..
            }) => wanted = bytes.len() + needed.saturating_sub(remaining),
            Err(other) => return Err(other),
        }
    }
}

/// Writes the table name and the block of a Data-like packet (after its type), compressed with
/// `method` when given (one frame per block, as clickhouse-driver does).
pub(crate) fn write_data(
    out: &mut Vec<u8>,
    data: &Data,
    revision: u64,
    method: Option<Method>,
) -> Result<()> {
    if revision >= revision::TEMPORARY_TABLES {
        write_string(out, data.table.as_bytes());
    }
    match method {
        None => encode_block(&data.block.batch, &data.block.info, revision, out),
        Some(method) => {
            let mut block = Vec::new();
            encode_block(&data.block.batch, &data.block.info, revision, &mut block)?;
            for chunk in block.chunks(compress::FRAME_BYTES_MAX) {
                compress::compress_frame(method, chunk, out)?;
            }
            Ok(())
        }
    }
}
