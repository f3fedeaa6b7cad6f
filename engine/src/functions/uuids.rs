//! `toUUID(s)`, `toUUIDOrZero(s)`, `toUUIDOrNull(s)`: a UUID from its text
//! (`61f0c404-5cb3-11e7-907b-a6006ad3dba0`, dashes optional), held as its 16 bytes in text order
//! (Arrow `FixedSizeBinary(16)` typed `UUID`). Text that is not a UUID is CANNOT_PARSE_UUID, the
//! nil UUID or NULL, by the form. Inserts of text into `UUID` columns use [`parse_uuids`].

use std::sync::Arc;

use arrow_array::builder::FixedSizeBinaryBuilder;
use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef};
use arrow_schema::{DataType as ArrowType, FieldRef};
use datafusion::arrow::compute::cast;
use datafusion::common::Result as DfResult;
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};
use granary_protocol::ErrorCode;
use granary_protocol::types::{DataType, field_for};

use crate::Error;

/// What a conversion does with text that is not a UUID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum OnError {
    Fail,
    Zero,
    Null,
}

/// The functions of this module.
pub fn functions() -> Vec<ScalarUDF> {
    [
        ("toUUID", OnError::Fail),
        ("toUUIDOrZero", OnError::Zero),
        ("toUUIDOrNull", OnError::Null),
    ]
    .into_iter()
    .map(|(name, on_error)| {
        ScalarUDF::new_from_impl(ToUuid {
            name,
            on_error,
            signature: Signature::any(1, Volatility::Immutable),
        })
    })
    .collect()
}

/// The 16 bytes of a UUID's text, if it is one.
fn parse(text: &str) -> Option<[u8; 16]> {
    let hex: Vec<u8> = text.trim().bytes().filter(|byte| *byte != b'-').collect();
    let dashes = text.trim().len() - hex.len();
    if hex.len() != 32 || !(dashes == 0 || dashes == 4) {
        return None;
    }
    let mut bytes = [0u8; 16];
    for (index, pair) in hex.chunks_exact(2).enumerate() {
        let pair = std::str::from_utf8(pair).ok()?;
        bytes[index] = u8::from_str_radix(pair, 16).ok()?;
    }
    Some(bytes)
}

/// The UUIDs of an array of text (NULL stays NULL); `column` names what is converted in errors.
pub fn parse_uuids(array: &ArrayRef, column: &str) -> crate::Result<ArrayRef> {
    convert(array, OnError::Fail, column)
}

fn convert(array: &ArrayRef, on_error: OnError, what: &str) -> crate::Result<ArrayRef> {
    let strings = cast(array, &ArrowType::Utf8)?;
    let strings = strings.as_string::<i32>();
    let mut out = FixedSizeBinaryBuilder::with_capacity(strings.len(), 16);
    for value in strings.iter() {
        match value.map(|text| (text, parse(text))) {
            None => out.append_null(),
            Some((_, Some(bytes))) => out.append_value(bytes)?,
            Some((text, None)) => match on_error {
                OnError::Fail => {
                    return Err(Error::query(
                        ErrorCode::CANNOT_PARSE_UUID,
                        format!("cannot parse UUID from '{text}' ({what})"),
                    ));
                }
                OnError::Zero => out.append_value([0u8; 16])?,
                OnError::Null => out.append_null(),
            },
        }
    }
    Ok(Arc::new(out.finish()))
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct ToUuid {
    name: &'static str,
    on_error: OnError,
    signature: Signature,
}

impl ScalarUDFImpl for ToUuid {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[ArrowType]) -> DfResult<ArrowType> {
        Ok(ArrowType::FixedSizeBinary(16))
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> DfResult<FieldRef> {
        let nullable =
            self.on_error == OnError::Null || args.arg_fields.iter().any(|f| f.is_nullable());
        let data_type = if nullable {
            DataType::Nullable(Box::new(DataType::Uuid))
        } else {
            DataType::Uuid
        };
        Ok(Arc::new(field_for(self.name, &data_type)))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let input = args.args[0].to_array(args.number_rows)?;
        if matches!(input.data_type(), ArrowType::FixedSizeBinary(16)) {
            return Ok(ColumnarValue::Array(input));
        }
        Ok(ColumnarValue::Array(convert(
            &input,
            self.on_error,
            self.name,
        )?))
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn uuid_text_reads_with_or_without_dashes() {
        let expected = [
            0x61, 0xf0, 0xc4, 0x04, 0x5c, 0xb3, 0x11, 0xe7, 0x90, 0x7b, 0xa6, 0x00, 0x6a, 0xd3,
            0xdb, 0xa0,
        ];
        assert_eq!(
            parse("61f0c404-5cb3-11e7-907b-a6006ad3dba0"),
            Some(expected)
        );
        assert_eq!(parse("61F0C4045CB311E7907BA6006AD3DBA0"), Some(expected));
        assert_eq!(parse("61f0c404-5cb3-11e7-907b"), None);
        assert_eq!(parse("zzf0c404-5cb3-11e7-907b-a6006ad3dba0"), None);
    }
}
