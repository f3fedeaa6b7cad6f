//! Inserts, exactly once. The caller's batches are cut into blocks of at most
//! [`InsertOptions::block_rows`] rows (small batches are joined, large ones sliced), the same way
//! on every try. Block `n` goes in its own INSERT with the token `<token>:<n>`: the query, the
//! table's header, the block, the empty block, EndOfStream; the next block is encoded (and
//! compressed) on a blocking thread while the server writes the current one. After a connection
//! failure [`super::Client::insert`] starts again at the first block whose EndOfStream it has not
//! seen, with that block's token, so a block the server wrote but could not acknowledge is
//! dropped by the server's deduplication instead of landing twice.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, ListArray, RecordBatch, StructArray, UInt32Array};
use arrow_cast::{CastOptions, can_cast_types, cast_with_options};
use arrow_schema::{DataType as ArrowType, Field, Fields, Schema, SchemaRef};

use super::{Connection, end_marker, unexpected};
use crate::compress::Method;
use crate::error::{Error, Result};
use crate::packet::client::ClientPacket;
use crate::packet::server::ServerPacket;
use crate::packet::settings::{IMPORTANT, Setting};
use crate::packet::{Context, Data};
use crate::types::field_clickhouse_type;

use super::text_values;

/// ClickHouse's `max_insert_block_size`: the rows of one block (one part) unless told otherwise.
pub const BLOCK_ROWS_DEFAULT: usize = 1_048_576;

/// A callback told how far an insert has come after each block is written.
pub type InsertProgressCallback = Arc<dyn Fn(&InsertProgress) + Send + Sync>;

/// How far an insert has come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InsertProgress {
    /// Rows written (acknowledged by the server) so far.
    pub rows_written: u64,
    /// Rows of the whole insert.
    pub rows_total: u64,
    /// Blocks written so far.
    pub blocks_written: usize,
    /// Blocks of the whole insert.
    pub blocks_total: usize,
}

/// How an insert is made.
#[derive(Clone)]
pub struct InsertOptions {
    /// The insert's deduplication token: inserts with the same token and the same rows land
    /// once (block `n` is sent with `insert_deduplication_token = '<token>:<n>'`). When `None`
    /// the client makes a fresh token for the call, so that its own retries cannot double the
    /// data.
    pub dedup_token: Option<String>,
    /// The most rows in one block (one part on the server); [`BLOCK_ROWS_DEFAULT`] by default.
    /// A retry with the same token must use the same value, so that the blocks are the same.
    pub block_rows: usize,
    /// Further settings for the INSERT.
    pub settings: Vec<Setting>,
    /// Called after each block is written.
    pub on_progress: Option<InsertProgressCallback>,
}

impl Default for InsertOptions {
    fn default() -> Self {
        InsertOptions {
            dedup_token: None,
            block_rows: BLOCK_ROWS_DEFAULT,
            settings: Vec::new(),
            on_progress: None,
        }
    }
}

impl std::fmt::Debug for InsertOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InsertOptions")
            .field("dedup_token", &self.dedup_token)
            .field("block_rows", &self.block_rows)
            .field("settings", &self.settings)
            .field("on_progress", &self.on_progress.is_some())
            .finish()
    }
}

impl InsertOptions {
    /// Options with `token` as the deduplication token.
    pub fn with_token(token: impl Into<String>) -> InsertOptions {
        InsertOptions {
            dedup_token: Some(token.into()),
            ..InsertOptions::default()
        }
    }

    /// The token this insert uses.
    pub(super) fn token(&self) -> String {
        match &self.dedup_token {
            Some(token) => token.clone(),
            None => {
                let mut bytes = [0u8; 16];
                // Without randomness the token would repeat across calls and drop new data:
                // fall back to the clock, which differs per call in practice.
                if getrandom::fill(&mut bytes).is_err() {
                    let nanos = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|elapsed| elapsed.as_nanos())
                        .unwrap_or_default();
                    bytes = nanos.to_le_bytes();
                }
                let hex: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
                format!("granary-client-{hex}")
            }
        }
    }
}

/// What an insert sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InsertSummary {
    /// Rows sent (rows the server already had under the token are sent and dropped by it).
    pub rows: u64,
    /// Blocks sent.
    pub blocks: usize,
    /// Tries it took (1 without retries).
    pub attempts: u32,
    /// The deduplication token used.
    pub token: String,
}

/// The blocks an insert sends: consecutive batches joined while their rows fit in `block_rows`,
/// batches larger than that sliced (slices share the batch's buffers). Empty batches are
/// dropped; every batch must have the first one's columns.
pub fn blocks(batches: &[RecordBatch], block_rows: usize) -> Result<Vec<RecordBatch>> {
    assert!(block_rows > 0, "a block holds at least one row");
    let Some(first) = batches.iter().find(|batch| batch.num_rows() > 0) else {
        return Ok(Vec::new());
    };
    let schema = first.schema();
    let mut blocks = Vec::new();
    let mut pending: Vec<RecordBatch> = Vec::new();
    let mut pending_rows = 0;
    let flush = |pending: &mut Vec<RecordBatch>, blocks: &mut Vec<RecordBatch>| -> Result<()> {
        match pending.len() {
            0 => {}
            1 => blocks.extend(pending.pop()),
            _ => {
                blocks.push(arrow_select::concat::concat_batches(
                    &schema,
                    pending.iter(),
                )?);
                pending.clear();
            }
        }
        Ok(())
    };
    for batch in batches.iter().filter(|batch| batch.num_rows() > 0) {
        if batch.schema().fields() != schema.fields() {
            return Err(Error::TypeMismatch {
                context: "the batches of an insert".to_string(),
                expected: format!("the columns of the first batch ({})", describe(&schema)),
                actual: describe(&batch.schema()),
            });
        }
        let mut offset = 0;
        while offset < batch.num_rows() {
            let rows = (batch.num_rows() - offset).min(block_rows - pending_rows);
            pending.push(batch.slice(offset, rows));
            pending_rows += rows;
            offset += rows;
            if pending_rows == block_rows {
                flush(&mut pending, &mut blocks)?;
                pending_rows = 0;
            }
        }
    }
    flush(&mut pending, &mut blocks)?;
    Ok(blocks)
}

fn describe(schema: &Schema) -> String {
    let columns: Vec<String> = schema
        .fields()
        .iter()
        .map(|field| format!("{} {}", field.name(), field.data_type()))
        .collect();
    columns.join(", ")
}

/// One try of an insert: sends `blocks[*written..]`, each in its own INSERT, advancing
/// `written` as the server acknowledges each one.
pub(super) async fn run(
    connection: &mut Connection,
    table: &str,
    blocks: &[RecordBatch],
    written: &mut usize,
    options: &InsertOptions,
    token: &str,
    compression: Option<Method>,
) -> Result<()> {
    let Some(first) = blocks.first() else {
        return Ok(());
    };
    let columns: Vec<String> = first
        .schema()
        .fields()
        .iter()
        .map(|field| quote_identifier(field.name()))
        .collect();
    let sql = format!("INSERT INTO {table} ({}) VALUES", columns.join(", "));
    let context = Context {
        compression: compression.is_some(),
        ..Context::new(connection.revision)
            .with_block_bytes_max(connection.reader.packet_bytes_max())
    };
    let rows_total: u64 = blocks.iter().map(|block| block.num_rows() as u64).sum();
    // The blocks with the table's types, made once the first header arrives: every block is
    // checked before any is sent, so a block the client cannot conform writes nothing.
    let mut conformed: Option<Vec<RecordBatch>> = None;
    let mut encoding: Option<tokio::task::JoinHandle<Result<Vec<u8>>>> = None;
    let start = *written;
    while *written < blocks.len() {
        let index = *written;
        let mut settings = vec![Setting {
            flags: IMPORTANT,
            ..Setting::new("insert_deduplication_token", format!("{token}:{index}"))
        }];
        settings.extend(options.settings.iter().cloned());
        connection
            .send_query(&sql, "", settings, Vec::new(), compression)
            .await?;
        let header = read_header(connection, &context).await?;
        if conformed.is_none() {
            match blocks[start..]
                .iter()
                .map(|block| conform(block, &header))
                .collect::<Result<Vec<_>>>()
            {
                Ok(blocks) => conformed = Some(blocks),
                Err(error) => {
                    // End the INSERT with no rows so the connection stays usable.
                    send_end_marker(connection, compression).await?;
                    finish(connection, &context).await?;
                    return Err(error);
                }
            }
        }
        let conformed_blocks = conformed
            .as_ref()
            .ok_or_else(|| Error::Logical("an insert's blocks were not conformed".to_string()))?;
        let out = match encoding.take() {
            Some(encoded) => encoded.await.map_err(|error| {
                Error::Logical(format!("the encoding of an insert block failed: {error}"))
            })??,
            None => encode(
                conformed_blocks[index - start].clone(),
                connection.revision,
                compression,
            )?,
        };
        connection.send(&out).await?;
        // The next block is encoded on a blocking thread while the server writes this one.
        if let Some(next) = conformed_blocks.get(index + 1 - start) {
            let (next, revision) = (next.clone(), connection.revision);
            encoding = Some(tokio::task::spawn_blocking(move || {
                encode(next, revision, compression)
            }));
        }
        finish(connection, &context).await?;
        *written += 1;
        if let Some(callback) = &options.on_progress {
            callback(&InsertProgress {
                rows_written: blocks[..*written]
                    .iter()
                    .map(|block| block.num_rows() as u64)
                    .sum(),
                rows_total,
                blocks_written: *written,
                blocks_total: blocks.len(),
            });
        }
    }
    Ok(())
}

/// A block's Data packet followed by the empty block that ends the INSERT's data.
fn encode(block: RecordBatch, revision: u64, compression: Option<Method>) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    ClientPacket::encode_data(&mut out, &Data::new(block), revision, compression)?;
    ClientPacket::encode_data(&mut out, &end_marker(), revision, compression)?;
    Ok(out)
}

async fn send_end_marker(connection: &mut Connection, compression: Option<Method>) -> Result<()> {
    let mut out = Vec::new();
    ClientPacket::encode_data(&mut out, &end_marker(), connection.revision, compression)?;
    connection.send(&out).await
}

/// Reads the INSERT's answer after its data up to EndOfStream (the block is written) or an
/// Exception (it was refused; the server has drained the data up to the empty block).
async fn finish(connection: &mut Connection, context: &Context) -> Result<()> {
    loop {
        match connection.receive(context).await? {
            ServerPacket::EndOfStream => {
                connection.busy = false;
                return Ok(());
            }
            ServerPacket::Exception(exception) => {
                connection.busy = false;
                return Err(Error::Server(Box::new(exception)));
            }
            ServerPacket::ProfileEvents(_)
            | ServerPacket::Progress(_)
            | ServerPacket::Log(_)
            | ServerPacket::TimezoneUpdate(_) => {}
            other => return Err(unexpected(&other, "EndOfStream after INSERT data")),
        }
    }
}

/// Reads up to the INSERT's header block: the columns and types the server expects.
async fn read_header(connection: &mut Connection, context: &Context) -> Result<SchemaRef> {
    loop {
        match connection.receive(context).await? {
            ServerPacket::Data(data) => return Ok(data.block.batch.schema()),
            ServerPacket::Exception(exception) => {
                connection.busy = false;
                return Err(Error::Server(Box::new(exception)));
            }
            ServerPacket::TableColumns(..)
            | ServerPacket::Log(_)
            | ServerPacket::ProfileEvents(_)
            | ServerPacket::Progress(_)
            | ServerPacket::TimezoneUpdate(_) => {}
            other => return Err(unexpected(&other, "the INSERT's header block")),
        }
    }
}

/// `batch` with the header's types: each column by name, relabelled with the header's type when
/// its Arrow type already matches, else converted where Arrow can do it without loss (a value
/// that does not fit is an error, not a silent change).
fn conform(batch: &RecordBatch, header: &SchemaRef) -> Result<RecordBatch> {
    let mut fields: Vec<Arc<Field>> = Vec::with_capacity(batch.num_columns());
    let mut arrays: Vec<ArrayRef> = Vec::with_capacity(batch.num_columns());
    let schema = batch.schema();
    for (field, array) in schema.fields().iter().zip(batch.columns()) {
        let Some((_, target)) = header.fields().find(field.name()) else {
            return Err(Error::TypeMismatch {
                context: format!("column {}", field.name()),
                expected: "a column of the INSERT's table".to_string(),
                actual: "a column the table does not have".to_string(),
            });
        };
        let text_value = |data_type: &ArrowType| kind(data_type) == Kind::Text;
        let parsed = match field_clickhouse_type(target) {
            Ok(clickhouse) if text_value(array.data_type()) => {
                text_values::parse(array, clickhouse.strip_nullable())
            }
            _ => None,
        };
        let array = if array.data_type() == target.data_type() {
            array.clone()
        } else if let Some(parsed) = parsed {
            parsed.map_err(|error| match error {
                Error::CannotParseText { .. } => error,
                other => Error::TypeMismatch {
                    context: format!("column {}", field.name()),
                    expected: target.data_type().to_string(),
                    actual: other.to_string(),
                },
            })?
        } else if let (ArrowType::List(_), ArrowType::Struct(members)) =
            (array.data_type(), target.data_type())
        {
            tuples_from_arrays(array.as_list::<i32>(), members, field.name())?
        } else if convertible(array.data_type(), target.data_type())
            && can_cast_types(array.data_type(), target.data_type())
        {
            let options = CastOptions {
                safe: false,
                ..CastOptions::default()
            };
            cast_with_options(array, target.data_type(), &options).map_err(|error| {
                Error::TypeMismatch {
                    context: format!("column {}", field.name()),
                    expected: field_clickhouse_type(target)
                        .map(|data_type| data_type.to_string())
                        .unwrap_or_else(|_| target.data_type().to_string()),
                    actual: format!("{} ({error})", array.data_type()),
                }
            })?
        } else {
            // Leave it: the server names the mismatch with the table's type.
            fields.push(field.clone());
            arrays.push(array.clone());
            continue;
        };
        if !target.is_nullable() && array.logical_null_count() > 0 {
            return Err(Error::NullInNonNullable {
                column: field.name().to_string(),
                type_name: field_clickhouse_type(target)
                    .map(|data_type| data_type.to_string())
                    .unwrap_or_else(|_| target.data_type().to_string()),
            });
        }
        fields.push(target.clone());
        arrays.push(array);
    }
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)?)
}

/// A Tuple column given as arrays of its elements (a client without tuples, such as JavaScript):
/// element `i` of each array becomes member `i`, converted as a column would be.
fn tuples_from_arrays(list: &ListArray, members: &Fields, column: &str) -> Result<ArrayRef> {
    let mismatch = |actual: String| Error::TypeMismatch {
        context: format!("column {column}"),
        expected: format!("tuples of {} elements", members.len()),
        actual,
    };
    let offsets = list.value_offsets();
    for row in 0..list.len() {
        let length = (offsets[row + 1] - offsets[row]) as usize;
        if list.is_valid(row) && length != members.len() {
            return Err(mismatch(format!(
                "an array of {length} elements in row {row}"
            )));
        }
    }
    let mut children = Vec::with_capacity(members.len());
    for (index, member) in members.iter().enumerate() {
        let indices: UInt32Array = (0..list.len())
            .map(|row| {
                list.is_valid(row)
                    .then(|| (offsets[row] as usize + index) as u32)
            })
            .collect();
        let values = arrow_select::take::take(list.values().as_ref(), &indices, None)?;
        let values = if values.data_type() == member.data_type() {
            values
        } else if convertible(values.data_type(), member.data_type())
            && can_cast_types(values.data_type(), member.data_type())
        {
            let options = CastOptions {
                safe: false,
                ..CastOptions::default()
            };
            cast_with_options(&values, member.data_type(), &options)
                .map_err(|error| mismatch(format!("element {} ({error})", index + 1)))?
        } else {
            return Err(mismatch(format!(
                "element {} of type {}",
                index + 1,
                values.data_type()
            )));
        };
        children.push(values);
    }
    Ok(Arc::new(StructArray::try_new(
        members.clone(),
        children,
        list.nulls().cloned(),
    )?))
}

/// What kind of value an Arrow type holds, for deciding which conversions the client makes.
#[derive(PartialEq)]
enum Kind {
    Number,
    Text,
    Bytes,
    Time,
    Other,
}

fn kind(data_type: &ArrowType) -> Kind {
    match data_type {
        ArrowType::Dictionary(_, values) => kind(values),
        t if t.is_numeric() => Kind::Number,
        ArrowType::Utf8 | ArrowType::LargeUtf8 | ArrowType::Utf8View => Kind::Text,
        ArrowType::Binary
        | ArrowType::LargeBinary
        | ArrowType::BinaryView
        | ArrowType::FixedSizeBinary(_) => Kind::Bytes,
        t if t.is_temporal() => Kind::Time,
        _ => Kind::Other,
    }
}

/// Whether the client converts `from` to `to` on its own: when the kind of value stays (a number
/// stays a number, text stays text, a time stays a time), or when text is read as a number or a
/// time (as ClickHouse reads text formats). A number is never made text. Arrays and maps convert
/// when their elements do.
fn convertible(from: &ArrowType, to: &ArrowType) -> bool {
    match (from, to) {
        (ArrowType::List(from), ArrowType::List(to))
        | (ArrowType::LargeList(from), ArrowType::List(to))
        | (ArrowType::Map(from, _), ArrowType::Map(to, _)) => {
            return convertible(from.data_type(), to.data_type());
        }
        (ArrowType::Struct(from), ArrowType::Struct(to)) => {
            return from.len() == to.len()
                && from
                    .iter()
                    .zip(to.iter())
                    .all(|(from, to)| convertible(from.data_type(), to.data_type()));
        }
        _ => {}
    }
    let (source, target) = (kind(from), kind(to));
    source != Kind::Other
        && (source == target
            || (source == Kind::Text && matches!(target, Kind::Number | Kind::Time)))
}

/// A column name in backquotes, as ClickHouse quotes identifiers.
fn quote_identifier(name: &str) -> String {
    format!("`{}`", name.replace('\\', "\\\\").replace('`', "\\`"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DataType;
    use crate::types::field_for;
    use arrow_array::{Int64Array, StringArray, UInt32Array};

    fn header(columns: &[(&str, &str)]) -> SchemaRef {
        let fields: Vec<Field> = columns
            .iter()
            .map(|(name, data_type)| field_for(name, &DataType::parse(data_type).unwrap()))
            .collect();
        Arc::new(Schema::new(fields))
    }

    #[test]
    fn batches_take_the_header_types_by_name() {
        let header = header(&[("k", "UInt32"), ("s", "String")]);
        let batch = RecordBatch::try_from_iter([
            ("s", Arc::new(StringArray::from(vec!["a", "b"])) as ArrayRef),
            ("k", Arc::new(Int64Array::from(vec![1, 2])) as ArrayRef),
        ])
        .unwrap();
        let block = conform(&batch, &header).unwrap();
        assert_eq!(block.schema().field(0), header.field(1));
        assert_eq!(block.schema().field(1), header.field(0));
        let keys = block
            .column(1)
            .as_any()
            .downcast_ref::<UInt32Array>()
            .unwrap();
        assert_eq!(keys.values(), &[1, 2]);
    }

    #[test]
    fn a_value_that_does_not_fit_is_refused() {
        let header = header(&[("k", "UInt32")]);
        let batch =
            RecordBatch::try_from_iter([("k", Arc::new(Int64Array::from(vec![-1])) as ArrayRef)])
                .unwrap();
        let error = conform(&batch, &header).unwrap_err();
        assert!(matches!(error, Error::TypeMismatch { .. }), "{error}");
        let batch =
            RecordBatch::try_from_iter([("nope", Arc::new(Int64Array::from(vec![1])) as ArrayRef)])
                .unwrap();
        assert!(conform(&batch, &header).is_err());
        // NULLs for a column that is not Nullable.
        let batch = RecordBatch::try_from_iter([(
            "k",
            Arc::new(Int64Array::from(vec![Some(1), None])) as ArrayRef,
        )])
        .unwrap();
        let error = conform(&batch, &header).unwrap_err();
        assert!(matches!(error, Error::NullInNonNullable { .. }), "{error}");
        // A number is not made text: the batch goes as it is, and the server refuses it.
        let header = super::tests::header(&[("s", "String")]);
        let batch =
            RecordBatch::try_from_iter([("s", Arc::new(Int64Array::from(vec![1])) as ArrayRef)])
                .unwrap();
        let block = conform(&batch, &header).unwrap();
        assert_eq!(block.schema().field(0).data_type(), &ArrowType::Int64);
    }

    fn numbers(start: i64, rows: i64) -> RecordBatch {
        RecordBatch::try_from_iter([(
            "k",
            Arc::new(Int64Array::from_iter_values(start..start + rows)) as ArrayRef,
        )])
        .unwrap()
    }

    fn keys(blocks: &[RecordBatch]) -> Vec<Vec<i64>> {
        blocks
            .iter()
            .map(|block| {
                let keys = block
                    .column(0)
                    .as_any()
                    .downcast_ref::<Int64Array>()
                    .unwrap();
                keys.values().to_vec()
            })
            .collect()
    }

    #[test]
    fn batches_are_cut_into_blocks_of_at_most_block_rows() {
        // 2 + 0 + 5 + 1 rows in blocks of 3: joined and sliced, in order, nothing lost.
        let batches = [numbers(0, 2), numbers(2, 0), numbers(2, 5), numbers(7, 1)];
        let blocks = blocks(&batches, 3).unwrap();
        assert_eq!(
            keys(&blocks),
            vec![vec![0, 1, 2], vec![3, 4, 5], vec![6, 7]]
        );
        // A batch that fits is sent as it is; no batches, no blocks.
        let blocks = super::blocks(&batches[2..3], 10).unwrap();
        assert_eq!(keys(&blocks), vec![vec![2, 3, 4, 5, 6]]);
        assert!(super::blocks(&[], 10).unwrap().is_empty());
        assert!(super::blocks(&[numbers(0, 0)], 10).unwrap().is_empty());
        // Batches with other columns cannot be one insert.
        let other =
            RecordBatch::try_from_iter([("v", Arc::new(Int64Array::from(vec![1])) as ArrayRef)])
                .unwrap();
        let error = super::blocks(&[numbers(0, 1), other], 10).unwrap_err();
        assert!(matches!(error, Error::TypeMismatch { .. }), "{error}");
    }

    #[test]
    fn text_reads_as_the_header_types() {
        let header = header(&[
            ("u", "UUID"),
            ("n", "UInt16"),
            ("d", "Date"),
            ("ip", "Nullable(IPv4)"),
        ]);
        let batch = RecordBatch::try_from_iter([
            (
                "u",
                Arc::new(StringArray::from(vec![
                    "01234567-89ab-cdef-0123-456789abcdef",
                ])) as ArrayRef,
            ),
            ("n", Arc::new(StringArray::from(vec!["65535"])) as ArrayRef),
            (
                "d",
                Arc::new(StringArray::from(vec!["2024-02-29"])) as ArrayRef,
            ),
            (
                "ip",
                Arc::new(StringArray::from(vec![None::<&str>])) as ArrayRef,
            ),
        ])
        .unwrap();
        let block = conform(&batch, &header).unwrap();
        for (index, field) in header.fields().iter().enumerate() {
            assert_eq!(block.schema().field(index).data_type(), field.data_type());
        }
        let batch =
            RecordBatch::try_from_iter([("n", Arc::new(StringArray::from(vec!["x"])) as ArrayRef)])
                .unwrap();
        assert!(conform(&batch, &header).is_err());
    }

    #[test]
    fn arrays_convert_when_their_elements_do() {
        let header = header(&[("a", "Array(UInt16)")]);
        let values = Int64Array::from(vec![1, 2, 3]);
        let list = arrow_array::ListArray::new(
            Arc::new(Field::new("item", ArrowType::Int64, true)),
            arrow_buffer::OffsetBuffer::new(vec![0, 2, 3].into()),
            Arc::new(values),
            None,
        );
        let batch = RecordBatch::try_from_iter([("a", Arc::new(list) as ArrayRef)]).unwrap();
        let block = conform(&batch, &header).unwrap();
        assert_eq!(
            block.schema().field(0).data_type(),
            header.field(0).data_type()
        );
        assert!(!convertible(
            &ArrowType::List(Arc::new(Field::new("item", ArrowType::Int64, true))),
            &ArrowType::List(Arc::new(Field::new("item", ArrowType::Utf8, true))),
        ));
    }

    #[test]
    fn tuples_come_from_arrays_of_their_elements() {
        let header = header(&[("t", "Tuple(UInt8, String)")]);
        let items = StringArray::from(vec!["7", "seven", "0", ""]);
        let list = |offsets: Vec<i32>| {
            arrow_array::ListArray::new(
                Arc::new(Field::new("item", ArrowType::Utf8, true)),
                arrow_buffer::OffsetBuffer::new(offsets.into()),
                Arc::new(items.clone()),
                None,
            )
        };
        let batch =
            RecordBatch::try_from_iter([("t", Arc::new(list(vec![0, 2, 4])) as ArrayRef)]).unwrap();
        let block = conform(&batch, &header).unwrap();
        let tuples = block.column(0).as_struct();
        assert_eq!(
            tuples
                .column(0)
                .as_primitive::<arrow_array::types::UInt8Type>()
                .values(),
            &[7, 0]
        );
        assert_eq!(tuples.column(1).as_string::<i32>().value(0), "seven");
        // An array of another length is not a tuple of this type.
        let batch =
            RecordBatch::try_from_iter([("t", Arc::new(list(vec![0, 3, 4])) as ArrayRef)]).unwrap();
        assert!(matches!(
            conform(&batch, &header),
            Err(Error::TypeMismatch { .. })
        ));
    }

    #[test]
    fn tokens_are_fresh_unless_given() {
        let options = InsertOptions::default();
        assert_ne!(options.token(), options.token());
        assert_eq!(InsertOptions::with_token("t").token(), "t");
    }

    #[test]
    fn identifiers_are_backquoted() {
        assert_eq!(quote_identifier("a`b"), "`a\\`b`");
    }
}
