//! Bounded reading and writing of ClickHouse's primitive encodings: VarUInt, length-prefixed strings
//! and little-endian fixed-width values.
//!
//! Every length comes from the peer or the disk, so every read checks it against what is left before
//! it allocates; nothing here can be made to allocate more than the input holds.

use crate::ErrorCode;
use crate::error::{Error, Result};

/// The most bytes a VarUInt (LEB128 of a u64) may take.
pub const VAR_UINT_BYTES_MAX: usize = 10;

/// Appends `value` as a VarUInt (unsigned LEB128).
#[inline]
pub fn write_var_uint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Appends a VarUInt length and the bytes.
#[inline]
pub fn write_string(out: &mut Vec<u8>, bytes: &[u8]) {
    write_var_uint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// A read position over a byte slice. Every read is bounds-checked and fails with
/// `ATTEMPT_TO_READ_AFTER_EOF` (never a panic) when the input is short.
#[derive(Debug, Clone)]
pub struct Cursor<'a> {
    bytes: &'a [u8],
    position: usize,
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Cursor { bytes, position: 0 }
    }

    /// Bytes consumed so far.
    pub fn position(&self) -> usize {
        self.position
    }

    /// Bytes left to read.
    pub fn remaining(&self) -> usize {
        self.bytes.len() - self.position
    }

    /// True when everything was read.
    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// The unread bytes, without consuming them.
    pub fn rest(&self) -> &'a [u8] {
        &self.bytes[self.position..]
    }

    /// Takes the next `len` bytes.
    #[inline]
    pub fn take(&mut self, len: usize, what: &'static str) -> Result<&'a [u8]> {
        let remaining = self.remaining();
        if len > remaining {
            return Err(Error::UnexpectedEof {
                what,
                needed: len,
                remaining,
            });
        }
        let start = self.position;
        self.position += len;
        Ok(&self.bytes[start..start + len])
    }

    /// Takes `count` items of `width` bytes each, checking the product for overflow first.
    #[inline]
    pub fn take_items(
        &mut self,
        count: usize,
        width: usize,
        what: &'static str,
    ) -> Result<&'a [u8]> {
        let len = count.checked_mul(width).ok_or(Error::TooLarge {
            what,
            size: count as u64,
            max: (usize::MAX / width.max(1)) as u64,
            code: ErrorCode::TOO_LARGE_ARRAY_SIZE,
        })?;
        self.take(len, what)
    }

    /// Checks, without reading, that `count` items of at least `min_width` bytes each can still be
    /// in the input: the check to make before anything is sized by a count read from the input.
    /// Fails as a short read (`ATTEMPT_TO_READ_AFTER_EOF`, "wait for more" to a packet reader) with
    /// the bytes the items need, saturated at `usize::MAX`.
    #[inline]
    pub fn expect_items(&self, count: u64, min_width: usize, what: &'static str) -> Result<()> {
        let needed = count.saturating_mul(min_width as u64);
        let remaining = self.remaining();
        if needed > remaining as u64 {
            return Err(Error::UnexpectedEof {
                what,
                needed: usize::try_from(needed).unwrap_or(usize::MAX),
                remaining,
            });
        }
        Ok(())
    }

    /// Reads one byte.
    #[inline]
    pub fn read_u8(&mut self, what: &'static str) -> Result<u8> {
        Ok(self.take(1, what)?[0])
    }

    /// Reads an N-byte array.
    #[inline]
    pub fn read_array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N]> {
        let bytes = self.take(N, what)?;
        let mut array = [0u8; N];
        array.copy_from_slice(bytes);
        Ok(array)
    }

    /// Reads a little-endian u32.
    pub fn read_u32(&mut self, what: &'static str) -> Result<u32> {
        Ok(u32::from_le_bytes(self.read_array(what)?))
    }

    /// Reads a little-endian i32.
    pub fn read_i32(&mut self, what: &'static str) -> Result<i32> {
        Ok(i32::from_le_bytes(self.read_array(what)?))
    }

    /// Reads a little-endian u64.
    pub fn read_u64(&mut self, what: &'static str) -> Result<u64> {
        Ok(u64::from_le_bytes(self.read_array(what)?))
    }

    /// Reads a VarUInt; an 11th byte or a value past u64 is malformed input.
    #[inline]
    pub fn read_var_uint(&mut self, what: &'static str) -> Result<u64> {
        let mut value = 0u64;
        for index in 0..VAR_UINT_BYTES_MAX {
            let byte = self.read_u8(what)?;
            let bits = u64::from(byte & 0x7f);
            if index == VAR_UINT_BYTES_MAX - 1 && byte > 1 {
                return Err(Error::incorrect(format!(
                    "{what}: VarUInt does not fit in 64 bits"
                )));
            }
            value |= bits << (7 * index);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(Error::incorrect(format!(
            "{what}: VarUInt longer than {VAR_UINT_BYTES_MAX} bytes"
        )))
    }

    /// Reads a VarUInt that counts items or bytes, bounded by `max`.
    pub fn read_size(&mut self, what: &'static str, max: usize, code: ErrorCode) -> Result<usize> {
        let size = self.read_var_uint(what)?;
        if size > max as u64 {
            return Err(Error::TooLarge {
                what,
                size,
                max: max as u64,
                code,
            });
        }
        Ok(size as usize)
    }

    /// Reads a VarUInt-prefixed byte string, bounded by what is left in the input.
    pub fn read_bytes(&mut self, what: &'static str) -> Result<&'a [u8]> {
        let len = self.read_var_uint(what)?;
        let remaining = self.remaining();
        if len > remaining as u64 {
            return Err(Error::UnexpectedEof {
                what,
                needed: len.min(usize::MAX as u64) as usize,
                remaining,
            });
        }
        self.take(len as usize, what)
    }

    /// Reads a VarUInt-prefixed string that must be UTF-8 (names, type names).
    pub fn read_str(&mut self, what: &'static str) -> Result<&'a str> {
        let bytes = self.read_bytes(what)?;
        std::str::from_utf8(bytes)
            .map_err(|_| Error::incorrect(format!("{what} is not valid UTF-8")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn var_uint_matches_documented_bytes() {
        for (value, bytes) in [
            (0u64, vec![0x00]),
            (127, vec![0x7f]),
            (128, vec![0x80, 0x01]),
            (300, vec![0xac, 0x02]),
            (54412, vec![0x8c, 0xa9, 0x03]),
            (54468, vec![0xc4, 0xa9, 0x03]),
        ] {
            let mut out = Vec::new();
            write_var_uint(&mut out, value);
            assert_eq!(out, bytes, "encoding {value}");
            assert_eq!(Cursor::new(&bytes).read_var_uint("v").unwrap(), value);
        }
        let mut out = Vec::new();
        write_var_uint(&mut out, u64::MAX);
        assert_eq!(out.len(), VAR_UINT_BYTES_MAX);
        assert_eq!(Cursor::new(&out).read_var_uint("v").unwrap(), u64::MAX);
    }

    #[test]
    fn overlong_or_truncated_var_uint_is_an_error() {
        let eleven = [0xffu8; 11];
        let err = Cursor::new(&eleven).read_var_uint("v").unwrap_err();
        assert_eq!(err.code(), ErrorCode::INCORRECT_DATA);
        let truncated = [0x80u8, 0x80];
        let err = Cursor::new(&truncated).read_var_uint("v").unwrap_err();
        assert_eq!(err.code(), ErrorCode::ATTEMPT_TO_READ_AFTER_EOF);
    }

    #[test]
    fn string_length_past_the_input_is_an_error_not_an_allocation() {
        let mut bytes = Vec::new();
        write_var_uint(&mut bytes, u64::MAX >> 1);
        bytes.extend_from_slice(b"abc");
        let err = Cursor::new(&bytes).read_bytes("s").unwrap_err();
        assert_eq!(err.code(), ErrorCode::ATTEMPT_TO_READ_AFTER_EOF);
    }
}
