//! Partition ids from partition-key values, exactly as ClickHouse computes them
//! (`MergeTreePartition::getID`):
//!
//! - no partition key: `all`;
//! - every value an integer (UInt*/Int* up to 64 bits, `Date`, `Date32`, `DateTime`, `Enum`, `Bool`,
//!   `IPv4`): the decimal values joined by `-`, a `Date` written as `YYYYMMDD`;
//! - otherwise: the 32 hex digits of ClickHouse's SipHash128 over each value as a `Field` (a type
//!   tag, then the value).
//!
//! The ids are directory names and persist forever; the tests pin them to ClickHouse's own output.

use arrow_array::cast::AsArray;
use arrow_array::types::*;
use arrow_array::{Array, ArrayRef};
use granary_protocol::DataType;

use crate::error::{Error, Result};

/// ClickHouse's `SipHash` (SipHash-2-4 with zero keys), whose 128-bit result is `v0 ^ v1, v2 ^ v3`
/// after a finalization that xors 0xff into `v2` — not the reference 128-bit SipHash.
#[derive(Debug, Clone)]
pub struct SipHash {
    v: [u64; 4],
    tail: [u8; 8],
    tail_len: usize,
    count: u64,
}

impl Default for SipHash {
    fn default() -> Self {
        SipHash {
            v: [
                0x736f_6d65_7073_6575,
                0x646f_7261_6e64_6f6d,
                0x6c79_6765_6e65_7261,
                0x7465_6462_7974_6573,
            ],
            tail: [0; 8],
            tail_len: 0,
            count: 0,
        }
    }
}

impl SipHash {
    fn round(&mut self) {
        let v = &mut self.v;
        v[0] = v[0].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(13);
        v[1] ^= v[0];
        v[0] = v[0].rotate_left(32);
        v[2] = v[2].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(16);
        v[3] ^= v[2];
        v[0] = v[0].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(21);
        v[3] ^= v[0];
        v[2] = v[2].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(17);
        v[1] ^= v[2];
        v[2] = v[2].rotate_left(32);
    }

    fn word(&mut self, word: u64) {
        self.v[3] ^= word;
        self.round();
        self.round();
        self.v[0] ^= word;
    }

    /// Feeds bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        self.count += bytes.len() as u64;
        for byte in bytes {
            self.tail[self.tail_len] = *byte;
            self.tail_len += 1;
            if self.tail_len == 8 {
                let word = u64::from_le_bytes(self.tail);
                self.word(word);
                self.tail_len = 0;
            }
        }
    }

    /// The 16-byte result.
    pub fn finish128(mut self) -> [u8; 16] {
        let mut last = [0u8; 8];
        last[..self.tail_len].copy_from_slice(&self.tail[..self.tail_len]);
        last[7] = self.count as u8;
        self.word(u64::from_le_bytes(last));
        self.v[2] ^= 0xff;
        for _ in 0..4 {
            self.round();
        }
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&(self.v[0] ^ self.v[1]).to_le_bytes());
        out[8..].copy_from_slice(&(self.v[2] ^ self.v[3]).to_le_bytes());
        out
    }
}

/// `Field::Types` tags ClickHouse hashes before each value.
mod tag {
    pub const UINT64: u8 = 1;
    pub const INT64: u8 = 2;
    pub const FLOAT64: u8 = 3;
    pub const UINT128: u8 = 4;
    pub const INT128: u8 = 5;
    pub const STRING: u8 = 16;
    pub const DECIMAL32: u8 = 19;
    pub const DECIMAL64: u8 = 20;
    pub const DECIMAL128: u8 = 21;
    pub const DECIMAL256: u8 = 23;
}

/// A partition-key value of one row, as ClickHouse's `Field` sees it.
enum FieldValue {
    Unsigned(u64),
    Signed(i64),
    /// A `Date`: an unsigned day number, written `YYYYMMDD` in integer ids.
    Day(u64),
    /// Anything else: its tag and bytes.
    Hashed(u8, Vec<u8>),
}

fn not_implemented(data_type: &DataType) -> Error {
    Error::Protocol(granary_protocol::Error::NotImplemented(format!(
        "partition keys of type {data_type}"
    )))
}

fn field_value(data_type: &DataType, array: &ArrayRef, row: usize) -> Result<FieldValue> {
    if array.is_null(row) {
        return Err(Error::Protocol(granary_protocol::Error::NotImplemented(
            "NULL in a partition key (allow_nullable_key)".into(),
        )));
    }
    Ok(match data_type {
        DataType::LowCardinality(inner) => {
            let dictionary = array.as_dictionary::<Int32Type>();
            return field_value(
                inner,
                dictionary.values(),
                dictionary.keys().value(row) as usize,
            );
        }
        DataType::Nullable(inner) => return field_value(inner, array, row),
        DataType::UInt8 => {
            FieldValue::Unsigned(array.as_primitive::<UInt8Type>().value(row).into())
        }
        DataType::UInt16 => {
            FieldValue::Unsigned(array.as_primitive::<UInt16Type>().value(row).into())
        }
        DataType::UInt32 | DataType::IPv4 => {
            FieldValue::Unsigned(array.as_primitive::<UInt32Type>().value(row).into())
        }
        DataType::UInt64 => FieldValue::Unsigned(array.as_primitive::<UInt64Type>().value(row)),
        DataType::Int8 => FieldValue::Signed(array.as_primitive::<Int8Type>().value(row).into()),
        DataType::Int16 => FieldValue::Signed(array.as_primitive::<Int16Type>().value(row).into()),
        DataType::Int32 => FieldValue::Signed(array.as_primitive::<Int32Type>().value(row).into()),
        DataType::Int64 => FieldValue::Signed(array.as_primitive::<Int64Type>().value(row)),
        DataType::Bool => FieldValue::Unsigned(u64::from(array.as_boolean().value(row))),
        DataType::Date => FieldValue::Day(array.as_primitive::<Date32Type>().value(row) as u64),
        DataType::Date32 => {
            FieldValue::Signed(array.as_primitive::<Date32Type>().value(row).into())
        }
        DataType::DateTime(_) => {
            FieldValue::Unsigned(array.as_primitive::<TimestampSecondType>().value(row) as u64)
        }
        DataType::Enum8(items) => FieldValue::Signed(
            items[array.as_dictionary::<Int8Type>().keys().value(row) as usize]
                .1
                .into(),
        ),
        DataType::Enum16(items) => FieldValue::Signed(
            items[array.as_dictionary::<Int16Type>().keys().value(row) as usize]
                .1
                .into(),
        ),
        DataType::Float32 => FieldValue::Hashed(
            tag::FLOAT64,
            f64::from(array.as_primitive::<Float32Type>().value(row))
                .to_le_bytes()
                .to_vec(),
        ),
        DataType::Float64 => FieldValue::Hashed(
            tag::FLOAT64,
            array
                .as_primitive::<Float64Type>()
                .value(row)
                .to_le_bytes()
                .to_vec(),
        ),
        DataType::String => {
            let value = array.as_string::<i32>().value(row).as_bytes();
            FieldValue::Hashed(
                tag::STRING,
                [&(value.len() as u64).to_le_bytes()[..], value].concat(),
            )
        }
        DataType::FixedString(_) => {
            let value = array.as_fixed_size_binary().value(row);
            FieldValue::Hashed(
                tag::STRING,
                [&(value.len() as u64).to_le_bytes()[..], value].concat(),
            )
        }
        DataType::UInt128 => FieldValue::Hashed(
            tag::UINT128,
            array.as_fixed_size_binary().value(row).to_vec(),
        ),
        DataType::Int128 => FieldValue::Hashed(
            tag::INT128,
            array.as_fixed_size_binary().value(row).to_vec(),
        ),
        DataType::Uuid => {
            // A UUID is a UInt128 field, in the byte order the wire uses.
            let rfc = array.as_fixed_size_binary().value(row);
            let wire: Vec<u8> = rfc[..8]
                .iter()
                .rev()
                .chain(rfc[8..].iter().rev())
                .copied()
                .collect();
            FieldValue::Hashed(tag::UINT128, wire)
        }
        DataType::Decimal(precision, _) => {
            let value = array.as_primitive::<Decimal128Type>();
            match granary_protocol::types::decimal_bytes(*precision) {
                4 => FieldValue::Hashed(
                    tag::DECIMAL32,
                    (value.value(row) as i32).to_le_bytes().to_vec(),
                ),
                8 => FieldValue::Hashed(
                    tag::DECIMAL64,
                    (value.value(row) as i64).to_le_bytes().to_vec(),
                ),
                16 => FieldValue::Hashed(tag::DECIMAL128, value.value(row).to_le_bytes().to_vec()),
                _ => FieldValue::Hashed(
                    tag::DECIMAL256,
                    array
                        .as_primitive::<Decimal256Type>()
                        .value(row)
                        .to_le_bytes()
                        .to_vec(),
                ),
            }
        }
        DataType::DateTime64(precision, _) => {
            let (unit, factor) = granary_protocol::types::datetime64_unit(*precision);
            let raw = match unit {
                arrow_schema::TimeUnit::Second => {
                    array.as_primitive::<TimestampSecondType>().value(row)
                }
                arrow_schema::TimeUnit::Millisecond => {
                    array.as_primitive::<TimestampMillisecondType>().value(row)
                }
                arrow_schema::TimeUnit::Microsecond => {
                    array.as_primitive::<TimestampMicrosecondType>().value(row)
                }
                arrow_schema::TimeUnit::Nanosecond => {
                    array.as_primitive::<TimestampNanosecondType>().value(row)
                }
            };
            FieldValue::Hashed(tag::DECIMAL64, (raw / factor).to_le_bytes().to_vec())
        }
        other => return Err(not_implemented(other)),
    })
}

/// `YYYYMMDD` of a day number (days since 1970-01-01).
fn yyyymmdd(days: i64) -> String {
    let (year, month, day) = crate::functions::civil_from_days(days);
    format!("{year:04}{month:02}{day:02}")
}

/// The partition id of row `row`, whose partition-key values are `keys` (type and column each).
pub fn partition_id(keys: &[(DataType, ArrayRef)], row: usize) -> Result<String> {
    if keys.is_empty() {
        return Ok("all".into());
    }
    let values = keys
        .iter()
        .map(|(data_type, array)| field_value(data_type, array, row))
        .collect::<Result<Vec<_>>>()?;
    if values
        .iter()
        .all(|value| !matches!(value, FieldValue::Hashed(..)))
    {
        let parts: Vec<String> = values
            .iter()
            .map(|value| match value {
                FieldValue::Unsigned(value) => value.to_string(),
                FieldValue::Signed(value) => value.to_string(),
                FieldValue::Day(days) => yyyymmdd(*days as i64),
                FieldValue::Hashed(..) => String::new(),
            })
            .collect();
        return Ok(parts.join("-"));
    }
    let mut hash = SipHash::default();
    for (value, (data_type, _)) in values.iter().zip(keys) {
        match value {
            FieldValue::Unsigned(value) | FieldValue::Day(value) => {
                if matches!(data_type.strip_nullable(), DataType::Bool | DataType::IPv4) {
                    return Err(not_implemented(data_type));
                }
                hash.update(&[tag::UINT64]);
                hash.update(&value.to_le_bytes());
            }
            FieldValue::Signed(value) => {
                if matches!(
                    data_type.strip_nullable(),
                    DataType::Enum8(_) | DataType::Enum16(_)
                ) {
                    return Err(not_implemented(data_type));
                }
                hash.update(&[tag::INT64]);
                hash.update(&value.to_le_bytes());
            }
            FieldValue::Hashed(tag, bytes) => {
                hash.update(&[*tag]);
                hash.update(bytes);
            }
        }
    }
    Ok(hash
        .finish128()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use arrow_array::*;

    fn id(values: Vec<(&str, ArrayRef)>) -> String {
        let keys: Vec<(DataType, ArrayRef)> = values
            .into_iter()
            .map(|(name, array)| (DataType::parse(name).unwrap(), array))
            .collect();
        partition_id(&keys, 0).unwrap()
    }

    /// Every expected id below is what ClickHouse 26.9 (chDB) returns for `partitionId(...)`.
    #[test]
    fn ids_match_clickhouse() {
        assert_eq!(partition_id(&[], 0).unwrap(), "all");
        assert_eq!(
            id(vec![("UInt32", Arc::new(UInt32Array::from(vec![202203])))]),
            "202203"
        );
        assert_eq!(
            id(vec![("Date", Arc::new(Date32Array::from(vec![19066])))]),
            "20220315"
        );
        assert_eq!(
            id(vec![
                ("Int8", Arc::new(Int8Array::from(vec![-5]))),
                ("Int16", Arc::new(Int16Array::from(vec![-3])))
            ]),
            "-5--3"
        );
        assert_eq!(
            id(vec![(
                "DateTime('UTC')",
                Arc::new(TimestampSecondArray::from(vec![1_647_302_400]).with_timezone("UTC"))
            )]),
            "1647302400"
        );
        assert_eq!(
            id(vec![("Date32", Arc::new(Date32Array::from(vec![19066])))]),
            "19066"
        );
        assert_eq!(
            id(vec![(
                "UInt64",
                Arc::new(UInt64Array::from(vec![u64::MAX]))
            )]),
            "18446744073709551615"
        );
        assert_eq!(
            id(vec![("String", Arc::new(StringArray::from(vec!["abc"])))]),
            "f815b3f19bae3563399d3c6214a8ed43"
        );
        assert_eq!(
            id(vec![("String", Arc::new(StringArray::from(vec![""])))]),
            "f64abffc6c96f8ef72c783f1b9426e19"
        );
        assert_eq!(
            id(vec![("Float64", Arc::new(Float64Array::from(vec![1.5])))]),
            "11876ff8640afac37203e8651c527cea"
        );
        assert_eq!(
            id(vec![("Float32", Arc::new(Float32Array::from(vec![1.5])))]),
            "11876ff8640afac37203e8651c527cea"
        );
        assert_eq!(
            id(vec![
                ("String", Arc::new(StringArray::from(vec!["a"]))),
                ("UInt8", Arc::new(UInt8Array::from(vec![1])))
            ]),
            "e8ee2e35136ae10e4042274fd5b3dfdf"
        );
        let fixed = FixedSizeBinaryArray::try_from_iter(vec![*b"ab\0"].into_iter()).unwrap();
        assert_eq!(
            id(vec![("FixedString(3)", Arc::new(fixed))]),
            "b5c66beb65170eaba1311b34819cd11b"
        );
        let decimal = Decimal128Array::from(vec![150])
            .with_precision_and_scale(9, 2)
            .unwrap();
        assert_eq!(
            id(vec![("Decimal(9, 2)", Arc::new(decimal))]),
            "5a693d6b11ee645c737d2fa6e60e123c"
        );
        let uuid = FixedSizeBinaryArray::try_from_iter(
            vec![hex_bytes("00112233445566778899aabbccddeeff")].into_iter(),
        )
        .unwrap();
        assert_eq!(
            id(vec![("UUID", Arc::new(uuid))]),
            "2462615b0a052003f1dfc9e6cda040a3"
        );
        let mixed = vec![
            ("Date", Arc::new(Date32Array::from(vec![18993])) as ArrayRef),
            ("String", Arc::new(StringArray::from(vec!["x"]))),
        ];
        assert_eq!(id(mixed), "ce5afec378d47742957cd42d2dd68aa7");
        let int128 =
            FixedSizeBinaryArray::try_from_iter(vec![5i128.to_le_bytes()].into_iter()).unwrap();
        assert_eq!(
            id(vec![("Int128", Arc::new(int128))]),
            "6a7e34f09c319df0b795e317979d66b3"
        );
        let time64 = TimestampMillisecondArray::from(vec![1_640_995_200_000]).with_timezone("UTC");
        assert_eq!(
            id(vec![("DateTime64(3, 'UTC')", Arc::new(time64))]),
            "b40ac2446959b5b670eb9f17833c43a2"
        );
    }

    fn hex_bytes(text: &str) -> [u8; 16] {
        let mut bytes = [0u8; 16];
        for (index, byte) in bytes.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&text[index * 2..index * 2 + 2], 16).unwrap();
        }
        bytes
    }

    #[test]
    fn dates_render_as_yyyymmdd() {
        assert_eq!(yyyymmdd(0), "19700101");
        assert_eq!(yyyymmdd(19_782), "20240229");
        assert_eq!(yyyymmdd(65_535), "21490606");
        assert_eq!(yyyymmdd(-1), "19691231");
    }

    #[test]
    fn nulls_are_refused() {
        let keys = vec![(
            DataType::parse("Nullable(UInt8)").unwrap(),
            Arc::new(UInt8Array::from(vec![None])) as ArrayRef,
        )];
        assert!(partition_id(&keys, 0).is_err());
    }
}
