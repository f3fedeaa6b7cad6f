//! Native blocks: BlockInfo, column and row counts, then each column's name, type and data.
//!
//! A block is an Arrow `RecordBatch` whose fields carry their ClickHouse type names. What a block
//! holds depends on the negotiated protocol revision (0 = the Native file/HTTP format):
//! BlockInfo from 51903, a per-column custom-serialization byte from 54454, and `DateTime('tz')`
//! type names only from 54337.

use std::sync::Arc;

use arrow_array::{RecordBatch, RecordBatchOptions, new_empty_array};
use arrow_schema::{Field, Schema};

use crate::ErrorCode;
use crate::column::{ZERO_WIDTH_ROWS_MAX, min_row_bytes, read_native, write_native};
use crate::error::{Error, Result};
use crate::io::{Cursor, write_string, write_var_uint};
use crate::types::{DataType, field_clickhouse_type, field_for};

/// Blocks start with BlockInfo from this revision on.
pub const REVISION_BLOCK_INFO: u64 = 51903;
/// Each column has a `has_custom_serialization` byte from this revision on.
pub const REVISION_CUSTOM_SERIALIZATION: u64 = 54454;
/// Most columns one block may declare (a bound on what a peer can make us allocate).
pub const BLOCK_COLUMNS_MAX: usize = 100_000;
/// Most rows one block may declare: ClickHouse's `NativeReader` refuses more ("Suspiciously many
/// rows in Native format", `TOO_LARGE_ARRAY_SIZE`). The bytes left bound a block's rows far more
/// tightly: every column is checked against them (see [`crate::column::min_row_bytes`]) before its
/// data is read, and a block of only zero-width columns is bounded by
/// [`crate::column::ZERO_WIDTH_ROWS_MAX`].
pub const BLOCK_ROWS_MAX: u64 = 1_000_000_000_000;
/// Longest column type name accepted in a block: parsing a name costs memory in proportion to its
/// length (a `Tuple` of 100 000 elements is ~600 KiB of text), so a peer's name is bounded before
/// it is parsed. 1 MiB holds an `Enum16` of every value with 10-byte names.
pub const TYPE_NAME_BYTES_MAX: usize = 1 << 20;
/// Most type nodes (`Array(UInt8)` is two, a `Tuple` one plus its elements') all the columns of one
/// block may have. Each node costs ~0.8 KiB as a decoded column (its Arrow field, array and
/// type), whatever the rows, so this caps a block's fixed cost at ~160 MiB however its bytes are
/// spent: on many columns ([`BLOCK_COLUMNS_MAX`], at two nodes each) or on wide tuples.
pub const BLOCK_TYPE_NODES_MAX: usize = 2 * BLOCK_COLUMNS_MAX;

/// The BlockInfo fields ClickHouse defines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockInfo {
    /// The block holds the overflow row of `GROUP BY ... WITH TOTALS`.
    pub is_overflows: bool,
    /// Two-level aggregation bucket, -1 otherwise.
    pub bucket_num: i32,
}

impl Default for BlockInfo {
    fn default() -> Self {
        BlockInfo {
            is_overflows: false,
            bucket_num: -1,
        }
    }
}

/// A decoded block: its BlockInfo and its columns.
#[derive(Debug, Clone)]
pub struct Block {
    /// The BlockInfo (default when the revision has none).
    pub info: BlockInfo,
    /// The columns, each field carrying its ClickHouse type.
    pub batch: RecordBatch,
}

impl Block {
    /// True for the zero-column block that ends INSERT data, external tables and results.
    pub fn is_end_marker(&self) -> bool {
        self.batch.num_columns() == 0
    }
}

fn write_block_info(info: &BlockInfo, out: &mut Vec<u8>) {
    write_var_uint(out, 1);
    out.push(u8::from(info.is_overflows));
    write_var_uint(out, 2);
    out.extend_from_slice(&info.bucket_num.to_le_bytes());
    write_var_uint(out, 0);
}

fn read_block_info(input: &mut Cursor<'_>) -> Result<BlockInfo> {
    let mut info = BlockInfo::default();
    loop {
        match input.read_var_uint("BlockInfo field number")? {
            0 => return Ok(info),
            1 => info.is_overflows = input.read_u8("BlockInfo is_overflows")? != 0,
            2 => info.bucket_num = input.read_i32("BlockInfo bucket_num")?,
            other => return Err(Error::UnknownBlockInfoField(other)),
        }
    }
}

/// Appends `batch` as a Native block for a peer at `revision`.
pub fn encode_block(
    batch: &RecordBatch,
    info: &BlockInfo,
    revision: u64,
    out: &mut Vec<u8>,
) -> Result<()> {
    if revision >= REVISION_BLOCK_INFO {
        write_block_info(info, out);
    }
    write_var_uint(out, batch.num_columns() as u64);
    write_var_uint(out, batch.num_rows() as u64);
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        let data_type = field_clickhouse_type(field)?;
        write_string(out, field.name().as_bytes());
        write_string(out, data_type.wire_name(revision).as_bytes());
        if revision >= REVISION_CUSTOM_SERIALIZATION {
            out.push(0);
        }
        if batch.num_rows() > 0 {
            write_native(&data_type, column.as_ref(), out)?;
        }
    }
    Ok(())
}

/// Reads one Native block for a peer at `revision`.
pub fn decode_block(input: &mut Cursor<'_>, revision: u64) -> Result<Block> {
    let info = if revision >= REVISION_BLOCK_INFO {
        read_block_info(input)?
    } else {
        BlockInfo::default()
    };
    let columns = input.read_size(
        "block column count",
        BLOCK_COLUMNS_MAX,
        ErrorCode::TOO_MANY_COLUMNS,
    )?;
    let rows = input.read_var_uint("block row count")?;
    if rows > BLOCK_ROWS_MAX {
        return Err(Error::TooLarge {
            what: "rows of a block",
            size: rows,
            max: BLOCK_ROWS_MAX,
            code: ErrorCode::TOO_LARGE_ARRAY_SIZE,
        });
    }
    if columns == 0 && rows != 0 {
        return Err(Error::incorrect(format!(
            "zero columns but {rows} rows in a Native block"
        )));
    }
    let rows =
        usize::try_from(rows).map_err(|_| Error::incorrect(format!("block of {rows} rows")))?;
    // Each column takes at least its name's and its type's lengths (a byte each).
    input.expect_items(columns as u64, 2, "block columns")?;
    let mut fields: Vec<Field> = Vec::with_capacity(columns);
    let mut arrays = Vec::with_capacity(columns);
    // Whether some column takes bytes per row, so that the input bounds `rows`.
    let mut rows_backed = false;
    let mut nodes_left = BLOCK_TYPE_NODES_MAX;
    for _ in 0..columns {
        let name = input.read_str("column name")?;
        let type_name = input.read_str("column type")?;
        if type_name.len() > TYPE_NAME_BYTES_MAX {
            return Err(Error::TooLarge {
                what: "column type name bytes",
                size: type_name.len() as u64,
                max: TYPE_NAME_BYTES_MAX as u64,
                code: ErrorCode::TOO_LARGE_STRING_SIZE,
            });
        }
        let data_type = DataType::parse(type_name)?;
        let nodes = type_nodes(&data_type);
        nodes_left = nodes_left.checked_sub(nodes).ok_or(Error::TooLarge {
            what: "type nodes of a block's columns",
            size: (BLOCK_TYPE_NODES_MAX - nodes_left + nodes) as u64,
            max: BLOCK_TYPE_NODES_MAX as u64,
            code: ErrorCode::TOO_BIG_AST,
        })?;
        if revision >= REVISION_CUSTOM_SERIALIZATION
            && input.read_u8("has_custom_serialization")? != 0
        {
            return Err(Error::NotImplemented(format!(
                "custom (sparse) serialization of column {name}"
            )));
        }
        let array = if rows > 0 {
            // Refused before any decoder sizes a buffer by `rows`: the column cannot be here.
            let width = min_row_bytes(&data_type);
            input.expect_items(rows as u64, width, "column data")?;
            rows_backed |= width > 0;
            read_native(&data_type, rows, input)?
        } else {
            new_empty_array(&data_type.to_arrow())
        };
        if array.len() != rows {
            return Err(Error::Logical(format!(
                "column {name} decoded {} of {rows} rows",
                array.len()
            )));
        }
        fields.push(field_for(name, &data_type));
        arrays.push(array);
    }
    if rows > ZERO_WIDTH_ROWS_MAX && !rows_backed {
        return Err(Error::TooLarge {
            what: "rows of a block whose columns take no bytes per row",
            size: rows as u64,
            max: ZERO_WIDTH_ROWS_MAX as u64,
            code: ErrorCode::TOO_LARGE_ARRAY_SIZE,
        });
    }
    let options = RecordBatchOptions::new().with_row_count(Some(rows));
    let batch = RecordBatch::try_new_with_options(Arc::new(Schema::new(fields)), arrays, &options)?;
    Ok(Block { info, batch })
}

/// The nodes of a type tree (see [`BLOCK_TYPE_NODES_MAX`]).
fn type_nodes(data_type: &DataType) -> usize {
    1 + match data_type {
        DataType::Nullable(inner)
        | DataType::LowCardinality(inner)
        | DataType::Array(inner)
        | DataType::SimpleAggregateFunction(_, inner) => type_nodes(inner),
        DataType::Map(key, value) => type_nodes(key) + type_nodes(value),
        DataType::Tuple(elements) => elements
            .iter()
            .map(|element| type_nodes(&element.data_type))
            .sum(),
        DataType::AggregateFunction(function) => function.arguments.iter().map(type_nodes).sum(),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_empty_block_has_the_documented_bytes() {
        let batch = RecordBatch::try_new_with_options(
            Arc::new(Schema::empty()),
            vec![],
            &RecordBatchOptions::new().with_row_count(Some(0)),
        )
        .unwrap();
        let mut out = Vec::new();
        encode_block(&batch, &BlockInfo::default(), 54412, &mut out).unwrap();
        assert_eq!(
            out,
            [0x01, 0x00, 0x02, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00]
        );
        let block = decode_block(&mut Cursor::new(&out), 54412).unwrap();
        assert!(block.is_end_marker());
        assert_eq!(block.info, BlockInfo::default());
    }

    #[test]
    fn unknown_block_info_fields_are_refused() {
        let bytes = [0x03, 0x00];
        let err = decode_block(&mut Cursor::new(&bytes), 54412).unwrap_err();
        assert_eq!(err.code(), ErrorCode::UNKNOWN_BLOCK_INFO_FIELD);
    }
}
