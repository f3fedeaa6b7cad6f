//! The SDK's exceptions and how a client error becomes one: every exception carries the
//! ClickHouse `code` and its `name`, and whether trying again could help (`retryable`).
//!
//! ```text
//! Error                      (client-side failures: bad data, protocol trouble)
//! ├── ServerError            (the server refused: an Exception packet)
//! └── RetryableError         (the outcome is unknown; the same call may be repeated)
//!     └── ConnectionError    (the connection could not be opened or broke)
//! ```

use granary_protocol::{Error as ClientError, ErrorCode};
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

create_exception!(
    granary,
    Error,
    PyException,
    "A Granary client error; `code` and `name` are ClickHouse's."
);
create_exception!(
    granary,
    ServerError,
    Error,
    "The server refused the request with an error code."
);
create_exception!(
    granary,
    RetryableError,
    Error,
    "The request's outcome is unknown; repeating it (inserts: with the same token) is safe."
);
create_exception!(
    granary,
    ConnectionError,
    RetryableError,
    "The connection to the server could not be opened or broke."
);

pub(crate) fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = module.py();
    module.add("Error", py.get_type::<Error>())?;
    module.add("ServerError", py.get_type::<ServerError>())?;
    module.add("RetryableError", py.get_type::<RetryableError>())?;
    module.add("ConnectionError", py.get_type::<ConnectionError>())?;
    Ok(())
}

/// The Python exception for a client error.
pub(crate) fn to_py(error: ClientError) -> PyErr {
    let (code, message) = match &error {
        ClientError::Server(exception) => (ErrorCode(exception.code), exception.text().to_string()),
        other => (other.code(), chain(other)),
    };
    let exception = match &error {
        ClientError::Server(_) => ServerError::new_err(message),
        ClientError::Connect { .. } | ClientError::Io { .. } => ConnectionError::new_err(message),
        _ if error.is_retryable() => RetryableError::new_err(message),
        _ => Error::new_err(message),
    };
    Python::attach(|py| {
        let value = exception.value(py);
        let name = code.name().map(str::to_string).unwrap_or_default();
        // Setting attributes on a fresh exception instance cannot fail.
        let _ = value.setattr("code", code.0);
        let _ = value.setattr("name", name);
        let _ = value.setattr("retryable", error.is_retryable());
    });
    exception
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
