//! `COPY table FROM STDIN`: the rows of the client's CopyData messages, in PostgreSQL's text, CSV
//! or binary format, read as they arrive (a row may span messages) and handed to the engine's
//! [`Inserter`] in batches of text columns, which the engine reads as the columns' types. The
//! inserter gathers them into blocks as any insert does: a COPY of up to a million rows is one
//! part, written at CopyDone; a CopyFail or an error writes nothing more.

use std::sync::Arc;

use arrow_array::builder::StringBuilder;
use arrow_array::{ArrayRef, RecordBatch};
use granary_engine::Inserter;
use granary_engine::postgres::copy::{CopyFormat, CopyIn as Statement};
use granary_protocol::DataType;
use pgwire::api::Type;
use pgwire::api::results::CopyResponse;
use pgwire::error::PgWireError;

use super::binary::{self, Refusal};
use super::{composite, errors, parameters, types};

/// Rows per batch handed to the inserter.
const BATCH_ROWS: usize = 65_536;

/// The signature that starts binary COPY data.
const BINARY_SIGNATURE: &[u8] = b"PGCOPY\n\xff\r\n\0";

/// One COPY in progress.
pub struct CopyIn {
    inserter: Inserter,
    decoder: Decoder,
    columns: Vec<(DataType, Type)>,
    builders: Vec<StringBuilder>,
    pending: usize,
    rows: u64,
}

impl std::fmt::Debug for CopyIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CopyIn")
            .field("rows", &self.rows)
            .finish_non_exhaustive()
    }
}

impl CopyIn {
    pub fn new(statement: &Statement, inserter: Inserter) -> CopyIn {
        let columns: Vec<(DataType, Type)> = inserter
            .columns()
            .iter()
            .map(|(_, data_type)| (data_type.clone(), types::pg_type(data_type)))
            .collect();
        CopyIn {
            builders: columns.iter().map(|_| StringBuilder::new()).collect(),
            decoder: Decoder::new(statement, columns.len()),
            inserter,
            columns,
            pending: 0,
            rows: 0,
        }
    }

    /// The CopyInResponse: the overall format and each column's.
    pub fn response(&self) -> CopyResponse {
        let binary = i16::from(self.decoder.format == CopyFormat::Binary);
        CopyResponse::new(
            i8::from(binary == 1),
            self.columns.len(),
            vec![binary; self.columns.len()],
        )
    }

    /// Reads one CopyData message.
    pub async fn data(&mut self, bytes: &[u8]) -> Result<(), PgWireError> {
        self.decoder.buffer.extend_from_slice(bytes);
        self.decode(false)?;
        if self.pending >= BATCH_ROWS {
            self.flush().await?;
        }
        Ok(())
    }

    /// CopyDone: the last rows, then the insert is written. The number of rows copied.
    pub async fn done(mut self) -> Result<u64, PgWireError> {
        self.decode(true)?;
        if self.decoder.format == CopyFormat::Binary && !self.decoder.ended {
            return Err(bad_format("the binary COPY data ends without its trailer"));
        }
        self.flush().await?;
        self.inserter
            .finish()
            .await
            .map_err(|error| errors::engine_error(&error))?;
        Ok(self.rows)
    }

    fn decode(&mut self, last: bool) -> Result<(), PgWireError> {
        let columns = &self.columns;
        let builders = &mut self.builders;
        let mut rows = 0;
        self.decoder
            .decode(last, &mut |fields: Vec<Option<Field<'_>>>| {
                if fields.len() != columns.len() {
                    return Err(Refusal {
                        sqlstate: "22P04",
                        message: format!(
                            "row {} has {} fields, expected {}",
                            rows + 1,
                            fields.len(),
                            columns.len()
                        ),
                    });
                }
                for ((field, (data_type, pg_type)), builder) in
                    fields.into_iter().zip(columns).zip(builders.iter_mut())
                {
                    match field {
                        None => builder.append_null(),
                        Some(field) => {
                            let array = matches!(data_type.strip_nullable(), DataType::Array(_));
                            let text = match (field, array) {
                                (Field::Text(text), true) => composite::clickhouse_array(&text)?,
                                (Field::Text(text), false) => text,
                                (Field::Binary(bytes), true) => {
                                    composite::clickhouse_array_from_binary(bytes)?
                                }
                                (Field::Binary(bytes), false) => binary::decode(pg_type, bytes)?,
                            };
                            builder.append_value(parameters::normalized(data_type, text));
                        }
                    }
                }
                rows += 1;
                Ok(())
            })
            .map_err(|refusal| errors::error(refusal.sqlstate, refusal.message))?;
        self.pending += rows;
        self.rows += rows as u64;
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), PgWireError> {
        if self.pending == 0 {
            return Ok(());
        }
        let arrays: Vec<(String, ArrayRef)> = self
            .builders
            .iter_mut()
            .enumerate()
            .map(|(index, builder)| (format!("c{index}"), Arc::new(builder.finish()) as ArrayRef))
            .collect();
        let batch = RecordBatch::try_from_iter(arrays)
            .map_err(|error| errors::error("XX000", error.to_string()))?;
        self.pending = 0;
        self.inserter
            .push(batch)
            .await
            .map_err(|error| errors::engine_error(&error))
    }
}

fn bad_format(message: impl Into<String>) -> PgWireError {
    errors::error("22P04", message)
}

/// One field as the data holds it: text (unescaped) or a binary value.
enum Field<'a> {
    Text(String),
    Binary(&'a [u8]),
}

/// The parser of one COPY's data, fed message by message.
struct Decoder {
    format: CopyFormat,
    delimiter: u8,
    null: Vec<u8>,
    quote: u8,
    escape: u8,
    /// A header line still to skip (CSV and text with HEADER).
    skip_header: bool,
    /// Whether the binary header has been read.
    binary_started: bool,
    /// The end marker (`\.`, or binary's trailer) was read: the rest is ignored.
    ended: bool,
    /// Data not yet made into rows (an incomplete row).
    buffer: Vec<u8>,
    /// The buffer length at which to look for rows again (0: at the next message).
    retry_at: usize,
    columns: usize,
}

/// The longest row a COPY takes (PostgreSQL's limit is 1 GB).
const MAX_ROW_BYTES: usize = 256 << 20;
/// The least that must arrive before an incomplete row is looked at again.
const RETRY_BYTES: usize = 64 << 10;

type RowSink<'s> = dyn FnMut(Vec<Option<Field<'_>>>) -> Result<(), Refusal> + 's;

impl Decoder {
    fn new(statement: &Statement, columns: usize) -> Decoder {
        Decoder {
            format: statement.format,
            delimiter: statement.delimiter,
            null: statement.null.as_bytes().to_vec(),
            quote: statement.quote,
            escape: statement.escape,
            skip_header: statement.header,
            binary_started: false,
            ended: false,
            buffer: Vec::new(),
            retry_at: 0,
            columns,
        }
    }

    /// Hands every complete row in the buffer to `sink`; with `last`, the data is complete (a
    /// final line may lack its newline).
    ///
    /// A row that arrives in many messages is looked for again only once the buffer has doubled
    /// (or at the end), so a long row costs time in proportion to its length; one longer than
    /// [`MAX_ROW_BYTES`] is refused.
    fn decode(&mut self, last: bool, sink: &mut RowSink<'_>) -> Result<(), Refusal> {
        if self.ended {
            self.buffer.clear();
            return Ok(());
        }
        if !last && self.buffer.len() < self.retry_at {
            return Ok(());
        }
        let mut buffer = std::mem::take(&mut self.buffer);
        let consumed = match self.format {
            CopyFormat::Text => self.text_rows(&buffer, last, sink)?,
            CopyFormat::Csv => self.csv_rows(&buffer, last, sink)?,
            CopyFormat::Binary => self.binary_rows(&buffer, sink)?,
        };
        if self.ended {
            return Ok(());
        }
        buffer.drain(..consumed);
        if buffer.len() > MAX_ROW_BYTES {
            return Err(Refusal {
                sqlstate: "54000",
                message: format!("a COPY row is longer than {MAX_ROW_BYTES} bytes"),
            });
        }
        self.retry_at = if buffer.is_empty() {
            0
        } else {
            (buffer.len() * 2).max(buffer.len() + RETRY_BYTES)
        };
        self.buffer = buffer;
        Ok(())
    }

    fn text_rows(
        &mut self,
        data: &[u8],
        last: bool,
        sink: &mut RowSink<'_>,
    ) -> Result<usize, Refusal> {
        let mut start = 0;
        while start < data.len() {
            let (line, next) = match data[start..].iter().position(|&b| b == b'\n') {
                Some(end) => (&data[start..start + end], start + end + 1),
                None if last => (&data[start..], data.len()),
                None => break,
            };
            start = next;
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line == b"\\." {
                self.ended = true;
                break;
            }
            if std::mem::take(&mut self.skip_header) {
                continue;
            }
            let mut fields = Vec::with_capacity(self.columns);
            for raw in split_unescaped(line, self.delimiter) {
                if raw == self.null.as_slice() {
                    fields.push(None);
                } else {
                    fields.push(Some(Field::Text(utf8(unescape(raw))?)));
                }
            }
            sink(fields)?;
        }
        Ok(start)
    }

    fn csv_rows(
        &mut self,
        data: &[u8],
        last: bool,
        sink: &mut RowSink<'_>,
    ) -> Result<usize, Refusal> {
        let mut start = 0;
        while start < data.len() {
            let Some((fields, next)) = self.csv_record(data, start, last)? else {
                break;
            };
            let record = &data[start..next];
            start = next;
            let line = record.strip_suffix(b"\n").unwrap_or(record);
            if line.strip_suffix(b"\r").unwrap_or(line) == b"\\." {
                self.ended = true;
                break;
            }
            if std::mem::take(&mut self.skip_header) {
                continue;
            }
            sink(fields)?;
        }
        Ok(start)
    }

    /// The fields of the CSV record at `start` and where the next begins; `None` when the
    /// record is not complete yet.
    #[allow(clippy::type_complexity)]
    fn csv_record<'d>(
        &self,
        data: &'d [u8],
        start: usize,
        last: bool,
    ) -> Result<Option<(Vec<Option<Field<'d>>>, usize)>, Refusal> {
        let mut fields = Vec::with_capacity(self.columns);
        let mut at = start;
        loop {
            let mut value = Vec::new();
            let mut quoted = false;
            let mut unquoted_text = Vec::new();
            // One field: unquoted text and quoted sections until a delimiter or a newline.
            let end_of_record = loop {
                let Some(&byte) = data.get(at) else {
                    if !last {
                        return Ok(None);
                    }
                    break true;
                };
                if byte == self.quote {
                    quoted = true;
                    at += 1;
                    loop {
                        let Some(&inner) = data.get(at) else {
                            if last {
                                return Err(Refusal {
                                    sqlstate: "22P04",
                                    message: "unterminated CSV quoted field".to_string(),
                                });
                            }
                            return Ok(None);
                        };
                        if inner == self.escape
                            && data
                                .get(at + 1)
                                .is_some_and(|&next| next == self.quote || next == self.escape)
                        {
                            value.push(data[at + 1]);
                            at += 2;
                        } else if inner == self.escape
                            && inner == self.quote
                            && at + 1 == data.len()
                            && !last
                        {
                            // A quote at the end of the data: closing, or the first of a
                            // doubled quote — the next message tells.
                            return Ok(None);
                        } else if inner == self.quote {
                            at += 1;
                            break;
                        } else {
                            value.push(inner);
                            at += 1;
                        }
                    }
                } else if byte == self.delimiter {
                    at += 1;
                    break false;
                } else if byte == b'\n' {
                    at += 1;
                    break true;
                } else if byte == b'\r' && data.get(at + 1) == Some(&b'\n') {
                    at += 2;
                    break true;
                } else {
                    value.push(byte);
                    unquoted_text.push(byte);
                    at += 1;
                }
            };
            if !quoted && unquoted_text == self.null {
                fields.push(None);
            } else {
                fields.push(Some(Field::Text(utf8(value)?)));
            }
            if end_of_record {
                return Ok(Some((fields, at)));
            }
        }
    }

    fn binary_rows(&mut self, data: &[u8], sink: &mut RowSink<'_>) -> Result<usize, Refusal> {
        let mut at = 0;
        if !self.binary_started {
            let fixed = BINARY_SIGNATURE.len() + 8;
            if data.len() < fixed {
                return Ok(0);
            }
            if &data[..BINARY_SIGNATURE.len()] != BINARY_SIGNATURE {
                return Err(Refusal {
                    sqlstate: "22P04",
                    message: "COPY file signature not recognized".to_string(),
                });
            }
            let extension = be_i32(&data[BINARY_SIGNATURE.len() + 4..fixed]);
            let extension = usize::try_from(extension).map_err(|_| Refusal {
                sqlstate: "22P04",
                message: "invalid COPY file header (negative extension length)".to_string(),
            })?;
            if data.len() < fixed + extension {
                return Ok(0);
            }
            at = fixed + extension;
            self.binary_started = true;
        }
        loop {
            let Some(count) = data.get(at..at + 2) else {
                return Ok(at);
            };
            let count = i16::from_be_bytes([count[0], count[1]]);
            if count == -1 {
                self.ended = true;
                return Ok(data.len());
            }
            let mut cursor = at + 2;
            let mut fields = Vec::with_capacity(self.columns);
            for _ in 0..count {
                let Some(length) = data.get(cursor..cursor + 4) else {
                    return Ok(at);
                };
                let length = be_i32(length);
                cursor += 4;
                if length < 0 {
                    fields.push(None);
                    continue;
                }
                let length = usize::try_from(length).unwrap_or(usize::MAX);
                let Some(bytes) = data.get(cursor..cursor.saturating_add(length)) else {
                    return Ok(at);
                };
                fields.push(Some(Field::Binary(bytes)));
                cursor += length;
            }
            sink(fields)?;
            at = cursor;
        }
    }
}

fn be_i32(bytes: &[u8]) -> i32 {
    i32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

fn utf8(bytes: Vec<u8>) -> Result<String, Refusal> {
    String::from_utf8(bytes).map_err(|_| Refusal {
        sqlstate: "22021",
        message: "invalid byte sequence for encoding \"UTF8\" in COPY data".to_string(),
    })
}

/// A text-format line split at delimiters that are not escaped by a backslash.
fn split_unescaped(line: &[u8], delimiter: u8) -> Vec<&[u8]> {
    let mut fields = Vec::new();
    let mut start = 0;
    let mut at = 0;
    while at < line.len() {
        if line[at] == b'\\' {
            at += 2;
            continue;
        }
        if line[at] == delimiter {
            fields.push(&line[start..at]);
            start = at + 1;
        }
        at += 1;
    }
    fields.push(&line[start.min(line.len())..]);
    fields
}

/// The text format's backslash escapes: `\t \n \r \b \f \v \\`, octal `\ooo`, hex `\xhh`; any
/// other escaped character is itself.
fn unescape(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut at = 0;
    while at < raw.len() {
        let byte = raw[at];
        at += 1;
        if byte != b'\\' || at == raw.len() {
            out.push(byte);
            continue;
        }
        let escaped = raw[at];
        at += 1;
        match escaped {
            b't' => out.push(b'\t'),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b'b' => out.push(8),
            b'f' => out.push(12),
            b'v' => out.push(11),
            b'0'..=b'7' => {
                let mut value = u32::from(escaped - b'0');
                for _ in 0..2 {
                    match raw.get(at) {
                        Some(&digit @ b'0'..=b'7') => {
                            value = value * 8 + u32::from(digit - b'0');
                            at += 1;
                        }
                        _ => break,
                    }
                }
                out.push((value & 0xff) as u8);
            }
            b'x' if raw.get(at).is_some_and(u8::is_ascii_hexdigit) => {
                let mut value = 0u32;
                for _ in 0..2 {
                    match raw.get(at).and_then(|d| char::from(*d).to_digit(16)) {
                        Some(digit) => {
                            value = value * 16 + digit;
                            at += 1;
                        }
                        None => break,
                    }
                }
                out.push((value & 0xff) as u8);
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use granary_engine::postgres::copy::parse_copy;

    /// The rows `chunks` decode to, fed one by one, as text (`None` is NULL).
    fn rows(
        sql: &str,
        columns: usize,
        chunks: &[&[u8]],
    ) -> Result<Vec<Vec<Option<String>>>, Refusal> {
        let mut decoder = Decoder::new(&parse_copy(sql).unwrap(), columns);
        let mut out = Vec::new();
        for (index, chunk) in chunks.iter().enumerate() {
            decoder.buffer.extend_from_slice(chunk);
            decoder.decode(index + 1 == chunks.len(), &mut |fields| {
                out.push(
                    fields
                        .into_iter()
                        .map(|field| {
                            field.map(|field| match field {
                                Field::Text(text) => text,
                                Field::Binary(bytes) => format!("{bytes:?}"),
                            })
                        })
                        .collect(),
                );
                Ok(())
            })?;
        }
        Ok(out)
    }

    fn row(values: &[Option<&str>]) -> Vec<Option<String>> {
        values.iter().map(|v| v.map(str::to_string)).collect()
    }

    #[test]
    fn text_lines_with_escapes_nulls_and_the_end_marker() {
        let got = rows(
            "COPY t FROM STDIN",
            2,
            &[
                b"1\ta\\tb\n2\t\\N\n3\tx\\\\y\\",
                b"\\z\\101\r\n\\.\nignored\n",
            ],
        )
        .unwrap();
        assert_eq!(
            got,
            vec![
                row(&[Some("1"), Some("a\tb")]),
                row(&[Some("2"), None]),
                row(&[Some("3"), Some("x\\y\\zA")]),
            ]
        );
        // The last line may lack its newline.
        let got = rows("COPY t FROM STDIN", 1, &[b"7\n8"]).unwrap();
        assert_eq!(got, vec![row(&[Some("7")]), row(&[Some("8")])]);
    }

    #[test]
    fn csv_quotes_span_messages_and_only_unquoted_empty_is_null() {
        let got = rows(
            "COPY t FROM STDIN WITH (FORMAT csv, HEADER true)",
            3,
            &[
                b"id,name,note\n1,\"a, \"\"quoted\"\"",
                b" text\",\n2,\"\",\"line\none\"\r\n",
            ],
        )
        .unwrap();
        assert_eq!(
            got,
            vec![
                row(&[Some("1"), Some("a, \"quoted\" text"), None]),
                row(&[Some("2"), Some(""), Some("line\none")]),
            ]
        );
        assert!(rows("COPY t FROM STDIN (FORMAT csv)", 1, &[b"\"open"]).is_err());
    }

    fn binary_sample() -> Vec<u8> {
        let mut data = BINARY_SIGNATURE.to_vec();
        data.extend_from_slice(&0i32.to_be_bytes());
        data.extend_from_slice(&0i32.to_be_bytes());
        for value in [7i32, -3] {
            data.extend_from_slice(&2i16.to_be_bytes());
            data.extend_from_slice(&4i32.to_be_bytes());
            data.extend_from_slice(&value.to_be_bytes());
            data.extend_from_slice(&(-1i32).to_be_bytes());
        }
        data.extend_from_slice(&(-1i16).to_be_bytes());
        data
    }

    /// COPY statements and data as clients send them: the fuzzer's seeds.
    fn corpus() -> Vec<(&'static str, Vec<u8>)> {
        vec![
            (
                "COPY t FROM STDIN",
                b"1\ta\\tb\n2\t\\N\n3\tx\\\\y\\101\r\n\\.\n".to_vec(),
            ),
            (
                "COPY t FROM STDIN WITH (FORMAT csv, HEADER true)",
                b"id,name\n1,\"a, \"\"q\"\"\"\n2,\"line\none\"\r\n3,\n".to_vec(),
            ),
            (
                "COPY t FROM STDIN WITH (FORMAT csv, DELIMITER ';', NULL 'x', QUOTE '''')",
                b"1;'a;b'\nx;x\n".to_vec(),
            ),
            ("COPY t FROM STDIN (FORMAT binary)", binary_sample()),
        ]
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig {
            cases: 3000,
            ..proptest::prelude::ProptestConfig::default()
        })]

        /// Any bytes, cut into any messages, decode without a panic to the rows (or the
        /// refusal) the same bytes give in one message.
        #[test]
        fn copy_data_decodes_the_same_however_it_is_cut(
            seed in 0usize..4,
            edits in proptest::collection::vec(
                (proptest::prelude::any::<usize>(), proptest::prelude::any::<u8>()),
                0..6,
            ),
            cuts in proptest::collection::vec(proptest::prelude::any::<usize>(), 0..5),
        ) {
            let corpus = corpus();
            let (sql, data) = &corpus[seed];
            let mut data = data.clone();
            for (at, value) in edits {
                let at = at % (data.len() + 1);
                match value % 3 {
                    0 if at < data.len() => data[at] = value,
                    1 if at < data.len() => {
                        data.remove(at);
                    }
                    _ => data.insert(at, value),
                }
            }
            let mut points: Vec<usize> = cuts.iter().map(|cut| cut % (data.len() + 1)).collect();
            points.sort_unstable();
            let mut chunks: Vec<&[u8]> = Vec::new();
            let mut start = 0;
            for point in points {
                chunks.push(&data[start..point]);
                start = point;
            }
            chunks.push(&data[start..]);
            let whole = rows(sql, 2, &[&data]).map_err(|refusal| refusal.sqlstate);
            let cut = rows(sql, 2, &chunks).map_err(|refusal| refusal.sqlstate);
            proptest::prop_assert_eq!(whole, cut);
        }
    }

    #[test]
    fn a_long_row_is_looked_at_again_only_as_it_doubles() {
        let mut decoder = Decoder::new(&parse_copy("COPY t FROM STDIN").unwrap(), 1);
        let chunk = vec![b'a'; 8 << 10];
        let mut rows = 0;
        let mut scans = 0;
        // 64 MiB of one line in 8 KiB messages.
        for _ in 0..8192 {
            decoder.buffer.extend_from_slice(&chunk);
            if decoder.buffer.len() >= decoder.retry_at {
                scans += 1;
            }
            decoder
                .decode(false, &mut |_| {
                    rows += 1;
                    Ok(())
                })
                .unwrap();
        }
        assert!(scans <= 12, "{scans} scans of the row");
        decoder.buffer.extend_from_slice(b"\n");
        decoder
            .decode(true, &mut |fields| {
                assert_eq!(fields.len(), 1);
                rows += 1;
                Ok(())
            })
            .unwrap();
        assert_eq!(rows, 1);
    }

    #[test]
    fn binary_tuples_split_anywhere_and_end_at_the_trailer() {
        let mut data = BINARY_SIGNATURE.to_vec();
        data.extend_from_slice(&0i32.to_be_bytes());
        data.extend_from_slice(&0i32.to_be_bytes());
        data.extend_from_slice(&2i16.to_be_bytes());
        data.extend_from_slice(&4i32.to_be_bytes());
        data.extend_from_slice(&7i32.to_be_bytes());
        data.extend_from_slice(&(-1i32).to_be_bytes());
        data.extend_from_slice(&(-1i16).to_be_bytes());
        for split in 1..data.len() {
            let got = rows(
                "COPY t FROM STDIN (FORMAT binary)",
                2,
                &[&data[..split], &data[split..]],
            )
            .unwrap();
            assert_eq!(
                got,
                vec![row(&[Some("[0, 0, 0, 7]"), None])],
                "split at {split}"
            );
        }
        let got = rows(
            "COPY t FROM STDIN (FORMAT binary)",
            1,
            &[b"PGCOPY\nXXXXXXXXXXXXXXXX"],
        );
        assert_eq!(got.unwrap_err().sqlstate, "22P04");
    }
}
