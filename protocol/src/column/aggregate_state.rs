//! The framing of aggregate-function states inside an `AggregateFunction` column.
//!
//! States are concatenated with no length prefix, so splitting a column into rows needs each
//! function's serialized layout. The layouts below were read off ClickHouse 26.9 (chDB) output;
//! a function whose layout is not here is a clear `NOT_IMPLEMENTED`, never a guess.

use crate::error::{Error, Result};
use crate::io::Cursor;
use crate::types::{AggregateFunction, DataType};

/// Serialized sizes of the HyperLogLog state of `uniqCombined(K)` for K = 12..=20 (index K - 12),
/// with 32-bit and with 64-bit hashes (`uniqCombined64`, and `uniqCombined` over strings).
const UNIQ_COMBINED_HLL_BYTES_32: [usize; 9] = [
    2650, 5206, 10322, 20558, 41036, 81992, 163908, 327744, 655420,
];
const UNIQ_COMBINED_HLL_BYTES_64: [usize; 9] = [
    3290, 6358, 12498, 24782, 49356, 98504, 196804, 393408, 786620,
];
/// `uniqCombined`'s default precision.
const UNIQ_COMBINED_K_DEFAULT: u64 = 17;

/// The length of the first state at the start of `bytes`, for a column of type `function`.
pub fn state_length(function: &AggregateFunction, bytes: &[u8]) -> Result<usize> {
    let mut cursor = Cursor::new(bytes);
    skip_state(
        &function.function.name,
        &function.function.parameters,
        &function.arguments,
        &mut cursor,
    )?;
    Ok(cursor.position())
}

fn not_implemented(name: &str, arguments: &[DataType]) -> Error {
    let arguments: Vec<String> = arguments.iter().map(ToString::to_string).collect();
    Error::NotImplemented(format!(
        "reading states of aggregate function {name}({})",
        arguments.join(", ")
    ))
}

/// Functions whose state layout [`skip_base`] knows.
const KNOWN_FUNCTIONS: &[&str] = &[
    "count",
    "sum",
    "sumWithOverflow",
    "avg",
    "min",
    "max",
    "any",
    "anyLast",
    "argMin",
    "argMax",
    "uniq",
    "uniqExact",
    "uniqCombined",
    "uniqCombined64",
    "groupArray",
];

fn skip_state(
    name: &str,
    parameters: &[String],
    arguments: &[DataType],
    cursor: &mut Cursor<'_>,
) -> Result<()> {
    if KNOWN_FUNCTIONS.contains(&name) {
        return skip_arguments_adapted(name, parameters, arguments, cursor);
    }
    // Combinators that keep the nested state as it is.
    if let Some(base) = name.strip_suffix("If").filter(|base| !base.is_empty()) {
        let (_, nested) = arguments
            .split_last()
            .ok_or_else(|| not_implemented(name, arguments))?;
        return skip_state(base, parameters, nested, cursor);
    }
    if let Some(base) = name.strip_suffix("Array").filter(|base| !base.is_empty()) {
        let nested: Vec<DataType> = arguments
            .iter()
            .map(|argument| match argument {
                DataType::Array(inner) => Ok((**inner).clone()),
                _ => Err(not_implemented(name, arguments)),
            })
            .collect::<Result<_>>()?;
        return skip_state(base, parameters, &nested, cursor);
    }
    Err(not_implemented(name, arguments))
}

/// Applies what ClickHouse does to arguments before the function sees them: LowCardinality is
/// transparent, and Nullable arguments add a flag byte before the nested state.
fn skip_arguments_adapted(
    name: &str,
    parameters: &[String],
    arguments: &[DataType],
    cursor: &mut Cursor<'_>,
) -> Result<()> {
    let arguments: Vec<DataType> = arguments
        .iter()
        .map(|argument| match argument {
            DataType::LowCardinality(inner) => (**inner).clone(),
            other => other.clone(),
        })
        .collect();
    // Nullable arguments: a flag byte, then the nested state only when some value was seen —
    // except for `count` and `groupArray`, which skip NULLs themselves and write no flag.
    if matches!(name, "count" | "groupArray") {
        let stripped: Vec<DataType> = arguments
            .iter()
            .map(|argument| argument.strip_nullable().clone())
            .collect();
        return skip_base(name, parameters, &stripped, cursor);
    }
    if arguments.iter().any(DataType::is_nullable) {
        let seen = cursor.read_u8("aggregate state null flag")?;
        if seen == 0 {
            return Ok(());
        }
        let stripped: Vec<DataType> = arguments
            .iter()
            .map(|argument| argument.strip_nullable().clone())
            .collect();
        return skip_base(name, parameters, &stripped, cursor);
    }
    skip_base(name, parameters, &arguments, cursor)
}

fn skip_base(
    name: &str,
    parameters: &[String],
    arguments: &[DataType],
    cursor: &mut Cursor<'_>,
) -> Result<()> {
    let first = arguments.first();
    match (name, first) {
        ("count", _) => {
            cursor.read_var_uint("count state")?;
        }
        ("sum", Some(argument)) => {
            cursor.take(
                sum_width(argument).ok_or_else(|| not_implemented(name, arguments))?,
                "sum state",
            )?;
        }
        ("sumWithOverflow", Some(argument)) => {
            cursor.take(
                argument
                    .fixed_width()
                    .ok_or_else(|| not_implemented(name, arguments))?,
                "sum state",
            )?;
        }
        ("avg", Some(argument)) => {
            cursor.take(
                sum_width(argument).ok_or_else(|| not_implemented(name, arguments))?,
                "avg numerator",
            )?;
            cursor.read_var_uint("avg denominator")?;
        }
        ("min" | "max" | "any" | "anyLast", Some(argument)) => {
            skip_single_value(name, argument, cursor)?
        }
        ("argMin" | "argMax", Some(result)) if arguments.len() == 2 => {
            skip_single_value(name, result, cursor)?;
            skip_single_value(name, &arguments[1], cursor)?;
        }
        ("uniq", Some(_)) => {
            cursor.read_u8("uniq skip degree")?;
            let count = cursor.read_var_uint("uniq element count")?;
            skip_items(cursor, count, 4, "uniq hashes")?;
        }
        ("uniqExact", Some(argument)) => {
            let width = match (arguments.len(), argument.fixed_width()) {
                (1, Some(width)) if !matches!(argument, DataType::FixedString(_)) => width,
                _ => 16,
            };
            let count = cursor.read_var_uint("uniqExact element count")?;
            skip_items(cursor, count, width, "uniqExact set")?;
        }
        ("uniqCombined" | "uniqCombined64", Some(argument)) => {
            let by_string = arguments.len() == 1
                && matches!(argument, DataType::String | DataType::FixedString(_));
            let hash_width = if name == "uniqCombined64" || by_string {
                8
            } else {
                4
            };
            skip_uniq_combined(parameters, hash_width, cursor)?;
        }
        ("groupArray", Some(argument)) if parameters.is_empty() => {
            let count = cursor.read_var_uint("groupArray length")?;
            match (argument, argument.fixed_width()) {
                (DataType::String, _) => {
                    for _ in 0..count {
                        cursor.read_bytes("groupArray element")?;
                    }
                }
                (_, Some(width)) => skip_items(cursor, count, width, "groupArray elements")?,
                _ => return Err(not_implemented(name, arguments)),
            }
        }
        _ => return Err(not_implemented(name, arguments)),
    }
    Ok(())
}

/// The width of `sum`'s accumulator for an argument type (UInt64/Int64/Float64/Decimal128/...).
fn sum_width(argument: &DataType) -> Option<usize> {
    Some(match argument {
        DataType::UInt8 | DataType::UInt16 | DataType::UInt32 | DataType::UInt64 => 8,
        DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 => 8,
        DataType::Float32 | DataType::Float64 => 8,
        DataType::UInt128 | DataType::Int128 => 16,
        DataType::UInt256 | DataType::Int256 => 32,
        DataType::Decimal(precision, _) if *precision <= 38 => 16,
        DataType::Decimal(..) => 32,
        DataType::SimpleAggregateFunction(_, inner) => return sum_width(inner),
        _ => return None,
    })
}

/// `min`/`max`/`any` state: a flag and a fixed-width value, or for strings an Int32 size (-1 when
/// empty) and that many bytes.
fn skip_single_value(name: &str, argument: &DataType, cursor: &mut Cursor<'_>) -> Result<()> {
    if matches!(argument, DataType::String) {
        let size = cursor.read_i32("single-value string size")?;
        if size > 0 {
            cursor.take(size as usize, "single-value string")?;
        }
        return Ok(());
    }
    let width = argument
        .fixed_width()
        .ok_or_else(|| not_implemented(name, std::slice::from_ref(argument)))?;
    if cursor.read_u8("single-value flag")? != 0 {
        cursor.take(width, "single value")?;
    }
    Ok(())
}

fn skip_items(cursor: &mut Cursor<'_>, count: u64, width: usize, what: &'static str) -> Result<()> {
    let count =
        usize::try_from(count).map_err(|_| Error::incorrect(format!("{what}: count {count}")))?;
    cursor.take_items(count, width, what)?;
    Ok(())
}

fn skip_uniq_combined(
    parameters: &[String],
    hash_width: usize,
    cursor: &mut Cursor<'_>,
) -> Result<()> {
    let k = match parameters.first() {
        Some(text) => text
            .parse::<u64>()
            .map_err(|_| Error::incorrect(format!("uniqCombined precision {text}")))?,
        None => UNIQ_COMBINED_K_DEFAULT,
    };
    if !(12..=20).contains(&k) {
        return Err(Error::incorrect(format!(
            "uniqCombined precision {k} is outside 12..=20"
        )));
    }
    match cursor.read_u8("uniqCombined container type")? {
        // Small set and hash set: a count, then that many hashes.
        1 | 2 => {
            let count = cursor.read_var_uint("uniqCombined element count")?;
            skip_items(cursor, count, hash_width, "uniqCombined hashes")
        }
        // HyperLogLog: a fixed-size register array.
        3 => {
            let table = if hash_width == 8 {
                &UNIQ_COMBINED_HLL_BYTES_64
            } else {
                &UNIQ_COMBINED_HLL_BYTES_32
            };
            cursor.take(table[(k - 12) as usize], "uniqCombined registers")?;
            Ok(())
        }
        other => Err(Error::incorrect(format!(
            "uniqCombined container type {other}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn length(type_name: &str, hex_state: &str) -> Result<usize> {
        let DataType::AggregateFunction(function) = DataType::parse(type_name).unwrap() else {
            panic!("not an aggregate")
        };
        let mut bytes = hex::decode(hex_state).unwrap();
        bytes.extend_from_slice(b"trailing");
        state_length(&function, &bytes)
    }

    #[test]
    fn states_observed_from_clickhouse_split_exactly() {
        // Each hex string is a state ClickHouse 26.9 produced (see the module doc).
        for (type_name, state) in [
            ("AggregateFunction(sum, UInt8)", "0300000000000000"),
            (
                "AggregateFunction(sum, Decimal(9, 2))",
                "2c010000000000000000000000000000",
            ),
            (
                "AggregateFunction(sum, Nullable(UInt64))",
                "010300000000000000",
            ),
            ("AggregateFunction(count, Nullable(UInt64))", "03"),
            ("AggregateFunction(groupArray, Nullable(UInt8))", "020304"),
            ("AggregateFunction(uniqExact, Nullable(UInt8))", "010103"),
            ("AggregateFunction(avg, UInt8)", "030000000000000003"),
            (
                "AggregateFunction(avg, Decimal(9, 2))",
                "2c01000000000000000000000000000003",
            ),
            ("AggregateFunction(max, String)", "020000003200"),
            ("AggregateFunction(max, String)", "ffffffff"),
            ("AggregateFunction(anyLast, UInt16)", "00"),
            ("AggregateFunction(any, UInt16)", "010000"),
            ("AggregateFunction(max, FixedString(2))", "013100"),
            (
                "AggregateFunction(argMax, UInt16, UInt64)",
                "010200010200000000000000",
            ),
            (
                "AggregateFunction(uniq, UInt64)",
                "000400000000ced8f8092ccbc234e7830665",
            ),
            (
                "AggregateFunction(uniqExact, UInt64)",
                "03000000000000000001000000000000000200000000000000",
            ),
            (
                "AggregateFunction(uniqCombined(15), UInt64)",
                "0103f1e34a1e0159a616eeb85c64",
            ),
            (
                "AggregateFunction(uniqCombined(15), String)",
                "0102128345aa2bc97190f150d642cec1649e",
            ),
            (
                "AggregateFunction(uniqCombined64(15), UInt64)",
                "010200000000000000002ccbc234fcbc56b4",
            ),
            (
                "AggregateFunction(uniqCombined(15), Nullable(UInt64))",
                "010102000000002ccbc234",
            ),
            (
                "AggregateFunction(groupArray, UInt32)",
                "03000000000100000002000000",
            ),
            (
                "AggregateFunction(sumIf, UInt64, UInt8)",
                "0300000000000000",
            ),
        ] {
            assert_eq!(
                length(type_name, state).unwrap(),
                state.len() / 2,
                "{type_name}"
            );
        }
    }

    #[test]
    fn hyperloglog_states_have_their_measured_size() {
        let mut state = vec![3u8];
        state.resize(1 + UNIQ_COMBINED_HLL_BYTES_32[3], 0);
        assert_eq!(
            length(
                "AggregateFunction(uniqCombined(15), UInt64)",
                &hex::encode(&state)
            )
            .unwrap(),
            20559
        );
        let truncated = hex::encode(&state[..100]);
        assert!(length("AggregateFunction(uniqCombined(15), UInt64)", &truncated).is_err());
    }

    #[test]
    fn unknown_functions_are_not_implemented() {
        let err = length("AggregateFunction(quantile(0.5), UInt64)", "00").unwrap_err();
        assert_eq!(err.code(), crate::ErrorCode::NOT_IMPLEMENTED);
        assert!(err.to_string().contains("quantile"));
    }
}
