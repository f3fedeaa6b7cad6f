//! `uniq` and `uniqExact` states.
//!
//! `uniq` is ClickHouse's adaptive sampling: each value's 64-bit key (the integer itself, a float's
//! bits, CityHash64 of a string) is mixed by MurmurHash3's finalizer into a 32-bit hash; the set
//! keeps the hashes whose low `skip_degree` bits are zero, raising `skip_degree` whenever more than
//! 65,536 would be kept, and estimates the count from what it kept. The state is the degree (UInt8),
//! the number of hashes (VarUInt) and the hashes (UInt32 each). With the same hashes and rules the
//! estimates are ClickHouse's, exact up to 65,536 distinct values.
//!
//! `uniqExact` keeps every distinct value: fixed-width values as they are (their own width), strings
//! as ClickHouse's 128-bit SipHash. The state is the count (VarUInt) and the values.

use std::collections::HashSet;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, Float64Type};
use arrow_array::{Array, ArrayRef};
use datafusion::common::ScalarValue;
use granary_protocol::DataType;
use granary_protocol::compress::city_hash64;
use granary_protocol::io::{Cursor, write_var_uint};

use super::State;
use super::values::{conformed, fixed_width, illegal_argument, read_count, write_values};
use crate::error::{Error, Result};
use crate::functions::hashes::fmix64;

/// The most hashes a `uniq` state keeps.
const UNIQ_MAX_SIZE: usize = 1 << 16;

/// How `uniq` turns a value into its 64-bit key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum KeyOf {
    /// CityHash64 of the bytes.
    Bytes,
    /// The bits of a float (negative zero as zero).
    Float32,
    Float64,
    /// The integer sign-extended from `width` bytes.
    Signed(usize),
    /// The integer zero-extended from `width` bytes.
    Unsigned(usize),
}

impl KeyOf {
    /// How `function` keys values of `data_type`.
    pub(super) fn new(function: &str, data_type: &DataType) -> Result<KeyOf> {
        Ok(match data_type {
            DataType::String | DataType::FixedString(_) => KeyOf::Bytes,
            DataType::Float32 => KeyOf::Float32,
            DataType::Float64 => KeyOf::Float64,
            DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::Enum8(_)
            | DataType::Enum16(_)
            | DataType::Date32
            | DataType::DateTime64(..) => KeyOf::Signed(fixed_width(function, data_type)?),
            DataType::Decimal(precision, _) if *precision <= 18 => {
                KeyOf::Signed(fixed_width(function, data_type)?)
            }
            DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32
            | DataType::UInt64
            | DataType::Bool
            | DataType::Date
            | DataType::DateTime(_)
            | DataType::IPv4 => KeyOf::Unsigned(fixed_width(function, data_type)?),
            other if other.fixed_width().is_some() => {
                return Err(Error::not_implemented(format!(
                    "states of aggregate function {function}({other})"
                )));
            }
            other => return Err(illegal_argument(function, other)),
        })
    }

    /// The keys of every value of `values` (of `data_type`, no NULLs).
    pub(super) fn keys(self, data_type: &DataType, values: &ArrayRef) -> Result<Vec<u64>> {
        let values = conformed(data_type, values)?;
        Ok(match self {
            KeyOf::Bytes => match values.as_string_opt::<i32>() {
                Some(strings) => strings
                    .iter()
                    .map(|text| city_hash64(text.unwrap_or_default().as_bytes()))
                    .collect(),
                None => values
                    .as_fixed_size_binary()
                    .iter()
                    .map(|bytes| city_hash64(bytes.unwrap_or_default()))
                    .collect(),
            },
            KeyOf::Float32 => values
                .as_primitive::<Float32Type>()
                .values()
                .iter()
                .map(|value| u64::from((value + 0.0).to_bits()))
                .collect(),
            KeyOf::Float64 => values
                .as_primitive::<Float64Type>()
                .values()
                .iter()
                .map(|value| (value + 0.0).to_bits())
                .collect(),
            KeyOf::Signed(width) | KeyOf::Unsigned(width) => {
                let mut bytes = Vec::with_capacity(values.len() * width);
                write_values(data_type, &values, &mut bytes)?;
                let signed = matches!(self, KeyOf::Signed(_));
                bytes
                    .chunks_exact(width)
                    .map(|chunk| {
                        let negative = signed && chunk[width - 1] & 0x80 != 0;
                        let mut word = [if negative { 0xff } else { 0 }; 8];
                        word[..width].copy_from_slice(chunk);
                        u64::from_le_bytes(word)
                    })
                    .collect()
            }
        })
    }
}

/// `uniq`'s hash of a key: MurmurHash3's finalizer, the low 32 bits.
fn mix(key: u64) -> u32 {
    fmix64(key) as u32
}

/// CRC-32C of a 64-bit word from an all-ones register, without the final inversion (the SSE 4.2
/// `crc32` instruction as ClickHouse's `intHashCRC32` uses it).
fn crc32c_u64(word: u64) -> u32 {
    let mut crc: u32 = 0xffff_ffff;
    for byte in word.to_le_bytes() {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x82f6_3b78
            } else {
                crc >> 1
            };
        }
    }
    crc
}

/// `uniq`'s state.
#[derive(Debug)]
pub struct Uniq {
    data_type: DataType,
    key_of: KeyOf,
    skip_degree: u8,
    hashes: HashSet<u32>,
}

impl Uniq {
    /// An empty state over values of `argument`.
    pub fn new(argument: &DataType) -> Result<Uniq> {
        Ok(Uniq {
            data_type: argument.clone(),
            key_of: KeyOf::new("uniq", argument)?,
            skip_degree: 0,
            hashes: HashSet::new(),
        })
    }

    fn good(&self, hash: u32) -> bool {
        hash.trailing_zeros() >= u32::from(self.skip_degree)
    }

    fn insert(&mut self, hash: u32) {
        if self.good(hash) && self.hashes.insert(hash) {
            while self.hashes.len() > UNIQ_MAX_SIZE {
                self.skip_degree += 1;
                let degree = u32::from(self.skip_degree);
                self.hashes.retain(|hash| hash.trailing_zeros() >= degree);
            }
        }
    }

    /// ClickHouse's estimate: the kept count scaled by the sampling, plus a pseudo-random remainder
    /// below the scale, corrected for collisions of 32-bit hashes.
    fn estimate(&self) -> u64 {
        let kept = self.hashes.len() as u64;
        if self.skip_degree == 0 {
            return kept;
        }
        let scale = 1u64 << self.skip_degree;
        let estimate = kept * scale + (u64::from(crc32c_u64(kept)) & (scale - 1));
        let buckets = (1u64 << 32) as f64;
        (buckets * (buckets.ln() - (buckets - estimate as f64).ln())).round() as u64
    }
}

impl State for Uniq {
    fn memory(&self) -> usize {
        self.hashes.capacity() * (std::mem::size_of::<u32>() + 1)
    }

    fn add(&mut self, arguments: &[ArrayRef]) -> Result<()> {
        for key in self.key_of.keys(&self.data_type, &arguments[0])? {
            self.insert(mix(key));
        }
        Ok(())
    }

    fn merge(&mut self, input: &mut Cursor<'_>) -> Result<()> {
        let degree = input.read_u8("uniq skip degree")?;
        let count = read_count(input, "uniq element count")?;
        if degree > self.skip_degree {
            self.skip_degree = degree;
            let degree = u32::from(degree);
            self.hashes.retain(|hash| hash.trailing_zeros() >= degree);
        }
        for _ in 0..count {
            self.insert(input.read_u32("uniq hash")?);
        }
        Ok(())
    }

    fn write(&self, out: &mut Vec<u8>) -> Result<()> {
        out.push(self.skip_degree);
        write_var_uint(out, self.hashes.len() as u64);
        let mut hashes: Vec<u32> = self.hashes.iter().copied().collect();
        hashes.sort_unstable();
        for hash in hashes {
            out.extend_from_slice(&hash.to_le_bytes());
        }
        Ok(())
    }

    fn result(&self) -> Result<ScalarValue> {
        Ok(ScalarValue::UInt64(Some(self.estimate())))
    }
}

/// `uniqExact`'s state.
#[derive(Debug)]
pub struct UniqExact {
    data_type: DataType,
    /// Bytes per stored value: the type's width, or 16 for hashed strings.
    width: usize,
    hashed: bool,
    values: HashSet<u128>,
}

impl UniqExact {
    /// An empty state over values of `argument`.
    pub fn new(argument: &DataType) -> Result<UniqExact> {
        let hashed = matches!(argument, DataType::String | DataType::FixedString(_));
        let width = if hashed {
            16
        } else {
            fixed_width("uniqExact", argument)?
        };
        if width > 16 {
            return Err(Error::not_implemented(format!(
                "states of aggregate function uniqExact({argument})"
            )));
        }
        Ok(UniqExact {
            data_type: argument.clone(),
            width,
            hashed,
            values: HashSet::new(),
        })
    }
}

impl State for UniqExact {
    fn memory(&self) -> usize {
        self.values.capacity() * (std::mem::size_of::<u128>() + 1)
    }

    fn add(&mut self, arguments: &[ArrayRef]) -> Result<()> {
        let values = conformed(&self.data_type, &arguments[0])?;
        if self.hashed {
            if let Some(strings) = values.as_string_opt::<i32>() {
                for text in strings.iter() {
                    self.values
                        .insert(sip_hash128(text.unwrap_or_default().as_bytes()));
                }
            } else {
                for bytes in values.as_fixed_size_binary().iter() {
                    self.values.insert(sip_hash128(bytes.unwrap_or_default()));
                }
            }
            return Ok(());
        }
        let mut bytes = Vec::with_capacity(values.len() * self.width);
        write_values(&self.data_type, &values, &mut bytes)?;
        for chunk in bytes.chunks_exact(self.width) {
            let mut word = [0u8; 16];
            word[..self.width].copy_from_slice(chunk);
            self.values.insert(u128::from_le_bytes(word));
        }
        Ok(())
    }

    fn merge(&mut self, input: &mut Cursor<'_>) -> Result<()> {
        let count = read_count(input, "uniqExact element count")?;
        for _ in 0..count {
            let mut word = [0u8; 16];
            word[..self.width].copy_from_slice(input.take(self.width, "uniqExact value")?);
            self.values.insert(u128::from_le_bytes(word));
        }
        Ok(())
    }

    fn write(&self, out: &mut Vec<u8>) -> Result<()> {
        write_var_uint(out, self.values.len() as u64);
        let mut values: Vec<u128> = self.values.iter().copied().collect();
        values.sort_unstable();
        for value in values {
            out.extend_from_slice(&value.to_le_bytes()[..self.width]);
        }
        Ok(())
    }

    fn result(&self) -> Result<ScalarValue> {
        Ok(ScalarValue::UInt64(Some(self.values.len() as u64)))
    }
}

/// ClickHouse's 128-bit SipHash (`SipHash::get128`): SipHash-2-4 with zero keys and the 64-bit
/// finalization, the halves `v0 ^ v1` (low) and `v2 ^ v3` (high).
fn sip_hash128(data: &[u8]) -> u128 {
    let mut v = [
        0x736f_6d65_7073_6575u64,
        0x646f_7261_6e64_6f6d,
        0x6c79_6765_6e65_7261,
        0x7465_6462_7974_6573,
    ];
    fn round(v: &mut [u64; 4]) {
        v[0] = v[0].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(13) ^ v[0];
        v[0] = v[0].rotate_left(32);
        v[2] = v[2].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(16) ^ v[2];
        v[0] = v[0].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(21) ^ v[0];
        v[2] = v[2].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(17) ^ v[2];
        v[2] = v[2].rotate_left(32);
    }
    let compress = |v: &mut [u64; 4], word: u64| {
        v[3] ^= word;
        round(v);
        round(v);
        v[0] ^= word;
    };
    let mut chunks = data.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        compress(&mut v, u64::from_le_bytes(word));
    }
    let mut last = [0u8; 8];
    last[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
    last[7] = data.len() as u8;
    compress(&mut v, u64::from_le_bytes(last));
    v[2] ^= 0xff;
    for _ in 0..4 {
        round(&mut v);
    }
    u128::from(v[0] ^ v[1]) | (u128::from(v[2] ^ v[3]) << 64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn sip_hash128_is_clickhouses() {
        // hex(sipHash128('0')) in ClickHouse.
        assert_eq!(
            hex::encode(sip_hash128(b"0").to_le_bytes()),
            "8b0b836069a91c43c1552354d9a2b3f5"
        );
    }

    #[test]
    fn uniq_hashes_are_clickhouses() {
        // hex(uniqState(x)) in ClickHouse: for numbers(3), and for toInt8(-1).
        let mut state = Uniq::new(&DataType::UInt64).unwrap();
        state
            .add(&[Arc::new(arrow_array::UInt64Array::from(vec![0, 1, 2])) as ArrayRef])
            .unwrap();
        let mut out = Vec::new();
        state.write(&mut out).unwrap();
        assert_eq!(hex::encode(out), "0003000000002ccbc234e7830665");
        let mut state = Uniq::new(&DataType::Int8).unwrap();
        state
            .add(&[Arc::new(arrow_array::Int8Array::from(vec![-1])) as ArrayRef])
            .unwrap();
        let mut out = Vec::new();
        state.write(&mut out).unwrap();
        assert_eq!(hex::encode(out), "0001215f824b");
    }

    #[test]
    fn uniq_samples_beyond_its_size() {
        let mut state = Uniq::new(&DataType::UInt64).unwrap();
        let values: Vec<u64> = (0..200_000).collect();
        state
            .add(&[Arc::new(arrow_array::UInt64Array::from(values)) as ArrayRef])
            .unwrap();
        assert!(state.skip_degree > 0);
        assert!(state.hashes.len() <= UNIQ_MAX_SIZE);
        let estimate = state.estimate() as f64;
        assert!(
            (estimate - 200_000.0).abs() / 200_000.0 < 0.02,
            "{estimate}"
        );
    }
}
