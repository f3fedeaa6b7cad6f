//! `uniqCombined(K)` and `uniqCombined64(K)` states: ClickHouse's combined estimator.
//!
//! Each value becomes a hash: a number's 64-bit key (see [`KeyOf`]) mixed by MurmurHash3's
//! finalizer, a string's CityHash64. `uniqCombined` of numbers keeps 32-bit hashes; strings and
//! `uniqCombined64` keep 64-bit ones. The state counts distinct hashes exactly up to
//! 2^(K-4) of them (2^(K-5) for 64-bit hashes); the next insert turns it into a HyperLogLog sketch
//! of 2^K buckets (bucket = the low K bits of the hash, rank = trailing zeros of the rest plus one).
//!
//! Estimates are ClickHouse's: exact counts, then linear counting while ClickHouse uses it and
//! the raw HyperLogLog estimate beyond 5·2^K. For K = 17, between a linear estimate of 177,700 and
//! a raw one of 5·2^K ClickHouse subtracts an empirical bias table; Granary keeps linear counting
//! there, whose error at those sizes is under 1% (ClickHouse documents uniqCombined's as ~1%).
//!
//! The state is ClickHouse's: a container byte (1 small set, 2 hash set, 3 sketch); for sets a
//! VarUInt count and the hashes (4 or 8 bytes each, written sorted); for the sketch the ranks
//! packed in 5 (32-bit hashes) or 6 bits each, least significant bit first, then the number of
//! buckets of each rank (UInt32 each) and the number of empty buckets (UInt16 for K < 16, else
//! UInt32).

use std::collections::HashSet;

use arrow_array::ArrayRef;
use datafusion::common::ScalarValue;
use granary_protocol::io::{Cursor, write_var_uint};
use granary_protocol::{DataType, ErrorCode};

use super::State;
use super::uniques::KeyOf;
use super::values::read_count;
use crate::error::{Error, Result};
use crate::functions::hashes::fmix64;

/// The precision ClickHouse uses when none is given.
pub const DEFAULT_PRECISION: u8 = 17;

/// The precision for which ClickHouse corrects estimates with its bias table.
const BIAS_TABLE_PRECISION: u8 = 17;

/// The largest set ClickHouse writes as its small, fixed-size container.
const SMALL_SET_MAX: usize = 16;

/// `uniqCombined`'s and `uniqCombined64`'s state.
#[derive(Debug)]
pub struct UniqCombined {
    data_type: DataType,
    key_of: KeyOf,
    /// 64-bit hashes rather than 32-bit ones.
    wide: bool,
    precision: u8,
    exact: HashSet<u64>,
    sketch: Option<Sketch>,
}

impl UniqCombined {
    /// An empty state of `function` (`uniqCombined` or `uniqCombined64`) with `parameters`
    /// (the precision K, 12 to 20) over values of `argument`.
    pub fn new(function: &str, parameters: &[String], argument: &DataType) -> Result<UniqCombined> {
        let precision = match parameters {
            [] => DEFAULT_PRECISION,
            [text] => text
                .parse::<u8>()
                .ok()
                .filter(|k| (12..=20).contains(k))
                .ok_or_else(|| {
                    Error::query(
                        ErrorCode::ARGUMENT_OUT_OF_BOUND,
                        format!(
                            "parameter for aggregate function {function} is out of range: [12, 20]"
                        ),
                    )
                })?,
            _ => {
                return Err(Error::query(
                    ErrorCode::NUMBER_OF_ARGUMENTS_DOESNT_MATCH,
                    format!("aggregate function {function} requires one parameter or less"),
                ));
            }
        };
        let key_of = KeyOf::new(function, argument)?;
        Ok(UniqCombined {
            data_type: argument.clone(),
            key_of,
            wide: function == "uniqCombined64" || key_of == KeyOf::Bytes,
            precision,
            exact: HashSet::new(),
            sketch: None,
        })
    }

    fn hash_width(&self) -> usize {
        if self.wide { 8 } else { 4 }
    }

    /// The most distinct hashes counted exactly.
    fn exact_limit(&self) -> usize {
        1 << (self.precision - 5 + u8::from(!self.wide))
    }

    fn insert(&mut self, hash: u64) {
        if let Some(sketch) = &mut self.sketch {
            sketch.insert(hash);
        } else if self.exact.len() < self.exact_limit() {
            self.exact.insert(hash);
        } else {
            // ClickHouse turns a full set into a sketch on the next insert, even of a hash it holds.
            self.sketch_mut().insert(hash);
        }
    }

    fn sketch_mut(&mut self) -> &mut Sketch {
        if self.sketch.is_none() {
            let mut sketch = Sketch::new(self.precision, self.wide);
            for &held in &self.exact {
                sketch.insert(held);
            }
            self.exact = HashSet::new();
            self.sketch = Some(sketch);
        }
        self.sketch
            .get_or_insert_with(|| unreachable!("made above"))
    }
}

impl State for UniqCombined {
    fn memory(&self) -> usize {
        self.exact.capacity() * (std::mem::size_of::<u64>() + 1)
            + self.sketch.as_ref().map_or(0, |_| 1 << self.precision)
    }

    fn add(&mut self, arguments: &[ArrayRef]) -> Result<()> {
        let hashed = self.key_of == KeyOf::Bytes;
        let narrow = !self.wide;
        for key in self.key_of.keys(&self.data_type, &arguments[0])? {
            let hash = if hashed { key } else { fmix64(key) };
            self.insert(if narrow { hash & 0xffff_ffff } else { hash });
        }
        Ok(())
    }

    fn merge(&mut self, input: &mut Cursor<'_>) -> Result<()> {
        match input.read_u8("uniqCombined container type")? {
            1 | 2 => {
                let count = read_count(input, "uniqCombined element count")?;
                for _ in 0..count {
                    let hash = if self.wide {
                        input.read_u64("uniqCombined hash")?
                    } else {
                        u64::from(input.read_u32("uniqCombined hash")?)
                    };
                    self.insert(hash);
                }
                Ok(())
            }
            3 => {
                let other = Sketch::read(self.precision, self.wide, input)?;
                self.sketch_mut().merge(&other);
                Ok(())
            }
            other => Err(Error::query(
                ErrorCode::INCORRECT_DATA,
                format!("uniqCombined state with container type {other}"),
            )),
        }
    }

    fn write(&self, out: &mut Vec<u8>) -> Result<()> {
        if let Some(sketch) = &self.sketch {
            out.push(3);
            sketch.write(out);
            return Ok(());
        }
        out.push(if self.exact.len() <= SMALL_SET_MAX {
            1
        } else {
            2
        });
        write_var_uint(out, self.exact.len() as u64);
        let mut hashes: Vec<u64> = self.exact.iter().copied().collect();
        hashes.sort_unstable();
        let width = self.hash_width();
        for hash in hashes {
            out.extend_from_slice(&hash.to_le_bytes()[..width]);
        }
        Ok(())
    }

    fn result(&self) -> Result<ScalarValue> {
        let count = match &self.sketch {
            Some(sketch) => sketch.estimate(),
            None => self.exact.len() as u64,
        };
        Ok(ScalarValue::UInt64(Some(count)))
    }
}

/// A HyperLogLog sketch: the highest rank seen in each of 2^precision buckets.
#[derive(Debug, Clone)]
struct Sketch {
    precision: u8,
    /// Bits of the hashes: 64 or 32.
    hash_bits: u32,
    ranks: Vec<u8>,
}

impl Sketch {
    fn new(precision: u8, wide: bool) -> Sketch {
        Sketch {
            precision,
            hash_bits: if wide { 64 } else { 32 },
            ranks: vec![0; 1 << precision],
        }
    }

    fn max_rank(&self) -> u8 {
        (self.hash_bits - u32::from(self.precision) + 1) as u8
    }

    /// Bits per packed rank.
    fn rank_bits(&self) -> usize {
        if self.hash_bits == 64 { 6 } else { 5 }
    }

    /// Bytes of the count of empty buckets.
    fn zeros_width(&self) -> usize {
        if self.precision < 16 { 2 } else { 4 }
    }

    fn insert(&mut self, hash: u64) {
        let bucket = (hash & ((1u64 << self.precision) - 1)) as usize;
        let tail = hash >> self.precision;
        let max_rank = self.max_rank();
        let rank = if tail == 0 {
            max_rank
        } else {
            (tail.trailing_zeros() as u8 + 1).min(max_rank)
        };
        if rank > self.ranks[bucket] {
            self.ranks[bucket] = rank;
        }
    }

    fn merge(&mut self, other: &Sketch) {
        for (mine, theirs) in self.ranks.iter_mut().zip(&other.ranks) {
            *mine = (*mine).max(*theirs);
        }
    }

    /// How many buckets hold each rank.
    fn rank_counts(&self) -> Vec<u32> {
        let mut counts = vec![0u32; usize::from(self.max_rank()) + 1];
        for &rank in &self.ranks {
            counts[usize::from(rank)] += 1;
        }
        counts
    }

    fn estimate(&self) -> u64 {
        let buckets = self.ranks.len() as f64;
        let counts = self.rank_counts();
        // Σ 2^-rank over the buckets, summed from the highest rank down as ClickHouse does.
        let mut denominator = 0.0f64;
        for &count in counts.iter().rev() {
            denominator = denominator / 2.0 + f64::from(count);
        }
        let alpha = 0.7213 / (1.0 + 1.079 / buckets);
        let raw = alpha * buckets * buckets / denominator;
        let zeros = counts[0];
        let linear = buckets * (buckets.ln() - f64::from(zeros).ln());
        let linear_limit = if self.precision == BIAS_TABLE_PRECISION {
            5.0
        } else {
            2.5
        } * buckets;
        let estimate = if raw > 4_294_967_296.0 / 30.0 || zeros == 0 || raw > linear_limit {
            raw
        } else {
            linear
        };
        (estimate + 0.5) as u64
    }

    fn packed_len(&self) -> usize {
        self.ranks.len() * self.rank_bits() / 8
    }

    fn write(&self, out: &mut Vec<u8>) {
        let bits = self.rank_bits();
        let start = out.len();
        out.resize(start + self.packed_len(), 0);
        for (bucket, &rank) in self.ranks.iter().enumerate() {
            let offset = bucket * bits;
            let word = u16::from(rank) << (offset % 8);
            let at = start + offset / 8;
            out[at] |= word as u8;
            if word > 0xff {
                out[at + 1] |= (word >> 8) as u8;
            }
        }
        let counts = self.rank_counts();
        for count in &counts {
            out.extend_from_slice(&count.to_le_bytes());
        }
        out.extend_from_slice(&counts[0].to_le_bytes()[..self.zeros_width()]);
    }

    fn read(precision: u8, wide: bool, input: &mut Cursor<'_>) -> Result<Sketch> {
        let mut sketch = Sketch::new(precision, wide);
        let bits = sketch.rank_bits();
        let packed = input.take(sketch.packed_len(), "uniqCombined ranks")?;
        let mask = (1u16 << bits) - 1;
        let max_rank = sketch.max_rank();
        for (bucket, rank) in sketch.ranks.iter_mut().enumerate() {
            let offset = bucket * bits;
            let low = u16::from(packed[offset / 8]);
            let high = packed
                .get(offset / 8 + 1)
                .map_or(0, |&byte| u16::from(byte));
            let value = (((high << 8) | low) >> (offset % 8)) & mask;
            *rank = (value as u8).min(max_rank);
        }
        let counts_len = (usize::from(max_rank) + 1) * 4;
        input.take(
            counts_len + sketch.zeros_width(),
            "uniqCombined rank counts",
        )?;
        Ok(sketch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn state_of(function: &str, parameters: &[String], values: ArrayRef) -> UniqCombined {
        let data_type = match values.data_type() {
            arrow_schema::DataType::Utf8 => DataType::String,
            _ => DataType::UInt64,
        };
        let mut state = UniqCombined::new(function, parameters, &data_type).unwrap();
        state.add(&[values]).unwrap();
        state
    }

    fn numbers(n: u64) -> ArrayRef {
        Arc::new(arrow_array::UInt64Array::from_iter_values(0..n))
    }

    fn written(state: &UniqCombined) -> Vec<u8> {
        let mut out = Vec::new();
        state.write(&mut out).unwrap();
        out
    }

    #[test]
    fn small_states_are_clickhouses() {
        // hex(uniqCombinedState(x)) in ClickHouse over numbers(3) and over toString(number) for
        // numbers(2).
        assert_eq!(
            hex::encode(written(&state_of("uniqCombined", &[], numbers(3)))),
            "0103000000002ccbc234e7830665"
        );
        let strings: ArrayRef = Arc::new(arrow_array::StringArray::from(vec!["0", "1"]));
        let state = written(&state_of("uniqCombined", &[], strings));
        assert_eq!(state.len(), 2 + 16);
        assert!(hex::encode(&state).contains("128345aa2bc97190"));
    }

    #[test]
    fn sketch_states_are_clickhouses() {
        // hex(MD5(toString(uniqCombinedState(number)))) over numbers(9000) in ClickHouse, and
        // the estimates it gives.
        let state = state_of("uniqCombined", &[], numbers(9000));
        let bytes = written(&state);
        assert_eq!(bytes.len(), 81993);
        assert_eq!(state.result().unwrap(), ScalarValue::UInt64(Some(9014)));
        assert_eq!(
            hex::encode(<md5::Md5 as md5::Digest>::digest(&bytes)),
            "9e4839d6c3d7bded797758f40ab939e3"
        );
    }

    #[test]
    fn sketches_read_back_what_they_wrote() {
        let state = state_of("uniqCombined64", &[], numbers(50_000));
        let bytes = written(&state);
        let mut copy = UniqCombined::new("uniqCombined64", &[], &DataType::UInt64).unwrap();
        let mut cursor = Cursor::new(&bytes);
        copy.merge(&mut cursor).unwrap();
        assert!(cursor.is_empty());
        assert_eq!(copy.result().unwrap(), state.result().unwrap());
        assert_eq!(written(&copy), bytes);
    }

    #[test]
    fn estimates_stay_close_beyond_the_exact_range() {
        for (n, precision) in [(300_000u64, "17"), (2_000_000, "17"), (100_000, "12")] {
            let state = state_of("uniqCombined", &[precision.to_string()], numbers(n));
            let ScalarValue::UInt64(Some(estimate)) = state.result().unwrap() else {
                unreachable!()
            };
            let error = (estimate as f64 - n as f64).abs() / n as f64;
            assert!(error < 0.02, "{n} at K={precision}: {estimate}");
        }
    }
}
