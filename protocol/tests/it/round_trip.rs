//! Round trips of every type through both array-size variants, as one stream and as substreams,
//! with empty, all-NULL, long-string and nested columns, and property tests over random types.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::types::{Int8Type, Int16Type, Int32Type};
use arrow_array::*;
use arrow_buffer::{BooleanBuffer, NullBuffer, OffsetBuffer, i256};
use arrow_schema::DataType as ArrowType;
use granary_protocol::DataType;
use granary_protocol::column::{
    ArraySizes, Decoder, Encoder, StreamSink, StreamSource, Substream, read_native, write_native,
};
use granary_protocol::io::Cursor;
use granary_protocol::types::TupleElement;
use proptest::prelude::*;

use crate::values::value_at;

/// A small deterministic generator (xorshift), so that a failing seed reproduces.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
    fn text(&mut self, len: usize) -> String {
        const ALPHABET: &[&str] = &[
            "a", "b", "z", "0", " ", "é", "ж", "語", "🌾", "'", "\\", "\0",
        ];
        (0..len)
            .map(|_| ALPHABET[self.below(ALPHABET.len() as u64) as usize])
            .collect()
    }
}

/// A random valid array of `rows` rows for `data_type`; `null_share` of Nullable rows are NULL.
pub(crate) fn sample(
    data_type: &DataType,
    rows: usize,
    rng: &mut Rng,
    null_share: u64,
) -> ArrayRef {
    let arrow = data_type.to_arrow();
    match data_type {
        DataType::Nullable(inner) => {
            let values = sample(inner, rows, rng, null_share);
            if matches!(**inner, DataType::Nothing) {
                return values;
            }
            let valid = BooleanBuffer::collect_bool(rows, |_| rng.below(100) >= null_share);
            let data = values
                .into_data()
                .into_builder()
                .nulls(Some(NullBuffer::new(valid)))
                .build()
                .unwrap();
            make_array(data)
        }
        DataType::SimpleAggregateFunction(_, inner) => sample(inner, rows, rng, null_share),
        DataType::UInt8 => Arc::new(UInt8Array::from_iter_values(
            (0..rows).map(|_| rng.next() as u8),
        )),
        DataType::UInt16 => Arc::new(UInt16Array::from_iter_values(
            (0..rows).map(|_| rng.next() as u16),
        )),
        DataType::UInt32 | DataType::IPv4 => Arc::new(UInt32Array::from_iter_values(
            (0..rows).map(|_| rng.next() as u32),
        )),
        DataType::UInt64 => Arc::new(UInt64Array::from_iter_values((0..rows).map(|_| rng.next()))),
        DataType::Int8 => Arc::new(Int8Array::from_iter_values(
            (0..rows).map(|_| rng.next() as i8),
        )),
        DataType::Int16 => Arc::new(Int16Array::from_iter_values(
            (0..rows).map(|_| rng.next() as i16),
        )),
        DataType::Int32 => Arc::new(Int32Array::from_iter_values(
            (0..rows).map(|_| rng.next() as i32),
        )),
        DataType::Int64 => Arc::new(Int64Array::from_iter_values(
            (0..rows).map(|_| rng.next() as i64),
        )),
        DataType::Float32 => Arc::new(Float32Array::from_iter_values(
            (0..rows).map(|_| f32::from_bits(rng.next() as u32)),
        )),
        DataType::Float64 => Arc::new(Float64Array::from_iter_values(
            (0..rows).map(|_| f64::from_bits(rng.next())),
        )),
        DataType::Bool => Arc::new(BooleanArray::from_iter(
            (0..rows).map(|_| Some(rng.below(2) == 1)),
        )),
        DataType::String => Arc::new(StringArray::from_iter_values((0..rows).map(|_| {
            let len = if rng.below(20) == 0 {
                100_000
            } else {
                rng.below(12) as usize
            };
            rng.text(len)
        }))),
        DataType::Date => Arc::new(Date32Array::from_iter_values(
            (0..rows).map(|_| rng.below(65536) as i32),
        )),
        DataType::Date32 => Arc::new(Date32Array::from_iter_values(
            (0..rows).map(|_| rng.below(146_096) as i32 - 25_567),
        )),
        DataType::DateTime(_) => {
            let values = TimestampSecondArray::from_iter_values(
                (0..rows).map(|_| rng.below(1 << 32) as i64),
            );
            Arc::new(values.with_data_type(arrow))
        }
        DataType::DateTime64(precision, _) => {
            let (_, factor) = granary_protocol::types::datetime64_unit(*precision);
            let ticks = (0..rows).map(|_| (rng.next() as i64 >> 8) / factor * factor);
            let values: ArrayRef = match &arrow {
                ArrowType::Timestamp(arrow_schema::TimeUnit::Second, _) => {
                    Arc::new(TimestampSecondArray::from_iter_values(ticks).with_data_type(arrow))
                }
                ArrowType::Timestamp(arrow_schema::TimeUnit::Millisecond, _) => Arc::new(
                    TimestampMillisecondArray::from_iter_values(ticks).with_data_type(arrow),
                ),
                ArrowType::Timestamp(arrow_schema::TimeUnit::Microsecond, _) => Arc::new(
                    TimestampMicrosecondArray::from_iter_values(ticks).with_data_type(arrow),
                ),
                _ => Arc::new(
                    TimestampNanosecondArray::from_iter_values(ticks).with_data_type(arrow),
                ),
            };
            values
        }
        DataType::Decimal(precision, _) if *precision <= 38 => {
            let bound = 10i128.pow(u32::from(*precision).min(38)) - 1;
            let values =
                (0..rows).map(|_| ((rng.next() as i128) << 64 | rng.next() as i128) % bound);
            Arc::new(Decimal128Array::from_iter_values(values).with_data_type(arrow))
        }
        DataType::Decimal(..) => {
            let values = (0..rows)
                .map(|_| i256::from_i128((rng.next() as i128).wrapping_mul(rng.next() as i128)));
            Arc::new(Decimal256Array::from_iter_values(values).with_data_type(arrow))
        }
        DataType::FixedString(_)
        | DataType::UInt128
        | DataType::Int128
        | DataType::UInt256
        | DataType::Int256
        | DataType::Uuid
        | DataType::IPv6 => {
            let width = data_type.fixed_width().unwrap();
            let bytes = rng.bytes(rows * width);
            Arc::new(FixedSizeBinaryArray::try_new(width as i32, bytes.into(), None).unwrap())
        }
        DataType::Enum8(items) => {
            let keys =
                Int8Array::from_iter_values((0..rows).map(|_| rng.below(items.len() as u64) as i8));
            let names = StringArray::from_iter_values(items.iter().map(|(name, _)| name.as_str()));
            Arc::new(DictionaryArray::<Int8Type>::try_new(keys, Arc::new(names)).unwrap())
        }
        DataType::Enum16(items) => {
            let keys = Int16Array::from_iter_values(
                (0..rows).map(|_| rng.below(items.len() as u64) as i16),
            );
            let names = StringArray::from_iter_values(items.iter().map(|(name, _)| name.as_str()));
            Arc::new(DictionaryArray::<Int16Type>::try_new(keys, Arc::new(names)).unwrap())
        }
        DataType::LowCardinality(inner) => {
            let distinct = 1 + rng.below(6) as usize;
            let values = sample(inner.strip_nullable(), distinct, rng, 0);
            let keys = (0..rows).map(|_| {
                let null = inner.is_nullable() && rng.below(100) < null_share;
                (!null).then(|| rng.below(distinct as u64) as i32)
            });
            Arc::new(
                DictionaryArray::<Int32Type>::try_new(Int32Array::from_iter(keys), values).unwrap(),
            )
        }
        DataType::Array(inner) => {
            let lengths: Vec<usize> = (0..rows).map(|_| rng.below(4) as usize).collect();
            let elements = sample(inner, lengths.iter().sum(), rng, null_share);
            let ArrowType::List(item) = arrow else {
                unreachable!()
            };
            Arc::new(
                ListArray::try_new(item, OffsetBuffer::from_lengths(lengths), elements, None)
                    .unwrap(),
            )
        }
        DataType::Map(key, value) => {
            let lengths: Vec<usize> = (0..rows).map(|_| rng.below(3) as usize).collect();
            let count = lengths.iter().sum();
            let ArrowType::Map(entries_field, _) = arrow else {
                unreachable!()
            };
            let ArrowType::Struct(fields) = entries_field.data_type().clone() else {
                unreachable!()
            };
            let entries = StructArray::try_new(
                fields,
                vec![
                    sample(key, count, rng, 0),
                    sample(value, count, rng, null_share),
                ],
                None,
            )
            .unwrap();
            Arc::new(
                MapArray::try_new(
                    entries_field,
                    OffsetBuffer::from_lengths(lengths),
                    entries,
                    None,
                    false,
                )
                .unwrap(),
            )
        }
        DataType::Tuple(elements) => {
            let ArrowType::Struct(fields) = arrow else {
                unreachable!()
            };
            if elements.is_empty() {
                return Arc::new(StructArray::new_empty_fields(rows, None));
            }
            let columns = elements
                .iter()
                .map(|e| sample(&e.data_type, rows, rng, null_share))
                .collect();
            Arc::new(StructArray::try_new(fields, columns, None).unwrap())
        }
        DataType::AggregateFunction(function) => {
            assert_eq!(
                function.function.name, "sum",
                "the generator makes sum(UInt64) states only"
            );
            Arc::new(BinaryArray::from_iter_values(
                (0..rows).map(|_| rng.next().to_le_bytes()),
            ))
        }
        DataType::Nothing => Arc::new(NullArray::new(rows)),
    }
}

/// Asserts that two arrays hold the same values of `data_type`, row by row.
fn assert_same_values(data_type: &DataType, expected: &ArrayRef, actual: &ArrayRef) {
    assert_eq!(expected.len(), actual.len(), "{data_type}: row count");
    assert_eq!(
        actual.data_type(),
        &data_type.to_arrow(),
        "{data_type}: Arrow type"
    );
    for row in 0..expected.len() {
        let (e, a) = (
            value_at(data_type, expected, row),
            value_at(data_type, actual, row),
        );
        // NaNs render as "nan" on both sides; compare the rendering, not the floats.
        assert_eq!(e, a, "{data_type}: row {row}");
    }
}

fn native_round_trip(data_type: &DataType, array: &ArrayRef) {
    let mut bytes = Vec::new();
    write_native(data_type, array.as_ref(), &mut bytes).unwrap();
    let mut cursor = Cursor::new(&bytes);
    let decoded = read_native(data_type, array.len(), &mut cursor)
        .unwrap_or_else(|e| panic!("{data_type}: {e}"));
    assert!(
        cursor.is_empty(),
        "{data_type}: {} bytes left",
        cursor.remaining()
    );
    assert_same_values(data_type, array, &decoded);
    // Decoding is deterministic and re-encoding a decoded column gives the same bytes.
    let mut again = Vec::new();
    write_native(data_type, decoded.as_ref(), &mut again).unwrap();
    assert_eq!(again, bytes, "{data_type}: re-encoding");
}

/// One buffer per substream path, as a MergeTree Wide part has one file per stream.
#[derive(Default)]
struct Substreams(HashMap<Vec<Substream>, Vec<u8>>);

impl StreamSink for Substreams {
    fn stream(&mut self, path: &[Substream]) -> &mut Vec<u8> {
        self.0.entry(path.to_vec()).or_default()
    }
}

struct SubstreamCursors<'a>(HashMap<Vec<Substream>, Cursor<'a>>);

impl<'a> StreamSource<'a> for SubstreamCursors<'a> {
    fn stream(&mut self, path: &[Substream]) -> granary_protocol::Result<&mut Cursor<'a>> {
        self.0
            .get_mut(path)
            .ok_or_else(|| granary_protocol::Error::IncorrectData(format!("no stream {path:?}")))
    }
}

/// Writes the column as granules of `granule_rows` into separate substreams with per-row array
/// sizes (the MergeTree variant), then reads the granules back one by one.
fn substream_round_trip(data_type: &DataType, array: &ArrayRef, granule_rows: usize) {
    let mut streams = Substreams::default();
    let mut encoder = Encoder::new(&mut streams, ArraySizes::Sizes);
    encoder.encode_prefix(data_type);
    let mut start = 0;
    while start < array.len() {
        let rows = granule_rows.min(array.len() - start);
        encoder
            .encode(data_type, array.slice(start, rows).as_ref())
            .unwrap();
        start += rows;
    }
    let cursors = streams
        .0
        .iter()
        .map(|(path, bytes)| (path.clone(), Cursor::new(bytes)))
        .collect();
    let mut source = SubstreamCursors(cursors);
    let mut decoder = Decoder::new(&mut source, ArraySizes::Sizes);
    decoder.decode_prefix(data_type).unwrap();
    let mut start = 0;
    while start < array.len() {
        let rows = granule_rows.min(array.len() - start);
        let granule = decoder
            .decode(data_type, rows)
            .unwrap_or_else(|e| panic!("{data_type} granule at {start}: {e}"));
        assert_same_values(data_type, &array.slice(start, rows), &granule);
        start += rows;
    }
    for (path, cursor) in &source.0 {
        assert!(
            cursor.is_empty(),
            "{data_type}: stream {path:?} has {} bytes left",
            cursor.remaining()
        );
    }
}

/// One or more types of every kind the codec handles (the fuzz targets start from these too).
pub(crate) const EVERY_TYPE: &[&str] = &[
    "UInt8",
    "UInt16",
    "UInt32",
    "UInt64",
    "UInt128",
    "UInt256",
    "Int8",
    "Int16",
    "Int32",
    "Int64",
    "Int128",
    "Int256",
    "Float32",
    "Float64",
    "Bool",
    "String",
    "FixedString(5)",
    "Date",
    "Date32",
    "DateTime",
    "DateTime('Asia/Tokyo')",
    "DateTime64(0)",
    "DateTime64(2, 'UTC')",
    "DateTime64(3)",
    "DateTime64(5)",
    "DateTime64(6, 'UTC')",
    "DateTime64(8)",
    "DateTime64(9, 'UTC')",
    "Decimal(9, 2)",
    "Decimal(18, 4)",
    "Decimal(38, 10)",
    "Decimal(76, 20)",
    "UUID",
    "IPv4",
    "IPv6",
    "Enum8('a' = -128, 'b' = 0, 'c' = 127)",
    "Enum16('x' = -1000, 'y' = 1000)",
    "Nullable(Int32)",
    "Nullable(String)",
    "Nullable(Decimal(9, 2))",
    "Nullable(UUID)",
    "Nullable(Enum8('a' = 1))",
    "Nullable(Nothing)",
    "LowCardinality(String)",
    "LowCardinality(Nullable(String))",
    "LowCardinality(UInt64)",
    "LowCardinality(FixedString(2))",
    "LowCardinality(Nullable(Date))",
    "Array(Int32)",
    "Array(String)",
    "Array(Nullable(String))",
    "Array(Array(UInt8))",
    "Array(LowCardinality(Nullable(String)))",
    "Array(Array(LowCardinality(String)))",
    "Tuple(UInt8, String)",
    "Tuple(a Int32, b Array(Nullable(String)))",
    "Tuple()",
    "Tuple(LowCardinality(String), Nullable(UInt8))",
    "Map(String, UInt64)",
    "Map(LowCardinality(String), Array(Nullable(Int8)))",
    "Map(UInt8, Map(String, Tuple(x LowCardinality(String))))",
    "AggregateFunction(sum, UInt64)",
    "SimpleAggregateFunction(max, Nullable(Int64))",
    "Array(Nullable(Nothing))",
];

#[test]
fn every_type_round_trips_in_both_variants() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for name in EVERY_TYPE {
        let data_type = DataType::parse(name).unwrap();
        for rows in [0, 1, 3, 100] {
            for null_share in [0, 30, 100] {
                let array = sample(&data_type, rows, &mut rng, null_share);
                native_round_trip(&data_type, &array);
                substream_round_trip(&data_type, &array, 7);
            }
        }
        // A slice not starting at 0 (offsets and validity not aligned to the buffers).
        let array = sample(&data_type, 50, &mut rng, 30);
        native_round_trip(&data_type, &array.slice(13, 29));
    }
}

#[test]
fn empty_columns_write_only_their_prefix() {
    for (name, bytes) in [
        ("UInt64", 0),
        ("String", 0),
        ("LowCardinality(String)", 8),
        ("Array(LowCardinality(String))", 8),
    ] {
        let data_type = DataType::parse(name).unwrap();
        let mut out = Vec::new();
        write_native(
            &data_type,
            new_empty_array(&data_type.to_arrow()).as_ref(),
            &mut out,
        )
        .unwrap();
        assert_eq!(out.len(), bytes, "{name}");
    }
}

#[test]
fn a_low_cardinality_column_with_300_keys_uses_uint16_indexes() {
    let data_type = DataType::parse("LowCardinality(String)").unwrap();
    let array: ArrayRef = Arc::new(StringArray::from_iter_values(
        (0..300).map(|i| i.to_string()),
    ));
    let mut out = Vec::new();
    write_native(&data_type, array.as_ref(), &mut out).unwrap();
    assert_eq!(&out[8..16], &0x0601u64.to_le_bytes());
    native_round_trip(&data_type, &array);
}

#[test]
fn plain_strings_encode_as_low_cardinality_with_clickhouse_layout() {
    // ['red', 'green', 'red', ''] -> keys ['', 'red', 'green'], indexes 01 02 01 00 (native-protocol.md §9.6).
    let data_type = DataType::parse("LowCardinality(String)").unwrap();
    let array: ArrayRef = Arc::new(StringArray::from(vec!["red", "green", "red", ""]));
    let mut out = Vec::new();
    write_native(&data_type, array.as_ref(), &mut out).unwrap();
    let expected = "0100000000000000 0006000000000000 0300000000000000 00 03726564 05677265656e 0400000000000000 01020100";
    assert_eq!(hex::encode(out), expected.replace(' ', ""));
}

#[test]
fn fixed_string_accepts_shorter_strings_padded_and_refuses_longer() {
    let data_type = DataType::parse("FixedString(4)").unwrap();
    let mut out = Vec::new();
    write_native(&data_type, &StringArray::from(vec!["ab", "abcd"]), &mut out).unwrap();
    assert_eq!(out, b"ab\0\0abcd");
    let err = write_native(
        &data_type,
        &StringArray::from(vec!["abcde"]),
        &mut Vec::new(),
    )
    .unwrap_err();
    assert_eq!(
        err.code(),
        granary_protocol::ErrorCode::TOO_LARGE_STRING_SIZE
    );
}

#[test]
fn enums_accept_names_and_refuse_unknown_ones() {
    let data_type = DataType::parse("Enum8('a' = 1, 'b' = 2)").unwrap();
    let mut out = Vec::new();
    write_native(&data_type, &StringArray::from(vec!["b", "a"]), &mut out).unwrap();
    assert_eq!(out, [2, 1]);
    let err = write_native(&data_type, &StringArray::from(vec!["c"]), &mut Vec::new()).unwrap_err();
    assert_eq!(
        err.code(),
        granary_protocol::ErrorCode::UNKNOWN_ELEMENT_OF_ENUM
    );
    let err = write_native(&data_type, &Int8Array::from(vec![3]), &mut Vec::new()).unwrap_err();
    assert_eq!(
        err.code(),
        granary_protocol::ErrorCode::UNKNOWN_ELEMENT_OF_ENUM
    );
}

#[test]
fn values_out_of_a_narrow_type_are_refused() {
    let date = DataType::Date;
    let err = write_native(&date, &Date32Array::from(vec![65536]), &mut Vec::new()).unwrap_err();
    assert_eq!(
        err.code(),
        granary_protocol::ErrorCode::VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE
    );
    let decimal = DataType::parse("Decimal(9, 2)").unwrap();
    let values = Decimal128Array::from(vec![i128::from(i32::MAX) + 1])
        .with_precision_and_scale(9, 2)
        .unwrap();
    let err = write_native(&decimal, &values, &mut Vec::new()).unwrap_err();
    assert_eq!(
        err.code(),
        granary_protocol::ErrorCode::VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE
    );
    let err = write_native(
        &DataType::UInt32,
        &Int32Array::from(vec![1]),
        &mut Vec::new(),
    )
    .unwrap_err();
    assert_eq!(err.code(), granary_protocol::ErrorCode::TYPE_MISMATCH);
}

/// Random types, as a ClickHouse user could declare them.
fn any_type() -> impl Strategy<Value = DataType> {
    let leaf = prop::sample::select(vec![
        "UInt8",
        "UInt64",
        "Int16",
        "Int64",
        "Int128",
        "Float32",
        "Float64",
        "Bool",
        "String",
        "FixedString(3)",
        "Date",
        "Date32",
        "DateTime('UTC')",
        "DateTime64(3)",
        "DateTime64(7, 'UTC')",
        "Decimal(9, 2)",
        "Decimal(20, 5)",
        "Decimal(50, 3)",
        "UUID",
        "IPv4",
        "IPv6",
        "Enum8('x' = 1, 'y' = 2)",
        "Nullable(Int32)",
        "Nullable(String)",
        "LowCardinality(String)",
        "LowCardinality(Nullable(String))",
        "LowCardinality(UInt32)",
        "Nullable(Nothing)",
    ])
    .prop_map(|name| DataType::parse(name).unwrap());
    leaf.prop_recursive(3, 16, 3, |inner| {
        prop_oneof![
            inner.clone().prop_map(|t| DataType::Array(Box::new(t))),
            prop::collection::vec(inner.clone(), 1..4).prop_map(|types| DataType::Tuple(
                types
                    .into_iter()
                    .map(|data_type| TupleElement {
                        name: None,
                        data_type
                    })
                    .collect()
            )),
            (
                prop::sample::select(vec!["String", "UInt16", "LowCardinality(String)"]),
                inner
            )
                .prop_map(|(key, value)| DataType::Map(
                    Box::new(DataType::parse(key).unwrap()),
                    Box::new(value)
                )),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, .. ProptestConfig::default() })]

    #[test]
    fn random_types_round_trip(data_type in any_type(), rows in 0usize..40, seed in 1u64.., null_share in 0u64..100) {
        let array = sample(&data_type, rows, &mut Rng(seed), null_share);
        native_round_trip(&data_type, &array);
        substream_round_trip(&data_type, &array, 5);
    }

    #[test]
    fn type_names_round_trip(data_type in any_type()) {
        let text = data_type.to_string();
        prop_assert_eq!(DataType::parse(&text).unwrap(), data_type);
    }
}
