//! The server's error type.

/// What can stop the server from starting or serving.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration cannot be read or is invalid.
    #[error("configuration: {message}")]
    Config { message: String },
    /// A listener cannot bind its address.
    #[error("cannot listen on {addr} ({source}); choose another address with {flag}")]
    Bind {
        addr: std::net::SocketAddr,
        flag: &'static str,
        source: std::io::Error,
    },
    /// The database cannot be opened.
    #[error(transparent)]
    Engine(#[from] granary_engine::Error),
    /// Any other I/O failure.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// The server's result type.
pub type Result<T> = std::result::Result<T, Error>;
