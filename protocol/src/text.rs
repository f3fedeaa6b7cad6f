//! ClickHouse's text form of values, as its `TabSeparated` output prints them: floats in the
//! shortest form that reads back (`0.1`, `1e21`, `inf`), decimals without trailing zeros, dates and
//! times in their time zone, and nested values (`[1,2]`, `(1,'a')`, `{'k':1}`) with strings quoted
//! inside them. Front ends that send text (PostgreSQL's text format, test runners) share it.

use std::fmt::Write;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Decimal128Type, Decimal256Type, Float32Type, Float64Type, Int8Type, Int16Type,
    Int32Type, Int64Type, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use arrow_array::{Array, ArrayRef};
use arrow_buffer::{ArrowNativeType, i256};
use arrow_schema::{DataType as ArrowType, TimeUnit};
use chrono::{DateTime, NaiveDate, TimeZone, Utc};

use crate::error::{Error, Result};
use crate::types::DataType;

/// How a value is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextStyle {
    /// The text of a top-level NULL (`\N` in TabSeparated, `NULL` in the SQL-ish forms); a NULL
    /// inside an array, tuple or map is always `NULL`.
    pub null: &'static str,
    /// Escape tab, newline and backslash in top-level strings as TabSeparated does.
    pub escape_top_level: bool,
}

impl TextStyle {
    /// ClickHouse's `TabSeparated` output.
    pub const TAB_SEPARATED: TextStyle = TextStyle {
        null: "\\N",
        escape_top_level: true,
    };
    /// Plain values: NULL as `NULL`, strings as they are.
    pub const PLAIN: TextStyle = TextStyle {
        null: "NULL",
        escape_top_level: false,
    };
}

/// Appends the text of `array[row]`, a value of ClickHouse type `data_type`, to `out`.
pub fn write_value(
    out: &mut String,
    array: &dyn Array,
    row: usize,
    data_type: &DataType,
    style: TextStyle,
) -> Result<()> {
    Writer { out, style }.value(array, row, data_type, false)
}

/// The text of `array[row]` (see [`write_value`]).
pub fn value_to_string(
    array: &dyn Array,
    row: usize,
    data_type: &DataType,
    style: TextStyle,
) -> Result<String> {
    let mut out = String::new();
    write_value(&mut out, array, row, data_type, style)?;
    Ok(out)
}

/// `value` as ClickHouse quotes a string inside an array, tuple or map: `'it\'s'`, with
/// backslash escapes for `\`, newline, tab and NUL.
pub fn write_quoted(value: &str, out: &mut String) {
    out.push('\'');
    for ch in value.chars() {
        match ch {
            '\'' => out.push_str("\\'"),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\0' => out.push_str("\\0"),
            other => out.push(other),
        }
    }
    out.push('\'');
}

/// A float in ClickHouse's form: the shortest digits that read back, positional for decimal
/// exponents from -6 to 20, else `<digits>e<exponent>`; `inf`, `-inf`, `nan`.
pub fn format_float(value: f64, out: &mut String) {
    format_float_digits(value, &format!("{value:e}"), out);
}

/// [`format_float`] for a Float32, whose shortest digits are those of the f32.
pub fn format_float32(value: f32, out: &mut String) {
    format_float_digits(f64::from(value), &format!("{value:e}"), out);
}

fn format_float_digits(value: f64, scientific: &str, out: &mut String) {
    if value.is_nan() {
        out.push_str("nan");
        return;
    }
    if value.is_infinite() {
        out.push_str(if value < 0.0 { "-inf" } else { "inf" });
        return;
    }
    // `scientific` is `[-]d[.ddd]e<exp>`.
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let (negative, mantissa) = match mantissa.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, mantissa),
    };
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    if negative {
        out.push('-');
    }
    if digits == "0" {
        out.push('0');
        return;
    }
    let point = exponent + 1; // digits before the decimal point
    let count = digits.len() as i32;
    if (-5..=21).contains(&point) {
        if point <= 0 {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', (-point) as usize));
            out.push_str(&digits);
        } else if point >= count {
            out.push_str(&digits);
            out.extend(std::iter::repeat_n('0', (point - count) as usize));
        } else {
            out.push_str(&digits[..point as usize]);
            out.push('.');
            out.push_str(&digits[point as usize..]);
        }
    } else {
        out.push_str(&digits[..1]);
        if count > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let _ = write!(out, "e{exponent}");
    }
}

/// An unscaled decimal with `scale` fractional digits, trailing fractional zeros dropped.
fn format_decimal(unscaled: &str, scale: usize, out: &mut String) {
    let (negative, digits) = match unscaled.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, unscaled),
    };
    if negative {
        out.push('-');
    }
    if scale == 0 {
        out.push_str(digits);
        return;
    }
    let padded = format!("{digits:0>width$}", width = scale + 1);
    let (whole, fraction) = padded.split_at(padded.len() - scale);
    out.push_str(whole);
    let fraction = fraction.trim_end_matches('0');
    if !fraction.is_empty() {
        out.push('.');
        out.push_str(fraction);
    }
}

/// A little-endian unsigned 256-bit integer in decimal.
fn format_u256(bytes: &[u8], out: &mut String) {
    let mut limbs = [0u64; 4];
    for (index, limb) in limbs.iter_mut().enumerate() {
        let mut word = [0u8; 8];
        word.copy_from_slice(&bytes[index * 8..index * 8 + 8]);
        *limb = u64::from_le_bytes(word);
    }
    let mut digits = Vec::new();
    while limbs.iter().any(|limb| *limb != 0) {
        let mut remainder = 0u128;
        for limb in limbs.iter_mut().rev() {
            let current = (remainder << 64) | u128::from(*limb);
            *limb = (current / 10) as u64;
            remainder = current % 10;
        }
        digits.push(b'0' + remainder as u8);
    }
    if digits.is_empty() {
        digits.push(b'0');
    }
    out.extend(digits.iter().rev().map(|digit| char::from(*digit)));
}

struct Writer<'a> {
    out: &'a mut String,
    style: TextStyle,
}

macro_rules! primitive {
    ($self:ident, $array:ident, $row:ident, $arrow:ty) => {{
        let _ = write!($self.out, "{}", $array.as_primitive::<$arrow>().value($row));
    }};
}

impl Writer<'_> {
    fn value(
        &mut self,
        array: &dyn Array,
        row: usize,
        data_type: &DataType,
        nested: bool,
    ) -> Result<()> {
        // A NullArray (a bare NULL's column) has no validity bitmap: every value is NULL.
        if array.is_null(row) || *array.data_type() == arrow_schema::DataType::Null {
            self.out
                .push_str(if nested { "NULL" } else { self.style.null });
            return Ok(());
        }
        match data_type {
            DataType::Nullable(inner) => return self.value(array, row, inner, nested),
            DataType::SimpleAggregateFunction(_, inner) => {
                return self.value(array, row, inner, nested);
            }
            DataType::LowCardinality(inner) => return self.dictionary(array, row, inner, nested),
            DataType::Enum8(_) | DataType::Enum16(_) => {
                return self.dictionary(array, row, &DataType::String, nested);
            }
            DataType::UInt8 => primitive!(self, array, row, UInt8Type),
            DataType::UInt16 => primitive!(self, array, row, UInt16Type),
            DataType::UInt32 => primitive!(self, array, row, UInt32Type),
            DataType::UInt64 => primitive!(self, array, row, UInt64Type),
            DataType::Int8 => primitive!(self, array, row, Int8Type),
            DataType::Int16 => primitive!(self, array, row, Int16Type),
            DataType::Int32 => primitive!(self, array, row, Int32Type),
            DataType::Int64 => primitive!(self, array, row, Int64Type),
            DataType::Float32 => {
                format_float32(array.as_primitive::<Float32Type>().value(row), self.out)
            }
            DataType::Float64 => {
                format_float(array.as_primitive::<Float64Type>().value(row), self.out)
            }
            DataType::Bool => {
                let value = array.as_boolean().value(row);
                self.out.push_str(if value { "true" } else { "false" });
            }
            DataType::UInt128 => {
                let bytes = self.fixed(array, row, 16)?;
                let value = u128::from_le_bytes(bytes.try_into().unwrap_or([0; 16]));
                let _ = write!(self.out, "{value}");
            }
            DataType::Int128 => {
                let bytes = self.fixed(array, row, 16)?;
                let value = i128::from_le_bytes(bytes.try_into().unwrap_or([0; 16]));
                let _ = write!(self.out, "{value}");
            }
            DataType::UInt256 => {
                let bytes = self.fixed(array, row, 32)?.to_vec();
                format_u256(&bytes, self.out);
            }
            DataType::Int256 => {
                let bytes = self.fixed(array, row, 32)?;
                let value = i256::from_le_bytes(bytes.try_into().unwrap_or([0; 32]));
                let _ = write!(self.out, "{value}");
            }
            DataType::String => {
                let bytes = string_bytes(array, row)?;
                self.string(&String::from_utf8_lossy(bytes), nested);
            }
            DataType::FixedString(n) => {
                let bytes = self.fixed(array, row, *n)?.to_vec();
                self.string(&String::from_utf8_lossy(&bytes), nested);
            }
            DataType::Date | DataType::Date32 => {
                let days = array.as_primitive::<Date32Type>().value(row);
                self.quoted(nested, |out| write_date(days, out));
            }
            DataType::DateTime(zone) => {
                let seconds = timestamp_ticks(array, row)?.0;
                self.quoted(nested, |out| {
                    write_datetime(seconds, 0, 0, zone.as_deref(), out)
                });
            }
            DataType::DateTime64(precision, zone) => {
                let (ticks, per_second) = timestamp_ticks(array, row)?;
                let seconds = ticks.div_euclid(per_second);
                let fraction = ticks.rem_euclid(per_second);
                // The Arrow unit holds at least `precision` digits; drop the extra ones.
                let unit_digits = per_second.ilog10();
                let shown = i64::from(*precision).min(i64::from(unit_digits)) as u32;
                let fraction = fraction / 10i64.pow(unit_digits - shown);
                self.quoted(nested, |out| {
                    write_datetime(seconds, fraction, shown, zone.as_deref(), out)
                });
            }
            DataType::Decimal(_, scale) => {
                let unscaled = match array.data_type() {
                    ArrowType::Decimal128(..) => array
                        .as_primitive::<Decimal128Type>()
                        .value(row)
                        .to_string(),
                    ArrowType::Decimal256(..) => array
                        .as_primitive::<Decimal256Type>()
                        .value(row)
                        .to_string(),
                    other => return Err(mismatch(data_type, other)),
                };
                format_decimal(&unscaled, usize::from(*scale), self.out);
            }
            DataType::Uuid => {
                let bytes = self.fixed(array, row, 16)?.to_vec();
                let hex: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
                self.quoted(nested, |out| {
                    let _ = write!(
                        out,
                        "{}-{}-{}-{}-{}",
                        &hex[0..8],
                        &hex[8..12],
                        &hex[12..16],
                        &hex[16..20],
                        &hex[20..32]
                    );
                });
            }
            DataType::IPv4 => {
                let value = array.as_primitive::<UInt32Type>().value(row);
                self.quoted(nested, |out| {
                    let _ = write!(out, "{}", std::net::Ipv4Addr::from(value));
                });
            }
            DataType::IPv6 => {
                let bytes: [u8; 16] = self.fixed(array, row, 16)?.try_into().unwrap_or([0; 16]);
                self.quoted(nested, |out| {
                    let _ = write!(out, "{}", std::net::Ipv6Addr::from(bytes));
                });
            }
            DataType::Array(inner) => {
                let list = match array.data_type() {
                    ArrowType::List(_) => array.as_list::<i32>().value(row),
                    ArrowType::LargeList(_) => array.as_list::<i64>().value(row),
                    ArrowType::FixedSizeList(..) => array.as_fixed_size_list().value(row),
                    other => return Err(mismatch(data_type, other)),
                };
                self.sequence('[', ']', &list, inner)?;
            }
            DataType::Tuple(elements) => {
                let Some(structs) = array.as_struct_opt() else {
                    return Err(mismatch(data_type, array.data_type()));
                };
                self.out.push('(');
                for (index, (element, column)) in elements.iter().zip(structs.columns()).enumerate()
                {
                    if index > 0 {
                        self.out.push(',');
                    }
                    self.value(column.as_ref(), row, &element.data_type, true)?;
                }
                self.out.push(')');
            }
            DataType::Map(key, value) => {
                let Some(map) = array.as_map_opt() else {
                    return Err(mismatch(data_type, array.data_type()));
                };
                let entries = map.value(row);
                self.out.push('{');
                for entry in 0..entries.len() {
                    if entry > 0 {
                        self.out.push(',');
                    }
                    self.value(entries.column(0).as_ref(), entry, key, true)?;
                    self.out.push(':');
                    self.value(entries.column(1).as_ref(), entry, value, true)?;
                }
                self.out.push('}');
            }
            DataType::AggregateFunction(_) => {
                let bytes = string_bytes(array, row)?;
                self.string(&String::from_utf8_lossy(bytes), nested);
            }
            DataType::Nothing => self.out.push_str("NULL"),
        }
        Ok(())
    }

    fn sequence(
        &mut self,
        open: char,
        close: char,
        items: &ArrayRef,
        data_type: &DataType,
    ) -> Result<()> {
        self.out.push(open);
        for index in 0..items.len() {
            if index > 0 {
                self.out.push(',');
            }
            self.value(items.as_ref(), index, data_type, true)?;
        }
        self.out.push(close);
        Ok(())
    }

    fn dictionary(
        &mut self,
        array: &dyn Array,
        row: usize,
        inner: &DataType,
        nested: bool,
    ) -> Result<()> {
        let ArrowType::Dictionary(key, _) = array.data_type() else {
            // A LowCardinality column decoded to plain values.
            return self.value(array, row, inner, nested);
        };
        let (values, index) = match key.as_ref() {
            ArrowType::Int8 => dictionary_entry::<Int8Type>(array, row),
            ArrowType::Int16 => dictionary_entry::<Int16Type>(array, row),
            ArrowType::Int32 => dictionary_entry::<Int32Type>(array, row),
            ArrowType::Int64 => dictionary_entry::<Int64Type>(array, row),
            ArrowType::UInt8 => dictionary_entry::<UInt8Type>(array, row),
            ArrowType::UInt16 => dictionary_entry::<UInt16Type>(array, row),
            ArrowType::UInt32 => dictionary_entry::<UInt32Type>(array, row),
            ArrowType::UInt64 => dictionary_entry::<UInt64Type>(array, row),
            other => {
                return Err(Error::incorrect(format!("dictionary keys of type {other}")));
            }
        };
        self.value(values.as_ref(), index, inner.strip_nullable(), nested)
    }

    fn fixed<'b>(&self, array: &'b dyn Array, row: usize, width: usize) -> Result<&'b [u8]> {
        match array.as_fixed_size_binary_opt() {
            Some(binary) if binary.value_length() as usize == width => Ok(binary.value(row)),
            _ => Err(Error::incorrect(format!(
                "a {width}-byte value held as Arrow {}",
                array.data_type()
            ))),
        }
    }

    fn string(&mut self, value: &str, nested: bool) {
        if nested {
            write_quoted(value, self.out);
        } else if self.style.escape_top_level {
            for ch in value.chars() {
                match ch {
                    '\\' => self.out.push_str("\\\\"),
                    '\n' => self.out.push_str("\\n"),
                    '\t' => self.out.push_str("\\t"),
                    '\0' => self.out.push_str("\\0"),
                    other => self.out.push(other),
                }
            }
        } else {
            self.out.push_str(value);
        }
    }

    fn quoted(&mut self, nested: bool, write: impl FnOnce(&mut String)) {
        if nested {
            self.out.push('\'');
        }
        write(self.out);
        if nested {
            self.out.push('\'');
        }
    }
}

fn dictionary_entry<K: arrow_array::types::ArrowDictionaryKeyType>(
    array: &dyn Array,
    row: usize,
) -> (ArrayRef, usize) {
    let dictionary = array.as_dictionary::<K>();
    let index = dictionary.keys().value(row).as_usize();
    (dictionary.values().clone(), index)
}

fn string_bytes(array: &dyn Array, row: usize) -> Result<&[u8]> {
    Ok(match array.data_type() {
        ArrowType::Utf8 => array.as_string::<i32>().value(row).as_bytes(),
        ArrowType::LargeUtf8 => array.as_string::<i64>().value(row).as_bytes(),
        ArrowType::Utf8View => array.as_string_view().value(row).as_bytes(),
        ArrowType::Binary => array.as_binary::<i32>().value(row),
        ArrowType::LargeBinary => array.as_binary::<i64>().value(row),
        ArrowType::BinaryView => array.as_binary_view().value(row),
        other => return Err(mismatch(&DataType::String, other)),
    })
}

/// A timestamp's value and its ticks per second.
fn timestamp_ticks(array: &dyn Array, row: usize) -> Result<(i64, i64)> {
    Ok(match array.data_type() {
        ArrowType::Timestamp(TimeUnit::Second, _) => {
            (array.as_primitive::<TimestampSecondType>().value(row), 1)
        }
        ArrowType::Timestamp(TimeUnit::Millisecond, _) => (
            array.as_primitive::<TimestampMillisecondType>().value(row),
            1_000,
        ),
        ArrowType::Timestamp(TimeUnit::Microsecond, _) => (
            array.as_primitive::<TimestampMicrosecondType>().value(row),
            1_000_000,
        ),
        ArrowType::Timestamp(TimeUnit::Nanosecond, _) => (
            array.as_primitive::<TimestampNanosecondType>().value(row),
            1_000_000_000,
        ),
        other => {
            return Err(Error::incorrect(format!(
                "a DateTime held as Arrow {other}"
            )));
        }
    })
}

fn write_date(days: i32, out: &mut String) {
    let date = NaiveDate::from_ymd_opt(1970, 1, 1)
        .and_then(|epoch| epoch.checked_add_signed(chrono::Duration::days(i64::from(days))));
    match date {
        Some(date) => {
            let _ = write!(out, "{}", date.format("%Y-%m-%d"));
        }
        None => {
            let _ = write!(out, "{days}");
        }
    }
}

fn write_datetime(seconds: i64, fraction: i64, digits: u32, zone: Option<&str>, out: &mut String) {
    let Some(utc) = DateTime::<Utc>::from_timestamp(seconds, 0) else {
        let _ = write!(out, "{seconds}");
        return;
    };
    let zone: Option<chrono_tz::Tz> = zone.and_then(|name| name.parse().ok());
    let local = match zone {
        Some(zone) => zone
            .from_utc_datetime(&utc.naive_utc())
            .naive_local()
            .to_string(),
        None => utc.naive_utc().to_string(),
    };
    out.push_str(&local);
    if digits > 0 {
        let _ = write!(out, ".{fraction:0width$}", width = digits as usize);
    }
}

fn mismatch(data_type: &DataType, arrow: &ArrowType) -> Error {
    Error::incorrect(format!("a {data_type} value held as Arrow {arrow}"))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{
        Date32Array, Decimal128Array, Float32Array, Float64Array, ListArray, StringArray,
        TimestampMillisecondArray, TimestampSecondArray,
    };

    use super::*;

    fn float(value: f64) -> String {
        let mut out = String::new();
        format_float(value, &mut out);
        out
    }

    /// The forms ClickHouse 26 prints (checked with chDB).
    #[test]
    fn floats_print_as_clickhouse_prints_them() {
        assert_eq!(float(0.000001), "0.000001");
        assert_eq!(float(0.0000001), "1e-7");
        assert_eq!(float(1e20), "100000000000000000000");
        assert_eq!(float(1e21), "1e21");
        assert_eq!(float(1.5e300), "1.5e300");
        assert_eq!(float(-0.0), "-0");
        assert_eq!(float(f64::INFINITY), "inf");
        assert_eq!(float(f64::NEG_INFINITY), "-inf");
        assert_eq!(float(f64::NAN), "nan");
        assert_eq!(float(1.0 / 3.0), "0.3333333333333333");
        assert_eq!(float(1e15 + 0.5), "1000000000000000.5");
        assert_eq!(float(123456789012345680000.0), "123456789012345680000");
        assert_eq!(float(-2.5), "-2.5");
        let mut out = String::new();
        format_float32(0.1, &mut out);
        assert_eq!(out, "0.1");
    }

    fn text(array: ArrayRef, data_type: &str) -> Vec<String> {
        let data_type = DataType::parse(data_type).unwrap();
        (0..array.len())
            .map(|row| value_to_string(array.as_ref(), row, &data_type, TextStyle::PLAIN).unwrap())
            .collect()
    }

    #[test]
    fn scalars_print_as_clickhouse_prints_them() {
        let decimals = Decimal128Array::from(vec![1500, 2000, -5, 0])
            .with_precision_and_scale(18, 3)
            .unwrap();
        assert_eq!(
            text(Arc::new(decimals), "Decimal(18, 3)"),
            ["1.5", "2", "-0.005", "0"]
        );
        assert_eq!(
            text(Arc::new(Date32Array::from(vec![18262])), "Date"),
            ["2020-01-01"]
        );
        assert_eq!(
            text(
                Arc::new(TimestampSecondArray::from(vec![1704164645])),
                "DateTime"
            ),
            ["2024-01-02 03:04:05"]
        );
        assert_eq!(
            text(
                Arc::new(TimestampSecondArray::from(vec![0]).with_timezone("Asia/Tokyo")),
                "DateTime('Asia/Tokyo')"
            ),
            ["1970-01-01 09:00:00"]
        );
        assert_eq!(
            text(
                Arc::new(TimestampMillisecondArray::from(vec![1704164645100])),
                "DateTime64(3)"
            ),
            ["2024-01-02 03:04:05.100"]
        );
        assert_eq!(
            text(Arc::new(Float32Array::from(vec![1.0 / 3.0])), "Float32"),
            ["0.33333334"]
        );
        assert_eq!(
            text(
                Arc::new(Float64Array::from(vec![Some(1.0), None])),
                "Nullable(Float64)"
            ),
            ["1", "NULL"]
        );
    }

    #[test]
    fn nested_values_quote_their_strings() {
        let list =
            ListArray::from_iter_primitive::<Int32Type, _, _>(vec![Some(vec![Some(1), None])]);
        assert_eq!(text(Arc::new(list), "Array(Nullable(Int32))"), ["[1,NULL]"]);
        let strings = Arc::new(StringArray::from(vec!["a", "b'c"])) as ArrayRef;
        let offsets = arrow_buffer::OffsetBuffer::from_lengths([2]);
        let field = Arc::new(arrow_schema::Field::new("item", ArrowType::Utf8, false));
        let list = ListArray::new(field, offsets, strings, None);
        assert_eq!(text(Arc::new(list), "Array(String)"), ["['a','b\\'c']"]);
    }
}
