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
    /// A file operation failed. The message names the path from the data directory down (the
    /// server's own layout is not the client's business); the whole path is in the value.
    #[error("cannot {action} {}", shown_path(.path))]
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
    /// A query the engine refuses or cannot run: a syntax error, an unknown table, a value that
    /// does not fit its column. The code is what ClickHouse answers in the same situation.
    #[error("{message}")]
    Query {
        /// ClickHouse's code for this failure.
        code: ErrorCode,
        /// What went wrong, for the user.
        message: String,
    },
    /// An error from planning or executing a query in DataFusion.
    #[error(transparent)]
    DataFusion(datafusion::error::DataFusionError),
    /// A bug: an invariant did not hold.
    #[error("logical error: {0}")]
    Logical(String),
}

/// Whether an I/O error says the disk (or the quota) is full.
fn no_space(error: &io::Error) -> bool {
    const ENOSPC: i32 = 28;
    const EDQUOT: i32 = 122;
    error.kind() == io::ErrorKind::StorageFull
        || matches!(error.raw_os_error(), Some(ENOSPC | EDQUOT))
}

/// `path` from the data directory's own `data/`, `metadata/` or `orphaned/` down; the file name
/// alone for anything else.
fn shown_path(path: &std::path::Path) -> String {
    let components: Vec<_> = path.components().collect();
    let start = components.iter().rposition(|component| {
        matches!(
            component.as_os_str().to_str(),
            Some("data" | "metadata" | "orphaned")
        )
    });
    match start {
        Some(start) => components[start..]
            .iter()
            .map(|component| component.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/"),
        None => path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default(),
    }
}

impl Error {
    /// The ClickHouse error code that classifies this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::Protocol(inner) => inner.code(),
            Error::Io { source, .. } if no_space(source) => ErrorCode::NOT_ENOUGH_SPACE,
            Error::Io {
                action: "fsync", ..
            } => ErrorCode::CANNOT_FSYNC,
            Error::Io { action: "open", .. } => ErrorCode::CANNOT_OPEN_FILE,
            Error::Io {
                action: "write" | "create" | "rename" | "remove" | "publish",
                ..
            } => ErrorCode::CANNOT_WRITE_TO_FILE_DESCRIPTOR,
            Error::Io { .. } => ErrorCode::CANNOT_READ_FROM_FILE_DESCRIPTOR,
            Error::BadPartName(_) => ErrorCode::BAD_DATA_PART_NAME,
            Error::NoFileInPart { .. } => ErrorCode::NO_FILE_IN_DATA_PART,
            Error::BadFileSize { .. } => ErrorCode::BAD_SIZE_OF_FILE_IN_DATA_PART,
            Error::ChecksumMismatch { .. } => ErrorCode::CHECKSUM_DOESNT_MATCH,
            Error::CorruptedPart { .. } => ErrorCode::CORRUPTED_DATA,
            Error::NoSuchColumn { .. } => ErrorCode::NO_SUCH_COLUMN_IN_TABLE,
            Error::Query { code, .. } => *code,
            Error::DataFusion(error) => datafusion_code(error),
            Error::Logical(_) => ErrorCode::LOGICAL_ERROR,
        }
    }

    /// A query error with ClickHouse's `code`.
    pub fn query(code: ErrorCode, message: impl Into<String>) -> Error {
        Error::Query {
            code,
            message: message.into(),
        }
    }

    /// A feature Granary does not have yet (`NOT_IMPLEMENTED`).
    pub fn not_implemented(what: impl std::fmt::Display) -> Error {
        Error::query(
            ErrorCode::NOT_IMPLEMENTED,
            format!("{what} is not implemented yet"),
        )
    }

    /// A syntax error (`SYNTAX_ERROR`).
    pub fn syntax(message: impl Into<String>) -> Error {
        Error::query(ErrorCode::SYNTAX_ERROR, message)
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

/// The ClickHouse code of a DataFusion error; an engine error wrapped by DataFusion keeps its own.
fn datafusion_code(error: &datafusion::error::DataFusionError) -> ErrorCode {
    use datafusion::error::DataFusionError as E;
    match error {
        E::External(inner) => match inner.downcast_ref::<Error>() {
            Some(engine) => engine.code(),
            // A pattern the regex functions cannot compile (ClickHouse: BAD_ARGUMENTS, "not a
            // valid re2 pattern").
            None if inner.to_string().starts_with("regex parse error") => ErrorCode::BAD_ARGUMENTS,
            None => ErrorCode::LOGICAL_ERROR,
        },
        E::Context(_, inner) | E::Diagnostic(_, inner) => datafusion_code(inner),
        E::Shared(inner) => datafusion_code(inner),
        // Several errors at once (planning reports every unknown function of a SELECT): the first.
        E::Collection(errors) => errors
            .first()
            .map_or(ErrorCode::LOGICAL_ERROR, datafusion_code),
        E::ArrowError(inner, _) => arrow_code(inner),
        E::SQL(..) => ErrorCode::SYNTAX_ERROR,
        E::NotImplemented(_) => ErrorCode::NOT_IMPLEMENTED,
        E::SchemaError(inner, _)
            if matches!(
                inner.as_ref(),
                datafusion::common::SchemaError::FieldNotFound { .. }
            ) =>
        {
            ErrorCode::UNKNOWN_IDENTIFIER
        }
        E::Plan(message) if message.contains("No field named") => ErrorCode::UNKNOWN_IDENTIFIER,
        E::Plan(message) if message.contains("Aggregate function calls cannot be nested") => {
            ErrorCode::ILLEGAL_AGGREGATION
        }
        E::Plan(message)
            if message.contains("Cannot coerce")
                || message.contains("No function matches the given name and argument types")
                || message.contains("does not support type") =>
        {
            ErrorCode::ILLEGAL_TYPE_OF_ARGUMENT
        }
        E::Plan(message) if message.contains("function") => ErrorCode::UNKNOWN_FUNCTION,
        E::Plan(_) | E::SchemaError(..) => ErrorCode::BAD_ARGUMENTS,
        E::ResourcesExhausted(_) => ErrorCode::MEMORY_LIMIT_EXCEEDED,
        E::Execution(_) | E::ExecutionJoin(_) => ErrorCode::BAD_ARGUMENTS,
        E::IoError(_) | E::ObjectStore(_) => ErrorCode::CANNOT_READ_FROM_FILE_DESCRIPTOR,
        _ => ErrorCode::LOGICAL_ERROR,
    }
}

/// The ClickHouse code of an Arrow compute error (casts of inserted values, mostly).
fn arrow_code(error: &arrow_schema::ArrowError) -> ErrorCode {
    use arrow_schema::ArrowError as A;
    match error {
        A::CastError(message) if message.contains("overflow") || message.contains("too large") => {
            ErrorCode::VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE
        }
        A::CastError(_) | A::ParseError(_) => ErrorCode::CANNOT_PARSE_TEXT,
        A::ComputeError(message)
            if message.contains("Overflow") || message.contains("overflow") =>
        {
            ErrorCode::VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE
        }
        A::ArithmeticOverflow(_) => ErrorCode::VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE,
        A::DivideByZero => ErrorCode::ILLEGAL_DIVISION,
        _ => ErrorCode::BAD_ARGUMENTS,
    }
}

impl From<datafusion::error::DataFusionError> for Error {
    /// An engine error that travelled through DataFusion (raised by a function) comes back as
    /// itself, so its message is not prefixed with DataFusion's `External error: `.
    fn from(error: datafusion::error::DataFusionError) -> Self {
        match error {
            datafusion::error::DataFusionError::External(inner) => {
                match inner.downcast::<Error>() {
                    Ok(engine) => *engine,
                    Err(other) => {
                        Error::DataFusion(datafusion::error::DataFusionError::External(other))
                    }
                }
            }
            // A rule's name in front of an error says nothing to the user.
            datafusion::error::DataFusionError::Context(_, inner) => Error::from(*inner),
            // DataFusion refuses to sort or aggregate an unbounded input (system.numbers), with
            // the whole plan in the message.
            datafusion::error::DataFusionError::Plan(message)
                if message.contains("Cannot execute pipeline breaking queries") =>
            {
                Error::query(
                    ErrorCode::TOO_MANY_ROWS,
                    "the query sorts or aggregates every row of an infinite table \
                     (system.numbers): limit it first, as in \
                     (SELECT number FROM system.numbers LIMIT n), or use numbers(n)",
                )
            }
            other => Error::DataFusion(other),
        }
    }
}

impl From<Error> for datafusion::error::DataFusionError {
    fn from(error: Error) -> Self {
        datafusion::error::DataFusionError::External(Box::new(error))
    }
}

impl From<arrow_schema::ArrowError> for Error {
    fn from(error: arrow_schema::ArrowError) -> Self {
        Error::Protocol(granary_protocol::Error::Arrow(error))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_are_coded_by_cause_and_name_no_server_path() {
        let full = io::Error::from_raw_os_error(28);
        let error = Error::io(
            "write",
            std::path::Path::new("/srv/secret/granary/data/default/t/tmp_insert_1/k.bin"),
            full,
        );
        assert_eq!(error.code(), ErrorCode::NOT_ENOUGH_SPACE);
        let text = error.to_string();
        assert!(
            text.starts_with("cannot write data/default/t/tmp_insert_1/k.bin"),
            "{text}"
        );
        assert!(!text.contains("/srv/secret"), "{text}");
        let denied = Error::io(
            "rename",
            std::path::Path::new("/srv/x/metadata/default/t.sql"),
            io::Error::from(io::ErrorKind::PermissionDenied),
        );
        assert_eq!(denied.code(), ErrorCode::CANNOT_WRITE_TO_FILE_DESCRIPTOR);
        assert!(
            denied
                .to_string()
                .starts_with("cannot rename metadata/default/t.sql")
        );
        let read = Error::io(
            "read",
            std::path::Path::new("/elsewhere/file"),
            io::Error::from(io::ErrorKind::UnexpectedEof),
        );
        assert_eq!(read.code(), ErrorCode::CANNOT_READ_FROM_FILE_DESCRIPTOR);
        assert!(read.to_string().starts_with("cannot read file"), "{read}");
    }
}
