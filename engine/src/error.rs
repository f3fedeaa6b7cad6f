//! The engine's one error type; every variant is classified by a ClickHouse [`ErrorCode`].

use std::io;
use std::path::PathBuf;

use granary_protocol::ErrorCode;

/// Result alias for the engine.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything the engine can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A codec, type or compression error from the protocol crate.
    #[error(transparent)]
    Protocol(#[from] granary_protocol::Error),
    /// A file operation failed.
    #[error("cannot {action} {}", .path.display())]
    Io {
        /// What was being done (`open`, `fsync`, `rename`, ...).
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A part's directory name is not `<partition>_<min>_<max>_<level>[_<mutation>]`.
    #[error("bad data part name '{0}'")]
    BadPartName(String),
    /// A file listed in `checksums.txt` is missing.
    #[error("part {part}: file {file} listed in checksums.txt is missing")]
    NoFileInPart {
        /// The part directory.
        part: String,
        /// The missing file.
        file: String,
    },
    /// A file has another size than `checksums.txt` says.
    #[error("part {part}: file {file} has {actual} bytes, checksums.txt says {expected}")]
    BadFileSize {
        /// The part directory.
        part: String,
        /// The file.
        file: String,
        /// Size in checksums.txt.
        expected: u64,
        /// Size on disk.
        actual: u64,
    },
    /// A file's contents do not hash to what `checksums.txt` says.
    #[error("part {part}: checksum of {file} does not match checksums.txt")]
    ChecksumMismatch {
        /// The part directory.
        part: String,
        /// The file.
        file: String,
    },
    /// A part's metadata contradicts itself (marks that do not cover the rows, a malformed file).
    #[error("part {part} is corrupted: {reason}")]
    CorruptedPart {
        /// The part directory.
        part: String,
        /// What is wrong.
        reason: String,
    },
    /// A column that the part or table does not have.
    #[error("no column {column} in {context}")]
    NoSuchColumn {
        /// The column.
        column: String,
        /// Where it was looked for.
        context: String,
    },
    /// A bug: an invariant did not hold.
    #[error("logical error: {0}")]
    Logical(String),
}

impl Error {
    /// The ClickHouse error code that classifies this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::Protocol(inner) => inner.code(),
            Error::Io {
                action: "fsync", ..
            } => ErrorCode::CANNOT_FSYNC,
            Error::Io { action: "open", .. } => ErrorCode::CANNOT_OPEN_FILE,
            Error::Io { .. } => ErrorCode::CANNOT_READ_FROM_FILE_DESCRIPTOR,
            Error::BadPartName(_) => ErrorCode::BAD_DATA_PART_NAME,
            Error::NoFileInPart { .. } => ErrorCode::NO_FILE_IN_DATA_PART,
            Error::BadFileSize { .. } => ErrorCode::BAD_SIZE_OF_FILE_IN_DATA_PART,
            Error::ChecksumMismatch { .. } => ErrorCode::CHECKSUM_DOESNT_MATCH,
            Error::CorruptedPart { .. } => ErrorCode::CORRUPTED_DATA,
            Error::NoSuchColumn { .. } => ErrorCode::NO_SUCH_COLUMN_IN_TABLE,
            Error::Logical(_) => ErrorCode::LOGICAL_ERROR,
        }
    }

    /// An I/O error on `path`.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Error {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn corrupted(part: impl std::fmt::Display, reason: impl Into<String>) -> Error {
        Error::CorruptedPart {
            part: part.to_string(),
            reason: reason.into(),
        }
    }
}

impl From<arrow_schema::ArrowError> for Error {
    fn from(error: arrow_schema::ArrowError) -> Self {
        Error::Protocol(granary_protocol::Error::Arrow(error))
    }
}
