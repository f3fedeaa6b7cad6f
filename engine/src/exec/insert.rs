//! Turns inserted rows (Arrow batches from the API, VALUES, or a SELECT) into a block of the table:
//! every column converted to its ClickHouse type with clear errors, omitted columns filled from
//! their DEFAULT expression or their type's default, NULLs in non-Nullable columns replaced by the
//! type's default (ClickHouse's `insert_null_as_default`), and the partition key computed.

use std::sync::Arc;

use arrow_array::{Array, ArrayRef, DictionaryArray, RecordBatch, new_null_array};
use arrow_schema::{DataType as ArrowType, SchemaRef};
use datafusion::arrow::compute::kernels::zip::zip;
use datafusion::arrow::compute::{CastOptions, cast_with_options, is_not_null};
use datafusion::common::ScalarValue;
use granary_protocol::{DataType, ErrorCode};

use super::expressions::TableExpression;
use crate::catalog::Table;
use crate::error::{Error, Result};

/// A block ready for `TableData::insert`.
#[derive(Debug)]
pub struct PreparedBlock {
    /// Rows in the table's schema.
    pub batch: RecordBatch,
    /// The partition key of every row, one array per key element.
    pub partition_key: Vec<ArrayRef>,
}

/// Which table column each input column fills: by name (the Arrow API), by a column list
/// (`INSERT INTO t (a, b)`), or by position over all columns (`INSERT INTO t VALUES`).
pub fn target_columns(
    table: &Table,
    input: &SchemaRef,
    listed: Option<&[String]>,
    by_name: bool,
) -> Result<Vec<usize>> {
    let find = |name: &str| {
        table.definition.column_index(name).ok_or_else(|| {
            Error::query(
                ErrorCode::NO_SUCH_COLUMN_IN_TABLE,
                format!(
                    "no such column {name} in table {}.{}",
                    table.database, table.name
                ),
            )
        })
    };
    let targets: Vec<usize> = match listed {
        Some(names) => names.iter().map(|name| find(name)).collect::<Result<_>>()?,
        None if by_name => input
            .fields()
            .iter()
            .map(|field| find(field.name()))
            .collect::<Result<_>>()?,
        None => (0..table.definition.columns.len()).collect(),
    };
    if targets.len() != input.fields().len() {
        return Err(Error::query(
            ErrorCode::NUMBER_OF_COLUMNS_DOESNT_MATCH,
            format!(
                "{} values for {} columns",
                input.fields().len(),
                targets.len()
            ),
        ));
    }
    for (index, target) in targets.iter().enumerate() {
        if targets[..index].contains(target) {
            return Err(Error::query(
                ErrorCode::DUPLICATE_COLUMN,
                format!(
                    "column {} is given more than once",
                    table.definition.columns[*target].name
                ),
            ));
        }
    }
    Ok(targets)
}

/// Builds the table block from `input`, whose column `i` fills table column `targets[i]`.
pub fn prepare_block(
    table: &Table,
    functions: &datafusion::execution::session_state::SessionState,
    input: &RecordBatch,
    targets: &[usize],
) -> Result<PreparedBlock> {
    let rows = input.num_rows();
    let columns = &table.definition.columns;
    let mut arrays: Vec<Option<ArrayRef>> = vec![None; columns.len()];
    for (array, target) in input.columns().iter().zip(targets) {
        let column = &columns[*target];
        arrays[*target] = Some(convert(array, &column.data_type, &column.name)?);
    }
    // Omitted columns: the type's default first, so that DEFAULT expressions can read any column.
    let mut filled: Vec<ArrayRef> = Vec::with_capacity(columns.len());
    for (index, column) in columns.iter().enumerate() {
        match &arrays[index] {
            Some(array) => filled.push(Arc::clone(array)),
            None => filled.push(default_array(&column.data_type, rows)?),
        }
    }
    let mut batch = RecordBatch::try_new(Arc::clone(&table.schema), filled)?;
    for (index, column) in columns.iter().enumerate() {
        let (None, Some(default)) = (&arrays[index], &column.default) else {
            continue;
        };
        let expression = TableExpression::compile(functions, default, &table.schema)?;
        let value = expression.evaluate(&batch)?;
        let value = convert(&value, &column.data_type, &column.name)?;
        let mut columns_now = batch.columns().to_vec();
        columns_now[index] = value;
        batch = RecordBatch::try_new(Arc::clone(&table.schema), columns_now)?;
    }
    let partition_key = table
        .partition_key
        .iter()
        .map(|expression| expression.evaluate(&batch))
        .collect::<Result<Vec<_>>>()?;
    Ok(PreparedBlock {
        batch,
        partition_key,
    })
}

/// Converts an array to a column's type: as is when the Arrow types agree, otherwise by a cast
/// that fails (never wraps or nulls) on values the type cannot hold.
pub fn convert(array: &ArrayRef, target: &DataType, column: &str) -> Result<ArrayRef> {
    let arrow = target.to_arrow();
    let converted = if array.data_type() == &arrow {
        Arc::clone(array)
    } else {
        cast_value(array, target, &arrow, column)?
    };
    if target.arrow_nullable() || converted.null_count() == 0 {
        return Ok(converted);
    }
    // NULL into a non-Nullable column stores the type's default, as ClickHouse does.
    let defaults = default_array(target, converted.len())?;
    let present = is_not_null(converted.as_ref())?;
    Ok(zip(&present, &converted, &defaults)?)
}

fn cast_value(
    array: &ArrayRef,
    target: &DataType,
    arrow: &ArrowType,
    column: &str,
) -> Result<ArrayRef> {
    let options = CastOptions {
        safe: false,
        ..CastOptions::default()
    };
    if let (DataType::Uuid, ArrowType::Utf8 | ArrowType::LargeUtf8 | ArrowType::Utf8View) =
        (target, array.data_type())
    {
        return crate::functions::uuids::parse_uuids(array, column);
    }
    if let (
        DataType::Array(element),
        ArrowType::Utf8 | ArrowType::LargeUtf8 | ArrowType::Utf8View,
    ) = (target, array.data_type())
    {
        return parse_arrays(array, element, arrow, column);
    }
    if let (DataType::Enum8(items), ArrowType::Utf8 | ArrowType::LargeUtf8) =
        (target, array.data_type())
    {
        check_enum_names(array, items.iter().map(|(name, _)| name.as_str()), column)?;
    }
    if let (DataType::Enum16(items), ArrowType::Utf8 | ArrowType::LargeUtf8) =
        (target, array.data_type())
    {
        check_enum_names(array, items.iter().map(|(name, _)| name.as_str()), column)?;
    }
    cast_with_options(array, arrow, &options).map_err(|error| {
        let source = array.data_type();
        let code = if source.is_numeric() && (arrow.is_numeric() || arrow.is_temporal()) {
            ErrorCode::VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE
        } else if matches!(
            source,
            ArrowType::Utf8 | ArrowType::LargeUtf8 | ArrowType::Utf8View
        ) {
            ErrorCode::CANNOT_PARSE_TEXT
        } else {
            ErrorCode::TYPE_MISMATCH
        };
        let source_type = DataType::from_arrow(source, true)
            .map(|t| t.to_string())
            .unwrap_or_else(|_| source.to_string());
        Error::query(
            code,
            format!("cannot insert {source_type} into column {column} of type {target}: {error}"),
        )
    })
}

/// Arrays in ClickHouse's text form (`['a', NULL]`, `[[1, 2], []]`) read into `Array(element)`:
/// each element converted to its type as any inserted value is; a NULL text is the empty array.
fn parse_arrays(
    array: &ArrayRef,
    element: &DataType,
    arrow: &ArrowType,
    column: &str,
) -> Result<ArrayRef> {
    let ArrowType::List(field) = arrow else {
        return Err(Error::not_implemented(format!("arrays held as {arrow}")));
    };
    let strings = datafusion::arrow::compute::cast(array, &ArrowType::Utf8)?;
    let strings = datafusion::common::cast::as_string_array(&strings)?;
    let mut offsets = vec![0i32];
    let mut values: Vec<Option<String>> = Vec::new();
    for text in strings.iter() {
        if let Some(text) = text {
            values.extend(
                crate::sql::parameters::array_elements(text).map_err(|error| {
                    Error::query(
                        ErrorCode::CANNOT_PARSE_TEXT,
                        format!("cannot read column {column} of type Array({element}): {error}"),
                    )
                })?,
            );
        }
        offsets.push(i32::try_from(values.len()).map_err(|_| {
            Error::query(
                ErrorCode::TOO_LARGE_ARRAY_SIZE,
                format!("too many array elements in column {column}"),
            )
        })?);
    }
    let values: ArrayRef = Arc::new(arrow_array::StringArray::from(values));
    let values = convert(&values, element, column)?;
    Ok(Arc::new(arrow_array::ListArray::try_new(
        Arc::clone(field),
        arrow_buffer::OffsetBuffer::new(offsets.into()),
        values,
        None,
    )?))
}

fn check_enum_names<'a>(
    array: &ArrayRef,
    items: impl Iterator<Item = &'a str>,
    column: &str,
) -> Result<()> {
    let items: std::collections::HashSet<&str> = items.collect();
    let strings = datafusion::arrow::compute::cast(array, &ArrowType::Utf8)?;
    let strings = datafusion::common::cast::as_string_array(&strings)?;
    for value in strings.iter().flatten() {
        if !items.contains(value) {
            return Err(Error::query(
                ErrorCode::UNKNOWN_ELEMENT_OF_ENUM,
                format!("unknown element '{value}' for enum column {column}"),
            ));
        }
    }
    Ok(())
}

/// `rows` copies of a type's default: NULL for Nullable, zero, the empty string, 1970-01-01, an
/// empty array, an enum's first item (in value order).
pub fn default_array(data_type: &DataType, rows: usize) -> Result<ArrayRef> {
    let arrow = data_type.to_arrow();
    match data_type {
        DataType::Nullable(_) => Ok(new_null_array(&arrow, rows)),
        DataType::Enum8(items) => enum_default::<arrow_array::types::Int8Type>(
            items.iter().map(|(name, _)| name.as_str()),
            rows,
        ),
        DataType::Enum16(items) => enum_default::<arrow_array::types::Int16Type>(
            items.iter().map(|(name, _)| name.as_str()),
            rows,
        ),
        DataType::LowCardinality(inner) => {
            let values = default_array(inner.strip_nullable(), rows)?;
            Ok(datafusion::arrow::compute::cast(&values, &arrow)?)
        }
        _ => {
            let value = ScalarValue::new_default(&arrow).map_err(|_| {
                Error::not_implemented(format!("a default value of type {data_type}"))
            })?;
            let array = value.to_array_of_size(rows)?;
            if array.data_type() == &arrow {
                Ok(array)
            } else {
                Ok(datafusion::arrow::compute::cast(&array, &arrow)?)
            }
        }
    }
}

fn enum_default<'a, K: arrow_array::types::ArrowDictionaryKeyType>(
    names: impl Iterator<Item = &'a str>,
    rows: usize,
) -> Result<ArrayRef>
where
    K::Native: Default,
{
    let values: ArrayRef = Arc::new(arrow_array::StringArray::from_iter_values(names));
    let keys = arrow_array::PrimitiveArray::<K>::from_iter_values(std::iter::repeat_n(
        K::Native::default(),
        rows,
    ));
    Ok(Arc::new(DictionaryArray::<K>::try_new(keys, values)?))
}
