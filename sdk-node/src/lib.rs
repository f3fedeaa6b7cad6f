//! The native half of Granary's Node.js SDK (napi-rs): a `Client` class over
//! [`granary_protocol::client`] — the codec, the blocks, the dedup tokens and the retries are the
//! Rust client's. Columns cross as TypedArrays or plain arrays (`columns.rs`); the JavaScript half
//! (`index.js`) sorts a caller's columns into those forms, shapes results into rows or objects,
//! and turns errors into `GranaryError`s.

// The classes and objects here are JavaScript values (napi-rs); TypedArray handles have no Debug.
#![allow(missing_debug_implementations)]

mod client;
mod columns;
mod errors;
