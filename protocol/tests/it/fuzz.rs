//! Mutation fuzzing of every decoder that reads bytes from a peer or a disk: client packets,
//! server packets, Native blocks of every type (and single columns in both array-size variants),
//! compressed frames (one at a time and as a stream with marks), settings lists and type names.
//!
//! cargo-fuzz needs a nightly toolchain, so proptest drives the mutations: each case takes a valid
//! encoding from a corpus (generated here from `round_trip::EVERY_TYPE`, plus the real captures
//! checked in under `tests/corpus/`), applies a few mutations (bit flips, byte insertions and
//! deletions, 1/2/4/8-byte windows overwritten with extreme values, VarUInts replaced by 2^33,
//! 2^63, ...) and decodes. A decoder must return `Ok` or `Err`: a panic fails the case (proptest
//! shrinks it and records it under `tests/proptest-regressions/`), and so does holding more than
//! [`CASE_BYTES_MAX`] at once, which a counting allocator measures per thread. A request that would
//! take a case past [`counting::HARD_BYTES_MAX`] is refused, which aborts the test binary with
//! "memory allocation of N bytes failed" rather than swapping the machine.
//!
//! Each target runs a fixed number of cases (the constants below, ~20-40 s in all for a debug
//! `cargo test`); `GRANARY_FUZZ_CASES=<n>` runs n cases per target instead, for long runs.
//! Every failure found became a fix and a named regression test at the end of this file.

use std::sync::{Arc, OnceLock};

use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{Field, Schema};
use granary_protocol::block::{BlockInfo, decode_block, encode_block};
use granary_protocol::column::{ArraySizes, Decoder, Encoder, read_native, write_native};
use granary_protocol::compress::{
    self, BlockSizes, CompressedReader, CompressedWriter, Mark, Method, checksum, compress_frame,
    decompress_frame,
};
use granary_protocol::io::{Cursor, write_string, write_var_uint};
use granary_protocol::packet::client::{
    Addendum, ClientHello, ClientInfo, ClientPacket, HttpInfo, Query, TraceContext, kind,
};
use granary_protocol::packet::server::{
    Exception, ProfileInfo, Progress, ServerHello, ServerPacket,
};
use granary_protocol::packet::settings::{IMPORTANT, Setting, read_settings, write_settings};
use granary_protocol::packet::{Context, Data, revision};
use granary_protocol::types::field_for;
use granary_protocol::{DataType, ErrorCode};
use proptest::prelude::*;
use proptest::sample::Index;

use crate::round_trip::{EVERY_TYPE, Rng, sample};

/// The most one case may hold at once: every decoder's allocations are bounded by its input (a
/// few KiB here) times a small factor, so this is far above any honest case and far below what a
/// count taken from the input on trust costs.
const CASE_BYTES_MAX: usize = 256 << 20;

/// Cases per target, unless `GRANARY_FUZZ_CASES` says otherwise.
const BLOCK_CASES: u32 = 30_000;
const COLUMN_CASES: u32 = 25_000;
const CLIENT_CASES: u32 = 20_000;
const SERVER_CASES: u32 = 20_000;
const FRAME_CASES: u32 = 20_000;
const SETTINGS_CASES: u32 = 10_000;
const TYPE_NAME_CASES: u32 = 20_000;

fn config(default_cases: u32) -> ProptestConfig {
    let cases = std::env::var("GRANARY_FUZZ_CASES")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(default_cases);
    ProptestConfig {
        cases,
        max_shrink_iters: 4_096,
        ..ProptestConfig::default()
    }
}

/// A global allocator that counts, per thread, the bytes a measured closure holds at its peak.
#[allow(unsafe_code)] // a GlobalAlloc is unsafe to implement; this one only forwards to System
pub(crate) mod counting {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    /// What one measured closure may hold at once before a request is refused (an abort): past
    /// the fuzz cap, so that a case over [`super::CASE_BYTES_MAX`] is usually a shrinkable
    /// failure, and below this machine's memory.
    pub(crate) const HARD_BYTES_MAX: i64 = 2 << 30;

    thread_local! {
        static ACTIVE: Cell<bool> = const { Cell::new(false) };
        static CURRENT: Cell<i64> = const { Cell::new(0) };
        static PEAK: Cell<i64> = const { Cell::new(0) };
    }

    /// Accounts `delta` bytes to the measured closure on this thread, if any; false when the
    /// request must be refused.
    fn account(delta: i64) -> bool {
        ACTIVE
            .try_with(|active| {
                if !active.get() {
                    return true;
                }
                let current = CURRENT.with(Cell::get) + delta;
                if delta > 0 && current > HARD_BYTES_MAX {
                    return false;
                }
                CURRENT.with(|cell| cell.set(current));
                PEAK.with(|peak| peak.set(peak.get().max(current)));
                true
            })
            .unwrap_or(true)
    }

    struct Counting;

    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            if !account(layout.size() as i64) {
                return std::ptr::null_mut();
            }
            unsafe { System.alloc(layout) }
        }

        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            if !account(layout.size() as i64) {
                return std::ptr::null_mut();
            }
            unsafe { System.alloc_zeroed(layout) }
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            account(-(layout.size() as i64));
            unsafe { System.dealloc(ptr, layout) }
        }

        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            let delta = new_size as i64 - layout.size() as i64;
            if !account(delta) {
                return std::ptr::null_mut();
            }
            let moved = unsafe { System.realloc(ptr, layout, new_size) };
            if moved.is_null() {
                account(-delta);
            }
            moved
        }
    }

    #[global_allocator]
    static GLOBAL: Counting = Counting;

    /// Ends the measurement even when the closure panics (proptest catches the panic).
    struct Active;

    impl Drop for Active {
        fn drop(&mut self) {
            ACTIVE.with(|active| active.set(false));
        }
    }

    /// Runs `f` and returns its result and the most bytes it held at once (on this thread).
    pub(crate) fn measure<R>(f: impl FnOnce() -> R) -> (R, usize) {
        CURRENT.with(|cell| cell.set(0));
        PEAK.with(|cell| cell.set(0));
        ACTIVE.with(|active| active.set(true));
        let guard = Active;
        let result = f();
        drop(guard);
        (result, PEAK.with(Cell::get).max(0) as usize)
    }
}

/// A short read must say what is missing: a packet reader waits for `needed - remaining` more
/// bytes and decodes again, so a short read that claims nothing is missing would have it decode
/// the same bytes forever.
fn honest<T>(result: &granary_protocol::Result<T>) {
    if let Err(granary_protocol::Error::UnexpectedEof {
        what,
        needed,
        remaining,
    }) = result
    {
        assert!(
            needed > remaining,
            "{what}: a short read needing {needed} bytes with {remaining} left"
        );
    }
}

/// Runs one decode under the allocation cap.
fn bounded<R>(what: &str, input_len: usize, f: impl FnOnce() -> R) -> Result<R, TestCaseError> {
    let (result, peak) = counting::measure(f);
    prop_assert!(
        peak < CASE_BYTES_MAX,
        "{what}: decoding {input_len} bytes held {peak} bytes at once"
    );
    Ok(result)
}

// ---------------------------------------------------------------------------------------------
// Mutations.

/// Values a count or size may be replaced with: the edges of every width and the counts that make
/// a trusting decoder allocate gigabytes.
fn extreme() -> impl Strategy<Value = u64> {
    prop_oneof![
        4 => prop::sample::select(vec![
            0u64,
            1,
            2,
            0x7f,
            0x80,
            0xff,
            0x100,
            0x7fff,
            0x8000,
            0xffff,
            1 << 20,
            1 << 24,
            0x7fff_ffff,
            0x8000_0000,
            0xffff_ffff,
            1 << 32,
            1 << 33,
            1 << 40,
            1 << 62,
            i64::MAX as u64,
            1 << 63,
            u64::MAX,
        ]),
        1 => any::<u64>(),
    ]
}

/// How a window of bytes is overwritten.
#[derive(Debug, Clone, Copy)]
enum Fill {
    /// Every byte the same (0x00, 0x7f, 0x80, 0xff: VarUInt continuation bytes and sign bits).
    Repeat(u8),
    /// The largest signed value of the width, little-endian (0xff.. 0x7f).
    MaxSigned,
    /// The smallest signed value of the width, little-endian (0x00.. 0x80).
    MinSigned,
    /// The low bytes of a value, little-endian.
    Value(u64),
}

impl Fill {
    fn bytes(self, width: usize) -> Vec<u8> {
        match self {
            Fill::Repeat(byte) => vec![byte; width],
            Fill::MaxSigned => {
                let mut bytes = vec![0xff; width];
                bytes[width - 1] = 0x7f;
                bytes
            }
            Fill::MinSigned => {
                let mut bytes = vec![0; width];
                bytes[width - 1] = 0x80;
                bytes
            }
            Fill::Value(value) => value.to_le_bytes()[..width].to_vec(),
        }
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    FlipBit(Index, u8),
    SetByte(Index, u8),
    Insert(Index, Vec<u8>),
    Delete(Index, usize),
    Overwrite(Index, usize, Fill),
    /// Replaces the VarUInt at the position (or inserts one when `false`).
    VarUInt(Index, u64, bool),
    Truncate(Index),
    Duplicate(Index, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let fill = prop_oneof![
        prop::sample::select(vec![0x00u8, 0x7f, 0x80, 0xff]).prop_map(Fill::Repeat),
        Just(Fill::MaxSigned),
        Just(Fill::MinSigned),
        extreme().prop_map(Fill::Value),
    ];
    prop_oneof![
        3 => (any::<Index>(), 0u8..8).prop_map(|(at, bit)| Mutation::FlipBit(at, bit)),
        2 => (any::<Index>(), any::<u8>()).prop_map(|(at, value)| Mutation::SetByte(at, value)),
        1 => (any::<Index>(), prop::collection::vec(any::<u8>(), 1..9))
            .prop_map(|(at, bytes)| Mutation::Insert(at, bytes)),
        1 => (any::<Index>(), 1usize..17).prop_map(|(at, len)| Mutation::Delete(at, len)),
        3 => (any::<Index>(), prop::sample::select(vec![1usize, 2, 4, 8]), fill)
            .prop_map(|(at, width, fill)| Mutation::Overwrite(at, width, fill)),
        3 => (any::<Index>(), extreme(), any::<bool>())
            .prop_map(|(at, value, replace)| Mutation::VarUInt(at, value, replace)),
        1 => any::<Index>().prop_map(Mutation::Truncate),
        1 => (any::<Index>(), 1usize..33).prop_map(|(at, len)| Mutation::Duplicate(at, len)),
    ]
}

fn mutations(max: usize) -> impl Strategy<Value = Vec<Mutation>> {
    prop::collection::vec(mutation(), 1..=max)
}

fn apply(bytes: &mut Vec<u8>, mutation: &Mutation) {
    let position = |at: &Index, len: usize| if len == 0 { 0 } else { at.index(len) };
    match mutation {
        Mutation::FlipBit(at, bit) if !bytes.is_empty() => {
            let at = position(at, bytes.len());
            bytes[at] ^= 1 << bit;
        }
        Mutation::SetByte(at, value) if !bytes.is_empty() => {
            let at = position(at, bytes.len());
            bytes[at] = *value;
        }
        Mutation::Insert(at, inserted) => {
            let at = position(at, bytes.len() + 1);
            bytes.splice(at..at, inserted.iter().copied());
        }
        Mutation::Delete(at, len) if !bytes.is_empty() => {
            let at = position(at, bytes.len());
            let end = (at + len).min(bytes.len());
            bytes.drain(at..end);
        }
        Mutation::Overwrite(at, width, fill) => {
            let at = position(at, bytes.len() + 1);
            let window = fill.bytes(*width);
            let end = (at + width).min(bytes.len());
            bytes.splice(at..end, window);
        }
        Mutation::VarUInt(at, value, replace) => {
            let at = position(at, bytes.len() + 1);
            let mut end = at;
            if *replace {
                while end < bytes.len() && end - at < 10 {
                    end += 1;
                    if bytes[end - 1] & 0x80 == 0 {
                        break;
                    }
                }
            }
            let mut encoded = Vec::new();
            write_var_uint(&mut encoded, *value);
            bytes.splice(at..end, encoded);
        }
        Mutation::Truncate(at) => {
            let at = position(at, bytes.len() + 1);
            bytes.truncate(at);
        }
        Mutation::Duplicate(at, len) if !bytes.is_empty() => {
            let at = position(at, bytes.len());
            let end = (at + len).min(bytes.len());
            let copy = bytes[at..end].to_vec();
            bytes.splice(end..end, copy);
        }
        _ => {}
    }
}

fn mutated(bytes: &[u8], list: &[Mutation]) -> Vec<u8> {
    let mut bytes = bytes.to_vec();
    for mutation in list {
        apply(&mut bytes, mutation);
    }
    bytes
}

/// Recomputes the checksum of each whole frame from `start` on, so that mutated sizes and payloads
/// reach the decompressor instead of stopping at the checksum.
fn fix_checksums(bytes: &mut [u8], mut start: usize) {
    while start + compress::CHECKSUM_BYTES + compress::HEADER_BYTES <= bytes.len() {
        let size_at = start + compress::CHECKSUM_BYTES + 1;
        let compressed =
            u32::from_le_bytes(bytes[size_at..size_at + 4].try_into().unwrap()) as usize;
        let end = start + compress::CHECKSUM_BYTES + compressed;
        if compressed < compress::HEADER_BYTES || end > bytes.len() {
            return;
        }
        let hash = checksum(&bytes[start + compress::CHECKSUM_BYTES..end]);
        bytes[start..start + compress::CHECKSUM_BYTES].copy_from_slice(&hash);
        start = end;
    }
}

/// `data` as frames of `method`, `chunk` bytes of it per frame.
fn frames(method: Method, data: &[u8], chunk: usize) -> Vec<u8> {
    let mut out = Vec::new();
    if data.is_empty() {
        compress_frame(method, data, &mut out).unwrap();
    }
    for part in data.chunks(chunk.max(1)) {
        compress_frame(method, part, &mut out).unwrap();
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Corpora: valid encodings made here, and real captures from tests/corpus/.

/// Arrays of a type from the shared generator, kept small (the generator makes an occasional
/// 100 000-character string, which would only slow the cases down).
fn small_sample(data_type: &DataType, rows: usize, rng: &mut Rng) -> ArrayRef {
    loop {
        let array = sample(data_type, rows, rng, 30);
        if array.get_array_memory_size() < 64 * 1024 {
            return array;
        }
    }
}

fn batch(columns: &[(&str, &DataType, ArrayRef)]) -> RecordBatch {
    let fields: Vec<Field> = columns
        .iter()
        .map(|(name, data_type, _)| field_for(name, data_type))
        .collect();
    let arrays = columns.iter().map(|(_, _, array)| array.clone()).collect();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).unwrap()
}

fn every_type() -> Vec<DataType> {
    EVERY_TYPE
        .iter()
        .map(|name| DataType::parse(name).unwrap())
        .collect()
}

/// A few multi-column batches for the packet corpora.
fn packet_batches() -> &'static [RecordBatch] {
    static BATCHES: OnceLock<Vec<RecordBatch>> = OnceLock::new();
    BATCHES.get_or_init(|| {
        let mut rng = Rng(0x5eed_f022_0000_0001);
        let types = every_type();
        let mut batches = Vec::new();
        for (group, rows) in types.chunks(9).zip([0usize, 1, 3, 4, 2, 5, 1, 3]) {
            let columns: Vec<(String, &DataType, ArrayRef)> = group
                .iter()
                .enumerate()
                .map(|(index, data_type)| {
                    (
                        format!("c{index}"),
                        data_type,
                        small_sample(data_type, rows, &mut rng),
                    )
                })
                .collect();
            let columns: Vec<(&str, &DataType, ArrayRef)> = columns
                .iter()
                .map(|(name, data_type, array)| (name.as_str(), *data_type, array.clone()))
                .collect();
            batches.push(batch(&columns));
        }
        // The end-of-data marker: no columns, no rows.
        batches.push(RecordBatch::new_empty(Arc::new(Schema::empty())));
        batches
    })
}

fn encoded_block(batch: &RecordBatch, revision: u64) -> Vec<u8> {
    let mut out = Vec::new();
    encode_block(batch, &BlockInfo::default(), revision, &mut out).unwrap();
    out
}

/// A decoded block must re-encode without a panic (an error is fine): what a decoder returns is
/// used, so it must be a consistent Arrow batch.
fn reencode(batch: &RecordBatch, revision: u64) {
    let _ = encode_block(batch, &BlockInfo::default(), revision, &mut Vec::new());
}

/// A real capture in tests/corpus/, with what its stream needs to be decoded.
struct Capture {
    file: &'static str,
    /// The revision both sides use (the client's is 54468 in every capture but `cli_*`'s 54412).
    negotiated: u64,
    /// For server streams: the Query's compression flag (client streams read it from the Query).
    compression: bool,
}

const CLIENT_CAPTURES: &[Capture] = &[
    Capture {
        file: "driver_insert.c2s.bin",
        negotiated: 54412,
        compression: false,
    },
    Capture {
        file: "driver_insert_lz4.c2s.bin",
        negotiated: 54412,
        compression: true,
    },
    Capture {
        file: "fake54468_driver_insert_dedup_lz4.c2s.bin",
        negotiated: 54468,
        compression: true,
    },
    Capture {
        file: "fake54468_driver_params.c2s.bin",
        negotiated: 54468,
        compression: false,
    },
    Capture {
        file: "cli_insert_tsv.c2s.bin",
        negotiated: 54412,
        compression: true,
    },
];

const SERVER_CAPTURES: &[Capture] = &[
    Capture {
        file: "driver_select_types_zstd.s2c.bin",
        negotiated: 54412,
        compression: true,
    },
    Capture {
        file: "fake54468_driver_select_types.s2c.bin",
        negotiated: 54468,
        compression: false,
    },
    Capture {
        file: "fake54468_driver_select_types_lz4.s2c.bin",
        negotiated: 54468,
        compression: true,
    },
    Capture {
        file: "driver_logs.s2c.bin",
        negotiated: 54412,
        compression: false,
    },
    Capture {
        file: "driver_totals_extremes.s2c.bin",
        negotiated: 54412,
        compression: false,
    },
    Capture {
        file: "driver_exception_unknown_table.s2c.bin",
        negotiated: 54412,
        compression: false,
    },
    Capture {
        file: "fake54468_driver_insert_dedup_lz4.s2c.bin",
        negotiated: 54468,
        compression: true,
    },
    Capture {
        file: "driver_select_aggstates.s2c.bin",
        negotiated: 54412,
        compression: false,
    },
];

fn corpus_file(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// What one corpus entry is decoded as.
#[derive(Debug, Clone)]
enum Target {
    /// A whole client stream: Hello, the addendum, then packets (compression from each Query).
    ClientStream { negotiated: u64 },
    /// A whole server stream as a client at revision 54468 reads it: Hello, then packets.
    ServerStream { negotiated: u64, compression: bool },
    /// One client packet.
    Client(Context),
    /// The client's Hello.
    ClientHello,
    /// One server packet.
    Server(Context),
}

/// A corpus entry: `head`, then `body` compressed into frames at case time when `method` is
/// set (so that mutations of the block reach the block decoder behind a valid checksum).
#[derive(Debug, Clone)]
struct Entry {
    head: Vec<u8>,
    body: Vec<u8>,
    method: Option<Method>,
    target: Target,
}

impl Entry {
    fn plain(bytes: Vec<u8>, target: Target) -> Entry {
        Entry {
            head: bytes,
            body: Vec::new(),
            method: None,
            target,
        }
    }

    /// The input of a case: `pre` applied to the block (or the whole entry), the block framed
    /// in frames of `chunk` bytes, `post` applied to the result and, when `fix`, its frames'
    /// checksums recomputed.
    fn input(&self, pre: &[Mutation], post: &[Mutation], chunk: usize, fix: bool) -> Vec<u8> {
        let mut bytes = match self.method {
            None => mutated(&self.head, pre),
            Some(method) => {
                let mut bytes = self.head.clone();
                bytes.extend(frames(method, &mutated(&self.body, pre), chunk));
                bytes
            }
        };
        for mutation in post {
            apply(&mut bytes, mutation);
        }
        if fix && self.method.is_some() {
            fix_checksums(&mut bytes, self.head.len());
        }
        bytes
    }
}

const METHODS: [Method; 3] = [Method::None, Method::Lz4, Method::Zstd(1)];

/// A Data-like packet: the type, the table name, the block (compressed or not).
fn data_entries(packet: u64, table: &str, target: impl Fn(Context) -> Target) -> Vec<Entry> {
    let mut entries = Vec::new();
    for revision in [revision::GRANARY, 54412] {
        for batch in packet_batches() {
            let mut head = Vec::new();
            write_var_uint(&mut head, packet);
            write_string(&mut head, table.as_bytes());
            let body = encoded_block(batch, revision);
            let context = Context::new(revision);
            entries.push(Entry::plain(
                [head.clone(), body.clone()].concat(),
                target(context),
            ));
            for method in METHODS {
                entries.push(Entry {
                    head: head.clone(),
                    body: body.clone(),
                    method: Some(method),
                    target: target(Context {
                        compression: true,
                        ..context
                    }),
                });
            }
        }
    }
    entries
}

fn settings_list() -> Vec<Setting> {
    vec![
        Setting {
            name: "insert_deduplication_token".into(),
            flags: IMPORTANT,
            value: "batch-0001".into(),
        },
        Setting::new("max_threads", "4"),
        Setting::new("send_logs_level", "debug"),
        Setting::new("max_block_size", "65409"),
    ]
}

fn client_corpus() -> &'static [Entry] {
    static CORPUS: OnceLock<Vec<Entry>> = OnceLock::new();
    CORPUS.get_or_init(|| {
        let mut entries = Vec::new();
        for capture in CLIENT_CAPTURES {
            entries.push(Entry::plain(
                corpus_file(capture.file),
                Target::ClientStream {
                    negotiated: capture.negotiated,
                },
            ));
        }
        let hello = ClientHello {
            client_name: "ClickHouse python-driver".into(),
            version_major: 20,
            version_minor: 10,
            revision: revision::GRANARY,
            database: "default".into(),
            user: "tester".into(),
            password: "secret".into(),
        };
        let mut bytes = Vec::new();
        hello.encode(&mut bytes);
        entries.push(Entry::plain(bytes, Target::ClientHello));
        let mut infos = vec![ClientInfo::tcp("granary", 1, 2, 3)];
        infos.push(ClientInfo {
            interface: 2,
            http: Some(HttpInfo {
                method: 2,
                user_agent: "curl".into(),
                forwarded_for: "10.0.0.1".into(),
                referer: "x".into(),
            }),
            trace: Some(TraceContext {
                trace_id: [7; 16],
                span_id: 9,
                tracestate: "a=b".into(),
                trace_flags: 1,
            }),
            ..ClientInfo::tcp("granary", 1, 2, 3)
        });
        infos.push(ClientInfo::default());
        for revision in [
            revision::GRANARY,
            54460,
            54453,
            54449,
            54442,
            54429,
            54412,
            54060,
            54032,
            54000,
        ] {
            for info in &infos {
                let query = Query {
                    query_id: "q-1".into(),
                    client_info: Some(info.clone()),
                    settings: settings_list(),
                    interserver_secret: String::new(),
                    stage: 2,
                    compression: revision % 2 == 0,
                    sql: "INSERT INTO t VALUES".into(),
                    parameters: vec![Setting {
                        name: "p".into(),
                        flags: 2,
                        value: "'x'".into(),
                    }],
                };
                let mut bytes = Vec::new();
                // Old revisions cannot carry some settings: keep only the encodable ones.
                if query.encode(&mut bytes, revision).is_err() {
                    continue;
                }
                entries.push(Entry::plain(bytes, Target::Client(Context::new(revision))));
            }
        }
        entries.extend(data_entries(kind::DATA, "", Target::Client));
        for packet in [kind::CANCEL, kind::PING, kind::KEEP_ALIVE] {
            let mut bytes = Vec::new();
            ClientPacket::encode_bare(&mut bytes, packet);
            entries.push(Entry::plain(
                bytes,
                Target::Client(Context::new(revision::GRANARY)),
            ));
        }
        // Whole Data packets as Granary's client writes them (frames cut by write_data).
        for method in METHODS {
            for batch in packet_batches() {
                let mut bytes = Vec::new();
                ClientPacket::encode_data(
                    &mut bytes,
                    &Data::new(batch.clone()),
                    revision::GRANARY,
                    Some(method),
                )
                .unwrap();
                entries.push(Entry::plain(
                    bytes,
                    Target::Client(Context {
                        compression: true,
                        ..Context::new(revision::GRANARY)
                    }),
                ));
            }
        }
        entries
    })
}

fn server_corpus() -> &'static [Entry] {
    static CORPUS: OnceLock<Vec<Entry>> = OnceLock::new();
    CORPUS.get_or_init(|| {
        let mut entries = Vec::new();
        for capture in SERVER_CAPTURES {
            entries.push(Entry::plain(
                corpus_file(capture.file),
                Target::ServerStream {
                    negotiated: capture.negotiated,
                    compression: capture.compression,
                },
            ));
        }
        let hello = ServerHello {
            name: "ClickHouse".into(),
            version_major: 24,
            version_minor: 8,
            revision: revision::GRANARY,
            timezone: "UTC".into(),
            display_name: "granary".into(),
            version_patch: 1,
            password_rules: vec![("^.{8,}$".into(), "eight characters".into())],
            nonce: 0x1122_3344_5566_7788,
        };
        for negotiated in [revision::GRANARY, 54462, 54461, 54401, 54372, 54058, 54000] {
            let mut bytes = Vec::new();
            let hello = ServerHello {
                revision: negotiated,
                ..hello.clone()
            };
            hello.encode(&mut bytes, negotiated);
            entries.push(Entry::plain(
                bytes,
                Target::Server(Context::new(negotiated)),
            ));
        }
        let mut nested = Exception::new(ErrorCode::UNKNOWN_TABLE, "Table default.t doesn't exist");
        for depth in 0..3 {
            let mut outer = Exception::new(ErrorCode::INCORRECT_DATA, &format!("level {depth}"));
            outer.stack_trace = "frame\nframe".into();
            outer.nested = Some(Box::new(nested));
            nested = outer;
        }
        let progress = Progress {
            read_rows: 1_000,
            read_bytes: 8_000,
            total_rows_to_read: 1 << 40,
            total_bytes_to_read: 1 << 50,
            written_rows: 3,
            written_bytes: 24,
            elapsed_ns: 1_000_000,
        };
        let profile = ProfileInfo {
            rows: 3,
            blocks: 1,
            bytes: 100,
            applied_limit: true,
            rows_before_limit: 10,
            calculated_rows_before_limit: true,
        };
        let packets = [
            ServerPacket::Exception(nested),
            ServerPacket::Progress(progress),
            ServerPacket::ProfileInfo(profile),
            ServerPacket::Pong,
            ServerPacket::EndOfStream,
            ServerPacket::TableColumns("t".into(), "columns format version: 1\n".into()),
            ServerPacket::TimezoneUpdate("Europe/Moscow".into()),
        ];
        for revision in [revision::GRANARY, 54460, 54420, 54412, 51554] {
            for packet in &packets {
                let mut bytes = Vec::new();
                packet.encode(&mut bytes, revision, None).unwrap();
                entries.push(Entry::plain(bytes, Target::Server(Context::new(revision))));
            }
        }
        use granary_protocol::packet::server::kind as server_kind;
        for packet in [
            server_kind::DATA,
            server_kind::TOTALS,
            server_kind::EXTREMES,
        ] {
            entries.extend(data_entries(packet, "", Target::Server));
        }
        for packet in [server_kind::LOG, server_kind::PROFILE_EVENTS] {
            // Never compressed.
            entries.extend(
                data_entries(packet, "", Target::Server)
                    .into_iter()
                    .filter(|entry| entry.method.is_none()),
            );
        }
        entries
    })
}

/// Decodes a client stream as the server does.
fn decode_client_stream(bytes: &[u8], negotiated: u64) {
    let mut input = Cursor::new(bytes);
    let hello = ClientHello::decode(&mut input);
    honest(&hello);
    if hello.is_err() {
        return;
    }
    let addendum = Addendum::decode(&mut input, negotiated);
    honest(&addendum);
    if addendum.is_err() {
        return;
    }
    let mut context = Context::new(negotiated);
    while !input.is_empty() {
        let packet = ClientPacket::decode(&mut input, &context);
        honest(&packet);
        match packet {
            Ok(ClientPacket::Query(query)) => context.compression = query.compression,
            Ok(ClientPacket::Data(data)) => reencode(&data.block.batch, negotiated),
            Ok(_) => {}
            Err(_) => return,
        }
    }
}

/// Decodes a server stream as the client does.
fn decode_server_stream(bytes: &[u8], negotiated: u64, compression: bool) {
    let mut input = Cursor::new(bytes);
    let hello = ServerPacket::decode(&mut input, &Context::new(revision::GRANARY));
    honest(&hello);
    if hello.is_err() {
        return;
    }
    let context = Context {
        compression,
        ..Context::new(negotiated)
    };
    let mut progress = Progress::default();
    while !input.is_empty() {
        let packet = ServerPacket::decode(&mut input, &context);
        honest(&packet);
        match packet {
            Ok(ServerPacket::Progress(increment)) => progress.add(&increment),
            Ok(
                ServerPacket::Data(data)
                | ServerPacket::Totals(data)
                | ServerPacket::Extremes(data)
                | ServerPacket::Log(data)
                | ServerPacket::ProfileEvents(data),
            ) => reencode(&data.block.batch, negotiated),
            Ok(_) => {}
            Err(_) => return,
        }
    }
}

fn decode_entry(entry: &Entry, bytes: &[u8]) {
    match &entry.target {
        Target::ClientStream { negotiated } => decode_client_stream(bytes, *negotiated),
        Target::ServerStream {
            negotiated,
            compression,
        } => decode_server_stream(bytes, *negotiated, *compression),
        Target::ClientHello => honest(&ClientHello::decode(&mut Cursor::new(bytes))),
        Target::Client(context) => {
            let packet = ClientPacket::decode(&mut Cursor::new(bytes), context);
            honest(&packet);
            if let Ok(ClientPacket::Data(data)) = packet {
                reencode(&data.block.batch, context.revision);
            }
        }
        Target::Server(context) => match ServerPacket::decode(&mut Cursor::new(bytes), context) {
            Err(error) => honest::<()>(&Err(error)),
            Ok(ServerPacket::Data(data)) => reencode(&data.block.batch, context.revision),
            Ok(ServerPacket::Progress(increment)) => {
                let mut total = increment;
                total.add(&increment);
            }
            Ok(ServerPacket::Exception(exception)) => {
                let _ = exception.to_string();
            }
            _ => {}
        },
    }
}

/// Native blocks: every type alone at several row counts and revisions, and a few batches of many.
fn block_corpus() -> &'static [(Vec<u8>, u64)] {
    static CORPUS: OnceLock<Vec<(Vec<u8>, u64)>> = OnceLock::new();
    CORPUS.get_or_init(|| {
        let mut rng = Rng(0x5eed_b10c_0000_0001);
        let mut entries = Vec::new();
        for data_type in every_type() {
            for rows in [0usize, 1, 4] {
                let array = small_sample(&data_type, rows, &mut rng);
                let batch = batch(&[("c", &data_type, array)]);
                for revision in [0, 54412, revision::GRANARY] {
                    entries.push((encoded_block(&batch, revision), revision));
                }
            }
        }
        for batch in packet_batches() {
            entries.push((encoded_block(batch, revision::GRANARY), revision::GRANARY));
        }
        entries
    })
}

/// A column's type, its rows, the array-size variant it was written in, and its bytes.
type ColumnEntry = (DataType, usize, ArraySizes, Vec<u8>);

/// Single columns of every type, written in both array-size variants into one buffer.
fn column_corpus() -> &'static [ColumnEntry] {
    static CORPUS: OnceLock<Vec<ColumnEntry>> = OnceLock::new();
    CORPUS.get_or_init(|| {
        let mut rng = Rng(0x5eed_c01c_0000_0001);
        let mut entries = Vec::new();
        for data_type in every_type() {
            for rows in [1usize, 5] {
                let array = small_sample(&data_type, rows, &mut rng);
                let mut bytes = Vec::new();
                write_native(&data_type, array.as_ref(), &mut bytes).unwrap();
                entries.push((data_type.clone(), rows, ArraySizes::Offsets, bytes));
                let mut bytes = Vec::new();
                let mut encoder = Encoder::new(&mut bytes, ArraySizes::Sizes);
                encoder.encode_prefix(&data_type);
                encoder.encode(&data_type, array.as_ref()).unwrap();
                entries.push((data_type.clone(), rows, ArraySizes::Sizes, bytes));
            }
        }
        entries
    })
}

/// Frames of every method over assorted data, and multi-frame streams with their marks.
fn frame_corpus() -> &'static [(Vec<u8>, Vec<Mark>)] {
    static CORPUS: OnceLock<Vec<(Vec<u8>, Vec<Mark>)>> = OnceLock::new();
    CORPUS.get_or_init(|| {
        let mut rng = Rng(0x5eed_f7a3_0000_0001);
        let random: Vec<u8> = (0..3000).map(|_| rng.next() as u8).collect();
        let text: Vec<u8> = b"granary ClickHouse native "
            .iter()
            .cycle()
            .take(5000)
            .copied()
            .collect();
        let data: [&[u8]; 5] = [b"", b"x", &[0u8; 4096], &random, &text];
        let mut entries = Vec::new();
        for method in [Method::None, Method::Lz4, Method::Zstd(1), Method::Zstd(9)] {
            for data in data {
                let mut frame = Vec::new();
                compress_frame(method, data, &mut frame).unwrap();
                entries.push((frame, Vec::new()));
            }
            let sizes = BlockSizes {
                min_bytes: 512,
                max_bytes: 2048,
            };
            let mut writer = CompressedWriter::new(Vec::new(), method, sizes);
            let mut marks = Vec::new();
            for granule in text.chunks(700) {
                marks.push(writer.mark().unwrap());
                writer.write(granule).unwrap();
            }
            marks.push(writer.mark().unwrap());
            entries.push((writer.finish().unwrap(), marks));
        }
        entries
    })
}

fn settings_corpus() -> &'static [(Vec<u8>, u64)] {
    static CORPUS: OnceLock<Vec<(Vec<u8>, u64)>> = OnceLock::new();
    CORPUS.get_or_init(|| {
        let mut entries = Vec::new();
        for revision in [revision::GRANARY, 54429, 54412] {
            for settings in [Vec::new(), settings_list()] {
                let mut bytes = Vec::new();
                write_settings(&mut bytes, &settings, revision).unwrap();
                entries.push((bytes, revision));
            }
        }
        let mut binary = Vec::new();
        for (name, number) in [
            ("allow_experimental_low_cardinality_type", Some(1u64)),
            ("max_block_size", Some(65409)),
            ("send_logs_level", None),
            ("connect_timeout_with_failover_ms", Some(50)),
        ] {
            write_string(&mut binary, name.as_bytes());
            match number {
                Some(number) => write_var_uint(&mut binary, number),
                None => write_string(&mut binary, b"trace"),
            }
        }
        write_string(&mut binary, b"");
        entries.push((binary, 54412));
        entries
    })
}

// ---------------------------------------------------------------------------------------------
// The targets.

proptest! {
    #![proptest_config(config(BLOCK_CASES))]

    /// Native blocks of every type, at revisions 0, 54412 and 54468.
    #[test]
    fn fuzz_native_blocks(entry in any::<Index>(), list in mutations(6)) {
        let corpus = block_corpus();
        let (bytes, revision) = &corpus[entry.index(corpus.len())];
        let input = mutated(bytes, &list);
        let decoded = bounded("block", input.len(), || {
            let decoded = decode_block(&mut Cursor::new(&input), *revision);
            honest(&decoded);
            if let Ok(block) = &decoded {
                reencode(&block.batch, *revision);
            }
            decoded
        })?;
        drop(decoded);
    }
}

proptest! {
    #![proptest_config(config(COLUMN_CASES))]

    /// Single columns of every type in both array-size variants, read for the row count they hold
    /// or for a count from the input's worst (a block or a mark that claims 2^33 rows).
    #[test]
    fn fuzz_columns(
        entry in any::<Index>(),
        list in mutations(4),
        rows in prop_oneof![3 => Just(None), 1 => extreme().prop_map(Some)],
    ) {
        let corpus = column_corpus();
        let (data_type, written, sizes, bytes) = &corpus[entry.index(corpus.len())];
        let rows = rows.map_or(*written, |rows| usize::try_from(rows).unwrap_or(usize::MAX));
        let input = mutated(bytes, &list);
        bounded(&format!("{data_type} x {rows}"), input.len(), || {
            let mut cursor = Cursor::new(&input);
            let decoded = match sizes {
                ArraySizes::Offsets => read_native(data_type, rows, &mut cursor),
                ArraySizes::Sizes => {
                    let mut decoder = Decoder::new(&mut cursor, ArraySizes::Sizes);
                    decoder
                        .decode_prefix(data_type)
                        .and_then(|()| decoder.decode(data_type, rows))
                }
            };
            honest(&decoded);
            if let Ok(array) = decoded {
                assert_eq!(array.len(), rows, "{data_type}: decoded rows");
                let _ = write_native(data_type, array.as_ref(), &mut Vec::new());
            }
        })?;
    }
}

proptest! {
    #![proptest_config(config(CLIENT_CASES))]

    /// Client packets as the server reads them: real streams, every Query revision, Data packets
    /// plain and compressed (mutations of the block behind valid checksums, too).
    #[test]
    fn fuzz_client_packets(
        entry in any::<Index>(),
        pre in mutations(5),
        post in prop::collection::vec(mutation(), 0..3),
        chunk in prop::sample::select(vec![1usize << 20, 64, 7]),
        fix in any::<bool>(),
    ) {
        let corpus = client_corpus();
        let entry = &corpus[entry.index(corpus.len())];
        let input = entry.input(&pre, &post, chunk, fix);
        bounded("client packet", input.len(), || decode_entry(entry, &input))?;
    }
}

proptest! {
    #![proptest_config(config(SERVER_CASES))]

    /// Server packets as the client reads them: real streams and every packet kind.
    #[test]
    fn fuzz_server_packets(
        entry in any::<Index>(),
        pre in mutations(5),
        post in prop::collection::vec(mutation(), 0..3),
        chunk in prop::sample::select(vec![1usize << 20, 64, 7]),
        fix in any::<bool>(),
    ) {
        let corpus = server_corpus();
        let entry = &corpus[entry.index(corpus.len())];
        let input = entry.input(&pre, &post, chunk, fix);
        bounded("server packet", input.len(), || decode_entry(entry, &input))?;
    }
}

proptest! {
    #![proptest_config(config(FRAME_CASES))]

    /// Compressed frames one by one, and streams through the CompressedReader (to the end, and
    /// from a mark to the next).
    #[test]
    fn fuzz_compressed_frames(
        entry in any::<Index>(),
        list in mutations(4),
        fix in any::<bool>(),
        mark in any::<Index>(),
    ) {
        let corpus = frame_corpus();
        let (bytes, marks) = &corpus[entry.index(corpus.len())];
        let mut input = mutated(bytes, &list);
        if fix {
            fix_checksums(&mut input, 0);
        }
        bounded("frames", input.len(), || {
            let mut cursor = Cursor::new(&input);
            let mut out = Vec::new();
            while !cursor.is_empty() {
                let frame =
                    decompress_frame(&mut cursor, compress::DECOMPRESSED_BYTES_MAX_DEFAULT, &mut out);
                honest(&frame);
                if frame.is_err() {
                    break;
                }
            }
            let mut reader = CompressedReader::new(
                std::io::Cursor::new(&input),
                compress::DECOMPRESSED_BYTES_MAX_DEFAULT,
            );
            let _ = std::io::Read::read_to_end(&mut reader, &mut Vec::new());
            if marks.len() >= 2 {
                let at = mark.index(marks.len() - 1);
                let mut reader = CompressedReader::new(
                    std::io::Cursor::new(&input),
                    compress::DECOMPRESSED_BYTES_MAX_DEFAULT,
                );
                if reader.seek(marks[at]).is_ok() {
                    let _ = reader.read_to_mark(marks[at + 1], &mut Vec::new());
                }
            }
        })?;
    }
}

proptest! {
    #![proptest_config(config(SETTINGS_CASES))]

    /// Settings lists in both encodings (strings from 54429, typed binary before).
    #[test]
    fn fuzz_settings(entry in any::<Index>(), list in mutations(4)) {
        let corpus = settings_corpus();
        let (bytes, revision) = &corpus[entry.index(corpus.len())];
        let input = mutated(bytes, &list);
        bounded("settings", input.len(), || {
            honest(&read_settings(&mut Cursor::new(&input), *revision));
        })?;
    }
}

proptest! {
    #![proptest_config(config(TYPE_NAME_CASES))]

    /// Type names as a peer sends them in a block: every type's name mutated, its numbers (widths,
    /// precisions, enum values, parameters) replaced by extreme ones, then used as a block's column
    /// of 0 and of 1 row.
    #[test]
    fn fuzz_type_names(
        entry in any::<Index>(),
        list in prop::collection::vec(mutation(), 0..3),
        numbers in prop::collection::vec((any::<Index>(), extreme(), prop::bool::weighted(0.2)), 1..3),
        byte in any::<u8>(),
    ) {
        let name = EVERY_TYPE[entry.index(EVERY_TYPE.len())];
        let mut text = String::from_utf8_lossy(&mutated(name.as_bytes(), &list)).into_owned();
        for (at, value, negative) in &numbers {
            text = with_number(&text, at, *value, *negative);
        }
        bounded("type name", text.len(), || {
            let Ok(data_type) = DataType::parse(&text) else {
                return;
            };
            let printed = data_type.to_string();
            let _ = DataType::parse(&printed);
            for rows in [0u64, 1] {
                let mut block = Vec::new();
                write_var_uint(&mut block, 1);
                write_var_uint(&mut block, rows);
                write_string(&mut block, b"c");
                write_string(&mut block, text.as_bytes());
                // A row of some bytes, for types of any width.
                block.resize(block.len() + 64, byte);
                let decoded = decode_block(&mut Cursor::new(&block), 0);
                honest(&decoded);
                if let Ok(block) = decoded {
                    reencode(&block.batch, 0);
                }
            }
        })?;
    }
}

/// `text` with the run of digits at or after `at` (or, without one, the text at `at`) replaced by
/// `value` in decimal.
fn with_number(text: &str, at: &Index, value: u64, negative: bool) -> String {
    let bytes = text.as_bytes();
    let mut start = at.index(bytes.len() + 1);
    while start < bytes.len() && !bytes[start].is_ascii_digit() {
        start += 1;
    }
    if start == bytes.len() {
        start = at.index(bytes.len() + 1);
    }
    while start > 0 && !text.is_char_boundary(start) {
        start -= 1;
    }
    let mut end = start;
    while end < bytes.len() && bytes[end].is_ascii_digit() {
        end += 1;
    }
    let sign = if negative { "-" } else { "" };
    format!("{}{sign}{value}{}", &text[..start], &text[end..])
}

// ---------------------------------------------------------------------------------------------
// Regression tests: each input below crashed, aborted or over-allocated before its fix, named by
// what it does; the bytes are exact.

/// Decodes under the counting allocator and returns the error code and the peak bytes held.
fn refused<T: std::fmt::Debug>(
    decode: impl FnOnce() -> granary_protocol::Result<T>,
) -> (ErrorCode, usize) {
    let (result, peak) = counting::measure(decode);
    (
        result.expect_err("corrupt input must be refused").code(),
        peak,
    )
}

const KIB: usize = 1 << 10;
const MIB: usize = 1 << 20;

/// A Native block (revision 0) of one `LowCardinality(String)` column `c` whose row count says
/// 2^33 and whose one chunk holds one key ('') and one index: the decoder sized its keys by the
/// row count, 32 GiB, and the process aborted.
const LOW_CARDINALITY_2_POW_33_ROWS: &str = concat!(
    "01",                                             // 1 column
    "8080808020",                                     // 2^33 rows
    "0163",                                           // name "c"
    "164c6f7743617264696e616c69747928537472696e6729", // "LowCardinality(String)"
    "0100000000000000",                               // keys version 1
    "0006000000000000",                               // UInt8 indexes | additional keys | update
    "0100000000000000",                               // 1 key
    "00",                                             // the key ''
    "0100000000000000",                               // 1 index
    "00",                                             // index 0
);

#[test]
fn regression_low_cardinality_block_claiming_2_pow_33_rows() {
    let block = hex::decode(LOW_CARDINALITY_2_POW_33_ROWS).unwrap();
    let (code, peak) = refused(|| decode_block(&mut Cursor::new(&block), 0));
    assert_eq!(code, ErrorCode::ATTEMPT_TO_READ_AFTER_EOF);
    assert!(peak < 64 * KIB, "held {peak} bytes");
    // The column decoder alone (a mark or a caller with the same count): no allocation by the
    // count either, for the plain and the nullable dictionary.
    let column = &block[1 + 5 + 2 + 23..];
    for type_name in ["LowCardinality(String)", "LowCardinality(Nullable(String))"] {
        let data_type = DataType::parse(type_name).unwrap();
        let (code, peak) = refused(|| read_native(&data_type, 1 << 33, &mut Cursor::new(column)));
        assert_eq!(code, ErrorCode::ATTEMPT_TO_READ_AFTER_EOF, "{type_name}");
        assert!(peak < 64 * KIB, "{type_name}: held {peak} bytes");
    }
}

#[test]
fn low_cardinality_huge_key_and_index_counts_are_refused() {
    // Key count 2^63 (UInt64 LE) with one byte after it.
    let keys = hex::decode(concat!(
        "0100000000000000",
        "0006000000000000",
        "0000000000000080",
        "00",
    ))
    .unwrap();
    let data_type = DataType::parse("LowCardinality(String)").unwrap();
    let (code, peak) = refused(|| read_native(&data_type, 1, &mut Cursor::new(&keys)));
    assert_eq!(code, ErrorCode::ATTEMPT_TO_READ_AFTER_EOF);
    assert!(peak < 64 * KIB, "held {peak} bytes");
    // Key count 2^33 of UInt64 keys with 16 bytes after it: at 8 bytes a key, cannot be here.
    let keys = hex::decode(concat!(
        "0100000000000000",
        "0006000000000000",
        "0000000002000000",
        "00000000000000000000000000000000",
    ))
    .unwrap();
    let data_type = DataType::parse("LowCardinality(UInt64)").unwrap();
    let (code, _) = refused(|| read_native(&data_type, 1, &mut Cursor::new(&keys)));
    assert_eq!(code, ErrorCode::ATTEMPT_TO_READ_AFTER_EOF);
    // Index count 2^33 in a column of 1 row.
    let indexes = hex::decode(concat!(
        "0100000000000000",
        "0006000000000000",
        "0100000000000000",
        "00",
        "0000000002000000",
        "00",
    ))
    .unwrap();
    let data_type = DataType::parse("LowCardinality(String)").unwrap();
    let (code, _) = refused(|| read_native(&data_type, 1, &mut Cursor::new(&indexes)));
    assert_eq!(code, ErrorCode::INCORRECT_DATA);
}

/// Found by `fuzz_columns`: a String column read for usize::MAX rows overflowed computing the bytes
/// it needed (a panic in debug builds, a wrong "needs 0 bytes" in release).
#[test]
fn regression_string_column_of_usize_max_rows() {
    let data_type = DataType::parse("String").unwrap();
    let (code, _) =
        refused(|| read_native(&data_type, usize::MAX, &mut Cursor::new(&[0x01, 0x61])));
    assert_eq!(code, ErrorCode::ATTEMPT_TO_READ_AFTER_EOF);
}

/// Found by `fuzz_compressed_frames`: a 35-byte ZSTD frame whose zstd frame records no content
/// size and whose header says 128 MiB - 1 made both the frame decoder and the reader allocate and
/// zero-fill the declared size (256 MiB in the case) before zstd produced its one byte.
const ZSTD_UNKNOWN_SIZE_CLAIMING_128_MIB: &str = concat!(
    "18f986936bccb7ad288f1d01a3b5ccf3", // checksum
    "90",                               // ZSTD
    "13000000",                         // 19 bytes with the header
    "ffffff07",                         // 128 MiB - 1 decompressed
    "28b52ffd0000",                     // zstd magic, no content size, 1 KiB window
    "090000",                           // last raw block of 1 byte
    "78",                               // 'x'
);

#[test]
fn regression_zstd_frame_without_content_size_claiming_128_mib() {
    let frame = hex::decode(ZSTD_UNKNOWN_SIZE_CLAIMING_128_MIB).unwrap();
    let bound = compress::DECOMPRESSED_BYTES_MAX_DEFAULT;
    let (code, peak) =
        refused(|| decompress_frame(&mut Cursor::new(&frame), bound, &mut Vec::new()));
    assert_eq!(code, ErrorCode::CANNOT_DECOMPRESS);
    assert!(peak < MIB, "held {peak} bytes");
    let (code, peak) = refused(|| {
        let mut reader = CompressedReader::new(std::io::Cursor::new(&frame), bound);
        std::io::Read::read_to_end(&mut reader, &mut Vec::new()).map_err(|error| {
            *error
                .into_inner()
                .unwrap()
                .downcast::<granary_protocol::Error>()
                .unwrap()
        })
    });
    assert_eq!(code, ErrorCode::CANNOT_DECOMPRESS);
    assert!(peak < MIB, "held {peak} bytes");
}

/// A ZSTD frame whose zstd header records 1 byte where the ClickHouse header says 128 MiB - 1: refused
/// before the output is sized.
#[test]
fn regression_zstd_frame_content_size_disagrees_with_header() {
    let frame = hex::decode(concat!(
        "f61874d2e94d27bb378c1ac4398aefed",
        "90",
        "13000000",
        "ffffff07",
        "28b52ffd200109000078",
    ))
    .unwrap();
    let (code, peak) = refused(|| {
        decompress_frame(
            &mut Cursor::new(&frame),
            compress::DECOMPRESSED_BYTES_MAX_DEFAULT,
            &mut Vec::new(),
        )
    });
    assert_eq!(code, ErrorCode::CANNOT_DECOMPRESS);
    assert!(peak < 64 * KIB, "held {peak} bytes");
}

/// An LZ4 frame of 3.9 MB that declares 1 GB decompressed: it cost 2 GB (the output zero-filled,
/// then grown again). Now the default bound refuses it from its header, and even under ClickHouse's
/// own 1 GiB bound LZ4 cannot expand 3.9 MB that far.
#[test]
fn regression_lz4_frame_of_3_9_mb_declaring_1_gb() {
    let payload = 3_900_000usize;
    let mut frame = vec![0u8; 16];
    frame.push(0x82);
    frame.extend_from_slice(&((9 + payload) as u32).to_le_bytes());
    frame.extend_from_slice(&1_000_000_000u32.to_le_bytes());
    frame.resize(frame.len() + payload, 0x1f);
    fix_checksums(&mut frame, 0);
    for (bound, expected) in [
        (
            compress::DECOMPRESSED_BYTES_MAX_DEFAULT,
            ErrorCode::TOO_LARGE_SIZE_COMPRESSED,
        ),
        (compress::FRAME_BYTES_MAX, ErrorCode::CANNOT_DECOMPRESS),
    ] {
        let (code, peak) =
            refused(|| decompress_frame(&mut Cursor::new(&frame), bound, &mut Vec::new()));
        assert_eq!(code, expected, "bound {bound}");
        assert!(peak < 64 * KIB, "bound {bound}: held {peak} bytes");
        let (code, peak) = refused(|| {
            let mut reader = CompressedReader::new(std::io::Cursor::new(&frame), bound);
            std::io::Read::read_to_end(&mut reader, &mut Vec::new()).map_err(|error| {
                *error
                    .into_inner()
                    .unwrap()
                    .downcast::<granary_protocol::Error>()
                    .unwrap()
            })
        });
        assert_eq!(code, expected, "reader, bound {bound}");
        assert!(peak < 64 * KIB, "reader, bound {bound}: held {peak} bytes");
    }
    // The same frame as an INSERT's Data packet, with the default context.
    let mut packet = Vec::new();
    write_var_uint(&mut packet, kind::DATA);
    write_string(&mut packet, b"");
    packet.extend_from_slice(&frame);
    let context = Context {
        compression: true,
        ..Context::new(revision::GRANARY)
    };
    let (code, peak) = refused(|| ClientPacket::decode(&mut Cursor::new(&packet), &context));
    assert_eq!(code, ErrorCode::TOO_LARGE_SIZE_COMPRESSED);
    assert!(peak < 64 * KIB, "packet: held {peak} bytes");
}

/// A stream whose first frame header says 1 GiB - 1 compressed bytes and then ends: the reader
/// zero-filled the declared frame before reading it.
#[test]
fn regression_compressed_reader_short_stream_claiming_a_1_gib_frame() {
    let stream = hex::decode(concat!(
        "00000000000000000000000000000000",
        "82",
        "ffffff3f", // 1 GiB - 1 with the header
        "64000000", // 100 decompressed
        "00112233445566778899",
    ))
    .unwrap();
    let (code, peak) = refused(|| {
        let mut reader = CompressedReader::new(std::io::Cursor::new(&stream), usize::MAX);
        std::io::Read::read_to_end(&mut reader, &mut Vec::new()).map_err(|error| {
            *error
                .into_inner()
                .unwrap()
                .downcast::<granary_protocol::Error>()
                .unwrap()
        })
    });
    assert_eq!(code, ErrorCode::ATTEMPT_TO_READ_AFTER_EOF);
    assert!(peak < MIB, "held {peak} bytes");
}

/// A packet whose first string claims 512 MiB: the packet reader reserved the claimed bytes before
/// any of them arrived; now its buffer grows with what arrives.
#[test]
fn regression_packet_reader_does_not_reserve_a_claimed_length() {
    use granary_protocol::connection::{PACKET_BYTES_MAX, PacketReader};
    use tokio::io::AsyncWriteExt;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let (result, peak) = counting::measure(|| {
        runtime.block_on(async {
            let (mut client, server) = tokio::io::duplex(64);
            let mut claim = Vec::new();
            write_var_uint(&mut claim, 512 << 20);
            claim.extend_from_slice(b"only a few bytes");
            client.write_all(&claim).await.unwrap();
            drop(client);
            let mut reader = PacketReader::new(server, PACKET_BYTES_MAX);
            reader
                .read(|cursor| Ok(cursor.read_bytes("text")?.len()))
                .await
        })
    });
    assert!(result.unwrap_err().is_disconnect());
    assert!(peak < 4 * MIB, "held {peak} bytes");
}

/// `AggregateFunction(f([[[[...` 100 000 levels deep: the parameter literal parser recursed without
/// bound and overflowed the stack (an abort), from a column type name in a block.
#[test]
fn regression_parameter_literal_nested_100_000_deep() {
    let name = format!(
        "AggregateFunction(f({}1{}), UInt8)",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let err = DataType::parse(&name).unwrap_err();
    assert_eq!(err.code(), ErrorCode::TOO_DEEP_RECURSION);
    let mut block = Vec::new();
    write_var_uint(&mut block, 1);
    write_var_uint(&mut block, 0);
    write_string(&mut block, b"c");
    write_string(&mut block, name.as_bytes());
    let err = decode_block(&mut Cursor::new(&block), 0).unwrap_err();
    assert_eq!(err.code(), ErrorCode::TOO_DEEP_RECURSION);
    // 64 levels, the most a type may nest, still parse.
    let name = format!(
        "AggregateFunction(f({}1{}), UInt8)",
        "[".repeat(63),
        "]".repeat(63)
    );
    DataType::parse(&name).unwrap();
}

/// An enum item after one valued i64::MAX: computing its implicit value overflowed (a panic in
/// debug builds).
#[test]
fn regression_enum_item_after_i64_max() {
    let err = DataType::parse("Enum8('a' = 9223372036854775807, 'b')").unwrap_err();
    assert_eq!(err.code(), ErrorCode::ARGUMENT_OUT_OF_BOUND);
    let err = DataType::parse("Enum16('a' = 9223372036854775807, 'b')").unwrap_err();
    assert_eq!(err.code(), ErrorCode::ARGUMENT_OUT_OF_BOUND);
}

/// Row counts that no byte backs: a block of no columns with rows, rows of `Tuple()` only, and
/// empty tuples in an array, each past any bound (nothing else in the input limits them).
#[test]
fn rows_without_bytes_are_bounded() {
    // 0 columns, 5 rows (ClickHouse: "Zero columns but 5 rows in Native format").
    let (code, _) = refused(|| decode_block(&mut Cursor::new(&[0x00, 0x05]), 0));
    assert_eq!(code, ErrorCode::INCORRECT_DATA);
    // 1 column `Tuple()` of 2^36 rows.
    let block = hex::decode("018080808080020163075475706c652829").unwrap();
    let (code, peak) = refused(|| decode_block(&mut Cursor::new(&block), 0));
    assert_eq!(code, ErrorCode::TOO_LARGE_ARRAY_SIZE);
    assert!(peak < 64 * KIB, "held {peak} bytes");
    // More rows than ClickHouse's NativeReader accepts.
    let block = hex::decode("01ffffffffffffffff7f01630555496e7438").unwrap();
    let (code, _) = refused(|| decode_block(&mut Cursor::new(&block), 0));
    assert_eq!(code, ErrorCode::TOO_LARGE_ARRAY_SIZE);
    // One row of `Array(Tuple())` holding 2^31 - 1 empty tuples.
    let data_type = DataType::parse("Array(Tuple())").unwrap();
    let offsets = (i32::MAX as u64).to_le_bytes();
    let (code, _) = refused(|| read_native(&data_type, 1, &mut Cursor::new(&offsets)));
    assert_eq!(code, ErrorCode::TOO_LARGE_ARRAY_SIZE);
}

/// A type name of 2 MiB (a Tuple of 300 000 elements) is refused before it is parsed.
#[test]
fn type_names_past_the_bound_are_refused() {
    let name = format!("Tuple({})", vec!["UInt8"; 300_000].join(","));
    let mut block = Vec::new();
    write_var_uint(&mut block, 1);
    write_var_uint(&mut block, 0);
    write_string(&mut block, b"c");
    write_string(&mut block, name.as_bytes());
    let (code, peak) = refused(|| decode_block(&mut Cursor::new(&block), 0));
    assert_eq!(code, ErrorCode::TOO_LARGE_STRING_SIZE);
    assert!(peak < 64 * KIB, "held {peak} bytes");
}

/// Progress increments near u64::MAX: adding them up overflowed (a panic in debug builds).
#[test]
fn regression_progress_totals_saturate() {
    let increment = Progress {
        read_rows: u64::MAX,
        elapsed_ns: u64::MAX - 1,
        ..Progress::default()
    };
    let mut total = increment;
    total.add(&increment);
    assert_eq!(total.read_rows, u64::MAX);
    assert_eq!(total.elapsed_ns, u64::MAX);
}

/// Many small frames of one block decode in linear time, and a block that ends at a frame whose
/// decode was not yet due is found when the next packet follows.
#[test]
fn a_block_in_many_small_frames_decodes() {
    let batch = &packet_batches()[2];
    let block = encoded_block(batch, revision::GRANARY);
    for chunk in [1, 3, 50] {
        let mut packet = Vec::new();
        write_var_uint(&mut packet, kind::DATA);
        write_string(&mut packet, b"");
        packet.extend(frames(Method::Lz4, &block, chunk));
        ClientPacket::encode_bare(&mut packet, kind::PING);
        let context = Context {
            compression: true,
            ..Context::new(revision::GRANARY)
        };
        let mut input = Cursor::new(&packet);
        let Ok(ClientPacket::Data(data)) = ClientPacket::decode(&mut input, &context) else {
            panic!("chunks of {chunk}: not a Data packet");
        };
        assert_eq!(data.block.batch, *batch, "chunks of {chunk}");
        assert!(matches!(
            ClientPacket::decode(&mut input, &context),
            Ok(ClientPacket::Ping)
        ));
        // Cut anywhere, the packet is "not all here yet".
        for cut in [30, packet.len() / 2, packet.len() - 2] {
            let err = ClientPacket::decode(&mut Cursor::new(&packet[..cut]), &context).unwrap_err();
            assert_eq!(
                err.code(),
                ErrorCode::ATTEMPT_TO_READ_AFTER_EOF,
                "cut at {cut}"
            );
        }
    }
}

/// A String length that is an 11-byte VarUInt, or that the input cuts short: the column decoder
/// said "needs N bytes, N left", so a packet reader waited for zero more bytes and decoded the
/// same buffer again every 2 ms for as long as the peer kept the connection open.
#[test]
fn regression_string_length_varuint_overlong_or_cut_short() {
    let data_type = DataType::parse("String").unwrap();
    let overlong = hex::decode("8080808080808080808001").unwrap();
    let err = read_native(&data_type, 1, &mut Cursor::new(&overlong)).unwrap_err();
    assert_eq!(err.code(), ErrorCode::INCORRECT_DATA);
    let cut = hex::decode("0161ff").unwrap();
    let result = read_native(&data_type, 2, &mut Cursor::new(&cut));
    honest(&result);
    assert_eq!(
        result.unwrap_err().code(),
        ErrorCode::ATTEMPT_TO_READ_AFTER_EOF
    );
}

/// `FixedString(3000000000)` from a peer: past ClickHouse's 16 MiB - 1, and past what an Arrow
/// fixed-size binary width (i32) holds.
#[test]
fn regression_fixed_string_of_3_gb_per_row() {
    let mut block = Vec::new();
    write_var_uint(&mut block, 1);
    write_var_uint(&mut block, 0);
    write_string(&mut block, b"c");
    write_string(&mut block, b"FixedString(3000000000)");
    let err = decode_block(&mut Cursor::new(&block), 0).unwrap_err();
    assert_eq!(err.code(), ErrorCode::ARGUMENT_OUT_OF_BOUND);
    DataType::parse("FixedString(16777215)").unwrap();
}

/// Type names within their bound whose nodes add up past the block's: refused at the column that
/// crosses it (each node costs ~0.8 KiB decoded, so a block of 1 MiB names could hold 100 MiB).
#[test]
fn type_nodes_past_the_block_bound_are_refused() {
    let mut block = Vec::new();
    write_var_uint(&mut block, 2);
    write_var_uint(&mut block, 0);
    for elements in [150_000, 60_000] {
        write_string(&mut block, b"c");
        let name = format!("Tuple({})", vec!["UInt8"; elements].join(","));
        write_string(&mut block, name.as_bytes());
    }
    let err = decode_block(&mut Cursor::new(&block), 0).unwrap_err();
    assert_eq!(err.code(), ErrorCode::TOO_BIG_AST, "{err}");
}
