//! Reading packets from a byte stream. Packets carry no length, so a packet is decoded from the
//! bytes buffered so far; when they end too soon the reader reads more and decodes again.
//!
//! To keep large packets linear, a retry waits until the buffer holds at least what the failed
//! attempt proved missing, and until it has doubled unless the peer pauses (no bytes for
//! [`PAUSE`]): a peer pauses only when it has sent the whole packet and waits for an answer.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};

use crate::ErrorCode;
use crate::error::{Error, Result};
use crate::io::Cursor;

/// How long the reader waits for more bytes before retrying a decode with what it has.
pub const PAUSE: Duration = Duration::from_millis(2);

/// The least the buffer grows by before a read.
const READ_CHUNK_BYTES: usize = 64 * 1024;

/// The default bound on one packet's bytes (a block of an INSERT is one packet).
pub const PACKET_BYTES_MAX: usize = 1 << 30;

/// Buffered packet reading from `R`.
#[derive(Debug)]
pub struct PacketReader<R> {
    inner: R,
    buffer: Vec<u8>,
    start: usize,
    packet_bytes_max: usize,
}

impl<R: AsyncRead + Unpin> PacketReader<R> {
    /// A reader over `inner` that refuses packets over `packet_bytes_max` bytes.
    pub fn new(inner: R, packet_bytes_max: usize) -> Self {
        PacketReader {
            inner,
            buffer: Vec::with_capacity(READ_CHUNK_BYTES),
            start: 0,
            packet_bytes_max,
        }
    }

    /// The most bytes one packet may take.
    pub fn packet_bytes_max(&self) -> usize {
        self.packet_bytes_max
    }

    /// Bytes received and not yet decoded.
    pub fn buffered(&self) -> &[u8] {
        &self.buffer[self.start..]
    }

    /// Decodes the next packet with `decode`, reading as much as it needs. Cancel-safe: bytes
    /// read by an abandoned call stay buffered for the next one.
    pub async fn read<T>(
        &mut self,
        mut decode: impl FnMut(&mut Cursor<'_>) -> Result<T>,
    ) -> Result<T> {
        loop {
            let available = self.buffer.len() - self.start;
            if available > 0 {
                let mut cursor = Cursor::new(&self.buffer[self.start..]);
                match decode(&mut cursor) {
                    Ok(value) => {
                        self.start += cursor.position();
                        if self.start == self.buffer.len() {
                            self.buffer.clear();
                            self.start = 0;
                        }
                        return Ok(value);
                    }
                    Err(Error::UnexpectedEof {
                        needed, remaining, ..
                    }) => {
                        let proven = available.saturating_add(needed.saturating_sub(remaining));
                        self.fill(proven, available.saturating_mul(2)).await?;
                    }
                    Err(other) => return Err(other),
                }
            } else {
                self.fill(1, 1).await?;
            }
        }
    }

    /// Reads until `at_least` bytes are buffered, then on until `hoped` unless the peer pauses.
    async fn fill(&mut self, at_least: usize, hoped: usize) -> Result<()> {
        if at_least > self.packet_bytes_max {
            return Err(Error::TooLarge {
                what: "packet",
                size: at_least as u64,
                max: self.packet_bytes_max as u64,
                code: ErrorCode::TOO_LARGE_STRING_SIZE,
            });
        }
        if self.start > 0 {
            self.buffer.drain(..self.start);
            self.start = 0;
        }
        let hoped = hoped.max(at_least).min(self.packet_bytes_max);
        while self.buffer.len() < at_least {
            self.read_some(at_least).await?;
        }
        while self.buffer.len() < hoped {
            match tokio::time::timeout(PAUSE, self.read_some(hoped)).await {
                Ok(read) => read?,
                Err(_paused) => break,
            }
        }
        Ok(())
    }

    async fn read_some(&mut self, target: usize) -> Result<()> {
        // What a decode proved missing comes from the peer's own lengths: the buffer grows by at
        // most what it holds (doubling), so memory follows the bytes that arrive, not the claims.
        let buffered = self.buffer.len();
        let want = target
            .saturating_sub(buffered)
            .min(buffered.max(READ_CHUNK_BYTES))
            .max(READ_CHUNK_BYTES);
        self.buffer.reserve(want);
        let read = self
            .inner
            .read_buf(&mut self.buffer)
            .await
            .map_err(|source| Error::Io {
                context: "reading from the peer",
                source,
            })?;
        if read == 0 {
            return Err(Error::Io {
                context: "reading from the peer",
                source: std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    if self.buffer.is_empty() {
                        "the peer closed the connection"
                    } else {
                        "the peer closed the connection in the middle of a packet"
                    },
                ),
            });
        }
        Ok(())
    }
}

impl Error {
    /// True when the peer closed the connection (cleanly or mid-packet).
    pub fn is_disconnect(&self) -> bool {
        matches!(self, Error::Io { source, .. }
            if matches!(source.kind(),
                std::io::ErrorKind::UnexpectedEof
                | std::io::ErrorKind::ConnectionReset
                | std::io::ErrorKind::ConnectionAborted
                | std::io::ErrorKind::BrokenPipe))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::write_string;
    use tokio::io::AsyncWriteExt;

    #[tokio::test]
    async fn packets_split_across_writes_are_read_whole() {
        let (mut client, server) = tokio::io::duplex(64);
        let writer = tokio::spawn(async move {
            let mut bytes = Vec::new();
            for text in ["a", &"x".repeat(100_000), "b"] {
                write_string(&mut bytes, text.as_bytes());
            }
            for chunk in bytes.chunks(7_000) {
                client.write_all(chunk).await.unwrap();
            }
        });
        let mut reader = PacketReader::new(server, PACKET_BYTES_MAX);
        let mut read = Vec::new();
        for _ in 0..3 {
            read.push(
                reader
                    .read(|cursor| Ok(cursor.read_str("text")?.len()))
                    .await
                    .unwrap(),
            );
        }
        assert_eq!(read, [1, 100_000, 1]);
        writer.await.unwrap();
        let err = reader
            .read(|cursor| cursor.read_u8("byte"))
            .await
            .unwrap_err();
        assert!(err.is_disconnect());
    }

    #[tokio::test]
    async fn a_packet_over_the_limit_is_refused_before_it_is_buffered() {
        let (mut client, server) = tokio::io::duplex(64);
        let mut bytes = Vec::new();
        crate::io::write_var_uint(&mut bytes, 10_000_000);
        client.write_all(&bytes).await.unwrap();
        let mut reader = PacketReader::new(server, 1_000_000);
        let err = reader
            .read(|cursor| Ok(cursor.read_bytes("text")?.len()))
            .await
            .unwrap_err();
        assert_eq!(err.code(), ErrorCode::TOO_LARGE_STRING_SIZE);
    }
}
