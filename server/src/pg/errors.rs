//! Engine errors as PostgreSQL errors: one table from ClickHouse error codes to SQLSTATEs, the
//! ClickHouse code kept in the detail.

use granary_protocol::ErrorCode;
use pgwire::error::{ErrorInfo, PgWireError};

/// The SQLSTATE of a ClickHouse error code.
pub fn sqlstate(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::SYNTAX_ERROR => "42601",
        ErrorCode::UNKNOWN_TABLE => "42P01",
        ErrorCode::UNKNOWN_IDENTIFIER | ErrorCode::NO_SUCH_COLUMN_IN_TABLE => "42703",
        ErrorCode::UNKNOWN_FUNCTION | ErrorCode::NUMBER_OF_ARGUMENTS_DOESNT_MATCH => "42883",
        ErrorCode::ILLEGAL_TYPE_OF_ARGUMENT | ErrorCode::TYPE_MISMATCH => "42804",
        ErrorCode::UNKNOWN_TYPE | ErrorCode::UNKNOWN_SETTING => "42704",
        ErrorCode::INCORRECT_RESULT_OF_SCALAR_SUBQUERY => "21000",
        ErrorCode::TABLE_ALREADY_EXISTS => "42P07",
        ErrorCode::DATABASE_ALREADY_EXISTS => "42P04",
        // In a query a database is a schema; at startup it is a database (3D000, in `mod.rs`).
        ErrorCode::UNKNOWN_DATABASE => "3F000",
        ErrorCode::NOT_IMPLEMENTED => "0A000",
        ErrorCode::CANNOT_PARSE_TEXT
        | ErrorCode::CANNOT_PARSE_NUMBER
        | ErrorCode::CANNOT_PARSE_DATE
        | ErrorCode::CANNOT_PARSE_DATETIME
        | ErrorCode::CANNOT_PARSE_UUID
        | ErrorCode::CANNOT_PARSE_BOOL => "22P02",
        ErrorCode::ILLEGAL_DIVISION => "22012",
        ErrorCode::VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE
        | ErrorCode::ARGUMENT_OUT_OF_BOUND
        | ErrorCode::PARAMETER_OUT_OF_BOUND => "22003",
        ErrorCode::BAD_ARGUMENTS => "22023",
        ErrorCode::READONLY => "25006",
        ErrorCode::QUERY_WAS_CANCELLED
        | ErrorCode::QUERY_WAS_CANCELLED_BY_CLIENT
        | ErrorCode::TIMEOUT_EXCEEDED => "57014",
        ErrorCode::MEMORY_LIMIT_EXCEEDED => "53200",
        // Query-complexity limits: max_rows_to_read, max_result_rows, force_primary_key.
        ErrorCode::TOO_MANY_ROWS
        | ErrorCode::TOO_MANY_ROWS_OR_BYTES
        | ErrorCode::INDEX_NOT_USED => "54000",
        _ => "XX000",
    }
}

/// The PostgreSQL error for an engine error.
pub fn error_info(error: &granary_engine::Error) -> ErrorInfo {
    let code = error.code();
    let mut info = ErrorInfo::new(
        "ERROR".to_string(),
        sqlstate(code).to_string(),
        error.to_string(),
    );
    info.detail = Some(format!("ClickHouse error code {}", code));
    info
}

/// The PostgreSQL error for an engine error, as the protocol layer returns it.
pub fn engine_error(error: &granary_engine::Error) -> PgWireError {
    PgWireError::UserError(Box::new(error_info(error)))
}

/// An `ERROR` with a SQLSTATE and message of the front end's own.
pub fn error(sqlstate: &str, message: impl Into<String>) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "ERROR".to_string(),
        sqlstate.to_string(),
        message.into(),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_users_meet_have_their_sqlstates() {
        let cases = [
            (ErrorCode::SYNTAX_ERROR, "42601"),
            (ErrorCode::UNKNOWN_TABLE, "42P01"),
            (ErrorCode::UNKNOWN_IDENTIFIER, "42703"),
            (ErrorCode::UNKNOWN_FUNCTION, "42883"),
            (ErrorCode::NOT_IMPLEMENTED, "0A000"),
            (ErrorCode::CANNOT_PARSE_TEXT, "22P02"),
            (ErrorCode::ILLEGAL_DIVISION, "22012"),
            (ErrorCode::QUERY_WAS_CANCELLED, "57014"),
            (ErrorCode::UNKNOWN_DATABASE, "3F000"),
            (ErrorCode::UNKNOWN_SETTING, "42704"),
            (ErrorCode::INCORRECT_RESULT_OF_SCALAR_SUBQUERY, "21000"),
            (ErrorCode(999_999), "XX000"),
        ];
        for (code, expected) in cases {
            assert_eq!(sqlstate(code), expected, "{code}");
        }
    }
}
