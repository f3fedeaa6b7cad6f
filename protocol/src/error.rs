//! The protocol crate's one error type; every variant is classified by a ClickHouse [`ErrorCode`].

use crate::ErrorCode;

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while parsing type names, encoding or decoding columns and blocks,
/// or (de)compressing frames.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input ended before a value was complete (truncated packet, torn file).
    #[error("cannot read {what}: needs {needed} bytes, only {remaining} left")]
    UnexpectedEof {
        /// What was being read.
        what: &'static str,
        /// Bytes the value needs.
        needed: usize,
        /// Bytes that were left.
        remaining: usize,
    },
    /// A length or count read from the input exceeds a limit or what the input can hold.
    #[error("{what} of {size} exceeds the limit of {max}")]
    TooLarge {
        /// What the size describes.
        what: &'static str,
        /// The size read from the input.
        size: u64,
        /// The largest size accepted.
        max: u64,
        /// ClickHouse's code for this kind of limit.
        code: ErrorCode,
    },
    /// A compressed frame's checksum does not match its contents.
    #[error("checksum of compressed block does not match: stored {stored}, computed {computed}")]
    ChecksumMismatch {
        /// Hex of the 16 stored bytes.
        stored: String,
        /// Hex of the 16 computed bytes.
        computed: String,
    },
    /// A frame uses a method byte we do not know.
    #[error("unknown compression method byte 0x{0:02x}")]
    UnknownCompressionMethod(u8),
    /// A frame's payload could not be decompressed, or decompressed to the wrong size.
    #[error("cannot decompress {method} block: {reason}")]
    CannotDecompress {
        /// Method name.
        method: &'static str,
        /// What went wrong.
        reason: String,
    },
    /// A block could not be compressed.
    #[error("cannot compress block with {method}: {reason}")]
    CannotCompress {
        /// Method name.
        method: &'static str,
        /// What went wrong.
        reason: String,
    },
    /// A type name names no type we know.
    #[error("unknown data type {name} in type name '{text}'")]
    UnknownType {
        /// The offending family name.
        name: String,
        /// The whole type name being parsed.
        text: String,
    },
    /// A type name is malformed.
    #[error("cannot parse type name '{text}' at position {position}: {reason}")]
    TypeSyntax {
        /// The whole type name.
        text: String,
        /// Byte offset of the problem.
        position: usize,
        /// What was expected.
        reason: String,
    },
    /// A type is well formed but not allowed (`Nullable(Array(...))`, `FixedString(0)`, ...).
    #[error("illegal type '{type_name}': {reason}")]
    IllegalType {
        /// The type as written.
        type_name: String,
        /// Why it is refused.
        reason: String,
        /// ClickHouse's code for this refusal (`ILLEGAL_TYPE_OF_ARGUMENT`, `ARGUMENT_OUT_OF_BOUND`, ...).
        code: ErrorCode,
    },
    /// An Arrow array does not have the representation the ClickHouse type needs.
    #[error("type mismatch for {context}: expected {expected}, got {actual}")]
    TypeMismatch {
        /// Which column or value.
        context: String,
        /// What was expected.
        expected: String,
        /// What was found.
        actual: String,
    },
    /// Text that does not read as a value of the type (`CANNOT_PARSE_UUID`, `CANNOT_PARSE_IPV4`,
    /// `TOO_LARGE_STRING_SIZE`, ...).
    #[error("cannot read {text:?} as {type_name}")]
    CannotParseText {
        /// The text.
        text: String,
        /// The ClickHouse type.
        type_name: String,
        /// ClickHouse's code for the failure.
        code: ErrorCode,
    },
    /// NULLs for a column whose type is not Nullable.
    #[error("cannot insert NULL into column {column}: its type {type_name} is not Nullable")]
    NullInNonNullable {
        /// The column.
        column: String,
        /// Its ClickHouse type.
        type_name: String,
    },
    /// A value does not fit the ClickHouse type (e.g. a Date after 2149-06-06).
    #[error("value {value} is out of range of type {type_name}")]
    ValueOutOfRange {
        /// The value as text.
        value: String,
        /// The ClickHouse type.
        type_name: String,
    },
    /// A value names no item of an enum.
    #[error("unknown element {element} for type {type_name}")]
    UnknownEnumElement {
        /// The value or name as given.
        element: String,
        /// The enum type.
        type_name: String,
    },
    /// The input is structurally invalid (decreasing array offsets, an index past the dictionary, ...).
    #[error("incorrect data: {0}")]
    IncorrectData(String),
    /// A BlockInfo field number we cannot skip.
    #[error("unknown BlockInfo field {0}")]
    UnknownBlockInfoField(u64),
    /// A feature that is not built yet, named.
    #[error("not implemented: {0}")]
    NotImplemented(String),
    /// A packet type this side does not know (`UNKNOWN_PACKET_FROM_CLIENT` / `_SERVER`).
    #[error("unknown packet {packet} from {from}")]
    UnknownPacket {
        /// The packet type number.
        packet: u64,
        /// `client` or `server`.
        from: &'static str,
    },
    /// A known packet where the conversation allows another (`UNEXPECTED_PACKET_FROM_CLIENT` /
    /// `_SERVER`).
    #[error("unexpected packet {got} from {from}, expected {expected}")]
    UnexpectedPacket {
        /// The packet's name.
        got: String,
        /// What the conversation expected.
        expected: &'static str,
        /// `client` or `server`.
        from: &'static str,
    },
    /// A setting that cannot be read or honoured.
    #[error("{0}")]
    Setting(String),
    /// A bug: an invariant did not hold.
    #[error("logical error: {0}")]
    Logical(String),
    /// An Arrow kernel failed.
    #[error("arrow error")]
    Arrow(#[from] arrow_schema::ArrowError),
    /// The server answered with an Exception (its code, name, message and causes).
    #[error("server error {}: {}", .0.code, .0.text())]
    Server(Box<crate::packet::server::Exception>),
    /// A connection to the server could not be opened.
    #[error("cannot connect to {address}")]
    Connect {
        /// The address tried.
        address: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Reading or writing a byte stream failed.
    #[error("i/o error while {context}")]
    Io {
        /// What was being done.
        context: &'static str,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// The ClickHouse error code that classifies this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::UnexpectedEof { .. } => ErrorCode::ATTEMPT_TO_READ_AFTER_EOF,
            Error::TooLarge { code, .. } => *code,
            Error::ChecksumMismatch { .. } => ErrorCode::CHECKSUM_DOESNT_MATCH,
            Error::UnknownCompressionMethod(_) => ErrorCode::UNKNOWN_COMPRESSION_METHOD,
            Error::CannotDecompress { .. } => ErrorCode::CANNOT_DECOMPRESS,
            Error::CannotCompress { .. } => ErrorCode::CANNOT_COMPRESS,
            Error::UnknownType { .. } => ErrorCode::UNKNOWN_TYPE,
            Error::TypeSyntax { .. } => ErrorCode::SYNTAX_ERROR,
            Error::IllegalType { code, .. } => *code,
            Error::TypeMismatch { .. } => ErrorCode::TYPE_MISMATCH,
            Error::ValueOutOfRange { .. } => ErrorCode::VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE,
            Error::NullInNonNullable { .. } => ErrorCode::CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN,
            Error::CannotParseText { code, .. } => *code,
            Error::UnknownEnumElement { .. } => ErrorCode::UNKNOWN_ELEMENT_OF_ENUM,
            Error::IncorrectData(_) => ErrorCode::INCORRECT_DATA,
            Error::UnknownBlockInfoField(_) => ErrorCode::UNKNOWN_BLOCK_INFO_FIELD,
            Error::NotImplemented(_) => ErrorCode::NOT_IMPLEMENTED,
            Error::UnknownPacket { from: "server", .. } => ErrorCode::UNKNOWN_PACKET_FROM_SERVER,
            Error::UnknownPacket { .. } => ErrorCode::UNKNOWN_PACKET_FROM_CLIENT,
            Error::UnexpectedPacket { from: "server", .. } => {
                ErrorCode::UNEXPECTED_PACKET_FROM_SERVER
            }
            Error::UnexpectedPacket { .. } => ErrorCode::UNEXPECTED_PACKET_FROM_CLIENT,
            Error::Setting(_) => ErrorCode::UNKNOWN_SETTING,
            Error::Logical(_) => ErrorCode::LOGICAL_ERROR,
            Error::Arrow(_) => ErrorCode::LOGICAL_ERROR,
            Error::Io { source, .. } if source.kind() == std::io::ErrorKind::UnexpectedEof => {
                ErrorCode::ATTEMPT_TO_READ_AFTER_EOF
            }
            Error::Io { .. } => ErrorCode::CANNOT_READ_ALL_DATA,
            Error::Server(exception) => ErrorCode(exception.code),
            Error::Connect { .. } => ErrorCode::NETWORK_ERROR,
        }
    }

    /// True when the operation failed because of the connection (it could not be opened, broke,
    /// or timed out), so its outcome is unknown and a retry on a new connection may succeed. An
    /// Exception from the server is final.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Error::Connect { .. } | Error::Io { .. })
    }

    pub(crate) fn type_mismatch(
        context: impl Into<String>,
        expected: impl std::fmt::Display,
        actual: impl std::fmt::Debug,
    ) -> Error {
        Error::TypeMismatch {
            context: context.into(),
            expected: expected.to_string(),
            actual: format!("{actual:?}"),
        }
    }

    pub(crate) fn incorrect(detail: impl Into<String>) -> Error {
        Error::IncorrectData(detail.into())
    }
}
