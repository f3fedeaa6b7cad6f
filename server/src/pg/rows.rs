//! Result columns as PostgreSQL describes them (type OID, `typlen`, type modifier, format) and
//! Arrow batches as `DataRow`s in text or binary format, column by column.

use arrow_array::RecordBatch;
use arrow_schema::Schema;
use bytes::{BufMut, BytesMut};
use granary_engine::functions::type_name::clickhouse_type;
use granary_protocol::DataType;
use pgwire::api::Type;
use pgwire::api::results::FieldFormat;
use pgwire::messages::data::{DataRow, FieldDescription, RowDescription};

use super::binary;
use super::composite;
use super::types::{self, text_value};

/// One result column.
#[derive(Debug, Clone)]
pub struct Column {
    /// The column name.
    pub name: String,
    /// Its ClickHouse type.
    pub data_type: DataType,
    /// The PostgreSQL type it is sent as.
    pub pg_type: Type,
}

/// The columns of a result schema.
pub fn columns(schema: &Schema) -> granary_engine::Result<Vec<Column>> {
    schema
        .fields()
        .iter()
        .map(|field| {
            let data_type = clickhouse_type(field)?;
            // A catalog query's OID columns name their type (`oid`, `oid[]`).
            let named = field
                .metadata()
                .get(granary_engine::postgres::types::PG_TYPE_METADATA)
                .and_then(|oid| oid.parse().ok())
                .and_then(Type::from_oid);
            Ok(Column {
                name: field.name().clone(),
                pg_type: named.unwrap_or_else(|| types::pg_type(&data_type)),
                data_type,
            })
        })
        .collect()
}

/// A column of PostgreSQL type `text` (settings shown by `SHOW`).
pub fn text_column(name: &str) -> Column {
    Column {
        name: name.to_string(),
        data_type: DataType::String,
        pg_type: Type::TEXT,
    }
}

/// The `RowDescription` of `columns` sent in `formats`.
pub fn row_description(columns: &[Column], formats: &[FieldFormat]) -> RowDescription {
    RowDescription::new(
        columns
            .iter()
            .zip(formats)
            .map(|(column, format)| {
                FieldDescription::new(
                    column.name.clone(),
                    0,
                    0,
                    column.pg_type.oid(),
                    types::type_size(&column.pg_type),
                    types::type_modifier(&column.data_type),
                    format.value(),
                )
            })
            .collect(),
    )
}

/// The rows of `batch`, each value in its column's format.
pub fn data_rows(
    batch: &RecordBatch,
    columns: &[Column],
    formats: &[FieldFormat],
) -> Result<Vec<DataRow>, binary::Refusal> {
    let refusal = |error: granary_protocol::Error| binary::Refusal {
        sqlstate: "XX000",
        message: error.to_string(),
    };
    let field_count = i16::try_from(columns.len()).map_err(|_| binary::Refusal {
        sqlstate: "54011",
        message: "a row can have at most 32767 columns".to_string(),
    })?;
    (0..batch.num_rows())
        .map(|row| {
            let mut buffer = BytesMut::with_capacity(16 * columns.len());
            for ((array, column), format) in batch.columns().iter().zip(columns).zip(formats) {
                if composite::is_composite(&column.data_type) {
                    let binary = *format == FieldFormat::Binary;
                    match composite::encode(
                        array.as_ref(),
                        row,
                        &column.data_type,
                        &column.pg_type,
                        binary,
                    )? {
                        None => buffer.put_i32(-1),
                        Some(bytes) => put_value(&mut buffer, &bytes)?,
                    }
                    continue;
                }
                match text_value(array.as_ref(), row, &column.data_type).map_err(refusal)? {
                    None => buffer.put_i32(-1),
                    Some(text) if *format == FieldFormat::Binary => {
                        let bytes = binary::encode(&column.pg_type, &text)?;
                        put_value(&mut buffer, &bytes)?;
                    }
                    Some(text) => put_value(&mut buffer, text.as_bytes())?,
                }
            }
            Ok(DataRow::new(buffer, field_count))
        })
        .collect()
}

fn put_value(buffer: &mut BytesMut, bytes: &[u8]) -> Result<(), binary::Refusal> {
    let length = i32::try_from(bytes.len()).map_err(|_| binary::Refusal {
        sqlstate: "54000",
        message: format!("a value of {} bytes is too long to send", bytes.len()),
    })?;
    buffer.put_i32(length);
    buffer.put_slice(bytes);
    Ok(())
}
