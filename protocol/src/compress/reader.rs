//! A reader over a stream of frames that can start at a mark.

use std::io::{self, Read, Seek, SeekFrom};

use super::{CHECKSUM_BYTES, FrameHeader, HEADER_BYTES, Mark, decompress_checked};
use crate::error::{Error, Result};

/// The first step by which the frame buffer grows while a frame is read; it then at most doubles.
const READ_CHUNK_BYTES: usize = 64 * 1024;

/// Decompresses frames from `inner` on demand; `seek` jumps to a [`Mark`].
#[derive(Debug)]
pub struct CompressedReader<R> {
    inner: R,
    decompressed_bytes_max: usize,
    frame: Vec<u8>,
    block: Vec<u8>,
    position: usize,
    /// Offset in the compressed stream of the frame now in `block`.
    block_offset: u64,
    /// Offset in the compressed stream of the next frame.
    next_offset: u64,
}

impl<R: Read> CompressedReader<R> {
    /// A reader at the start of `inner`; frames claiming more than `decompressed_bytes_max` are
    /// refused before anything is allocated for them ([`super::DECOMPRESSED_BYTES_MAX_DEFAULT`]
    /// unless the caller knows better; ClickHouse's own bound is [`super::FRAME_BYTES_MAX`]).
    pub fn new(inner: R, decompressed_bytes_max: usize) -> Self {
        CompressedReader {
            inner,
            decompressed_bytes_max,
            frame: Vec::new(),
            block: Vec::new(),
            position: 0,
            block_offset: 0,
            next_offset: 0,
        }
    }

    /// Loads the next frame; `false` at a clean end of the stream.
    fn next_frame(&mut self) -> Result<bool> {
        let mut head = [0u8; CHECKSUM_BYTES + HEADER_BYTES];
        let mut filled = 0;
        while filled < head.len() {
            let read = self
                .inner
                .read(&mut head[filled..])
                .map_err(|source| Error::Io {
                    context: "reading a compressed block",
                    source,
                })?;
            if read == 0 {
                if filled == 0 {
                    return Ok(false);
                }
                return Err(Error::UnexpectedEof {
                    what: "compressed block header",
                    needed: head.len(),
                    remaining: filled,
                });
            }
            filled += read;
        }
        let header = FrameHeader::parse(&head, self.decompressed_bytes_max)?;
        self.frame.clear();
        self.frame.extend_from_slice(&head);
        // The declared size is not trusted with an allocation: the buffer grows with the bytes
        // that actually arrive, so a short stream costs what it holds, not what it claims.
        let frame_bytes = header.frame_bytes();
        let mut filled = self.frame.len();
        while filled < frame_bytes {
            if filled == self.frame.len() {
                // At most double what arrived so far (64 KiB to start with).
                let grow = (frame_bytes - filled).min(filled.max(READ_CHUNK_BYTES));
                self.frame.resize(filled + grow, 0);
            }
            match self.inner.read(&mut self.frame[filled..]) {
                Ok(0) => {
                    self.frame.truncate(filled);
                    return Err(Error::UnexpectedEof {
                        what: "compressed block",
                        needed: frame_bytes,
                        remaining: filled,
                    });
                }
                Ok(read) => filled += read,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(source) => {
                    return Err(Error::Io {
                        context: "reading a compressed block",
                        source,
                    });
                }
            }
        }
        self.block.clear();
        self.position = 0;
        decompress_checked(&self.frame, header, &mut self.block)?;
        self.block_offset = self.next_offset;
        self.next_offset += header.frame_bytes() as u64;
        Ok(true)
    }

    /// The decompressed bytes left in the current frame, loading the next frame when it is used up.
    pub fn fill(&mut self) -> Result<&[u8]> {
        while self.position == self.block.len() {
            if !self.next_frame()? {
                break;
            }
        }
        Ok(&self.block[self.position..])
    }

    /// Marks `count` bytes of [`Self::fill`]'s slice as read.
    pub fn consume(&mut self, count: usize) {
        self.position = (self.position + count).min(self.block.len());
    }
}

impl<R: Read + Seek> CompressedReader<R> {
    /// Moves to `mark`: the frame at `offset_compressed`, `offset_decompressed` bytes into it.
    pub fn seek(&mut self, mark: Mark) -> Result<()> {
        self.inner
            .seek(SeekFrom::Start(mark.offset_compressed))
            .map_err(|source| Error::Io {
                context: "seeking to a mark",
                source,
            })?;
        self.block.clear();
        self.position = 0;
        self.next_offset = mark.offset_compressed;
        self.block_offset = mark.offset_compressed;
        if !self.next_frame()? {
            if mark.offset_decompressed == 0 {
                return Ok(());
            }
            return Err(Error::incorrect(format!(
                "mark {mark:?} points past the end of the stream"
            )));
        }
        if mark.offset_decompressed as usize > self.block.len() {
            return Err(Error::incorrect(format!(
                "mark {mark:?} points past the end of its {}-byte block",
                self.block.len()
            )));
        }
        self.position = mark.offset_decompressed as usize;
        Ok(())
    }
}

impl<R: Read> CompressedReader<R> {
    /// Appends the decompressed bytes from the current position up to `end` (a later mark of the
    /// same stream) to `out`, leaving the reader at `end`.
    pub fn read_to_mark(&mut self, end: Mark, out: &mut Vec<u8>) -> Result<()> {
        loop {
            if self.block_offset == end.offset_compressed && !self.block.is_empty() {
                let stop = end.offset_decompressed as usize;
                if stop < self.position || stop > self.block.len() {
                    return Err(Error::incorrect(format!(
                        "mark {end:?} is behind the read position or past its block"
                    )));
                }
                out.extend_from_slice(&self.block[self.position..stop]);
                self.position = stop;
                return Ok(());
            }
            if self.block_offset > end.offset_compressed {
                return Err(Error::incorrect(format!(
                    "mark {end:?} lies before the read position"
                )));
            }
            out.extend_from_slice(&self.block[self.position..]);
            self.position = self.block.len();
            if self.next_offset == end.offset_compressed && end.offset_decompressed == 0 {
                return Ok(()); // the end of the last frame before `end`
            }
            if !self.next_frame()? {
                return Err(Error::incorrect(format!(
                    "mark {end:?} points past the end of the stream"
                )));
            }
        }
    }
}

impl<R: Read> Read for CompressedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let available = self.fill().map_err(io::Error::other)?;
        let count = available.len().min(buf.len());
        buf[..count].copy_from_slice(&available[..count]);
        self.consume(count);
        Ok(count)
    }
}
