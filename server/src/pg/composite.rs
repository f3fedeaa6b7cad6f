//! ClickHouse's composite values as PostgreSQL clients read them: an `Array(T)` is a PostgreSQL
//! array of T's type (text `{1,2,"a b"}`, or the binary array layout), nested arrays are
//! multidimensional (so they must be rectangular: `[[1],[2,3]]` has no PostgreSQL form and is
//! refused with 2202E); a `Map` or `Tuple` is `json` (a named tuple an object, an unnamed one an
//! array, map keys as strings).

use std::fmt::Write;

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef};
use arrow_schema::DataType as ArrowType;
use granary_engine::postgres::array_text::{self, Element};
use granary_protocol::DataType;
use pgwire::api::Type;

use super::binary::{self, Refusal};
use super::types::{pg_type, text_value};

/// Whether values of `data_type` are sent by this module.
pub fn is_composite(data_type: &DataType) -> bool {
    matches!(
        plain(data_type),
        DataType::Array(_) | DataType::Map(..) | DataType::Tuple(_)
    )
}

/// The value at `row` in text (`binary` false) or binary format, for a column sent as
/// `pg_type`; `None` for NULL.
pub fn encode(
    array: &dyn Array,
    row: usize,
    data_type: &DataType,
    pg_type: &Type,
    binary: bool,
) -> Result<Option<Vec<u8>>, Refusal> {
    if array.is_null(row) {
        return Ok(None);
    }
    let data_type = plain(data_type);
    if let DataType::Array(_) = data_type {
        // The elements are of the column's array type's element type (`oid` in `oid[]`).
        let element = granary_engine::postgres::types::by_oid(pg_type.oid())
            .and_then(|array| Type::from_oid(array.element))
            .filter(|element| element.oid() != 0);
        let mut shape = Shape {
            element,
            ..Shape::default()
        };
        collect(array, row, data_type, 0, &mut shape)?;
        return Ok(Some(if binary {
            shape.binary()?
        } else {
            shape.text().into_bytes()
        }));
    }
    // json's binary format is its text.
    let mut out = String::new();
    json(array, row, data_type, &mut out)?;
    Ok(Some(out.into_bytes()))
}

/// A type without its Nullable/LowCardinality wrappers.
fn plain(data_type: &DataType) -> &DataType {
    match data_type {
        DataType::Nullable(inner) | DataType::LowCardinality(inner) => plain(inner),
        other => other,
    }
}

/// The elements of a list value.
fn elements(array: &dyn Array, row: usize) -> Result<ArrayRef, Refusal> {
    Ok(match array.data_type() {
        ArrowType::List(_) => array.as_list::<i32>().value(row),
        ArrowType::LargeList(_) => array.as_list::<i64>().value(row),
        ArrowType::FixedSizeList(..) => array.as_fixed_size_list().value(row),
        other => return Err(internal(format!("an Array value held as {other}"))),
    })
}

fn internal(message: String) -> Refusal {
    Refusal {
        sqlstate: "XX000",
        message,
    }
}

/// A PostgreSQL array: its dimensions and its elements in order (PostgreSQL text each).
#[derive(Default)]
struct Shape {
    dimensions: Vec<usize>,
    leaves: Vec<Option<String>>,
    /// The PostgreSQL type of the elements.
    element: Option<Type>,
}

/// Gathers the array value at `row` (of type `Array(inner)`) at nesting `depth` into `shape`,
/// checking that every sub-array of a depth has the same length.
fn collect(
    array: &dyn Array,
    row: usize,
    data_type: &DataType,
    depth: usize,
    shape: &mut Shape,
) -> Result<(), Refusal> {
    let DataType::Array(inner) = plain(data_type) else {
        return Err(internal(format!("{data_type} is not an array")));
    };
    let values = elements(array, row)?;
    match shape.dimensions.get(depth) {
        None => shape.dimensions.push(values.len()),
        Some(&length) if length == values.len() => {}
        Some(_) => {
            return Err(Refusal {
                sqlstate: "2202E",
                message: "multidimensional arrays must have sub-arrays with matching dimensions \
                          (a ragged ClickHouse array has no PostgreSQL form)"
                    .to_string(),
            });
        }
    }
    let inner = plain(inner);
    for index in 0..values.len() {
        if let DataType::Array(_) = inner {
            if values.is_null(index) {
                return Err(internal("a NULL sub-array".to_string()));
            }
            collect(values.as_ref(), index, inner, depth + 1, shape)?;
            continue;
        }
        shape.element.get_or_insert_with(|| pg_type(inner));
        let text = if values.is_null(index) {
            None
        } else if is_composite(inner) {
            let mut out = String::new();
            json(values.as_ref(), index, inner, &mut out)?;
            Some(out)
        } else {
            text_value(values.as_ref(), index, inner).map_err(|e| internal(e.to_string()))?
        };
        shape.leaves.push(text);
    }
    Ok(())
}

impl Shape {
    /// Whether the array has no elements (PostgreSQL's empty array has no dimensions).
    fn is_empty(&self) -> bool {
        self.dimensions.contains(&0)
    }

    fn text(&self) -> String {
        if self.is_empty() {
            return "{}".to_string();
        }
        let mut out = String::new();
        let mut leaves = self.leaves.iter();
        self.text_level(0, &mut leaves, &mut out);
        out
    }

    fn text_level<'a>(
        &self,
        depth: usize,
        leaves: &mut impl Iterator<Item = &'a Option<String>>,
        out: &mut String,
    ) {
        out.push('{');
        for index in 0..self.dimensions[depth] {
            if index > 0 {
                out.push(',');
            }
            if depth + 1 < self.dimensions.len() {
                self.text_level(depth + 1, leaves, out);
            } else {
                match leaves.next() {
                    Some(Some(text)) => quote(text, out),
                    _ => out.push_str("NULL"),
                }
            }
        }
        out.push('}');
    }

    /// PostgreSQL's binary array: dimensions, a has-NULLs flag, the element OID, each
    /// dimension's length and lower bound (1), then the elements.
    fn binary(&self) -> Result<Vec<u8>, Refusal> {
        let element = self.element.clone().unwrap_or(Type::TEXT);
        let count = |n: usize| {
            i32::try_from(n).map_err(|_| Refusal {
                sqlstate: "54000",
                message: "an array too large to send".to_string(),
            })
        };
        let mut out = Vec::new();
        if self.is_empty() {
            out.extend_from_slice(&0i32.to_be_bytes());
            out.extend_from_slice(&0i32.to_be_bytes());
            out.extend_from_slice(&element.oid().to_be_bytes());
            return Ok(out);
        }
        out.extend_from_slice(&count(self.dimensions.len())?.to_be_bytes());
        let nulls = self.leaves.iter().any(Option::is_none);
        out.extend_from_slice(&i32::from(nulls).to_be_bytes());
        out.extend_from_slice(&element.oid().to_be_bytes());
        for dimension in &self.dimensions {
            out.extend_from_slice(&count(*dimension)?.to_be_bytes());
            out.extend_from_slice(&1i32.to_be_bytes());
        }
        for leaf in &self.leaves {
            match leaf {
                None => out.extend_from_slice(&(-1i32).to_be_bytes()),
                Some(text) => {
                    let bytes = binary::encode(&element, text)?;
                    out.extend_from_slice(&count(bytes.len())?.to_be_bytes());
                    out.extend_from_slice(&bytes);
                }
            }
        }
        Ok(out)
    }
}

/// An array element in PostgreSQL's array text: quoted when empty, `NULL`, or holding braces,
/// commas, quotes, backslashes or white space.
fn quote(text: &str, out: &mut String) {
    let needs = text.is_empty()
        || text.eq_ignore_ascii_case("null")
        || text
            .chars()
            .any(|c| matches!(c, '{' | '}' | ',' | '"' | '\\') || c.is_whitespace());
    if !needs {
        out.push_str(text);
        return;
    }
    out.push('"');
    for c in text.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

/// The JSON of a value: numbers and booleans bare, other scalars as strings of their
/// PostgreSQL text, arrays as arrays, maps as objects, tuples as objects (named) or arrays.
fn json(
    array: &dyn Array,
    row: usize,
    data_type: &DataType,
    out: &mut String,
) -> Result<(), Refusal> {
    if array.is_null(row) || *array.data_type() == ArrowType::Null {
        out.push_str("null");
        return Ok(());
    }
    match plain(data_type) {
        DataType::Array(inner) => {
            let values = elements(array, row)?;
            out.push('[');
            for index in 0..values.len() {
                if index > 0 {
                    out.push(',');
                }
                json(values.as_ref(), index, inner, out)?;
            }
            out.push(']');
        }
        DataType::Map(key, value) => {
            let map = array
                .as_map_opt()
                .ok_or_else(|| internal(format!("a Map value held as {}", array.data_type())))?;
            let entries = map.value(row);
            out.push('{');
            for entry in 0..entries.len() {
                if entry > 0 {
                    out.push(',');
                }
                let name = scalar_text(entries.column(0).as_ref(), entry, key)?.unwrap_or_default();
                json_string(&name, out);
                out.push(':');
                json(entries.column(1).as_ref(), entry, value, out)?;
            }
            out.push('}');
        }
        DataType::Tuple(fields) => {
            let structs = array
                .as_struct_opt()
                .ok_or_else(|| internal(format!("a Tuple value held as {}", array.data_type())))?;
            let named = fields.iter().all(|field| field.name.is_some());
            out.push(if named { '{' } else { '[' });
            for (index, (field, column)) in fields.iter().zip(structs.columns()).enumerate() {
                if index > 0 {
                    out.push(',');
                }
                if let (true, Some(name)) = (named, &field.name) {
                    json_string(name, out);
                    out.push(':');
                }
                json(column.as_ref(), row, &field.data_type, out)?;
            }
            out.push(if named { '}' } else { ']' });
        }
        scalar => {
            let text = scalar_text(array, row, scalar)?.unwrap_or_default();
            let bare = match scalar {
                DataType::Bool => {
                    out.push_str(if text == "t" { "true" } else { "false" });
                    return Ok(());
                }
                DataType::Float32 | DataType::Float64 => {
                    !matches!(text.as_str(), "NaN" | "Infinity" | "-Infinity")
                }
                DataType::Int8
                | DataType::Int16
                | DataType::Int32
                | DataType::Int64
                | DataType::Int128
                | DataType::Int256
                | DataType::UInt8
                | DataType::UInt16
                | DataType::UInt32
                | DataType::UInt64
                | DataType::UInt128
                | DataType::UInt256
                | DataType::Decimal(..) => true,
                _ => false,
            };
            if bare {
                out.push_str(&text);
            } else {
                json_string(&text, out);
            }
        }
    }
    Ok(())
}

fn scalar_text(
    array: &dyn Array,
    row: usize,
    data_type: &DataType,
) -> Result<Option<String>, Refusal> {
    text_value(array, row, data_type).map_err(|e| internal(e.to_string()))
}

fn json_string(text: &str, out: &mut String) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A PostgreSQL array's text (`{1,"a b",NULL,{2,3}}`) as ClickHouse's array text with every
/// element quoted (`['1','a b',NULL,['2','3']]`); the engine reads each element as its type.
pub fn clickhouse_array(text: &str) -> Result<String, Refusal> {
    fn write(elements: &[Element], out: &mut String) {
        out.push('[');
        for (index, element) in elements.iter().enumerate() {
            if index > 0 {
                out.push(',');
            }
            match element {
                Element::Null => out.push_str("NULL"),
                Element::Value(value) => granary_protocol::text::write_quoted(value, out),
                Element::Array(inner) => write(inner, out),
            }
        }
        out.push(']');
    }
    let elements = array_text::parse(text).ok_or_else(|| Refusal {
        sqlstate: "22P02",
        message: format!("malformed array literal: \"{text}\""),
    })?;
    let mut out = String::new();
    write(&elements, &mut out);
    Ok(out)
}

/// A PostgreSQL binary array as ClickHouse's array text (elements read by their type).
pub fn clickhouse_array_from_binary(bytes: &[u8]) -> Result<String, Refusal> {
    let malformed = || Refusal {
        sqlstate: "22P03",
        message: "invalid binary array".to_string(),
    };
    let word = |at: usize| -> Result<i32, Refusal> {
        bytes
            .get(at..at + 4)
            .map(|w| i32::from_be_bytes([w[0], w[1], w[2], w[3]]))
            .ok_or_else(malformed)
    };
    let dimensions = usize::try_from(word(0)?).map_err(|_| malformed())?;
    let element =
        Type::from_oid(u32::from_be_bytes(word(8)?.to_be_bytes())).ok_or_else(malformed)?;
    let mut lengths = Vec::with_capacity(dimensions);
    for dimension in 0..dimensions {
        lengths.push(usize::try_from(word(12 + dimension * 8)?).map_err(|_| malformed())?);
    }
    let mut at = 12 + dimensions * 8;
    let mut leaves = Vec::new();
    let total: usize = if dimensions == 0 {
        0
    } else {
        lengths.iter().product()
    };
    for _ in 0..total {
        let length = word(at)?;
        at += 4;
        if length < 0 {
            leaves.push(None);
            continue;
        }
        let length = usize::try_from(length).map_err(|_| malformed())?;
        let value = bytes.get(at..at + length).ok_or_else(malformed)?;
        leaves.push(Some(binary::decode(&element, value)?));
        at += length;
    }
    fn level(lengths: &[usize], leaves: &mut std::vec::IntoIter<Option<String>>, out: &mut String) {
        out.push('[');
        for index in 0..lengths[0] {
            if index > 0 {
                out.push(',');
            }
            if lengths.len() > 1 {
                level(&lengths[1..], leaves, out);
            } else {
                match leaves.next().flatten() {
                    Some(text) => granary_protocol::text::write_quoted(&text, out),
                    None => out.push_str("NULL"),
                }
            }
        }
        out.push(']');
    }
    let mut out = String::new();
    if dimensions == 0 {
        out.push_str("[]");
    } else {
        level(&lengths, &mut leaves.into_iter(), &mut out);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use arrow_array::builder::{Int32Builder, ListBuilder, StringBuilder};

    fn text(array: &dyn Array, data_type: &DataType) -> Result<String, Refusal> {
        encode(array, 0, data_type, &pg_type(data_type), false)
            .map(|bytes| String::from_utf8(bytes.unwrap()).unwrap())
    }

    #[test]
    fn arrays_are_postgresql_arrays_with_quoting_and_nulls() {
        let mut strings = ListBuilder::new(StringBuilder::new());
        for value in [
            Some("plain"),
            Some("a b"),
            Some(""),
            None,
            Some("q\"\\"),
            Some("NULL"),
        ] {
            strings.values().append_option(value);
        }
        strings.append(true);
        let strings = strings.finish();
        let data_type = DataType::Array(Box::new(DataType::Nullable(Box::new(DataType::String))));
        assert_eq!(
            text(&strings, &data_type).unwrap(),
            r#"{plain,"a b","",NULL,"q\"\\","NULL"}"#
        );
    }

    #[test]
    fn nested_arrays_are_multidimensional_and_must_be_rectangular() {
        let build = |rows: &[&[i32]]| {
            let mut outer = ListBuilder::new(ListBuilder::new(Int32Builder::new()));
            for inner in rows {
                for value in *inner {
                    outer.values().values().append_value(*value);
                }
                outer.values().append(true);
            }
            outer.append(true);
            Arc::new(outer.finish()) as ArrayRef
        };
        let data_type = DataType::Array(Box::new(DataType::Array(Box::new(DataType::Int32))));
        assert_eq!(
            text(build(&[&[1, 2], &[3, 4]]).as_ref(), &data_type).unwrap(),
            "{{1,2},{3,4}}"
        );
        assert_eq!(text(build(&[]).as_ref(), &data_type).unwrap(), "{}");
        let ragged = text(build(&[&[1], &[2, 3]]).as_ref(), &data_type).unwrap_err();
        assert_eq!(ragged.sqlstate, "2202E");
        let binary = encode(
            build(&[&[1, 2], &[3, 4]]).as_ref(),
            0,
            &data_type,
            &pg_type(&data_type),
            true,
        )
        .unwrap()
        .unwrap();
        let words: Vec<i32> = binary
            .chunks(4)
            .map(|w| i32::from_be_bytes(w.try_into().unwrap()))
            .collect();
        // 2 dims, no NULLs, int4, (2, 1), (2, 1), then four 4-byte elements.
        assert_eq!(words, [2, 0, 23, 2, 1, 2, 1, 4, 1, 4, 2, 4, 3, 4, 4]);
    }

    #[test]
    fn postgresql_array_input_becomes_clickhouse_array_text() {
        assert_eq!(
            clickhouse_array(r#"{1,"a b",NULL,"q\"'",{2,3}}"#).unwrap(),
            r#"['1','a b',NULL,'q"\'',['2','3']]"#
        );
        assert_eq!(clickhouse_array("{}").unwrap(), "[]");
        assert_eq!(clickhouse_array("{ {1}, {2} }").unwrap(), "[['1'],['2']]");
        for bad in ["{1,", "1,2", "{1}}", "{,1}", "{1,}"] {
            assert_eq!(
                clickhouse_array(bad).unwrap_err().sqlstate,
                "22P02",
                "{bad}"
            );
        }
        let mut binary = Vec::new();
        for word in [1i32, 1, 23, 2, 1, 4, 7, -1] {
            binary.extend_from_slice(&word.to_be_bytes());
        }
        assert_eq!(clickhouse_array_from_binary(&binary).unwrap(), "['7',NULL]");
    }

    #[test]
    fn json_strings_are_escaped() {
        let mut out = String::new();
        json_string("a\"b\\c\n\u{1}", &mut out);
        assert_eq!(out, r#""a\"b\\c\n\u0001""#);
    }
}
