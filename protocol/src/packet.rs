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
    /// The largest decompressed block accepted, in bytes: every frame's declared size is checked
    /// against what is left of it before the frame's output is allocated.
    pub block_bytes_max: usize,
}

impl Context {
    /// The context of a connection at `revision`, between queries, accepting compressed blocks of
    /// up to [`compress::DECOMPRESSED_BYTES_MAX_DEFAULT`] bytes.
    pub fn new(revision: u64) -> Context {
        Context {
            revision,
            compression: false,
            block_bytes_max: compress::DECOMPRESSED_BYTES_MAX_DEFAULT,
        }
    }

    /// The same context with another bound on a compressed block's decompressed bytes.
    pub fn with_block_bytes_max(self, block_bytes_max: usize) -> Context {
        Context {
            block_bytes_max,
            ..self
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
/// until the block decodes. Every frame's declared size is checked against what is left of
/// `context.block_bytes_max` before its output is allocated, and a decode is tried only once the
/// decompressed bytes have doubled (or reached what the last try proved missing), and once more
/// when no further frame follows, so that many small frames cost linear time.
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
    let max = context.block_bytes_max;
    let mut bytes = Vec::new();
    // Decode again once this many decompressed bytes are here.
    let mut wanted = 0usize;
    // Whether the bytes as they stand were tried.
    let mut tried = true;
    loop {
        let before = input.clone();
        if let Err(error) = read_frame(input, max, &mut bytes) {
            // The block may have ended at the last frame, before a try was due.
            if !tried {
                *input = before;
                if let Some(block) = try_block(&bytes, context.revision, max)?.0 {
                    return Ok(Data { table, block });
                }
            }
            return Err(error);
        }
        tried = false;
        if bytes.len() < wanted {
            continue;
        }
        tried = true;
        let (block, proven) = try_block(&bytes, context.revision, max)?;
        if let Some(block) = block {
            return Ok(Data { table, block });
        }
        wanted = proven.max(bytes.len().saturating_mul(2).min(max));
    }
}

/// Appends one frame of a compressed block to `bytes`, refusing it before its output is allocated
/// when it would take the block past `max` decompressed bytes.
fn read_frame(input: &mut Cursor<'_>, max: usize, bytes: &mut Vec<u8>) -> Result<()> {
    let budget = max.saturating_sub(bytes.len());
    let header = compress::FrameHeader::parse(input.rest(), budget)?;
    let needed = bytes.len() + header.decompressed_bytes;
    if needed > bytes.capacity() {
        let target = needed.max(bytes.capacity().saturating_mul(2)).min(max);
        bytes.reserve_exact(target - bytes.len());
    }
    compress::decompress_frame(input, budget, bytes)?;
    Ok(())
}

/// Decodes the whole decompressed `bytes` as one block: the block, or `None` and the decompressed
/// bytes it proved necessary when they end too soon.
fn try_block(bytes: &[u8], revision: u64, max: usize) -> Result<(Option<Block>, usize)> {
    let mut block_input = Cursor::new(bytes);
    match decode_block(&mut block_input, revision) {
        Ok(block) if block_input.is_empty() => Ok((Some(block), bytes.len())),
        Ok(_) => Err(Error::incorrect(format!(
            "{} bytes after a compressed block",
            block_input.remaining()
        ))),
        Err(Error::UnexpectedEof {
            needed, remaining, ..
        }) => {
            let proven = bytes.len().saturating_add(needed.saturating_sub(remaining));
            if proven > max {
                return Err(Error::TooLarge {
                    what: "decompressed bytes of a block",
                    size: proven as u64,
                    max: max as u64,
                    code: crate::ErrorCode::TOO_LARGE_SIZE_COMPRESSED,
                });
            }
            Ok((None, proven))
        }
        Err(other) => Err(other),
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
