//! Encode/decode throughput of 1M-row columns in the Native format, with and without LZ4 framing,
//! next to a `memcpy` of the same bytes (the physical limit). Throughput is in bytes of the
//! uncompressed Native column. Run: `cargo bench -p granary-protocol --bench codec`.

use std::hint::black_box;
use std::io::Read;
use std::sync::Arc;

use arrow_array::{
    ArrayRef, DictionaryArray, Float64Array, Int32Array, StringArray, UInt64Array, types::Int32Type,
};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use granary_protocol::DataType;
use granary_protocol::column::{read_native, write_native};
use granary_protocol::compress::{BlockSizes, CompressedReader, CompressedWriter, Method};
use granary_protocol::io::Cursor;

const ROWS: usize = 1_000_000;

fn columns() -> Vec<(&'static str, ArrayRef)> {
    // A deterministic mix: URL-like strings, a few hundred distinct dictionary values, 10% NULLs.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let u64s: Vec<u64> = (0..ROWS).map(|_| next() % 1_000_000_000).collect();
    let f64s: Vec<f64> = (0..ROWS)
        .map(|_| (next() % 1_000_000) as f64 / 7.0)
        .collect();
    let strings: Vec<String> = (0..ROWS)
        .map(|_| {
            format!(
                "https://example.com/path/{}/page?id={}",
                next() % 1000,
                next() % 100_000
            )
        })
        .collect();
    let cities: Vec<String> = (0..300).map(|i| format!("city-{i}")).collect();
    let keys = Int32Array::from_iter_values((0..ROWS).map(|_| (next() % 300) as i32));
    let nullable = Int32Array::from_iter((0..ROWS).map(|_| {
        let value = next();
        (value % 10 != 0).then_some((value >> 8) as i32)
    }));
    vec![
        ("UInt64", Arc::new(UInt64Array::from(u64s)) as ArrayRef),
        ("Float64", Arc::new(Float64Array::from(f64s))),
        ("String", Arc::new(StringArray::from(strings))),
        (
            "LowCardinality(String)",
            Arc::new(
                DictionaryArray::<Int32Type>::try_new(keys, Arc::new(StringArray::from(cities)))
                    .unwrap(),
            ),
        ),
        ("Nullable(Int32)", Arc::new(nullable)),
    ]
}

fn lz4_frames(native: &[u8]) -> Vec<u8> {
    let mut writer = CompressedWriter::new(Vec::new(), Method::Lz4, BlockSizes::default());
    writer.write(native).unwrap();
    writer.finish().unwrap()
}

fn codec(c: &mut Criterion) {
    for (name, array) in columns() {
        let data_type = DataType::parse(name).unwrap();
        let mut native = Vec::new();
        write_native(&data_type, array.as_ref(), &mut native).unwrap();
        let compressed = lz4_frames(&native);
        let mut group = c.benchmark_group(name);
        group.throughput(Throughput::Bytes(native.len() as u64));
        group.sample_size(10);
        group.measurement_time(std::time::Duration::from_secs(3));

        let mut copy = vec![0u8; native.len()];
        group.bench_function("memcpy", |b| {
            b.iter(|| copy.copy_from_slice(black_box(&native)))
        });
        let mut out = Vec::with_capacity(native.len());
        group.bench_function("encode", |b| {
            b.iter(|| {
                out.clear();
                write_native(&data_type, black_box(array.as_ref()), &mut out).unwrap();
            })
        });
        group.bench_function("decode", |b| {
            b.iter(|| read_native(&data_type, ROWS, &mut Cursor::new(black_box(&native))).unwrap())
        });
        group.bench_function("encode+lz4", |b| {
            b.iter(|| {
                out.clear();
                write_native(&data_type, black_box(array.as_ref()), &mut out).unwrap();
                lz4_frames(&out)
            })
        });
        let mut block = Vec::with_capacity(native.len());
        group.bench_function("decode+lz4", |b| {
            b.iter(|| {
                block.clear();
                CompressedReader::new(black_box(&compressed[..]), 1 << 30)
                    .read_to_end(&mut block)
                    .unwrap();
                read_native(&data_type, ROWS, &mut Cursor::new(&block)).unwrap()
            })
        });
        group.finish();
        eprintln!(
            "{name}: {} Native bytes, {} LZ4-framed",
            native.len(),
            compressed.len()
        );
    }
}

criterion_group!(benches, codec);
criterion_main!(benches);
