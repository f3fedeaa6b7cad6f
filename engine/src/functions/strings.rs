//! String functions of ClickHouse's that DataFusion has no exact form of: `hex`, `unhex`,
//! `base64Encode`, `base64Decode`, `tryBase64Decode`, `replaceOne`, `countSubstrings` and
//! `format`. Strings are bytes, as in ClickHouse: the decoders return bytes that need not be UTF-8.

use std::sync::Arc;

use arrow_array::builder::{BinaryBuilder, StringBuilder};
use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, BinaryArray, UInt64Array};
use arrow_schema::{DataType as ArrowType, FieldRef};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use datafusion::arrow::compute::cast;
use datafusion::common::Result as DfResult;
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};
use granary_protocol::ErrorCode;
use granary_protocol::text::{TextStyle, write_value};

use super::arguments::on_arrays;
use super::type_name::clickhouse_type;
use crate::Error;

/// What a string function computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Operation {
    Hex,
    Unhex,
    Base64Encode,
    Base64Decode,
    TryBase64Decode,
    ReplaceOne,
    CountSubstrings,
    Format,
}

impl Operation {
    const ALL: [Operation; 8] = [
        Operation::Hex,
        Operation::Unhex,
        Operation::Base64Encode,
        Operation::Base64Decode,
        Operation::TryBase64Decode,
        Operation::ReplaceOne,
        Operation::CountSubstrings,
        Operation::Format,
    ];

    fn name(self) -> &'static str {
        match self {
            Operation::Hex => "hex",
            Operation::Unhex => "unhex",
            Operation::Base64Encode => "base64Encode",
            Operation::Base64Decode => "base64Decode",
            Operation::TryBase64Decode => "tryBase64Decode",
            Operation::ReplaceOne => "replaceOne",
            Operation::CountSubstrings => "countSubstrings",
            Operation::Format => "format",
        }
    }

    /// The number of arguments (`None`: one or more).
    fn arity(self) -> Option<usize> {
        match self {
            Operation::ReplaceOne => Some(3),
            Operation::CountSubstrings => Some(2),
            Operation::Format => None,
            _ => Some(1),
        }
    }

    fn output(self) -> ArrowType {
        match self {
            Operation::Hex | Operation::Base64Encode | Operation::Format => ArrowType::Utf8,
            Operation::CountSubstrings => ArrowType::UInt64,
            Operation::Unhex
            | Operation::Base64Decode
            | Operation::TryBase64Decode
            | Operation::ReplaceOne => ArrowType::Binary,
        }
    }
}

/// The functions of this module.
pub fn functions() -> Vec<ScalarUDF> {
    Operation::ALL
        .into_iter()
        .map(|operation| {
            ScalarUDF::new_from_impl(StringFunction {
                operation,
                signature: Signature::variadic_any(Volatility::Immutable),
            })
        })
        .collect()
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct StringFunction {
    operation: Operation,
    signature: Signature,
}

impl ScalarUDFImpl for StringFunction {
    fn name(&self) -> &str {
        self.operation.name()
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[ArrowType]) -> DfResult<ArrowType> {
        Ok(self.operation.output())
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> DfResult<FieldRef> {
        let count = args.arg_fields.len();
        let arity_ok = match self.operation.arity() {
            Some(arity) => count == arity,
            None => count >= 1,
        };
        if !arity_ok {
            return Err(Error::query(
                ErrorCode::NUMBER_OF_ARGUMENTS_DOESNT_MATCH,
                format!(
                    "Number of arguments for function {} doesn't match: passed {count}",
                    self.name()
                ),
            )
            .into());
        }
        let takes_any = matches!(self.operation, Operation::Hex | Operation::Format);
        for (index, field) in args.arg_fields.iter().enumerate() {
            let is_string = matches!(
                field.data_type(),
                ArrowType::Utf8
                    | ArrowType::LargeUtf8
                    | ArrowType::Utf8View
                    | ArrowType::Binary
                    | ArrowType::Null
            );
            let any_allowed = takes_any && (self.operation != Operation::Format || index > 0);
            if !is_string && !any_allowed {
                return Err(Error::query(
                    ErrorCode::ILLEGAL_TYPE_OF_ARGUMENT,
                    format!(
                        "Illegal type {} of argument {} of function {}",
                        field.data_type(),
                        index + 1,
                        self.name()
                    ),
                )
                .into());
            }
        }
        Ok(super::propagated_field(
            self.name(),
            self.operation.output(),
            &args,
        ))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let fields = args.arg_fields.clone();
        on_arrays(&args.args, args.number_rows, |arrays| {
            let rows = arrays[0].len();
            Ok(match self.operation {
                Operation::Hex => hex(&arrays[0])?,
                Operation::CountSubstrings => {
                    let (haystacks, needles) = (bytes(&arrays[0])?, bytes(&arrays[1])?);
                    let counts: UInt64Array = (0..rows)
                        .map(|row| {
                            (haystacks.is_valid(row) && needles.is_valid(row))
                                .then(|| count_substrings(haystacks.value(row), needles.value(row)))
                        })
                        .collect();
                    Arc::new(counts)
                }
                Operation::ReplaceOne => {
                    let (haystacks, needles, replacements) =
                        (bytes(&arrays[0])?, bytes(&arrays[1])?, bytes(&arrays[2])?);
                    let mut out = BinaryBuilder::new();
                    for row in 0..rows {
                        if haystacks.is_null(row)
                            || needles.is_null(row)
                            || replacements.is_null(row)
                        {
                            out.append_null();
                            continue;
                        }
                        out.append_value(replace_one(
                            haystacks.value(row),
                            needles.value(row),
                            replacements.value(row),
                        ));
                    }
                    Arc::new(out.finish())
                }
                Operation::Format => format(arrays, &fields)?,
                operation => {
                    let input = bytes(&arrays[0])?;
                    let mut out = BinaryBuilder::new();
                    let mut buffer = Vec::new();
                    for row in 0..rows {
                        if input.is_null(row) {
                            out.append_null();
                            continue;
                        }
                        buffer.clear();
                        convert(operation, input.value(row), &mut buffer)?;
                        out.append_value(&buffer);
                    }
                    let binary: ArrayRef = Arc::new(out.finish());
                    match operation.output() {
                        ArrowType::Utf8 => cast(&binary, &ArrowType::Utf8)?,
                        _ => binary,
                    }
                }
            })
        })
    }
}

/// The values of a string column as bytes.
fn bytes(array: &ArrayRef) -> DfResult<BinaryArray> {
    Ok(cast(array, &ArrowType::Binary)?.as_binary::<i32>().clone())
}

/// One value through a bytes-to-bytes function.
fn convert(operation: Operation, value: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
    match operation {
        Operation::Unhex => {
            // An odd length reads the first digit alone, as ClickHouse does.
            let digit = |c: u8| (c as char).to_digit(16).unwrap_or(0) as u8;
            let (first, rest) = value.split_at(value.len() % 2);
            out.extend(first.iter().map(|&c| digit(c)));
            out.extend(
                rest.chunks(2)
                    .map(|pair| digit(pair[0]) << 4 | digit(pair[1])),
            );
        }
        Operation::Base64Encode => out.extend(STANDARD.encode(value).bytes()),
        Operation::Base64Decode => match STANDARD.decode(value) {
            Ok(decoded) => out.extend(decoded),
            Err(_) => {
                return Err(Error::query(
                    ErrorCode::INCORRECT_DATA,
                    format!(
                        "Invalid base64Decode value ({}), cannot be decoded",
                        String::from_utf8_lossy(value)
                    ),
                ));
            }
        },
        Operation::TryBase64Decode => out.extend(STANDARD.decode(value).unwrap_or_default()),
        other => unreachable!("{other:?} is not a bytes-to-bytes function"),
    }
    Ok(())
}

/// `hex`: strings byte by byte; integers big-endian without leading zero bytes (in their type's
/// width, so negative numbers in two's complement); floats their IEEE bytes in memory order.
fn hex(array: &ArrayRef) -> DfResult<ArrayRef> {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = StringBuilder::new();
    let mut text = String::new();
    let mut push_bytes = |bytes: &[u8], out: &mut StringBuilder| {
        text.clear();
        for byte in bytes {
            text.push(DIGITS[usize::from(byte >> 4)] as char);
            text.push(DIGITS[usize::from(byte & 15)] as char);
        }
        out.append_value(&text);
    };
    let data_type = array.data_type().clone();
    match &data_type {
        t if t.is_integer() => {
            let width = t.primitive_width().unwrap_or(8);
            for value in super::integer_bits(array)? {
                let Some(value) = value else {
                    out.append_null();
                    continue;
                };
                let bytes = value.to_be_bytes();
                let bytes = &bytes[8 - width..];
                let first = bytes
                    .iter()
                    .position(|&byte| byte != 0)
                    .unwrap_or(bytes.len() - 1);
                push_bytes(&bytes[first..], &mut out);
            }
        }
        ArrowType::Float32 => {
            for value in array
                .as_primitive::<arrow_array::types::Float32Type>()
                .iter()
            {
                match value {
                    Some(value) => push_bytes(&value.to_le_bytes(), &mut out),
                    None => out.append_null(),
                }
            }
        }
        ArrowType::Float64 => {
            for value in array
                .as_primitive::<arrow_array::types::Float64Type>()
                .iter()
            {
                match value {
                    Some(value) => push_bytes(&value.to_le_bytes(), &mut out),
                    None => out.append_null(),
                }
            }
        }
        _ => {
            let values = bytes(array)?;
            for value in values.iter() {
                match value {
                    Some(value) => push_bytes(value, &mut out),
                    None => out.append_null(),
                }
            }
        }
    }
    Ok(Arc::new(out.finish()))
}

/// Non-overlapping occurrences of `needle` (none for an empty needle).
fn count_substrings(haystack: &[u8], needle: &[u8]) -> u64 {
    if needle.is_empty() {
        return 0;
    }
    let mut count = 0;
    let mut at = 0;
    while at + needle.len() <= haystack.len() {
        if haystack[at..].starts_with(needle) {
            count += 1;
            at += needle.len();
        } else {
            at += 1;
        }
    }
    count
}

/// The first occurrence of `needle` replaced.
fn replace_one(haystack: &[u8], needle: &[u8], replacement: &[u8]) -> Vec<u8> {
    let found = (!needle.is_empty())
        .then(|| haystack.windows(needle.len()).position(|w| w == needle))
        .flatten();
    match found {
        Some(at) => [&haystack[..at], replacement, &haystack[at + needle.len()..]].concat(),
        None => haystack.to_vec(),
    }
}

/// `format(pattern, args...)`: `{}` takes the next argument, `{N}` the N-th (from 0), `{{` and `}}`
/// are braces; arguments are written in ClickHouse's text form.
fn format(arrays: &[ArrayRef], fields: &[FieldRef]) -> DfResult<ArrayRef> {
    let patterns = bytes(&arrays[0])?;
    let types = fields[1..]
        .iter()
        .map(|field| clickhouse_type(field))
        .collect::<Result<Vec<_>, _>>()?;
    let mut out = StringBuilder::new();
    for row in 0..patterns.len() {
        if patterns.is_null(row) || arrays[1..].iter().any(|array| array.is_null(row)) {
            out.append_null();
            continue;
        }
        let pattern = String::from_utf8_lossy(patterns.value(row)).into_owned();
        let mut text = String::new();
        let mut next = 0;
        let mut chars = pattern.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    text.push('{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    text.push('}');
                }
                '{' => {
                    let mut index = String::new();
                    for c in chars.by_ref() {
                        if c == '}' {
                            break;
                        }
                        index.push(c);
                    }
                    let index = if index.is_empty() {
                        next += 1;
                        next - 1
                    } else {
                        index.parse::<usize>().map_err(|_| bad_format(&pattern))?
                    };
                    let argument = arrays.get(index + 1).ok_or_else(|| bad_format(&pattern))?;
                    write_value(
                        &mut text,
                        argument.as_ref(),
                        row,
                        &types[index],
                        TextStyle::PLAIN,
                    )
                    .map_err(Error::from)?;
                }
                c => text.push(c),
            }
        }
        out.append_value(&text);
    }
    Ok(Arc::new(out.finish()))
}

fn bad_format(pattern: &str) -> datafusion::error::DataFusionError {
    Error::query(
        ErrorCode::BAD_ARGUMENTS,
        format!("Invalid format string '{pattern}': a {{}} names an argument that is not given"),
    )
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substrings_count_and_replace_as_in_clickhouse() {
        assert_eq!(count_substrings(b"aaaa", b"aa"), 2);
        assert_eq!(count_substrings(b"abc", b""), 0);
        assert_eq!(replace_one(b"aaa", b"a", b"b"), b"baa");
        assert_eq!(replace_one(b"abc", b"x", b"y"), b"abc");
    }

    #[test]
    fn hex_matches_clickhouse() {
        let hexed = |array: ArrayRef| hex(&array).unwrap().as_string::<i32>().value(0).to_string();
        assert_eq!(
            hexed(Arc::new(arrow_array::UInt16Array::from(vec![255]))),
            "FF"
        );
        assert_eq!(
            hexed(Arc::new(arrow_array::UInt16Array::from(vec![256]))),
            "0100"
        );
        assert_eq!(
            hexed(Arc::new(arrow_array::UInt8Array::from(vec![0]))),
            "00"
        );
        assert_eq!(
            hexed(Arc::new(arrow_array::Int8Array::from(vec![-1]))),
            "FF"
        );
        assert_eq!(
            hexed(Arc::new(arrow_array::Float64Array::from(vec![1.5]))),
            "000000000000F83F"
        );
        assert_eq!(
            hexed(Arc::new(arrow_array::StringArray::from(vec!["abc"]))),
            "616263"
        );
    }
}
