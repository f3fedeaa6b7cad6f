//! Client errors as JavaScript errors. The message starts with a tag that `index.js` reads back
//! into properties: `[granary <code> <NAME> <kind>] message`, where kind is `server`,
//! `connection`, `retryable` or `client`.

use granary_protocol::{Error as ClientError, ErrorCode};

/// A client error as a napi error carrying its code, name and kind in the tagged message.
pub(crate) fn to_js(error: ClientError) -> napi::Error {
    let (code, message) = match &error {
        ClientError::Server(exception) => (ErrorCode(exception.code), exception.text().to_string()),
        other => (other.code(), chain(other)),
    };
    let kind = match &error {
        ClientError::Server(_) => "server",
        ClientError::Connect { .. } | ClientError::Io { .. } => "connection",
        _ if error.is_retryable() => "retryable",
        _ => "client",
    };
    tagged(code, kind, &message)
}

/// An error of the SDK's own (bad arguments), with a ClickHouse code.
pub(crate) fn client_error(code: ErrorCode, message: impl AsRef<str>) -> napi::Error {
    tagged(code, "client", message.as_ref())
}

fn tagged(code: ErrorCode, kind: &str, message: &str) -> napi::Error {
    let name = code.name().unwrap_or("UNKNOWN");
    napi::Error::from_reason(format!("[granary {} {name} {kind}] {message}", code.0))
}

/// The error's message followed by its causes.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
