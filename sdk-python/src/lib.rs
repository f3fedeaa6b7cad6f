//! `granary._granary`: the native half of Granary's Python SDK. It wraps
//! [`granary_protocol::client`] — the codec, the blocks, the dedup tokens and the retries are the
//! Rust client's — and moves Arrow data across the C data interface without copying. The Python
//! half (`python/granary/`) turns pandas, dicts and NumPy arrays into Arrow and shapes results.
//!
//! Every network or codec call releases the GIL and runs on one process-wide tokio runtime.

mod batches;
mod connection;
mod errors;

use std::sync::OnceLock;

use pyo3::prelude::*;

/// The runtime every client's network work runs on.
fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("granary-io")
            .enable_all()
            .build()
            .unwrap_or_else(|error| panic!("cannot start the tokio runtime: {error}"))
    })
}

#[pymodule]
fn _granary(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<connection::Connection>()?;
    module.add_class::<batches::BatchIterator>()?;
    errors::register(module)?;
    module.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
