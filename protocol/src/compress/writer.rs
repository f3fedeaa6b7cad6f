//! A writer that compresses a byte stream into frames the way ClickHouse's MergeTree writer does.

use std::io::Write;

use super::{Method, compress_frame};
use crate::error::{Error, Result};

/// ClickHouse's block-size settings for compressed streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockSizes {
    /// `min_compress_block_size`: at a mark, a buffer holding at least this much is flushed first,
    /// so the mark points at the start of a fresh frame.
    pub min_bytes: usize,
    /// `max_compress_block_size`: a buffer is compressed into a frame once it holds this much.
    pub max_bytes: usize,
}

impl Default for BlockSizes {
    /// ClickHouse's defaults: 65 536 and 1 048 576 bytes.
    fn default() -> Self {
        BlockSizes {
            min_bytes: 65_536,
            max_bytes: 1_048_576,
        }
    }
}

/// A position in a compressed stream: the frame's offset in the file and the offset inside the
/// decompressed frame (a MergeTree mark without its row count).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Mark {
    /// Offset of the frame in the compressed stream.
    pub offset_compressed: u64,
    /// Offset of the position inside the decompressed frame.
    pub offset_decompressed: u64,
}

/// Buffers written bytes and emits a frame whenever `max_bytes` are buffered.
#[derive(Debug)]
pub struct CompressedWriter<W: Write> {
    inner: W,
    method: Method,
    sizes: BlockSizes,
    buffer: Vec<u8>,
    frame: Vec<u8>,
    offset_compressed: u64,
    bytes_uncompressed: u64,
}

impl<W: Write> CompressedWriter<W> {
    /// A writer compressing with `method` into `inner`.
    pub fn new(inner: W, method: Method, sizes: BlockSizes) -> Self {
        assert!(
            sizes.min_bytes <= sizes.max_bytes && sizes.max_bytes > 0,
            "invalid block sizes {sizes:?}"
        );
        CompressedWriter {
            inner,
            method,
            sizes,
            buffer: Vec::with_capacity(sizes.max_bytes),
            frame: Vec::new(),
            offset_compressed: 0,
            bytes_uncompressed: 0,
        }
    }

    /// Appends bytes to the stream, emitting full frames as the buffer fills.
    pub fn write(&mut self, mut data: &[u8]) -> Result<()> {
        self.bytes_uncompressed += data.len() as u64;
        while !data.is_empty() {
            let room = self.sizes.max_bytes - self.buffer.len();
            let (now, later) = data.split_at(room.min(data.len()));
            self.buffer.extend_from_slice(now);
            data = later;
            if self.buffer.len() == self.sizes.max_bytes {
                self.flush_frame()?;
            }
        }
        Ok(())
    }

    /// The mark of the current position, taken before a granule is written: flushes first when the
    /// buffer already holds `min_bytes`, so the granule starts a fresh frame.
    pub fn mark(&mut self) -> Result<Mark> {
        if self.buffer.len() >= self.sizes.min_bytes {
            self.flush_frame()?;
        }
        Ok(Mark {
            offset_compressed: self.offset_compressed,
            offset_decompressed: self.buffer.len() as u64,
        })
    }

    /// Compresses whatever is buffered into one frame.
    pub fn flush_frame(&mut self) -> Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        self.frame.clear();
        compress_frame(self.method, &self.buffer, &mut self.frame)?;
        self.inner
            .write_all(&self.frame)
            .map_err(|source| Error::Io {
                context: "writing a compressed block",
                source,
            })?;
        self.offset_compressed += self.frame.len() as u64;
        self.buffer.clear();
        Ok(())
    }

    /// Bytes of frames written so far.
    pub fn bytes_compressed(&self) -> u64 {
        self.offset_compressed
    }

    /// Bytes given to [`Self::write`] so far.
    pub fn bytes_uncompressed(&self) -> u64 {
        self.bytes_uncompressed
    }

    /// Flushes the last frame and returns the inner writer.
    pub fn finish(mut self) -> Result<W> {
        self.flush_frame()?;
        Ok(self.inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compress::CompressedReader;
    use std::io::Read;

    #[test]
    fn marks_follow_clickhouse_block_cutting() {
        // 8 granules of 32 KiB (8192 UInt32 rows each): two granules share a 64 KiB frame, the
        // second starting 32 768 bytes in, as in ClickHouse's documented lineorder part.
        let mut writer = CompressedWriter::new(Vec::new(), Method::Lz4, BlockSizes::default());
        let mut marks = Vec::new();
        for granule in 0..8u32 {
            marks.push(writer.mark().unwrap());
            let values: Vec<u8> = (0..8192u32)
                .flat_map(|row| (granule * 8192 + row).to_le_bytes())
                .collect();
            writer.write(&values).unwrap();
        }
        let end = writer.mark().unwrap();
        let file = writer.finish().unwrap();
        let decompressed: Vec<u64> = marks.iter().map(|mark| mark.offset_decompressed).collect();
        assert_eq!(decompressed, [0, 32768, 0, 32768, 0, 32768, 0, 32768]);
        assert_eq!(marks[0].offset_compressed, 0);
        assert_eq!(marks[1].offset_compressed, 0);
        assert!(marks[2].offset_compressed > 0);
        assert_eq!(marks[2].offset_compressed, marks[3].offset_compressed);
        assert_eq!(
            end,
            Mark {
                offset_compressed: file.len() as u64,
                offset_decompressed: 0
            }
        );

        // Every mark reads back its granule.
        for (granule, mark) in marks.iter().enumerate() {
            let mut reader = CompressedReader::new(std::io::Cursor::new(&file), usize::MAX);
            reader.seek(*mark).unwrap();
            let mut first = [0u8; 4];
            reader.read_exact(&mut first).unwrap();
            assert_eq!(u32::from_le_bytes(first), granule as u32 * 8192);
        }
    }

    #[test]
    fn large_writes_are_cut_at_max_bytes() {
        let sizes = BlockSizes {
            min_bytes: 10,
            max_bytes: 100,
        };
        let mut writer = CompressedWriter::new(Vec::new(), Method::None, sizes);
        writer.write(&[1u8; 250]).unwrap();
        let file = writer.finish().unwrap();
        // Three NONE frames of 100, 100 and 50 bytes, each with 25 bytes of framing.
        assert_eq!(file.len(), 250 + 3 * 25);
        let mut all = Vec::new();
        CompressedReader::new(std::io::Cursor::new(&file), usize::MAX)
            .read_to_end(&mut all)
            .unwrap();
        assert_eq!(all, vec![1u8; 250]);
    }
}
