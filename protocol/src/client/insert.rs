//! One INSERT attempt: the query, the table's header, each batch as a block (the server answers
//! each with ProfileEvents from 54456, meaning it is written), the empty block, EndOfStream.
//! Retrying is [`super::Client::insert`]'s: it repeats this with the same token and the same
//! blocks, so the server's per-block ids (`<token>_<i>`) drop what it already has.

use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch};
use arrow_cast::{CastOptions, can_cast_types, cast_with_options};
use arrow_schema::{DataType as ArrowType, Field, Schema, SchemaRef};

use super::{Connection, end_marker, unexpected};
use crate::compress::Method;
use crate::error::{Error, Result};
use crate::packet::client::ClientPacket;
use crate::packet::server::ServerPacket;
use crate::packet::settings::{IMPORTANT, Setting};
use crate::packet::{Context, Data, revision};
use crate::types::field_clickhouse_type;

/// How an insert is made.
#[derive(Debug, Clone, Default)]
pub struct InsertOptions {
    /// `insert_deduplication_token`: inserts with the same token (and the same blocks) land once.
    /// When `None` the client makes a fresh token for the call, so that its own retries cannot
    /// double the data.
    pub dedup_token: Option<String>,
    /// Further settings for the INSERT.
    pub settings: Vec<Setting>,
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
    /// Blocks sent, one per non-empty batch.
    pub blocks: usize,
    /// Tries it took (1 without retries).
    pub attempts: u32,
    /// The deduplication token used.
    pub token: String,
}

/// One attempt of the INSERT of `batches` into `table` on `connection`.
pub(super) async fn run(
    connection: &mut Connection,
    table: &str,
    batches: &[RecordBatch],
    options: &InsertOptions,
    token: &str,
    compression: Option<Method>,
) -> Result<InsertSummary> {
    let Some(first) = batches.first() else {
        return Ok(InsertSummary {
            rows: 0,
            blocks: 0,
            attempts: 1,
            token: token.to_string(),
        });
    };
    let columns: Vec<String> = first
        .schema()
        .fields()
        .iter()
        .map(|field| quote_identifier(field.name()))
        .collect();
    let sql = format!("INSERT INTO {table} ({}) VALUES", columns.join(", "));
    let mut settings = vec![Setting {
        flags: IMPORTANT,
        ..Setting::new("insert_deduplication_token", token)
    }];
    settings.extend(options.settings.iter().cloned());
    connection
        .send_query(&sql, "", settings, Vec::new(), compression)
        .await?;
    let context = Context {
        compression: compression.is_some(),
        ..Context::new(connection.revision)
    };
    let header = read_header(connection, &context).await?;
    // From 54456 the server confirms each block with ProfileEvents once it is written.
    let confirmed = connection.revision >= revision::PROFILE_EVENTS_IN_INSERT;
    let mut summary = InsertSummary {
        rows: 0,
        blocks: 0,
        attempts: 1,
        token: token.to_string(),
    };
    // Every batch is checked against the header before any is sent: a batch the client cannot
    // conform fails the insert with nothing written (the connection, mid-INSERT, is replaced).
    let blocks = batches
        .iter()
        .filter(|batch| batch.num_rows() > 0)
        .map(|batch| conform(batch, &header))
        .collect::<Result<Vec<_>>>()?;
    for block in blocks {
        let mut out = Vec::new();
        let rows = block.num_rows() as u64;
        ClientPacket::encode_data(
            &mut out,
            &Data::new(block),
            connection.revision,
            compression,
        )?;
        connection.send(&out).await?;
        if confirmed {
            await_confirmation(connection, &context, compression).await?;
        }
        summary.rows += rows;
        summary.blocks += 1;
    }
    let mut out = Vec::new();
    ClientPacket::encode_data(&mut out, &end_marker(), connection.revision, compression)?;
    connection.send(&out).await?;
    loop {
        match connection.receive(&context).await? {
            ServerPacket::EndOfStream => {
                connection.busy = false;
                return Ok(summary);
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

/// Waits for the ProfileEvents that confirms a block. An Exception means the block was refused:
/// the server then drops data up to the end marker, which is sent so the connection stays usable.
async fn await_confirmation(
    connection: &mut Connection,
    context: &Context,
    compression: Option<Method>,
) -> Result<()> {
    loop {
        match connection.receive(context).await? {
            ServerPacket::ProfileEvents(_) => return Ok(()),
            ServerPacket::Exception(exception) => {
                let mut out = Vec::new();
                ClientPacket::encode_data(
                    &mut out,
                    &end_marker(),
                    connection.revision,
                    compression,
                )?;
                connection.send(&out).await?;
                connection.busy = false;
                return Err(Error::Server(Box::new(exception)));
            }
            ServerPacket::Log(_) | ServerPacket::Progress(_) | ServerPacket::TimezoneUpdate(_) => {}
            other => return Err(unexpected(&other, "ProfileEvents after an INSERT block")),
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
        let array = if array.data_type() == target.data_type() {
            array.clone()
        } else if same_kind(array.data_type(), target.data_type())
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
        fields.push(target.clone());
        arrays.push(array);
    }
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)?)
}

/// Whether converting between the two types keeps the kind of value (a number stays a number,
/// text stays text, a time stays a time): the only conversions the client makes on its own.
fn same_kind(from: &ArrowType, to: &ArrowType) -> bool {
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
    let source = kind(from);
    source != Kind::Other && source == kind(to)
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
        // A number is not made text: the batch goes as it is, and the server refuses it.
        let header = super::tests::header(&[("s", "String")]);
        let batch =
            RecordBatch::try_from_iter([("s", Arc::new(Int64Array::from(vec![1])) as ArrayRef)])
                .unwrap();
        let block = conform(&batch, &header).unwrap();
        assert_eq!(block.schema().field(0).data_type(), &ArrowType::Int64);
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
