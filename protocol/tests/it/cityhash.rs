//! CityHash128 v1.0.2 checksums: synthetic inputs and checksums lifted from real frames.

use granary_protocol::compress::checksum;

#[test]
fn checksums_match_cityhash_102_vectors_and_real_frames() {
    let vectors = crate::read_json("cityhash102_vectors.json");
    let mut checked = 0;
    for list in ["vectors", "real_frames"] {
        for vector in vectors[list].as_array().expect("vector list") {
            let input = hex::decode(vector["input_hex"].as_str().unwrap()).unwrap();
            let expected = vector["wire_checksum_hex"].as_str().unwrap();
            assert_eq!(
                hex::encode(checksum(&input)),
                expected,
                "{}",
                vector["name"]
            );
            if let Some(on_wire) = vector.get("checksum_on_wire_hex").and_then(|v| v.as_str()) {
                assert_eq!(
                    hex::encode(checksum(&input)),
                    on_wire,
                    "{} on the wire",
                    vector["name"]
                );
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 42, "26 synthetic vectors and 16 real frames");
}

#[test]
fn cityhash64_matches_the_vectors() {
    let vectors = crate::read_json("cityhash102_vectors.json");
    for vector in vectors["vectors"].as_array().unwrap() {
        let input = hex::decode(vector["input_hex"].as_str().unwrap()).unwrap();
        let expected = u64::from_str_radix(vector["city64_hex"].as_str().unwrap(), 16).unwrap();
        assert_eq!(
            granary_protocol::compress::city_hash64(&input),
            expected,
            "{}",
            vector["name"]
        );
    }
}
