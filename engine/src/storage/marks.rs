//! Adaptive marks (`.mrk2`): per granule, the offset of its frame in the `.bin` file, the offset
//! inside the decompressed frame, and its row count; one more, 0-row final mark ends every stream.

use granary_protocol::compress;

use crate::error::{Error, Result};

/// Bytes of one `.mrk2` record.
pub const MARK_BYTES: usize = 24;

/// One mark of one stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Mark {
    /// Offset of the compressed frame in the `.bin` file.
    pub offset_compressed: u64,
    /// Offset of the granule's first value inside the decompressed frame.
    pub offset_decompressed: u64,
    /// Rows in the granule (0 for the final mark).
    pub rows: u64,
}

impl Mark {
    /// The stream position without the row count.
    pub fn position(&self) -> compress::Mark {
        compress::Mark {
            offset_compressed: self.offset_compressed,
            offset_decompressed: self.offset_decompressed,
        }
    }
}

/// Serializes marks as a `.mrk2` file.
pub fn write_marks(marks: &[Mark]) -> Vec<u8> {
    let mut out = Vec::with_capacity(marks.len() * MARK_BYTES);
    for mark in marks {
        out.extend_from_slice(&mark.offset_compressed.to_le_bytes());
        out.extend_from_slice(&mark.offset_decompressed.to_le_bytes());
        out.extend_from_slice(&mark.rows.to_le_bytes());
    }
    out
}

/// Parses a `.mrk2` file, which must hold a whole number of records.
pub fn read_marks(part: &str, file: &str, bytes: &[u8]) -> Result<Vec<Mark>> {
    if !bytes.len().is_multiple_of(MARK_BYTES) {
        return Err(Error::corrupted(
            part,
            format!(
                "{file} has {} bytes, not a multiple of {MARK_BYTES}",
                bytes.len()
            ),
        ));
    }
    let word = |chunk: &[u8], index: usize| {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(&chunk[index * 8..index * 8 + 8]);
        u64::from_le_bytes(bytes)
    };
    Ok(bytes
        .chunks_exact(MARK_BYTES)
        .map(|chunk| Mark {
            offset_compressed: word(chunk, 0),
            offset_decompressed: word(chunk, 1),
            rows: word(chunk, 2),
        })
        .collect())
}

/// Checked when a part is written and again when it is opened: the marks cover exactly the part's
/// rows, end with a 0-row final mark, and never go backwards.
pub fn check_marks(part: &str, file: &str, rows: u64, marks: &[Mark]) -> Result<()> {
    let rows_marked: u64 = marks.iter().map(|mark| mark.rows).sum();
    if rows_marked != rows {
        return Err(Error::corrupted(
            part,
            format!("{file}: marks cover {rows_marked} of {rows} rows"),
        ));
    }
    if marks.last().is_none_or(|mark| mark.rows != 0) {
        return Err(Error::corrupted(part, format!("{file}: no final mark")));
    }
    if marks.windows(2).any(|w| {
        (w[1].offset_compressed, w[1].offset_decompressed)
            < (w[0].offset_compressed, w[0].offset_decompressed)
    }) {
        return Err(Error::corrupted(
            part,
            format!("{file}: marks go backwards"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_round_trip_and_are_checked() {
        let marks = vec![
            Mark {
                offset_compressed: 0,
                offset_decompressed: 0,
                rows: 8192,
            },
            Mark {
                offset_compressed: 0,
                offset_decompressed: 32768,
                rows: 10,
            },
            Mark {
                offset_compressed: 41931,
                offset_decompressed: 40,
                rows: 0,
            },
        ];
        let bytes = write_marks(&marks);
        assert_eq!(bytes.len(), 72);
        assert_eq!(read_marks("p", "k.mrk2", &bytes).unwrap(), marks);
        check_marks("p", "k.mrk2", 8202, &marks).unwrap();
        assert!(check_marks("p", "k.mrk2", 8203, &marks).is_err());
        assert!(check_marks("p", "k.mrk2", 8192, &marks[..1]).is_err());
        assert!(read_marks("p", "k.mrk2", &bytes[..70]).is_err());
    }
}
