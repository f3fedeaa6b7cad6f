//! ClickHouse's Native column serialization to and from Arrow arrays.
//!
//! A column serializes as a **state prefix** (written once; only `LowCardinality` has one) and then
//! its **data** for a range of rows, split over **substreams** (null map, array sizes, elements,
//! tuple elements, dictionary keys). The Native wire format sends every substream into one buffer
//! with cumulative array offsets; a MergeTree Wide part keeps one file per substream and stores
//! per-row array sizes so that each granule decodes alone. Both go through the same code: the
//! [`Encoder`] and [`Decoder`] route each substream through a [`StreamSink`] / [`StreamSource`]
//! and carry the [`ArraySizes`] variant.
//!
//! ```text
//! encode(type, array) ── dispatch on the ClickHouse type ──▶ fixed │ bytes │ nullable │ array/map
//!                                                              │ tuple │ low_cardinality │ enums │ aggregate
//! ```

mod aggregate_state;
mod array;
mod bytes;
mod enums;
mod fixed;
mod low_cardinality;
mod nullable;
mod tuple;

use arrow_array::{Array, ArrayRef, NullArray};

use crate::error::{Error, Result};
use crate::io::Cursor;
use crate::types::DataType;

pub use aggregate_state::state_length;

#[cfg(not(target_endian = "little"))]
compile_error!(
    "Granary's codecs copy little-endian values directly and need a little-endian machine"
);

/// Most rows (or array elements) accepted for a type that takes no bytes per row (`Tuple()` and
/// tuples of them): nothing in the input bounds such a count, so this constant does. 2^24 rows is
/// 16x ClickHouse's default `max_insert_block_size` (1 048 449), and a consumer that materializes a
/// UInt64 per such row stays at 128 MiB.
pub const ZERO_WIDTH_ROWS_MAX: usize = 1 << 24;

/// The fewest bytes one row of `data_type` takes in a Native stream: a lower bound to check a row
/// or element count read from the input against the bytes left, before anything is sized by it.
/// Zero only for types that hold nothing per row (`Tuple()` and tuples of them).
pub fn min_row_bytes(data_type: &DataType) -> usize {
    match data_type {
        // The null map byte, then the nested value.
        DataType::Nullable(inner) => 1usize.saturating_add(min_row_bytes(inner)),
        // At least a one-byte index per row (the chunk headers and keys come on top).
        DataType::LowCardinality(_) => 1,
        // One UInt64 size or offset per row.
        DataType::Array(_) | DataType::Map(..) => 8,
        DataType::Tuple(elements) => elements.iter().fold(0usize, |sum, element| {
            sum.saturating_add(min_row_bytes(&element.data_type))
        }),
        // A VarUInt length; a '0' byte per row; every state layout Granary reads takes a byte.
        DataType::String | DataType::Nothing | DataType::AggregateFunction(_) => 1,
        DataType::SimpleAggregateFunction(_, inner) => min_row_bytes(inner),
        other => other.fixed_width().unwrap_or(1),
    }
}

/// How `Array` and `Map` sizes are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArraySizes {
    /// Native wire format: one cumulative end offset (UInt64) per row, from the start of the chunk.
    Offsets,
    /// MergeTree's position-independent format: one element count (UInt64) per row.
    Sizes,
}

/// One step of the path to a substream of a column (ClickHouse's `ISerialization::Substream`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Substream {
    /// The null map of a `Nullable` column.
    NullMap,
    /// The sizes (or offsets) of an `Array` or `Map`.
    ArraySizes,
    /// The elements of an `Array` or `Map`.
    ArrayElements,
    /// One element of a `Tuple` (or the keys/values of a `Map`), by name.
    TupleElement(String),
    /// The dictionary stream of a `LowCardinality` column (holds the state prefix).
    DictionaryKeys,
}

/// The file name of a substream in a Wide part: the column name escaped as ClickHouse's
/// `escapeForFileName` does, plus `.null`, `.size<d>`, `.dict` and `%2E<element>` suffixes.
pub fn stream_file_name(column: &str, path: &[Substream]) -> String {
    let mut name = escape_for_file_name(column);
    let mut array_depth = 0;
    for step in path {
        match step {
            Substream::NullMap => name.push_str(".null"),
            Substream::ArraySizes => name.push_str(&format!(".size{array_depth}")),
            Substream::ArrayElements => array_depth += 1,
            Substream::TupleElement(element) => {
                name.push_str("%2E");
                name.push_str(&escape_for_file_name(element));
            }
            Substream::DictionaryKeys => name.push_str(".dict"),
        }
    }
    name
}

/// Every substream path of a column of `data_type`, in the order ClickHouse enumerates them (null
/// map before values, sizes before elements, dictionary before indexes). A Wide part has one `.bin`
/// and one `.mrk2` per path.
pub fn substream_paths(data_type: &DataType) -> Vec<Vec<Substream>> {
    fn walk(data_type: &DataType, path: &mut Vec<Substream>, paths: &mut Vec<Vec<Substream>>) {
        match data_type {
            DataType::Nullable(inner) => {
                paths.push([path.as_slice(), &[Substream::NullMap]].concat());
                walk(inner, path, paths);
            }
            DataType::LowCardinality(_) => {
                paths.push([path.as_slice(), &[Substream::DictionaryKeys]].concat());
                paths.push(path.clone());
            }
            DataType::Array(inner) => {
                paths.push([path.as_slice(), &[Substream::ArraySizes]].concat());
                path.push(Substream::ArrayElements);
                walk(inner, path, paths);
                path.pop();
            }
            DataType::Map(key, value) => {
                paths.push([path.as_slice(), &[Substream::ArraySizes]].concat());
                path.push(Substream::ArrayElements);
                walk_element(path, "keys", key, paths);
                walk_element(path, "values", value, paths);
                path.pop();
            }
            DataType::Tuple(elements) => {
                for (index, element) in elements.iter().enumerate() {
                    let name = crate::types::tuple_element_name(element, index);
                    walk_element(path, &name, &element.data_type, paths);
                }
            }
            DataType::SimpleAggregateFunction(_, inner) => walk(inner, path, paths),
            _ => paths.push(path.clone()),
        }
    }
    fn walk_element(
        path: &mut Vec<Substream>,
        name: &str,
        data_type: &DataType,
        paths: &mut Vec<Vec<Substream>>,
    ) {
        path.push(Substream::TupleElement(name.to_string()));
        walk(data_type, path, paths);
        path.pop();
    }
    let mut paths = Vec::new();
    walk(data_type, &mut Vec::new(), &mut paths);
    paths
}

/// ClickHouse's `escapeForFileName`: every byte outside `[A-Za-z0-9_]` becomes `%XX` (upper-case hex).
pub fn escape_for_file_name(name: &str) -> String {
    let mut escaped = String::with_capacity(name.len());
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || byte == b'_' {
            escaped.push(byte as char);
        } else {
            escaped.push_str(&format!("%{byte:02X}"));
        }
    }
    escaped
}

/// Where encoded substreams go. A plain `Vec<u8>` takes every substream (the Native format).
pub trait StreamSink {
    /// The buffer for the substream at `path`.
    fn stream(&mut self, path: &[Substream]) -> &mut Vec<u8>;
}

impl StreamSink for Vec<u8> {
    fn stream(&mut self, _path: &[Substream]) -> &mut Vec<u8> {
        self
    }
}

/// Where substreams are decoded from. A single [`Cursor`] serves every substream (the Native format).
pub trait StreamSource<'a> {
    /// The reader positioned in the substream at `path`.
    fn stream(&mut self, path: &[Substream]) -> Result<&mut Cursor<'a>>;
}

impl<'a> StreamSource<'a> for Cursor<'a> {
    fn stream(&mut self, _path: &[Substream]) -> Result<&mut Cursor<'a>> {
        Ok(self)
    }
}

/// Serialization context: the sink, the current substream path and the array-size variant.
pub struct Encoder<'s> {
    sink: &'s mut dyn StreamSink,
    path: Vec<Substream>,
    sizes: ArraySizes,
}

impl std::fmt::Debug for Encoder<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoder")
            .field("path", &self.path)
            .field("sizes", &self.sizes)
            .finish()
    }
}

impl<'s> Encoder<'s> {
    /// An encoder writing into `sink` with the given array-size variant.
    pub fn new(sink: &'s mut dyn StreamSink, sizes: ArraySizes) -> Self {
        Encoder {
            sink,
            path: Vec::new(),
            sizes,
        }
    }

    /// The buffer of the current substream.
    pub(crate) fn out(&mut self) -> &mut Vec<u8> {
        self.sink.stream(&self.path)
    }

    /// Runs `f` one substream deeper.
    pub(crate) fn nested<R>(&mut self, step: Substream, f: impl FnOnce(&mut Self) -> R) -> R {
        self.path.push(step);
        let result = f(self);
        self.path.pop();
        result
    }

    /// Writes the state prefix of `data_type` (once per column, before any data).
    pub fn encode_prefix(&mut self, data_type: &DataType) {
        match data_type {
            DataType::LowCardinality(_) => {
                self.nested(Substream::DictionaryKeys, |enc| {
                    low_cardinality::encode_prefix(enc)
                });
            }
            DataType::Nullable(inner) | DataType::SimpleAggregateFunction(_, inner) => {
                self.encode_prefix(inner)
            }
            DataType::Array(inner) => {
                self.nested(Substream::ArrayElements, |enc| enc.encode_prefix(inner))
            }
            DataType::Map(key, value) => self.nested(Substream::ArrayElements, |enc| {
                enc.nested(Substream::TupleElement("keys".into()), |enc| {
                    enc.encode_prefix(key)
                });
                enc.nested(Substream::TupleElement("values".into()), |enc| {
                    enc.encode_prefix(value)
                });
            }),
            DataType::Tuple(elements) => {
                for (index, element) in elements.iter().enumerate() {
                    let name = crate::types::tuple_element_name(element, index);
                    self.nested(Substream::TupleElement(name), |enc| {
                        enc.encode_prefix(&element.data_type)
                    });
                }
            }
            _ => {}
        }
    }

    /// Writes the data of every row of `array` as `data_type`.
    pub fn encode(&mut self, data_type: &DataType, array: &dyn Array) -> Result<()> {
        match data_type {
            DataType::Nullable(inner) => nullable::encode(self, inner, array),
            DataType::LowCardinality(inner) => low_cardinality::encode(self, inner, array),
            DataType::Array(inner) => array::encode_array(self, inner, array),
            DataType::Map(key, value) => array::encode_map(self, key, value, array),
            DataType::Tuple(elements) => tuple::encode(self, elements, array),
            DataType::Enum8(items) => enums::encode(self, data_type, items, array),
            DataType::Enum16(items) => enums::encode(self, data_type, items, array),
            DataType::String => bytes::encode_string(self, array),
            DataType::FixedString(n) => bytes::encode_fixed_string(self, *n, array),
            DataType::UInt128
            | DataType::Int128
            | DataType::UInt256
            | DataType::Int256
            | DataType::IPv6 => bytes::encode_fixed_binary(self, data_type, array),
            DataType::Uuid => bytes::encode_uuid(self, array),
            DataType::AggregateFunction(_) => bytes::encode_states(self, data_type, array),
            DataType::SimpleAggregateFunction(_, inner) => self.encode(inner, array),
            DataType::Nothing => {
                // ClickHouse writes one '0' byte per row of Nothing; readers ignore the value.
                let rows = array.len();
                let out = self.out();
                out.resize(out.len() + rows, b'0');
                Ok(())
            }
            _ => fixed::encode(self, data_type, array),
        }
    }
}

/// Deserialization context: the source, the current substream path and the array-size variant.
pub struct Decoder<'s, 'a> {
    source: &'s mut dyn StreamSource<'a>,
    path: Vec<Substream>,
    sizes: ArraySizes,
    /// While decoding the values of a `Nullable`, which rows are valid: values under NULLs may be
    /// anything (an enum value that is no item, say) and must not fail the column.
    pub(crate) valid_rows: Option<arrow_buffer::BooleanBuffer>,
}

impl std::fmt::Debug for Decoder<'_, '_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decoder")
            .field("path", &self.path)
            .field("sizes", &self.sizes)
            .finish()
    }
}

impl<'s, 'a> Decoder<'s, 'a> {
    /// A decoder reading from `source` with the given array-size variant.
    pub fn new(source: &'s mut dyn StreamSource<'a>, sizes: ArraySizes) -> Self {
        Decoder {
            source,
            path: Vec::new(),
            sizes,
            valid_rows: None,
        }
    }

    /// The reader of the current substream.
    pub(crate) fn input(&mut self) -> Result<&mut Cursor<'a>> {
        self.source.stream(&self.path)
    }

    /// Runs `f` one substream deeper.
    pub(crate) fn nested<R>(&mut self, step: Substream, f: impl FnOnce(&mut Self) -> R) -> R {
        self.path.push(step);
        let result = f(self);
        self.path.pop();
        result
    }

    /// Reads and checks the state prefix of `data_type`.
    pub fn decode_prefix(&mut self, data_type: &DataType) -> Result<()> {
        match data_type {
            DataType::LowCardinality(_) => self.nested(Substream::DictionaryKeys, |dec| {
                low_cardinality::decode_prefix(dec)
            }),
            DataType::Nullable(inner) | DataType::SimpleAggregateFunction(_, inner) => {
                self.decode_prefix(inner)
            }
            DataType::Array(inner) => {
                self.nested(Substream::ArrayElements, |dec| dec.decode_prefix(inner))
            }
            DataType::Map(key, value) => self.nested(Substream::ArrayElements, |dec| {
                dec.nested(Substream::TupleElement("keys".into()), |dec| {
                    dec.decode_prefix(key)
                })?;
                dec.nested(Substream::TupleElement("values".into()), |dec| {
                    dec.decode_prefix(value)
                })
            }),
            DataType::Tuple(elements) => {
                for (index, element) in elements.iter().enumerate() {
                    let name = crate::types::tuple_element_name(element, index);
                    self.nested(Substream::TupleElement(name), |dec| {
                        dec.decode_prefix(&element.data_type)
                    })?;
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Reads `rows` rows of `data_type` as an Arrow array of `data_type.to_arrow()`.
    pub fn decode(&mut self, data_type: &DataType, rows: usize) -> Result<ArrayRef> {
        match data_type {
            DataType::Nullable(inner) => nullable::decode(self, inner, rows),
            DataType::LowCardinality(inner) => low_cardinality::decode(self, inner, rows),
            DataType::Array(inner) => array::decode_array(self, inner, rows),
            DataType::Map(key, value) => array::decode_map(self, key, value, rows),
            DataType::Tuple(elements) => tuple::decode(self, elements, rows),
            DataType::Enum8(items) => enums::decode(self, items, rows),
            DataType::Enum16(items) => enums::decode(self, items, rows),
            DataType::String => bytes::decode_string(self, rows),
            DataType::FixedString(_)
            | DataType::UInt128
            | DataType::Int128
            | DataType::UInt256
            | DataType::Int256
            | DataType::IPv6 => bytes::decode_fixed_binary(self, data_type, rows),
            DataType::Uuid => bytes::decode_uuid(self, rows),
            DataType::AggregateFunction(function) => bytes::decode_states(self, function, rows),
            DataType::SimpleAggregateFunction(_, inner) => self.decode(inner, rows),
            DataType::Nothing => {
                self.input()?.take(rows, "Nothing column")?;
                Ok(std::sync::Arc::new(NullArray::new(rows)))
            }
            _ => fixed::decode(self, data_type, rows),
        }
    }
}

/// Appends a whole column in the Native wire format: the state prefix, then every row.
pub fn write_native(data_type: &DataType, array: &dyn Array, out: &mut Vec<u8>) -> Result<()> {
    let mut encoder = Encoder::new(out, ArraySizes::Offsets);
    encoder.encode_prefix(data_type);
    if array.is_empty() {
        // An empty column writes only its prefix (LowCardinality writes no empty chunk).
        return Ok(());
    }
    encoder.encode(data_type, array)
}

/// Reads a whole column of `rows` rows in the Native wire format.
pub fn read_native(data_type: &DataType, rows: usize, input: &mut Cursor<'_>) -> Result<ArrayRef> {
    let mut decoder = Decoder::new(input, ArraySizes::Offsets);
    decoder.decode_prefix(data_type)?;
    decoder.decode(data_type, rows)
}

/// Checks that an Arrow array has the expected Arrow type, naming both when it has not.
pub(crate) fn expect_arrow_type(data_type: &DataType, array: &dyn Array) -> Result<()> {
    let expected = data_type.to_arrow();
    if array.data_type() != &expected {
        return Err(Error::type_mismatch(
            format!("column of type {data_type}"),
            format!("Arrow {expected}"),
            array.data_type(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_file_names_follow_clickhouse() {
        assert_eq!(stream_file_name("n", &[Substream::NullMap]), "n.null");
        assert_eq!(stream_file_name("a", &[Substream::ArraySizes]), "a.size0");
        assert_eq!(
            stream_file_name("aa", &[Substream::ArrayElements, Substream::ArraySizes]),
            "aa.size1"
        );
        assert_eq!(
            stream_file_name("lc", &[Substream::DictionaryKeys]),
            "lc.dict"
        );
        assert_eq!(
            stream_file_name("t", &[Substream::TupleElement("a".into())]),
            "t%2Ea"
        );
        assert_eq!(
            stream_file_name(
                "m",
                &[
                    Substream::ArrayElements,
                    Substream::TupleElement("keys".into())
                ]
            ),
            "m%2Ekeys"
        );
        assert_eq!(escape_for_file_name("a/b c"), "a%2Fb%20c");
    }

    #[test]
    fn substreams_are_enumerated_in_clickhouse_order() {
        let names = |type_name: &str| -> Vec<String> {
            let data_type = DataType::parse(type_name).unwrap();
            substream_paths(&data_type)
                .iter()
                .map(|path| stream_file_name("c", path))
                .collect()
        };
        assert_eq!(names("UInt8"), ["c"]);
        assert_eq!(names("Nullable(UInt32)"), ["c.null", "c"]);
        assert_eq!(names("Array(String)"), ["c.size0", "c"]);
        assert_eq!(
            names("Array(Array(Nullable(UInt8)))"),
            ["c.size0", "c.size1", "c.null", "c"]
        );
        assert_eq!(names("LowCardinality(Nullable(String))"), ["c.dict", "c"]);
        assert_eq!(
            names("Map(String, UInt64)"),
            ["c.size0", "c%2Ekeys", "c%2Evalues"]
        );
        assert_eq!(
            names("Tuple(a UInt8, b Array(String))"),
            ["c%2Ea", "c%2Eb.size0", "c%2Eb"]
        );
    }
}
