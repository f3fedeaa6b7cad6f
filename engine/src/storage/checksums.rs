//! `checksums.txt` (format version 4) and ClickHouse's chained file hash.
//!
//! The file hash is ClickHouse's `HashingWriteBuffer`: CityHash128 v1.0.2 chained over 2048-byte
//! chunks (the running hash is the seed of the next chunk), starting from (0, 0).

use std::collections::BTreeMap;
use std::io::{self, Write};

use granary_protocol::compress::{BlockSizes, CompressedReader, CompressedWriter, Method};
use granary_protocol::io::{Cursor, write_string, write_var_uint};
use naive_cityhash::{U128, cityhash128_with_seed};

use crate::error::{Error, Result};

/// Bytes hashed per step of the chain.
const HASHING_BLOCK_BYTES: usize = 2048;
const HEADER_V4: &str = "checksums format version: 4\n";
/// Files a part has that `checksums.txt` does not list.
pub const FILES_WITHOUT_CHECKSUMS: &[&str] = &[
    "checksums.txt",
    "columns.txt",
    "default_compression_codec.txt",
];

/// Hashes what passes through it (to `inner`), as ClickHouse's `HashingWriteBuffer` does.
#[derive(Debug)]
pub struct HashingWriter<W> {
    inner: W,
    state: U128,
    pending: Vec<u8>,
    bytes: u64,
}

impl<W> HashingWriter<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            state: U128::new(0, 0),
            pending: Vec::with_capacity(HASHING_BLOCK_BYTES),
            bytes: 0,
        }
    }

    /// Feeds bytes to the hash only.
    pub fn update(&mut self, mut data: &[u8]) {
        self.bytes += data.len() as u64;
        while !data.is_empty() {
            let take = (HASHING_BLOCK_BYTES - self.pending.len()).min(data.len());
            self.pending.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.pending.len() == HASHING_BLOCK_BYTES {
                self.state = cityhash128_with_seed(&self.pending, self.state);
                self.pending.clear();
            }
        }
    }

    /// Bytes seen so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The hash of everything seen, as the 16 bytes ClickHouse stores (first word, second word, LE).
    pub fn hash(&self) -> [u8; 16] {
        let state = if self.pending.is_empty() {
            self.state
        } else {
            cityhash128_with_seed(&self.pending, self.state)
        };
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&state.lo.to_le_bytes());
        bytes[8..].copy_from_slice(&state.hi.to_le_bytes());
        bytes
    }

    /// The wrapped writer.
    pub fn into_inner(self) -> W {
        self.inner
    }

    /// The wrapped writer, by reference.
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }
}

/// The chained hash of a whole byte string.
pub fn file_hash(bytes: &[u8]) -> [u8; 16] {
    let mut hasher = HashingWriter::new(());
    hasher.update(bytes);
    hasher.hash()
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let written = self.inner.write(buf)?;
        self.update(&buf[..written]);
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// One file's entry in `checksums.txt`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChecksum {
    /// Bytes on disk.
    pub file_size: u64,
    /// Chained hash of the bytes on disk.
    pub file_hash: [u8; 16],
    /// For compressed streams: the decompressed size and its hash.
    pub uncompressed: Option<(u64, [u8; 16])>,
}

/// The contents of `checksums.txt`: every file of the part but the unlisted ones, by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Checksums {
    /// Entries sorted by file name.
    pub files: BTreeMap<String, FileChecksum>,
}

impl Checksums {
    /// Serializes in format version 4: a text header, then the entries in LZ4 frames.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut body = Vec::new();
        write_var_uint(&mut body, self.files.len() as u64);
        for (name, entry) in &self.files {
            write_string(&mut body, name.as_bytes());
            write_var_uint(&mut body, entry.file_size);
            body.extend_from_slice(&entry.file_hash);
            body.push(u8::from(entry.uncompressed.is_some()));
            if let Some((size, hash)) = entry.uncompressed {
                write_var_uint(&mut body, size);
                body.extend_from_slice(&hash);
            }
        }
        let sizes = BlockSizes {
            min_bytes: 65_536,
            max_bytes: 65_536,
        };
        let mut writer = CompressedWriter::new(HEADER_V4.as_bytes().to_vec(), Method::Lz4, sizes);
        writer.write(&body)?;
        Ok(writer.finish()?)
    }

    /// Parses format version 4 (and the uncompressed binary version 3).
    pub fn parse(part: &str, bytes: &[u8]) -> Result<Checksums> {
        let corrupted = |reason: String| Error::corrupted(part, format!("checksums.txt: {reason}"));
        let header_end = bytes
            .iter()
            .position(|b| *b == b'\n')
            .ok_or_else(|| corrupted("no header line".into()))?;
        let header = std::str::from_utf8(&bytes[..header_end])
            .map_err(|_| corrupted("header is not text".into()))?;
        let rest = &bytes[header_end + 1..];
        let body = match header {
            "checksums format version: 4" => {
                let mut body = Vec::new();
                io::Read::read_to_end(&mut CompressedReader::new(rest, 1 << 30), &mut body)
                    .map_err(|e| corrupted(format!("cannot decompress: {e}")))?;
                body
            }
            "checksums format version: 3" => rest.to_vec(),
            other => {
                return Err(Error::corrupted(
                    part,
                    format!("checksums.txt has unsupported header '{other}'"),
                ));
            }
        };
        let mut cursor = Cursor::new(&body);
        let count = cursor.read_var_uint("checksum count")?;
        let mut files = BTreeMap::new();
        for _ in 0..count {
            let name = cursor.read_str("file name")?.to_string();
            let file_size = cursor.read_var_uint("file size")?;
            let file_hash = cursor.read_array::<16>("file hash")?;
            let uncompressed = match cursor.read_u8("is_compressed")? {
                0 => None,
                _ => Some((
                    cursor.read_var_uint("uncompressed size")?,
                    cursor.read_array::<16>("uncompressed hash")?,
                )),
            };
            files.insert(
                name,
                FileChecksum {
                    file_size,
                    file_hash,
                    uncompressed,
                },
            );
        }
        if !cursor.is_empty() {
            return Err(corrupted(format!(
                "{} bytes after the last entry",
                cursor.remaining()
            )));
        }
        Ok(Checksums { files })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chained_hash_seeds_each_chunk_with_the_previous_hash() {
        let data: Vec<u8> = (0..5000u32).map(|i| (i * 31 + 7) as u8).collect();
        let first = cityhash128_with_seed(&data[..2048], U128::new(0, 0));
        let second = cityhash128_with_seed(&data[2048..4096], first);
        let last = cityhash128_with_seed(&data[4096..], second);
        let mut expected = [0u8; 16];
        expected[..8].copy_from_slice(&last.lo.to_le_bytes());
        expected[8..].copy_from_slice(&last.hi.to_le_bytes());
        assert_eq!(file_hash(&data), expected);
        // Written in pieces of any size, the hash is the same.
        let mut hasher = HashingWriter::new(Vec::new());
        for piece in data.chunks(777) {
            hasher.write_all(piece).unwrap();
        }
        assert_eq!(hasher.hash(), expected);
        assert_eq!(hasher.into_inner(), data);
        assert_eq!(file_hash(b""), [0u8; 16]);
    }

    #[test]
    fn checksums_round_trip_in_version_4() {
        let mut checksums = Checksums::default();
        checksums.files.insert(
            "k.bin".into(),
            FileChecksum {
                file_size: 100,
                file_hash: [1; 16],
                uncompressed: Some((300, [2; 16])),
            },
        );
        checksums.files.insert(
            "count.txt".into(),
            FileChecksum {
                file_size: 3,
                file_hash: [3; 16],
                uncompressed: None,
            },
        );
        let bytes = checksums.to_bytes().unwrap();
        assert!(bytes.starts_with(b"checksums format version: 4\n"));
        assert_eq!(bytes[HEADER_V4.len() + 16], 0x82, "body in LZ4 frames");
        assert_eq!(Checksums::parse("p", &bytes).unwrap(), checksums);
        assert!(Checksums::parse("p", b"checksums format version: 9\n").is_err());
    }
}
