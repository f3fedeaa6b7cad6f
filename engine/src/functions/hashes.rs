//! Hash functions with ClickHouse's exact values: `cityHash64` (CityHash v1.0.2), `sipHash64`
//! (SipHash-2-4, zero key), `xxHash64`, `murmurHash3_64`, `intHash32`, `intHash64` and `MD5`.
//!
//! As in ClickHouse, a string is hashed by its bytes; a number by its bytes in its type's width
//! (`cityHash64` hashes integers and floats with `intHash64` of their bits instead); several
//! arguments are hashed one by one and the hashes combined the way each function combines them.

use std::sync::Arc;

use arrow_array::builder::FixedSizeBinaryBuilder;
use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, Float64Type};
use arrow_array::{ArrayRef, UInt32Array, UInt64Array};
use arrow_schema::{DataType as ArrowType, FieldRef};
use datafusion::arrow::compute::cast;
use datafusion::common::Result as DfResult;
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};
use granary_protocol::compress::city_hash64;
use granary_protocol::{DataType, ErrorCode};
use md5::{Digest, Md5};

use super::arguments::on_arrays;
use super::integer_bits;
use super::type_name::clickhouse_type;
use crate::Error;

/// A hash function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Function {
    City64,
    Sip64,
    Xx64,
    Murmur3_64,
    Int32,
    Int64,
    Md5,
}

impl Function {
    const ALL: [Function; 7] = [
        Function::City64,
        Function::Sip64,
        Function::Xx64,
        Function::Murmur3_64,
        Function::Int32,
        Function::Int64,
        Function::Md5,
    ];

    fn name(self) -> &'static str {
        match self {
            Function::City64 => "cityHash64",
            Function::Sip64 => "sipHash64",
            Function::Xx64 => "xxHash64",
            Function::Murmur3_64 => "murmurHash3_64",
            Function::Int32 => "intHash32",
            Function::Int64 => "intHash64",
            Function::Md5 => "MD5",
        }
    }

    fn output(self) -> ArrowType {
        match self {
            Function::Int32 => ArrowType::UInt32,
            Function::Md5 => ArrowType::FixedSizeBinary(16),
            _ => ArrowType::UInt64,
        }
    }

    /// The hash of one value's bytes.
    fn of_bytes(self, bytes: &[u8]) -> u64 {
        match self {
            Function::City64 => city_hash64(bytes),
            Function::Sip64 => sip_hash64(bytes),
            Function::Xx64 => xx_hash64(bytes),
            Function::Murmur3_64 => murmur_hash3_64(bytes),
            other => unreachable!("{other:?} does not hash bytes"),
        }
    }

    /// The hash of a number whose bits in its type's width are `bits` (zero-extended).
    fn of_number(self, bits: u64, width: usize) -> u64 {
        match self {
            Function::City64 => int_hash64(bits),
            _ => self.of_bytes(&bits.to_le_bytes()[..width]),
        }
    }

    /// The hash of several arguments: `previous` (of the ones before) combined with `next`.
    fn combine(self, previous: u64, next: u64) -> u64 {
        match self {
            Function::City64 | Function::Xx64 => hash128_to_64(previous, next),
            Function::Sip64 => {
                let mut bytes = [0u8; 16];
                bytes[..8].copy_from_slice(&previous.to_le_bytes());
                bytes[8..].copy_from_slice(&next.to_le_bytes());
                sip_hash64(&bytes)
            }
            Function::Murmur3_64 => int_hash64(previous) ^ next,
            other => unreachable!("{other:?} takes one argument"),
        }
    }
}

/// The functions of this module.
pub fn functions() -> Vec<ScalarUDF> {
    Function::ALL
        .into_iter()
        .map(|function| {
            ScalarUDF::new_from_impl(HashFunction {
                function,
                signature: Signature::variadic_any(Volatility::Immutable),
            })
        })
        .collect()
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct HashFunction {
    function: Function,
    signature: Signature,
}

impl ScalarUDFImpl for HashFunction {
    fn name(&self) -> &str {
        self.function.name()
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[ArrowType]) -> DfResult<ArrowType> {
        Ok(self.function.output())
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> DfResult<FieldRef> {
        let single = matches!(
            self.function,
            Function::Int32 | Function::Int64 | Function::Md5
        );
        let count = args.arg_fields.len();
        if count == 0 || (single && count != 1) {
            return Err(Error::query(
                ErrorCode::NUMBER_OF_ARGUMENTS_DOESNT_MATCH,
                format!(
                    "Number of arguments for function {} doesn't match: passed {count}",
                    self.name()
                ),
            )
            .into());
        }
        let input = args.arg_fields[0].data_type();
        let fits = match self.function {
            Function::Int32 | Function::Int64 => input.is_integer() || *input == ArrowType::Null,
            Function::Md5 => is_string(input) || *input == ArrowType::Null,
            _ => true,
        };
        if !fits {
            return Err(Error::query(
                ErrorCode::ILLEGAL_TYPE_OF_ARGUMENT,
                format!(
                    "Illegal type {input} of argument of function {}",
                    self.name()
                ),
            )
            .into());
        }
        Ok(super::propagated_field(
            self.name(),
            self.function.output(),
            &args,
        ))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let fields = args.arg_fields.clone();
        let function = self.function;
        on_arrays(&args.args, args.number_rows, |arrays| {
            let rows = arrays[0].len();
            Ok(match function {
                Function::Int32 | Function::Int64 => {
                    let values = integer_bits(&arrays[0])?;
                    if function == Function::Int32 {
                        let hashes: UInt32Array =
                            values.iter().map(|v| v.map(int_hash32)).collect();
                        Arc::new(hashes) as ArrayRef
                    } else {
                        let hashes: UInt64Array =
                            values.iter().map(|v| v.map(int_hash64)).collect();
                        Arc::new(hashes)
                    }
                }
                Function::Md5 => {
                    let strings = cast(&arrays[0], &ArrowType::Binary)?;
                    let mut out = FixedSizeBinaryBuilder::with_capacity(rows, 16);
                    for value in strings.as_binary::<i32>().iter() {
                        match value {
                            Some(value) => out.append_value(Md5::digest(value))?,
                            None => out.append_null(),
                        }
                    }
                    Arc::new(out.finish())
                }
                _ => {
                    let mut hashes: Vec<Option<u64>> = vec![None; rows];
                    for (index, (array, field)) in arrays.iter().zip(&fields).enumerate() {
                        let column = argument_hashes(function, array, field)?;
                        for (hash, value) in hashes.iter_mut().zip(column) {
                            *hash = match (index, *hash, value) {
                                (0, _, value) => value,
                                (_, Some(previous), Some(value)) => {
                                    Some(function.combine(previous, value))
                                }
                                _ => None,
                            };
                        }
                    }
                    Arc::new(UInt64Array::from(hashes))
                }
            })
        })
    }
}

fn is_string(data_type: &ArrowType) -> bool {
    matches!(
        data_type,
        ArrowType::Utf8
            | ArrowType::LargeUtf8
            | ArrowType::Utf8View
            | ArrowType::Binary
            | ArrowType::LargeBinary
            | ArrowType::FixedSizeBinary(_)
    )
}

/// The hash of each value of one argument.
fn argument_hashes(
    function: Function,
    array: &ArrayRef,
    field: &FieldRef,
) -> DfResult<Vec<Option<u64>>> {
    let data_type = array.data_type();
    if is_string(data_type) {
        let strings = cast(array, &ArrowType::Binary)?;
        return Ok(strings
            .as_binary::<i32>()
            .iter()
            .map(|value| value.map(|bytes| function.of_bytes(bytes)))
            .collect());
    }
    match data_type {
        ArrowType::Float64 => Ok(array
            .as_primitive::<Float64Type>()
            .iter()
            .map(|v| v.map(|v| function.of_number(v.to_bits(), 8)))
            .collect()),
        ArrowType::Float32 => Ok(array
            .as_primitive::<Float32Type>()
            .iter()
            .map(|v| v.map(|v| function.of_number(u64::from(v.to_bits()), 4)))
            .collect()),
        ArrowType::Null => Ok(vec![None; array.len()]),
        _ => {
            // Integers, booleans, dates and times: their bits in the ClickHouse type's width.
            let width = match clickhouse_type(field)?.strip_nullable() {
                DataType::UInt8 | DataType::Int8 | DataType::Bool => 1,
                DataType::UInt16 | DataType::Int16 | DataType::Date => 2,
                DataType::UInt32 | DataType::Int32 | DataType::Date32 | DataType::DateTime(_) => 4,
                DataType::UInt64 | DataType::Int64 | DataType::DateTime64(..) => 8,
                other => {
                    return Err(Error::query(
                        ErrorCode::NOT_IMPLEMENTED,
                        format!("hashing values of type {other} is not implemented yet"),
                    )
                    .into());
                }
            };
            let mask = if width == 8 {
                u64::MAX
            } else {
                (1u64 << (8 * width)) - 1
            };
            Ok(integer_bits(array)?
                .into_iter()
                .map(|v| v.map(|v| function.of_number(v & mask, width)))
                .collect())
        }
    }
}

/// ClickHouse's `intHash64`: MurmurHash3's 64-bit finalizer of the value xor-ed with a constant.
pub fn int_hash64(x: u64) -> u64 {
    fmix64(x ^ 0x4cf2_d2ba_ae6d_a887)
}

/// MurmurHash3's 64-bit finalizer.
pub fn fmix64(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^= x >> 33;
    x
}

/// ClickHouse's `intHash32`: Thomas Wang's 64-to-32-bit integer hash of the value xor-ed with a
/// constant.
pub fn int_hash32(key: u64) -> u32 {
    let mut key = key ^ 0x75d9_543d_e018_bf45;
    key = (!key).wrapping_add(key << 18);
    key ^= key.rotate_right(31);
    key = key.wrapping_mul(21);
    key ^= key.rotate_right(11);
    key = key.wrapping_add(key << 6);
    key ^= key.rotate_right(22);
    key as u32
}

/// CityHash's `Hash128to64`, how ClickHouse combines the hashes of several arguments.
pub fn hash128_to_64(low: u64, high: u64) -> u64 {
    const MUL: u64 = 0x9ddf_ea08_eb38_2d69;
    let mut a = (low ^ high).wrapping_mul(MUL);
    a ^= a >> 47;
    let mut b = (high ^ a).wrapping_mul(MUL);
    b ^= b >> 47;
    b.wrapping_mul(MUL)
}

/// SipHash-2-4 with a zero key (ClickHouse's `sipHash64`).
pub fn sip_hash64(data: &[u8]) -> u64 {
    use std::hash::Hasher;
    let mut hasher = siphasher::sip::SipHasher24::new_with_keys(0, 0);
    hasher.write(data);
    hasher.finish()
}

/// MurmurHash3 x64 128 with seed 0, its two halves xor-ed (ClickHouse's `murmurHash3_64`).
pub fn murmur_hash3_64(data: &[u8]) -> u64 {
    const C1: u64 = 0x87c3_7b91_1142_53d5;
    const C2: u64 = 0x4cf5_ad43_2745_937f;
    let fmix = |mut k: u64| {
        k ^= k >> 33;
        k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
        k ^= k >> 33;
        k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        k ^ (k >> 33)
    };
    let (mut h1, mut h2) = (0u64, 0u64);
    let blocks = data.chunks_exact(16);
    let tail = blocks.remainder();
    for block in blocks {
        let mut k1 = u64::from_le_bytes(block[..8].try_into().unwrap_or_default());
        let mut k2 = u64::from_le_bytes(block[8..].try_into().unwrap_or_default());
        k1 = k1.wrapping_mul(C1).rotate_left(31).wrapping_mul(C2);
        h1 ^= k1;
        h1 = h1
            .rotate_left(27)
            .wrapping_add(h2)
            .wrapping_mul(5)
            .wrapping_add(0x52dc_e729);
        k2 = k2.wrapping_mul(C2).rotate_left(33).wrapping_mul(C1);
        h2 ^= k2;
        h2 = h2
            .rotate_left(31)
            .wrapping_add(h1)
            .wrapping_mul(5)
            .wrapping_add(0x3849_5ab5);
    }
    let (mut k1, mut k2) = (0u64, 0u64);
    for (index, &byte) in tail.iter().enumerate() {
        if index < 8 {
            k1 |= u64::from(byte) << (8 * index);
        } else {
            k2 |= u64::from(byte) << (8 * (index - 8));
        }
    }
    if tail.len() > 8 {
        h2 ^= k2.wrapping_mul(C2).rotate_left(33).wrapping_mul(C1);
    }
    if !tail.is_empty() {
        h1 ^= k1.wrapping_mul(C1).rotate_left(31).wrapping_mul(C2);
    }
    let length = data.len() as u64;
    h1 ^= length;
    h2 ^= length;
    h1 = h1.wrapping_add(h2);
    h2 = h2.wrapping_add(h1);
    h1 = fmix(h1);
    h2 = fmix(h2);
    h1 = h1.wrapping_add(h2);
    h2 = h2.wrapping_add(h1);
    h1 ^ h2
}

/// XXH64 with seed 0 (ClickHouse's `xxHash64`).
pub fn xx_hash64(data: &[u8]) -> u64 {
    twox_hash::XxHash64::oneshot(0, data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_match_clickhouse() {
        // Expected values from chDB 4.4.
        assert_eq!(int_hash64(1), 10_577_349_846_663_553_072);
        assert_eq!(int_hash64(12_345_678_901), 8_803_300_191_720_213_782);
        assert_eq!(int_hash32(1), 1_343_103_100);
        assert_eq!(int_hash32(12_345_678_901), 2_302_547_692);
        assert_eq!(city_hash64(b"abc"), 4_220_206_313_085_259_313);
        assert_eq!(sip_hash64(b"abc"), 4_596_069_200_710_135_518);
        assert_eq!(sip_hash64(b""), 2_202_906_307_356_721_367);
        assert_eq!(xx_hash64(b"abc"), 4_952_883_123_889_572_249);
        assert_eq!(xx_hash64(b""), 17_241_709_254_077_376_921);
        assert_eq!(murmur_hash3_64(b"abc"), 10_318_955_651_176_813_877);
        assert_eq!(murmur_hash3_64(b""), 0);
        // cityHash64 of a number is intHash64 of its bits; the others hash its bytes.
        assert_eq!(Function::City64.of_number(1, 1), 10_577_349_846_663_553_072);
        assert_eq!(
            Function::City64.of_number(u64::from(u32::MAX), 4),
            9_168_733_277_332_772_950
        );
        assert_eq!(
            Function::City64.of_number(1.5f64.to_bits(), 8),
            7_287_324_520_655_339_053
        );
        assert_eq!(Function::Sip64.of_number(1, 8), 9_224_715_256_000_962_398);
        assert_eq!(Function::Sip64.of_number(1, 1), 7_385_293_435_322_750_976);
        assert_eq!(Function::Xx64.of_number(1, 1), 9_962_287_286_179_718_960);
        assert_eq!(
            Function::Murmur3_64.of_number(1, 1),
            956_517_343_494_314_387
        );
    }

    #[test]
    fn several_arguments_combine_as_in_clickhouse() {
        for (function, expected) in [
            (Function::City64, 7_468_329_322_676_821_011u64),
            (Function::Sip64, 1_193_743_241_355_087_095),
            (Function::Xx64, 14_756_808_377_901_732_262),
            (Function::Murmur3_64, 18_305_627_054_227_103_971),
        ] {
            let combined = function.combine(function.of_bytes(b"a"), function.of_bytes(b"b"));
            assert_eq!(combined, expected, "{function:?}");
        }
    }
}
