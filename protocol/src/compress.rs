//! ClickHouse's compressed block framing, shared by `.bin` files and the native protocol.
//!
//! A frame is a 16-byte CityHash128 v1.0.2 checksum of everything after it, a method byte, the
//! UInt32 compressed size (9-byte header included), the UInt32 decompressed size and the payload:
//!
//! ```text
//! | checksum 16 | method 1 | compressed size 4 | decompressed size 4 | payload ... |
//!               \______________ hashed, and counted in "compressed size" _______/
//! ```
//!
//! [`CompressedWriter`] cuts a stream into frames as ClickHouse does (`max_compress_block_size`
//! buffers, flushed early at a mark once `min_compress_block_size` is reached) and reports marks;
//! [`CompressedReader`] seeks to a mark and reads on across frames.

mod reader;
mod writer;

pub use reader::CompressedReader;
pub use writer::{BlockSizes, CompressedWriter, Mark};

use crate::ErrorCode;
use crate::error::{Error, Result};
use crate::io::Cursor;

/// Bytes of the checksum before each frame.
pub const CHECKSUM_BYTES: usize = 16;
/// Bytes of the method byte and the two sizes.
pub const HEADER_BYTES: usize = 9;
/// ClickHouse refuses frames larger than this (`DBMS_MAX_COMPRESSED_SIZE`, 1 GiB), compressed or
/// decompressed ("Too large size_decompressed").
pub const FRAME_BYTES_MAX: usize = 1 << 30;
/// The default bound on the decompressed bytes a peer may declare: for one frame
/// ([`decompress_frame`], [`CompressedReader`]) and for one block of a Data packet
/// ([`crate::packet::Context::block_bytes_max`]). A declared size is allocated before the payload
/// proves it, so this caps what a few bytes can make us allocate; ClickHouse writes frames of at
/// most `max_compress_block_size` (1 MiB) and Granary's blocks stay far below it. Callers that
/// trust their input more (or less) pass their own bound.
pub const DECOMPRESSED_BYTES_MAX_DEFAULT: usize = 128 << 20;
/// The most an LZ4 block can expand: each byte of a match length extension adds 255 bytes, so
/// a payload of n bytes decompresses to less than 255 n + 16 (the 16 cover the shortest blocks).
const LZ4_EXPANSION_MAX: usize = 255;

/// A compression method and its parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Stored as is (`0x02`).
    None,
    /// A raw LZ4 block (`0x82`).
    Lz4,
    /// A zstd frame at the given level (`0x90`).
    Zstd(i32),
}

impl Method {
    /// The method byte of frames written with this method.
    pub fn byte(self) -> u8 {
        match self {
            Method::None => 0x02,
            Method::Lz4 => 0x82,
            Method::Zstd(_) => 0x90,
        }
    }

    /// The method's name as ClickHouse spells it in `CODEC(...)`.
    pub fn name(self) -> &'static str {
        match self {
            Method::None => "NONE",
            Method::Lz4 => "LZ4",
            Method::Zstd(_) => "ZSTD",
        }
    }

    fn from_byte(byte: u8) -> Result<Method> {
        match byte {
            0x02 => Ok(Method::None),
            0x82 => Ok(Method::Lz4),
            0x90 => Ok(Method::Zstd(1)),
            0x91..=0x9f | 0x03 => Err(Error::NotImplemented(format!(
                "compression codec with method byte 0x{byte:02x}"
            ))),
            other => Err(Error::UnknownCompressionMethod(other)),
        }
    }
}

/// CityHash128 v1.0.2 of `data`, as the 16 bytes ClickHouse writes: first word, then second, each LE.
pub fn checksum(data: &[u8]) -> [u8; 16] {
    let hash = naive_cityhash::cityhash128(data);
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&hash.lo.to_le_bytes());
    bytes[8..].copy_from_slice(&hash.hi.to_le_bytes());
    bytes
}

/// CityHash64 v1.0.2 of `data` (what ClickHouse's SQL `cityHash64` returns for one String).
pub fn city_hash64(data: &[u8]) -> u64 {
    naive_cityhash::cityhash64(data)
}

/// Appends one frame holding `data` compressed with `method`.
///
/// ```
/// use granary_protocol::{compress, io::Cursor};
///
/// let mut frame = Vec::new();
/// compress::compress_frame(compress::Method::Lz4, b"hello hello hello", &mut frame)?;
/// assert_eq!(frame[16], 0x82);
/// let mut block = Vec::new();
/// compress::decompress_frame(&mut Cursor::new(&frame), 1 << 20, &mut block)?;
/// assert_eq!(block, b"hello hello hello");
/// # Ok::<(), granary_protocol::Error>(())
/// ```
pub fn compress_frame(method: Method, data: &[u8], out: &mut Vec<u8>) -> Result<()> {
    if data.len() > FRAME_BYTES_MAX {
        return Err(Error::TooLarge {
            what: "uncompressed block",
            size: data.len() as u64,
            max: FRAME_BYTES_MAX as u64,
            code: ErrorCode::TOO_LARGE_SIZE_COMPRESSED,
        });
    }
    let frame_start = out.len();
    out.resize(frame_start + CHECKSUM_BYTES + HEADER_BYTES, 0);
    let payload_start = out.len();
    match method {
        Method::None => out.extend_from_slice(data),
        Method::Lz4 => {
            out.resize(
                payload_start + lz4_flex::block::get_maximum_output_size(data.len()),
                0,
            );
            let written =
                lz4_flex::block::compress_into(data, &mut out[payload_start..]).map_err(|err| {
                    Error::CannotCompress {
                        method: "LZ4",
                        reason: err.to_string(),
                    }
                })?;
            out.truncate(payload_start + written);
        }
        Method::Zstd(level) => {
            let compressed =
                zstd::bulk::compress(data, level).map_err(|err| Error::CannotCompress {
                    method: "ZSTD",
                    reason: err.to_string(),
                })?;
            out.extend_from_slice(&compressed);
        }
    }
    let compressed_bytes = out.len() - frame_start - CHECKSUM_BYTES;
    let header = &mut out[frame_start + CHECKSUM_BYTES..payload_start];
    header[0] = method.byte();
    header[1..5].copy_from_slice(&(compressed_bytes as u32).to_le_bytes());
    header[5..9].copy_from_slice(&(data.len() as u32).to_le_bytes());
    let hash = checksum(&out[frame_start + CHECKSUM_BYTES..]);
    out[frame_start..frame_start + CHECKSUM_BYTES].copy_from_slice(&hash);
    Ok(())
}

/// The header of a frame, read from its first 25 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// The method byte.
    pub method_byte: u8,
    /// Bytes after the checksum: header plus payload.
    pub compressed_bytes: usize,
    /// Bytes of the decompressed block.
    pub decompressed_bytes: usize,
}

impl FrameHeader {
    /// Total bytes of the frame including its checksum.
    pub fn frame_bytes(&self) -> usize {
        CHECKSUM_BYTES + self.compressed_bytes
    }

    /// Parses and bounds the header at the start of `bytes` (checksum, method, sizes): the
    /// compressed size within `HEADER_BYTES..=FRAME_BYTES_MAX`, the decompressed size within
    /// `decompressed_bytes_max` (and `FRAME_BYTES_MAX`), and, for LZ4 and NONE frames, the two sizes
    /// consistent with each other. Nothing is allocated, so a frame is refused before its payload
    /// is read or its output sized.
    pub fn parse(bytes: &[u8], decompressed_bytes_max: usize) -> Result<FrameHeader> {
        let mut cursor = Cursor::new(bytes);
        cursor.take(CHECKSUM_BYTES, "compressed block checksum")?;
        let method_byte = cursor.read_u8("compression method")?;
        let compressed_bytes = cursor.read_u32("compressed size")? as usize;
        let decompressed_bytes = cursor.read_u32("decompressed size")? as usize;
        if !(HEADER_BYTES..=FRAME_BYTES_MAX).contains(&compressed_bytes) {
            return Err(Error::TooLarge {
                what: "compressed block size",
                size: compressed_bytes as u64,
                max: FRAME_BYTES_MAX as u64,
                code: ErrorCode::TOO_LARGE_SIZE_COMPRESSED,
            });
        }
        let limit = decompressed_bytes_max.min(FRAME_BYTES_MAX);
        if decompressed_bytes > limit {
            return Err(Error::TooLarge {
                what: "decompressed block size",
                size: decompressed_bytes as u64,
                max: limit as u64,
                code: ErrorCode::TOO_LARGE_SIZE_COMPRESSED,
            });
        }
        let payload = compressed_bytes - HEADER_BYTES;
        match method_byte {
            0x02 if payload != decompressed_bytes => {
                return Err(Error::CannotDecompress {
                    method: "NONE",
                    reason: format!(
                        "payload of {payload} bytes where the header says {decompressed_bytes}"
                    ),
                });
            }
            // LZ4 cannot expand a byte into more than 255: a larger claim is corrupt, not a
            // reason to allocate.
            0x82 if decompressed_bytes
                > payload.saturating_mul(LZ4_EXPANSION_MAX).saturating_add(16) =>
            {
                return Err(Error::CannotDecompress {
                    method: "LZ4",
                    reason: format!(
                        "{payload} payload bytes cannot decompress to {decompressed_bytes}"
                    ),
                });
            }
            _ => {}
        }
        Ok(FrameHeader {
            method_byte,
            compressed_bytes,
            decompressed_bytes,
        })
    }
}

/// Reads one frame from `input`, verifies its checksum and appends the decompressed block to `out`.
/// `decompressed_bytes_max` bounds the allocation a peer can cause
/// ([`DECOMPRESSED_BYTES_MAX_DEFAULT`] unless the caller knows better); the frame must be whole in
/// `input` before anything is allocated.
pub fn decompress_frame(
    input: &mut Cursor<'_>,
    decompressed_bytes_max: usize,
    out: &mut Vec<u8>,
) -> Result<FrameHeader> {
    let header = FrameHeader::parse(input.rest(), decompressed_bytes_max)?;
    let frame = input.take(header.frame_bytes(), "compressed block")?;
    decompress_checked(frame, header, out)?;
    Ok(header)
}

/// Verifies and decompresses a whole frame whose header was already parsed.
pub(crate) fn decompress_checked(
    frame: &[u8],
    header: FrameHeader,
    out: &mut Vec<u8>,
) -> Result<()> {
    let stored = &frame[..CHECKSUM_BYTES];
    let computed = checksum(&frame[CHECKSUM_BYTES..]);
    if stored != computed {
        return Err(Error::ChecksumMismatch {
            stored: hex(stored),
            computed: hex(&computed),
        });
    }
    let payload = &frame[CHECKSUM_BYTES + HEADER_BYTES..];
    let size = header.decompressed_bytes;
    match Method::from_byte(header.method_byte)? {
        Method::None => {
            if payload.len() != size {
                return Err(Error::CannotDecompress {
                    method: "NONE",
                    reason: format!(
                        "payload of {} bytes where the header says {size}",
                        payload.len()
                    ),
                });
            }
            out.extend_from_slice(payload);
        }
        Method::Lz4 => {
            // `FrameHeader::parse` refused sizes LZ4 cannot reach; check again for headers built
            // by hand.
            if size
                > payload
                    .len()
                    .saturating_mul(LZ4_EXPANSION_MAX)
                    .saturating_add(16)
            {
                return Err(Error::CannotDecompress {
                    method: "LZ4",
                    reason: format!(
                        "{} payload bytes cannot decompress to {size}",
                        payload.len()
                    ),
                });
            }
            let start = out.len();
            out.resize(start + size, 0);
            let written = match lz4_flex::block::decompress_into(payload, &mut out[start..]) {
                Ok(written) => written,
                Err(err) => {
                    out.truncate(start);
                    return Err(Error::CannotDecompress {
                        method: "LZ4",
                        reason: err.to_string(),
                    });
                }
            };
            if written != size {
                out.truncate(start);
                return Err(Error::CannotDecompress {
                    method: "LZ4",
                    reason: format!("decompressed to {written} bytes where the header says {size}"),
                });
            }
        }
        Method::Zstd(_) => decompress_zstd(payload, size, out)?,
    }
    Ok(())
}

/// The step by which a ZSTD output whose size is not proven grows (it then at most doubles).
const ZSTD_GROWTH_BYTES: usize = 64 * 1024;

/// Appends the ZSTD `payload`, which must decompress to exactly `size` bytes, to `out`. The
/// declared size is allocated at once only when the zstd frames record that same size and it is
/// within what LZ4 could reach from the payload (255x); any other claim (a frame without a content
/// size, or a ratio zstd reaches only with runs of one byte) grows the output as zstd produces it,
/// so a claim costs memory only once the payload backs it.
fn decompress_zstd(payload: &[u8], size: usize, out: &mut Vec<u8>) -> Result<()> {
    let fail = |reason: String| Error::CannotDecompress {
        method: "ZSTD",
        reason,
    };
    let recorded = zstd::bulk::Decompressor::upper_bound(payload);
    if let Some(recorded) = recorded.filter(|recorded| *recorded != size) {
        return Err(fail(format!(
            "the zstd frames hold {recorded} bytes where the header says {size}"
        )));
    }
    let start = out.len();
    let plausible = size
        <= payload
            .len()
            .saturating_mul(LZ4_EXPANSION_MAX)
            .saturating_add(16);
    let written = if recorded.is_some() && plausible {
        let mut decompressor =
            zstd::bulk::Decompressor::new().map_err(|err| fail(err.to_string()))?;
        out.resize(start + size, 0);
        decompressor
            .decompress_to_buffer(payload, &mut out[start..])
            .map_err(|err| fail(err.to_string()))
    } else {
        zstd_stream(payload, size, out, start).map_err(fail)
    };
    let written = match written {
        Ok(written) => written,
        Err(error) => {
            out.truncate(start);
            return Err(error);
        }
    };
    if written != size {
        out.truncate(start);
        return Err(fail(format!(
            "decompressed to {written} bytes where the header says {size}"
        )));
    }
    out.truncate(start + written);
    Ok(())
}

/// Streams the ZSTD `payload` into `out` after `start`, growing `out` by at most doubling and to at
/// most one byte past `size` (so that a longer output is caught); returns the bytes written.
fn zstd_stream(
    payload: &[u8],
    size: usize,
    out: &mut Vec<u8>,
    start: usize,
) -> std::result::Result<usize, String> {
    use zstd::zstd_safe::{DCtx, InBuffer, OutBuffer, get_error_name};
    let mut context = DCtx::try_create().ok_or("cannot create a zstd context")?;
    let mut input = InBuffer::around(payload);
    loop {
        let produced = out.len() - start;
        if produced > size {
            return Err(format!(
                "decompresses to more than the {size} bytes the header says"
            ));
        }
        if out.len() == out.capacity() {
            let grow = (size + 1 - produced).min(produced.max(ZSTD_GROWTH_BYTES));
            out.reserve_exact(grow);
        }
        let before = (input.pos(), out.len());
        let position = out.len();
        // zstd writes into the spare capacity and sets the length to what it wrote.
        let hint = context
            .decompress_stream(&mut OutBuffer::around_pos(out, position), &mut input)
            .map_err(|code| get_error_name(code).to_string())?;
        if hint == 0 && input.pos() == payload.len() {
            return Ok(out.len() - start);
        }
        if (input.pos(), out.len()) == before {
            return Err("the zstd payload is truncated".into());
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(method: Method, data: &[u8]) {
        let mut frame = Vec::new();
        compress_frame(method, data, &mut frame).unwrap();
        assert_eq!(frame[16], method.byte());
        let mut out = Vec::new();
        let mut cursor = Cursor::new(&frame);
        let header = decompress_frame(&mut cursor, usize::MAX, &mut out).unwrap();
        assert!(cursor.is_empty());
        assert_eq!(header.decompressed_bytes, data.len());
        assert_eq!(out, data);
    }

    #[test]
    fn every_method_round_trips() {
        let data: Vec<u8> = (0..100_000u32)
            .flat_map(|i| (i % 1000).to_le_bytes())
            .collect();
        for method in [Method::None, Method::Lz4, Method::Zstd(1), Method::Zstd(9)] {
            round_trip(method, &data);
            round_trip(method, b"");
            round_trip(method, b"x");
        }
    }

    #[test]
    fn a_flipped_bit_anywhere_is_a_checksum_error() {
        let mut frame = Vec::new();
        compress_frame(Method::Lz4, &[7u8; 4096], &mut frame).unwrap();
        for position in [0, 15, 16, 17, 21, 25, frame.len() - 1] {
            let mut corrupt = frame.clone();
            corrupt[position] ^= 0x10;
            let err = decompress_frame(&mut Cursor::new(&corrupt), usize::MAX, &mut Vec::new())
                .unwrap_err();
            assert!(
                matches!(
                    err.code(),
                    ErrorCode::CHECKSUM_DOESNT_MATCH
                        | ErrorCode::TOO_LARGE_SIZE_COMPRESSED
                        | ErrorCode::ATTEMPT_TO_READ_AFTER_EOF
                        | ErrorCode::UNKNOWN_COMPRESSION_METHOD
                ),
                "flip at {position}: {err}"
            );
        }
        let mut corrupt = frame.clone();
        corrupt[30] ^= 0x10;
        let err =
            decompress_frame(&mut Cursor::new(&corrupt), usize::MAX, &mut Vec::new()).unwrap_err();
        assert_eq!(err.code(), ErrorCode::CHECKSUM_DOESNT_MATCH);
    }

    /// A corrupt payload with a valid checksum (what a buggy peer sends) is CANNOT_DECOMPRESS.
    #[test]
    fn corrupt_payload_with_valid_checksum_cannot_decompress() {
        for (method_byte, payload) in [
            (0x82u8, vec![0xffu8; 20]),
            (0x90, vec![1, 2, 3, 4, 5, 6, 7, 8]),
        ] {
            let mut frame = vec![0u8; 16];
            frame.push(method_byte);
            frame.extend_from_slice(&((9 + payload.len()) as u32).to_le_bytes());
            frame.extend_from_slice(&100u32.to_le_bytes());
            frame.extend_from_slice(&payload);
            let hash = checksum(&frame[16..]);
            frame[..16].copy_from_slice(&hash);
            let err = decompress_frame(&mut Cursor::new(&frame), usize::MAX, &mut Vec::new())
                .unwrap_err();
            assert_eq!(err.code(), ErrorCode::CANNOT_DECOMPRESS, "{err}");
        }
    }

    #[test]
    fn impossible_sizes_are_refused_before_allocating() {
        let mut frame = vec![0u8; 16];
        frame.push(0x82);
        frame.extend_from_slice(&20u32.to_le_bytes());
        frame.extend_from_slice(&u32::MAX.to_le_bytes());
        frame.extend_from_slice(&[0u8; 11]);
        let err = decompress_frame(&mut Cursor::new(&frame), 1 << 20, &mut Vec::new()).unwrap_err();
        assert_eq!(err.code(), ErrorCode::TOO_LARGE_SIZE_COMPRESSED);
        frame[17..21].copy_from_slice(&3u32.to_le_bytes());
        let err =
            decompress_frame(&mut Cursor::new(&frame), usize::MAX, &mut Vec::new()).unwrap_err();
        assert_eq!(err.code(), ErrorCode::TOO_LARGE_SIZE_COMPRESSED);
        let mut unknown = vec![0u8; 16];
        unknown.push(0x7f);
        unknown.extend_from_slice(&9u32.to_le_bytes());
        unknown.extend_from_slice(&0u32.to_le_bytes());
        let hash = checksum(&unknown[16..]);
        unknown[..16].copy_from_slice(&hash);
        let err =
            decompress_frame(&mut Cursor::new(&unknown), usize::MAX, &mut Vec::new()).unwrap_err();
        assert_eq!(err.code(), ErrorCode::UNKNOWN_COMPRESSION_METHOD);
    }
}
