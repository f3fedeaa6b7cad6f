//! Integration tests of granary-protocol: byte-exact vectors from real ClickHouse, round trips of
//! every type, property tests, and corrupt input.

mod captures;
mod cityhash;
mod column_types;
mod corruption;
mod fuzz;
mod packets;
mod round_trip;
mod values;

use std::path::PathBuf;

/// `shared/vectors/native`, which sits beside the repository. Missing files fail the test loudly.
pub fn vectors_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/vectors/native");
    assert!(
        dir.is_dir(),
        "test vectors not found at {}: the shared/ directory must sit beside the repository",
        dir.display()
    );
    dir
}

/// Reads and parses one JSON file of the vectors.
pub fn read_json(name: &str) -> serde_json::Value {
    let path = vectors_dir().join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("cannot parse {}: {e}", path.display()))
}
