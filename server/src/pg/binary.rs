//! PostgreSQL's binary formats (the `*send`/`*recv` layouts, network byte order) for the types
//! Granary's values take ([`super::types`]): written from a value's PostgreSQL text, read into
//! the text ClickHouse reads.
//!
//! Dates count days and timestamps microseconds from 2000-01-01; `numeric` is base-10000 digits
//! with a weight, a sign and a display scale.

use chrono::{DateTime, NaiveDate, NaiveDateTime};
use pgwire::api::Type;

/// Why a value has no binary form or a binary value cannot be read: the SQLSTATE and message.
#[derive(Debug, PartialEq)]
pub struct Refusal {
    pub sqlstate: &'static str,
    pub message: String,
}

fn invalid(what: &str, text: impl std::fmt::Display) -> Refusal {
    Refusal {
        sqlstate: "22P02",
        message: format!("invalid {what}: {text}"),
    }
}

fn epoch() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2000, 1, 1)
        .and_then(|day| day.and_hms_opt(0, 0, 0))
        .unwrap_or_default()
}

/// The binary form of the value whose PostgreSQL text is `text`, for a column of `pg_type`.
pub fn encode(pg_type: &Type, text: &str) -> Result<Vec<u8>, Refusal> {
    let parse_error = |what: &str| invalid(what, text);
    Ok(match *pg_type {
        Type::BOOL => vec![u8::from(text == "t")],
        Type::INT2 => text
            .parse::<i16>()
            .map_err(|_| parse_error("smallint"))?
            .to_be_bytes()
            .to_vec(),
        Type::INT4 => text
            .parse::<i32>()
            .map_err(|_| parse_error("integer"))?
            .to_be_bytes()
            .to_vec(),
        Type::OID => text
            .parse::<u32>()
            .map_err(|_| parse_error("oid"))?
            .to_be_bytes()
            .to_vec(),
        Type::INT8 => text
            .parse::<i64>()
            .map_err(|_| parse_error("bigint"))?
            .to_be_bytes()
            .to_vec(),
        Type::FLOAT4 => text
            .parse::<f32>()
            .map_err(|_| parse_error("real"))?
            .to_be_bytes()
            .to_vec(),
        Type::FLOAT8 => text
            .parse::<f64>()
            .map_err(|_| parse_error("double precision"))?
            .to_be_bytes()
            .to_vec(),
        Type::NUMERIC => encode_numeric(text).ok_or_else(|| parse_error("numeric"))?,
        Type::DATE => {
            let day =
                NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| parse_error("date"))?;
            let days = (day - epoch().date()).num_days();
            i32::try_from(days)
                .map_err(|_| parse_error("date"))?
                .to_be_bytes()
                .to_vec()
        }
        Type::TIMESTAMP => {
            let at = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f")
                .map_err(|_| parse_error("timestamp"))?;
            (at - epoch())
                .num_microseconds()
                .ok_or_else(|| parse_error("timestamp"))?
                .to_be_bytes()
                .to_vec()
        }
        Type::UUID => {
            let hex: String = text.chars().filter(|c| *c != '-').collect();
            if hex.len() != 32 {
                return Err(parse_error("uuid"));
            }
            (0..16)
                .map(|at| u8::from_str_radix(&hex[2 * at..2 * at + 2], 16))
                .collect::<Result<Vec<u8>, _>>()
                .map_err(|_| parse_error("uuid"))?
        }
        Type::INET => {
            let address: std::net::IpAddr = text.parse().map_err(|_| parse_error("inet"))?;
            // Family (PostgreSQL's 2 or 3), prefix bits, is-cidr, length, address bytes.
            let (family, bytes) = match address {
                std::net::IpAddr::V4(v4) => (2u8, v4.octets().to_vec()),
                std::net::IpAddr::V6(v6) => (3u8, v6.octets().to_vec()),
            };
            let length = bytes.len() as u8;
            let mut out = vec![family, length * 8, 0, length];
            out.extend_from_slice(&bytes);
            out
        }
        // text, varchar, json, ...: the UTF-8 bytes.
        _ => text.as_bytes().to_vec(),
    })
}

/// `inet`'s binary form as the address's text (a prefix shorter than the address is refused:
/// ClickHouse's IPv4/IPv6 hold single addresses).
fn decode_inet(bytes: &[u8]) -> Result<String, Refusal> {
    let refused = || invalid("inet", format!("{bytes:?}"));
    let [family, bits, _, length, address @ ..] = bytes else {
        return Err(refused());
    };
    if usize::from(*length) != address.len() || usize::from(*bits) != address.len() * 8 {
        return Err(refused());
    }
    Ok(match (family, address.len()) {
        (2, 4) => {
            std::net::Ipv4Addr::new(address[0], address[1], address[2], address[3]).to_string()
        }
        (3, 16) => {
            let mut octets = [0u8; 16];
            octets.copy_from_slice(address);
            std::net::Ipv6Addr::from(octets).to_string()
        }
        _ => return Err(refused()),
    })
}

/// `numeric`'s binary form of a decimal number's text (`-12.50`, `18446744073709551615`).
fn encode_numeric(text: &str) -> Option<Vec<u8>> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (integer, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    if integer.is_empty() && fraction.is_empty()
        || !integer
            .bytes()
            .chain(fraction.bytes())
            .all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let scale = u16::try_from(fraction.len()).ok()?;
    // Pad both parts to whole groups of four digits around the decimal point.
    let integer_pad = (4 - integer.len() % 4) % 4;
    let fraction_pad = (4 - fraction.len() % 4) % 4;
    let padded: String = "0".repeat(integer_pad) + integer + fraction + &"0".repeat(fraction_pad);
    let mut groups: Vec<i16> = padded
        .as_bytes()
        .chunks(4)
        .map(|chunk| {
            chunk
                .iter()
                .fold(0i16, |value, digit| value * 10 + i16::from(digit - b'0'))
        })
        .collect();
    let integer_groups = (integer.len() + integer_pad) / 4;
    let mut weight = i16::try_from(integer_groups).ok()? - 1;
    let leading = groups.iter().take_while(|group| **group == 0).count();
    groups.drain(..leading);
    weight -= i16::try_from(leading).ok()?;
    while groups.last() == Some(&0) {
        groups.pop();
    }
    if groups.is_empty() {
        weight = 0;
    }
    let mut out = Vec::with_capacity(8 + 2 * groups.len());
    out.extend_from_slice(&i16::try_from(groups.len()).ok()?.to_be_bytes());
    out.extend_from_slice(&weight.to_be_bytes());
    let sign: u16 = if negative && !groups.is_empty() {
        0x4000
    } else {
        0
    };
    out.extend_from_slice(&sign.to_be_bytes());
    out.extend_from_slice(&scale.to_be_bytes());
    for group in groups {
        out.extend_from_slice(&group.to_be_bytes());
    }
    Some(out)
}

/// The decimal text of a binary `numeric`.
fn decode_numeric(bytes: &[u8]) -> Option<String> {
    let word = |at: usize| -> Option<u16> {
        Some(u16::from_be_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
    };
    let count = usize::from(word(0)?);
    let weight = i32::from(word(2)? as i16);
    let sign = word(4)?;
    let scale = usize::from(word(6)?);
    match sign {
        0xC000 => return Some("nan".to_string()),
        0xD000 => return Some("inf".to_string()),
        0xF000 => return Some("-inf".to_string()),
        _ => {}
    }
    let groups: Vec<u16> = (0..count)
        .map(|index| word(8 + 2 * index))
        .collect::<Option<_>>()?;
    let group = |position: i32| -> u16 {
        usize::try_from(position)
            .ok()
            .and_then(|index| groups.get(index).copied())
            .unwrap_or(0)
    };
    let mut integer = String::new();
    for position in 0..=weight.max(-1) {
        let value = group(position);
        if integer.is_empty() {
            if value != 0 {
                integer = value.to_string();
            }
        } else {
            integer.push_str(&format!("{value:04}"));
        }
    }
    if integer.is_empty() {
        integer.push('0');
    }
    let mut fraction = String::new();
    let mut position = weight + 1;
    while fraction.len() < scale {
        fraction.push_str(&format!("{:04}", group(position)));
        position += 1;
    }
    fraction.truncate(scale);
    let mut text = if sign == 0x4000 {
        format!("-{integer}")
    } else {
        integer
    };
    if scale > 0 {
        text.push('.');
        text.push_str(&fraction);
    }
    Some(text)
}

fn fixed<const N: usize>(bytes: &[u8], what: &str) -> Result<[u8; N], Refusal> {
    bytes.try_into().map_err(|_| Refusal {
        sqlstate: "22P03",
        message: format!("a binary {what} takes {N} bytes, not {}", bytes.len()),
    })
}

/// The text (as ClickHouse reads it) of a binary parameter of `pg_type`.
pub fn decode(pg_type: &Type, bytes: &[u8]) -> Result<String, Refusal> {
    Ok(match *pg_type {
        Type::BOOL => if fixed::<1>(bytes, "boolean")?[0] != 0 {
            "true"
        } else {
            "false"
        }
        .to_string(),
        Type::INT2 => i16::from_be_bytes(fixed(bytes, "smallint")?).to_string(),
        Type::INT4 | Type::OID => i32::from_be_bytes(fixed(bytes, "integer")?).to_string(),
        Type::INT8 => i64::from_be_bytes(fixed(bytes, "bigint")?).to_string(),
        Type::FLOAT4 => f32::from_be_bytes(fixed(bytes, "real")?).to_string(),
        Type::FLOAT8 => f64::from_be_bytes(fixed(bytes, "double precision")?).to_string(),
        Type::NUMERIC => decode_numeric(bytes).ok_or_else(|| Refusal {
            sqlstate: "22P03",
            message: "invalid binary numeric".to_string(),
        })?,
        Type::DATE => {
            let days = i32::from_be_bytes(fixed(bytes, "date")?);
            (epoch().date() + chrono::Duration::days(i64::from(days)))
                .format("%Y-%m-%d")
                .to_string()
        }
        Type::TIMESTAMP | Type::TIMESTAMPTZ => {
            let micros = i64::from_be_bytes(fixed(bytes, "timestamp")?);
            let at = epoch() + chrono::Duration::microseconds(micros);
            at.format("%Y-%m-%d %H:%M:%S%.6f").to_string()
        }
        Type::UUID => {
            let b = fixed::<16>(bytes, "uuid")?;
            let hex: String = b.iter().map(|byte| format!("{byte:02x}")).collect();
            format!(
                "{}-{}-{}-{}-{}",
                &hex[..8],
                &hex[8..12],
                &hex[12..16],
                &hex[16..20],
                &hex[20..]
            )
        }
        Type::INET => decode_inet(bytes)?,
        Type::TEXT
        | Type::VARCHAR
        | Type::BPCHAR
        | Type::NAME
        | Type::UNKNOWN
        | Type::JSON
        | Type::BYTEA => String::from_utf8(bytes.to_vec()).map_err(|_| Refusal {
            sqlstate: "22021",
            message: format!("a {} parameter is not valid UTF-8", pg_type.name()),
        })?,
        _ => {
            return Err(Refusal {
                sqlstate: "0A000",
                message: format!(
                    "binary parameters of type {} are not supported; send them as text",
                    pg_type.name()
                ),
            });
        }
    })
}

/// A timestamp's text with its zone offset and `T` separator dropped: zone-less targets ignore the
/// offset, as PostgreSQL's `timestamp` input does.
pub fn timestamp_without_zone(text: &str) -> String {
    let text = text.trim().replacen('T', " ", 1);
    if let Ok(at) = DateTime::parse_from_str(&text, "%Y-%m-%d %H:%M:%S%.f%#z") {
        return at.naive_local().format("%Y-%m-%d %H:%M:%S%.f").to_string();
    }
    text.trim_end_matches('Z').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inet_addresses_round_trip_through_binary() {
        let v4 = encode(&Type::INET, "10.0.0.1").unwrap();
        assert_eq!(v4, [2, 32, 0, 4, 10, 0, 0, 1]);
        assert_eq!(decode(&Type::INET, &v4).unwrap(), "10.0.0.1");
        let v6 = encode(&Type::INET, "2001:db8::1").unwrap();
        assert_eq!(&v6[..4], &[3, 128, 0, 16]);
        assert_eq!(decode(&Type::INET, &v6).unwrap(), "2001:db8::1");
        // A network (a prefix shorter than the address) is not one address.
        assert!(decode(&Type::INET, &[2, 24, 1, 4, 10, 0, 0, 0]).is_err());
        assert!(encode(&Type::INET, "not an address").is_err());
    }

    #[test]
    fn numerics_round_trip_through_their_binary_form() {
        for text in [
            "0",
            "1",
            "-12.50",
            "18446744073709551615",
            "10000",
            "0.0001",
            "123456789.123456789",
            "-0.5",
        ] {
            let bytes = encode_numeric(text).unwrap();
            assert_eq!(decode_numeric(&bytes).unwrap(), text, "{text}");
        }
        // 10000 is one base-10000 digit of weight 1.
        assert_eq!(
            encode_numeric("10000").unwrap(),
            [0, 1, 0, 1, 0, 0, 0, 0, 0, 1]
        );
    }

    #[test]
    fn dates_and_timestamps_count_from_2000() {
        assert_eq!(
            encode(&Type::DATE, "2000-01-02").unwrap(),
            1i32.to_be_bytes()
        );
        assert_eq!(
            decode(&Type::DATE, &(-1i32).to_be_bytes()).unwrap(),
            "1999-12-31"
        );
        let bytes = encode(&Type::TIMESTAMP, "2000-01-01 00:00:01.5").unwrap();
        assert_eq!(bytes, 1_500_000i64.to_be_bytes());
        assert_eq!(
            decode(&Type::TIMESTAMP, &bytes).unwrap(),
            "2000-01-01 00:00:01.500000"
        );
    }

    #[test]
    fn uuids_are_their_sixteen_bytes_in_order() {
        let text = "61f0c404-5cb3-11e7-907b-a6006ad3dba0";
        let bytes = encode(&Type::UUID, text).unwrap();
        assert_eq!(bytes[0], 0x61);
        assert_eq!(decode(&Type::UUID, &bytes).unwrap(), text);
    }

    #[test]
    fn unsupported_binary_parameters_are_refused_not_guessed() {
        let refusal = decode(&Type::INTERVAL, &[0; 16]).unwrap_err();
        assert_eq!(refusal.sqlstate, "0A000");
        assert_eq!(
            decode(&Type::INT4, &[0, 0, 1]).unwrap_err().sqlstate,
            "22P03"
        );
    }

    #[test]
    fn zone_offsets_of_timestamps_are_dropped_for_zone_less_targets() {
        assert_eq!(
            timestamp_without_zone("2024-02-29T13:45:56.123+00:00"),
            "2024-02-29 13:45:56.123"
        );
        assert_eq!(
            timestamp_without_zone("2024-02-29 13:45:56.123456+00"),
            "2024-02-29 13:45:56.123456"
        );
        assert_eq!(
            timestamp_without_zone("2024-02-29 13:45:56"),
            "2024-02-29 13:45:56"
        );
    }
}
