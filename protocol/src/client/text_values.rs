//! Text columns for ClickHouse types whose Arrow form Arrow's casts cannot read text into: UUID,
//! IPv4, IPv6, (U)Int128, (U)Int256 and FixedString — what a client without those types (the
//! Node SDK's string arrays, a CSV read as text) sends. Numbers, decimals, dates and times are
//! read by Arrow's own casts.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, FixedSizeBinaryArray, UInt32Array};
use arrow_buffer::i256;
use arrow_cast::cast;
use arrow_schema::DataType as ArrowType;

use crate::ErrorCode;
use crate::error::{Error, Result};
use crate::types::DataType;

/// `array` (text) as the Arrow form of `target`, or `None` when `target` is not one of the types
/// this module reads (the caller then tries Arrow's casts).
pub(super) fn parse(array: &ArrayRef, target: &DataType) -> Option<Result<ArrayRef>> {
    let reader: fn(&str) -> Option<Vec<u8>> = match target {
        DataType::Uuid => uuid,
        DataType::IPv6 => ipv6,
        DataType::Int128 => |text| {
            text.trim()
                .parse::<i128>()
                .ok()
                .map(|v| v.to_le_bytes().to_vec())
        },
        DataType::UInt128 => |text| {
            text.trim()
                .parse::<u128>()
                .ok()
                .map(|v| v.to_le_bytes().to_vec())
        },
        DataType::Int256 => |text| i256::from_string(text.trim()).map(|v| v.to_le_bytes().to_vec()),
        DataType::UInt256 => |text| unsigned_256(text.trim()),
        DataType::IPv4 | DataType::FixedString(_) => |_| None,
        _ => return None,
    };
    Some(read(array, target, reader))
}

fn read(
    array: &ArrayRef,
    target: &DataType,
    reader: fn(&str) -> Option<Vec<u8>>,
) -> Result<ArrayRef> {
    let text = cast(array, &ArrowType::Utf8)?;
    let text = text.as_string::<i32>();
    let failed = |value: &str, code: ErrorCode| Error::CannotParseText {
        text: value.to_string(),
        type_name: target.to_string(),
        code,
    };
    match target {
        DataType::IPv4 => {
            let values = text
                .iter()
                .map(|value| {
                    value
                        .map(|value| {
                            value
                                .trim()
                                .parse::<Ipv4Addr>()
                                .map(u32::from)
                                .map_err(|_| failed(value, ErrorCode::CANNOT_PARSE_IPV4))
                        })
                        .transpose()
                })
                .collect::<Result<UInt32Array>>()?;
            Ok(Arc::new(values))
        }
        DataType::FixedString(size) => {
            let mut values = Vec::with_capacity(text.len());
            for value in text.iter() {
                values.push(match value {
                    None => None,
                    Some(value) if value.len() > *size => {
                        return Err(failed(value, ErrorCode::TOO_LARGE_STRING_SIZE));
                    }
                    Some(value) => {
                        let mut bytes = value.as_bytes().to_vec();
                        bytes.resize(*size, 0);
                        Some(bytes)
                    }
                });
            }
            fixed(values, *size, text.len())
        }
        _ => {
            let code = match target {
                DataType::Uuid => ErrorCode::CANNOT_PARSE_UUID,
                DataType::IPv6 => ErrorCode::CANNOT_PARSE_IPV6,
                _ => ErrorCode::CANNOT_PARSE_TEXT,
            };
            let size = if matches!(target, DataType::Int256 | DataType::UInt256) {
                32
            } else {
                16
            };
            let values = text
                .iter()
                .map(|value| {
                    value
                        .map(|value| reader(value).ok_or_else(|| failed(value, code)))
                        .transpose()
                })
                .collect::<Result<Vec<_>>>()?;
            fixed(values, size, text.len())
        }
    }
}

fn fixed(values: Vec<Option<Vec<u8>>>, size: usize, rows: usize) -> Result<ArrayRef> {
    // All NULL (or no rows): the iterator cannot tell the size, so build it from nulls.
    if values.iter().all(Option::is_none) {
        return Ok(Arc::new(FixedSizeBinaryArray::new_null(size as i32, rows)));
    }
    Ok(Arc::new(
        FixedSizeBinaryArray::try_from_sparse_iter_with_size(values.into_iter(), size as i32)?,
    ))
}

/// A decimal number below 2^256, as 32 little-endian bytes.
fn unsigned_256(text: &str) -> Option<Vec<u8>> {
    let text = text.strip_prefix('+').unwrap_or(text);
    if text.is_empty() {
        return None;
    }
    let mut limbs = [0u64; 4];
    for byte in text.bytes() {
        let mut carry = u128::from(byte.checked_sub(b'0').filter(|digit| *digit < 10)?);
        for limb in &mut limbs {
            let value = u128::from(*limb) * 10 + carry;
            *limb = value as u64;
            carry = value >> 64;
        }
        if carry != 0 {
            return None;
        }
    }
    Some(limbs.iter().flat_map(|limb| limb.to_le_bytes()).collect())
}

/// 32 hex digits, dashes anywhere between them (RFC 4122 text), as its 16 bytes in text order.
fn uuid(text: &str) -> Option<Vec<u8>> {
    let digits: Vec<u8> = text.trim().bytes().filter(|byte| *byte != b'-').collect();
    if digits.len() != 32 {
        return None;
    }
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok())
        .collect()
}

/// An IPv6 address, or an IPv4 one as its IPv4-mapped IPv6 address, in network order.
fn ipv6(text: &str) -> Option<Vec<u8>> {
    match text.trim().parse::<IpAddr>().ok()? {
        IpAddr::V6(address) => Some(address.octets().to_vec()),
        IpAddr::V4(address) => Some(address.to_ipv6_mapped().octets().to_vec()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::StringArray;

    fn text(values: &[Option<&str>]) -> ArrayRef {
        Arc::new(StringArray::from(values.to_vec()))
    }

    #[test]
    fn text_reads_as_uuid_ip_wide_integers_and_fixed_strings() {
        let parsed = parse(
            &text(&[Some("01234567-89ab-cdef-0123-456789abcdef"), None]),
            &DataType::Uuid,
        )
        .unwrap()
        .unwrap();
        let parsed = parsed.as_fixed_size_binary();
        assert_eq!(
            hex::encode(parsed.value(0)),
            "0123456789abcdef0123456789abcdef"
        );
        assert!(parsed.is_null(1));
        let parsed = parse(&text(&[Some("10.1.2.3")]), &DataType::IPv4)
            .unwrap()
            .unwrap();
        assert_eq!(
            parsed
                .as_primitive::<arrow_array::types::UInt32Type>()
                .value(0),
            0x0a01_0203
        );
        let parsed = parse(
            &text(&[Some("1.2.3.4"), Some("2001:db8::1")]),
            &DataType::IPv6,
        )
        .unwrap()
        .unwrap();
        let parsed = parsed.as_fixed_size_binary();
        assert_eq!(
            hex::encode(parsed.value(0)),
            "00000000000000000000ffff01020304"
        );
        assert_eq!(
            hex::encode(parsed.value(1)),
            "20010db8000000000000000000000001"
        );
        let parsed = parse(&text(&[Some("-2")]), &DataType::Int128)
            .unwrap()
            .unwrap();
        assert_eq!(
            parsed.as_fixed_size_binary().value(0),
            (-2i128).to_le_bytes()
        );
        let parsed = parse(&text(&[Some("ab")]), &DataType::FixedString(3))
            .unwrap()
            .unwrap();
        assert_eq!(parsed.as_fixed_size_binary().value(0), b"ab\0");
        // Other types are Arrow's to read.
        assert!(parse(&text(&[Some("1")]), &DataType::UInt64).is_none());
    }

    #[test]
    fn text_that_does_not_read_is_an_error_with_clickhouse_code() {
        let cases = [
            (DataType::Uuid, "not-a-uuid", ErrorCode::CANNOT_PARSE_UUID),
            (DataType::IPv4, "1.2.3", ErrorCode::CANNOT_PARSE_IPV4),
            (DataType::IPv6, "::g", ErrorCode::CANNOT_PARSE_IPV6),
            (DataType::UInt256, "-1", ErrorCode::CANNOT_PARSE_TEXT),
            (
                DataType::UInt256,
                "115792089237316195423570985008687907853269984665640564039457584007913129639936",
                ErrorCode::CANNOT_PARSE_TEXT,
            ),
            (
                DataType::FixedString(2),
                "abc",
                ErrorCode::TOO_LARGE_STRING_SIZE,
            ),
        ];
        for (data_type, value, code) in cases {
            let error = parse(&text(&[Some(value)]), &data_type)
                .unwrap()
                .unwrap_err();
            assert_eq!(error.code(), code, "{data_type} {value}");
        }
    }
}
