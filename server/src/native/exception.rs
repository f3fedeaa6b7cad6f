//! Errors as Exception packets: the ClickHouse code, `DB::Exception: <text> (CODE_NAME)` as modern
//! ClickHouse words it, and the chain of causes where ClickHouse puts its stack trace.

use granary_protocol::ErrorCode;
use granary_protocol::packet::server::Exception;

/// The Exception for an engine error.
pub fn from_engine(error: &granary_engine::Error) -> Exception {
    with_causes(error.code(), error)
}

/// The Exception for a protocol error (a malformed packet, a block that cannot be read).
pub fn from_protocol(error: &granary_protocol::Error) -> Exception {
    with_causes(error.code(), error)
}

/// An Exception with `text`, worded as ClickHouse words its own.
pub fn new(code: ErrorCode, text: &str) -> Exception {
    match code.name() {
        Some(name) => Exception::new(code, &format!("{text}. ({name})")),
        None => Exception::new(code, text),
    }
}

fn with_causes(code: ErrorCode, error: &dyn std::error::Error) -> Exception {
    let mut exception = new(code, &error.to_string());
    let mut causes = Vec::new();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        // Wrapping errors often repeat their cause's text: keep only what adds something.
        if !exception.message.contains(&text) {
            causes.push(format!("caused by: {text}"));
        }
        source = cause.source();
    }
    exception.stack_trace = causes.join("\n");
    exception
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_carry_the_code_name_as_clickhouse_writes_them() {
        let error =
            granary_engine::Error::query(ErrorCode::UNKNOWN_TABLE, "table t does not exist");
        let exception = from_engine(&error);
        assert_eq!(exception.code, 60);
        assert_eq!(
            exception.message,
            "DB::Exception: table t does not exist. (UNKNOWN_TABLE)"
        );
        assert_eq!(exception.name, "DB::Exception");
    }
}
