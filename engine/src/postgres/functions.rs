//! The functions PostgreSQL clients call in their catalog queries (`pg_get_userbyid`,
//! `pg_table_is_visible`, `format_type`, `current_schemas`, `version`, ...), answered from
//! Granary's catalog and the session. One closure-backed UDF type serves them all.

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use arrow_array::{Array, ArrayRef, BooleanArray, StringArray, UInt32Array};
use arrow_schema::DataType as ArrowType;
use datafusion::common::Result as DfResult;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::scalar::ScalarValue;

use granary_protocol::ErrorCode;

use super::tables::ROLE;
use super::types;

type Body = Arc<dyn Fn(&[ArrayRef], usize) -> DfResult<ArrayRef> + Send + Sync>;

/// A catalog function: its name, what it returns and how.
struct PgFunction {
    name: &'static str,
    signature: Signature,
    returns: ArrowType,
    body: Body,
}

impl std::fmt::Debug for PgFunction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgFunction")
            .field("name", &self.name)
            .finish()
    }
}

impl PartialEq for PgFunction {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for PgFunction {}

impl Hash for PgFunction {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

impl ScalarUDFImpl for PgFunction {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[ArrowType]) -> DfResult<ArrowType> {
        Ok(self.returns.clone())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let arrays = args
            .args
            .iter()
            .map(|arg| arg.to_array(args.number_rows))
            .collect::<DfResult<Vec<_>>>()?;
        Ok(ColumnarValue::Array((self.body)(
            &arrays,
            args.number_rows,
        )?))
    }
}

fn function(
    name: &'static str,
    arguments: std::ops::RangeInclusive<usize>,
    returns: ArrowType,
    body: impl Fn(&[ArrayRef], usize) -> DfResult<ArrayRef> + Send + Sync + 'static,
) -> ScalarUDF {
    let signature = if *arguments.end() == 0 {
        Signature::nullary(Volatility::Stable)
    } else {
        Signature::one_of(
            arguments
                .map(datafusion::logical_expr::TypeSignature::Any)
                .collect(),
            Volatility::Stable,
        )
    };
    ScalarUDF::new_from_impl(PgFunction {
        name,
        signature,
        returns,
        body: Arc::new(body),
    })
}

/// A text argument's values.
fn texts(array: &ArrayRef) -> DfResult<StringArray> {
    let texts = datafusion::arrow::compute::cast(array, &ArrowType::Utf8)?;
    Ok(texts
        .as_any()
        .downcast_ref::<StringArray>()
        .cloned()
        .unwrap_or_else(|| StringArray::from(vec![None::<String>; array.len()])))
}

/// PostgreSQL's error for a setting that does not exist (42704 over pgwire).
fn unknown_setting(name: &str) -> datafusion::error::DataFusionError {
    crate::error::Error::query(
        ErrorCode::UNKNOWN_SETTING,
        format!("unrecognized configuration parameter \"{name}\""),
    )
    .into()
}

/// The same value for every row.
fn constant(value: ScalarValue, rows: usize) -> DfResult<ArrayRef> {
    value.to_array_of_size(rows)
}

/// An argument as OIDs (integers of any width).
fn oids(array: &ArrayRef) -> DfResult<UInt32Array> {
    let cast = datafusion::arrow::compute::cast(array, &ArrowType::UInt32)?;
    Ok(cast
        .as_any()
        .downcast_ref::<UInt32Array>()
        .cloned()
        .unwrap_or_else(|| UInt32Array::from(vec![None; array.len()])))
}

/// An argument as integers.
fn integers(array: &ArrayRef) -> DfResult<arrow_array::Int32Array> {
    let cast = datafusion::arrow::compute::cast(array, &ArrowType::Int32)?;
    Ok(cast
        .as_any()
        .downcast_ref::<arrow_array::Int32Array>()
        .cloned()
        .unwrap_or_else(|| arrow_array::Int32Array::from(vec![None; array.len()])))
}

/// What the functions know of the session: the current database and the tables in it.
#[derive(Debug, Clone)]
pub struct SessionFacts {
    /// The current database (PostgreSQL's current schema).
    pub database: String,
    /// The OIDs of the current database's tables (visible unqualified).
    pub visible: HashSet<u32>,
    /// The front end's connection.
    pub context: super::PgContext,
    /// `regclass` names (`t`, `db.t`, `pg_class`) and their OIDs.
    pub relations: HashMap<String, u32>,
    /// Schema OIDs and names.
    pub namespaces: HashMap<u32, String>,
    /// Index OIDs, their `CREATE INDEX` statements and key columns.
    pub indexes: HashMap<u32, (String, Vec<String>)>,
    /// Bytes on disk of each table (by OID) and each database (by name).
    pub sizes: (HashMap<u32, u64>, HashMap<String, u64>),
}

/// `x::regclass`, `x::regtype`, `x::regnamespace`: a name is looked up (its OID, NULL if none);
/// an OID is shown as the name it stands for (for `::text`), OID 0 as `-`.
fn registered(
    name: &'static str,
    by_name: impl Fn(&str) -> Option<u32> + Send + Sync + 'static,
    by_oid: impl Fn(u32) -> Option<String> + Send + Sync + 'static,
) -> ScalarUDF {
    function(name, 1..=1, ArrowType::Utf8, move |args, _| {
        let input = &args[0];
        if matches!(
            input.data_type(),
            ArrowType::Utf8 | ArrowType::LargeUtf8 | ArrowType::Utf8View
        ) {
            let found: StringArray = texts(input)?
                .iter()
                .map(|text| {
                    text.and_then(|text| by_name(text.trim_matches('"')))
                        .map(|oid| oid.to_string())
                })
                .collect();
            return Ok(Arc::new(found));
        }
        let found: StringArray = oids(input)?
            .iter()
            .map(|oid| {
                oid.map(|oid| match oid {
                    // The invalid OID reads as `-`, as in PostgreSQL.
                    0 => "-".to_string(),
                    oid => by_oid(oid).unwrap_or_else(|| oid.to_string()),
                })
            })
            .collect();
        Ok(Arc::new(found))
    })
}

/// What `pg_expandarray` returns: a list of `(x, n)`: an element and its position from 1.
fn expanded_array() -> ArrowType {
    ArrowType::List(Arc::new(arrow_schema::Field::new_list_field(
        ArrowType::Struct(expanded_fields()),
        true,
    )))
}

fn expanded_fields() -> arrow_schema::Fields {
    arrow_schema::Fields::from(vec![
        arrow_schema::Field::new("x", ArrowType::Int32, true),
        arrow_schema::Field::new("n", ArrowType::Int32, true),
    ])
}

/// Each array of `arrays` (of integers) as its list of `(x, n)`.
fn expand_arrays(arrays: &ArrayRef) -> DfResult<ArrayRef> {
    let element = ArrowType::Struct(expanded_fields());
    let mut values = Vec::with_capacity(arrays.len());
    let list = datafusion::common::cast::as_list_array(arrays)?;
    for row in 0..list.len() {
        if list.is_null(row) {
            values.push(ScalarValue::try_from(&expanded_array())?);
            continue;
        }
        let elements = integers(&list.value(row))?;
        let items: Vec<ScalarValue> = elements
            .iter()
            .zip(1..)
            .map(|(x, n)| {
                ScalarValue::try_from_array(
                    &arrow_array::StructArray::try_new(
                        expanded_fields(),
                        vec![
                            Arc::new(arrow_array::Int32Array::from(vec![x])),
                            Arc::new(arrow_array::Int32Array::from(vec![Some(n)])),
                        ],
                        None,
                    )?,
                    0,
                )
            })
            .collect::<DfResult<_>>()?;
        values.push(ScalarValue::List(ScalarValue::new_list_nullable(
            &items, &element,
        )));
    }
    ScalarValue::iter_to_array(values)
}

/// `pg_size_pretty`: bytes below 10 kB, then kB, MB, GB, TB, PB, each rounded half up once
/// it needs fewer than 20480 of the unit, as PostgreSQL prints sizes.
fn size_pretty(size: i64) -> String {
    const LIMIT: i64 = 10 * 1024;
    if size.abs() < LIMIT {
        return format!("{size} bytes");
    }
    // Halves of each unit, so that the last step can round half up.
    let mut halves = size >> 9;
    for unit in ["kB", "MB", "GB", "TB"] {
        if halves.abs() < LIMIT * 2 - 1 {
            return format!("{} {unit}", (halves + 1) / 2);
        }
        halves >>= 10;
    }
    format!("{} PB", (halves + 1) / 2)
}

/// The catalog functions for a session.
pub fn functions(facts: &SessionFacts) -> Vec<ScalarUDF> {
    let database = facts.database.clone();
    let schema = facts.database.clone();
    let schemas = facts.database.clone();
    let visible = facts.visible.clone();
    let version = facts.context.version.clone();
    let user = facts.context.user.clone();
    let session_user = facts.context.user.clone();
    let backend_pid = facts.context.backend_pid;
    let cancel_backend = facts.context.cancel_backend.clone();
    let read_settings = facts.context.settings.clone();
    let write_settings = facts.context.settings.clone();
    let relations = facts.relations.clone();
    let relation_names: HashMap<u32, String> = facts
        .relations
        .iter()
        .filter(|(name, _)| !name.contains('.'))
        .map(|(name, oid)| (*oid, name.clone()))
        .collect();
    let namespaces = facts.namespaces.clone();
    let indexes = facts.indexes.clone();
    let (table_sizes, database_sizes) = facts.sizes.clone();
    let table_size = move |args: &[ArrayRef], _: usize| -> DfResult<ArrayRef> {
        let oids = oids(&args[0])?;
        Ok(Arc::new(
            oids.iter()
                .map(|oid| {
                    oid.and_then(|oid| table_sizes.get(&oid))
                        .map(|bytes| *bytes as i64)
                })
                .collect::<arrow_array::Int64Array>(),
        ))
    };
    let namespace_names: HashMap<String, u32> = facts
        .namespaces
        .iter()
        .map(|(oid, name)| (name.clone(), *oid))
        .collect();
    let text_list = ArrowType::List(Arc::new(arrow_schema::Field::new_list_field(
        ArrowType::Utf8,
        true,
    )));
    vec![
        registered(
            "pg_regclass",
            move |name| relations.get(name).copied(),
            move |oid| relation_names.get(&oid).cloned(),
        ),
        registered(
            "pg_regtype",
            |name| {
                types::TYPES
                    .iter()
                    .find(|t| t.name == name.trim_start_matches("pg_catalog."))
                    .map(|t| t.oid)
            },
            |oid| types::by_oid(oid).map(|t| t.name.to_string()),
        ),
        registered(
            "pg_regnamespace",
            move |name| namespace_names.get(name).copied(),
            move |oid| namespaces.get(&oid).cloned(),
        ),
        function("pg_regproc", 1..=1, ArrowType::Utf8, |args, _| {
            Ok(Arc::new(
                texts(&args[0])?
                    .iter()
                    .map(|text| text.map(|text| text.trim_start_matches("pg_catalog.").to_string()))
                    .collect::<StringArray>(),
            ))
        }),
        function("pg_get_userbyid", 1..=1, ArrowType::Utf8, |_, rows| {
            constant(ScalarValue::Utf8(Some(ROLE.to_string())), rows)
        }),
        function("current_setting", 1..=2, ArrowType::Utf8, move |args, _| {
            let names = texts(&args[0])?;
            // current_setting(name, missing_ok): NULL for an unknown setting.
            let missing_ok = match args.get(1) {
                Some(flags) => flags
                    .as_any()
                    .downcast_ref::<BooleanArray>()
                    .is_some_and(|flags| flags.iter().any(|flag| flag == Some(true))),
                None => false,
            };
            let mut values = Vec::with_capacity(names.len());
            for name in names.iter() {
                values.push(match name {
                    Some(name) => match read_settings.as_ref().and_then(|s| s.get(name)) {
                        Some(value) => Some(value),
                        None if missing_ok => None,
                        None => return Err(unknown_setting(name)),
                    },
                    None => None,
                });
            }
            Ok(Arc::new(StringArray::from(values)))
        }),
        function("set_config", 3..=3, ArrowType::Utf8, move |args, _| {
            let Some(settings) = &write_settings else {
                return Err(datafusion::error::DataFusionError::NotImplemented(
                    "set_config outside a server connection".to_string(),
                ));
            };
            let (names, values) = (texts(&args[0])?, texts(&args[1])?);
            let mut set = Vec::with_capacity(names.len());
            for (name, value) in names.iter().zip(values.iter()) {
                set.push(match (name, value) {
                    (Some(name), value) => Some(settings.set(name, value.unwrap_or(""))?),
                    (None, _) => None,
                });
            }
            Ok(Arc::new(StringArray::from(set)))
        }),
        function("current_user", 0..=0, ArrowType::Utf8, move |_, rows| {
            constant(ScalarValue::Utf8(Some(user.clone())), rows)
        }),
        function("session_user", 0..=0, ArrowType::Utf8, move |_, rows| {
            constant(ScalarValue::Utf8(Some(session_user.clone())), rows)
        }),
        function("pg_backend_pid", 0..=0, ArrowType::Int32, move |_, rows| {
            constant(ScalarValue::Int32(Some(backend_pid)), rows)
        }),
        function(
            "pg_cancel_backend",
            1..=1,
            ArrowType::Boolean,
            move |args, _| {
                let Some(cancel) = &cancel_backend else {
                    return Err(datafusion::error::DataFusionError::NotImplemented(
                        "pg_cancel_backend outside a server connection".to_string(),
                    ));
                };
                let pids = integers(&args[0])?;
                let mut signalled = Vec::with_capacity(pids.len());
                for pid in pids.iter() {
                    signalled.push(match pid {
                        Some(pid) => Some(
                            cancel(pid).map_err(datafusion::error::DataFusionError::Execution)?,
                        ),
                        None => None,
                    });
                }
                Ok(Arc::new(BooleanArray::from(signalled)))
            },
        ),
        function(
            "pg_table_is_visible",
            1..=1,
            ArrowType::Boolean,
            move |args, _| {
                let oids = oids(&args[0])?;
                Ok(Arc::new(
                    oids.iter()
                        .map(|oid| oid.map(|oid| visible.contains(&oid)))
                        .collect::<BooleanArray>(),
                ))
            },
        ),
        function("pg_encoding_to_char", 1..=1, ArrowType::Utf8, |_, rows| {
            constant(ScalarValue::Utf8(Some("UTF8".to_string())), rows)
        }),
        function("format_type", 2..=2, ArrowType::Utf8, |args, _| {
            let oids = oids(&args[0])?;
            let modifiers = integers(&args[1])?;
            Ok(Arc::new(
                oids.iter()
                    .zip(modifiers.iter())
                    .map(|(oid, modifier)| {
                        oid.and_then(|oid| types::format_type(oid, modifier.unwrap_or(-1)))
                    })
                    .collect::<StringArray>(),
            ))
        }),
        function(
            "current_database",
            0..=0,
            ArrowType::Utf8,
            move |_, rows| constant(ScalarValue::Utf8(Some(database.clone())), rows),
        ),
        function("current_schema", 0..=0, ArrowType::Utf8, move |_, rows| {
            constant(ScalarValue::Utf8(Some(schema.clone())), rows)
        }),
        function("current_schemas", 1..=1, text_list, move |_, rows| {
            let names = [
                ScalarValue::Utf8(Some("pg_catalog".to_string())),
                ScalarValue::Utf8(Some(schemas.clone())),
            ];
            constant(
                ScalarValue::List(ScalarValue::new_list_nullable(&names, &ArrowType::Utf8)),
                rows,
            )
        }),
        function("version", 0..=0, ArrowType::Utf8, move |_, rows| {
            constant(ScalarValue::Utf8(Some(version.clone())), rows)
        }),
        function("pg_get_expr", 2..=3, ArrowType::Utf8, |args, _| {
            Ok(datafusion::arrow::compute::cast(
                &args[0],
                &ArrowType::Utf8,
            )?)
        }),
        function("obj_description", 1..=2, ArrowType::Utf8, |_, rows| {
            constant(ScalarValue::Utf8(None), rows)
        }),
        function("col_description", 2..=2, ArrowType::Utf8, |_, rows| {
            constant(ScalarValue::Utf8(None), rows)
        }),
        function("shobj_description", 2..=2, ArrowType::Utf8, |_, rows| {
            constant(ScalarValue::Utf8(None), rows)
        }),
        // Definitions of objects Granary has none of (their relations are empty): NULL, as
        // PostgreSQL answers for an OID that names no such object.
        function(
            "pg_get_statisticsobjdef_columns",
            1..=1,
            ArrowType::Utf8,
            |_, rows| constant(ScalarValue::Utf8(None), rows),
        ),
        function("pg_get_constraintdef", 1..=2, ArrowType::Utf8, |_, rows| {
            constant(ScalarValue::Utf8(None), rows)
        }),
        function(
            "pg_get_indexdef",
            1..=3,
            ArrowType::Utf8,
            move |args, rows| {
                let oids = oids(&args[0])?;
                let columns = match args.get(1) {
                    Some(column) => integers(column)?,
                    None => arrow_array::Int32Array::from(vec![0; rows]),
                };
                Ok(Arc::new(
                    oids.iter()
                        .zip(columns.iter())
                        .map(|(oid, column)| {
                            let (definition, keys) = indexes.get(&oid?)?;
                            match column.unwrap_or(0) {
                                0 => Some(definition.clone()),
                                n => keys.get(usize::try_from(n - 1).ok()?).cloned(),
                            }
                        })
                        .collect::<StringArray>(),
                ))
            },
        ),
        function("pg_expandarray", 1..=1, expanded_array(), |args, _| {
            expand_arrays(&args[0])
        }),
        // A table's size is its parts' bytes on disk (all of it "main fork"; a primary
        // index lives inside the parts).
        function("pg_table_size", 1..=1, ArrowType::Int64, table_size.clone()),
        function(
            "pg_relation_size",
            1..=2,
            ArrowType::Int64,
            table_size.clone(),
        ),
        function(
            "pg_total_relation_size",
            1..=1,
            ArrowType::Int64,
            table_size,
        ),
        function("pg_indexes_size", 1..=1, ArrowType::Int64, |args, _| {
            Ok(Arc::new(
                oids(&args[0])?
                    .iter()
                    .map(|oid| oid.map(|_| 0i64))
                    .collect::<arrow_array::Int64Array>(),
            ))
        }),
        function(
            "pg_database_size",
            1..=1,
            ArrowType::Int64,
            move |args, _| {
                let names = datafusion::arrow::compute::cast(&args[0], &ArrowType::Utf8)?;
                let names = datafusion::common::cast::as_string_array(&names)?;
                Ok(Arc::new(
                    names
                        .iter()
                        .map(|name| {
                            name.and_then(|name| database_sizes.get(name))
                                .map(|b| *b as i64)
                        })
                        .collect::<arrow_array::Int64Array>(),
                ))
            },
        ),
        function("pg_size_pretty", 1..=1, ArrowType::Utf8, |args, _| {
            let sizes = datafusion::arrow::compute::cast(&args[0], &ArrowType::Int64)?;
            let sizes = datafusion::common::cast::as_int64_array(&sizes)?;
            Ok(Arc::new(
                sizes
                    .iter()
                    .map(|size| size.map(size_pretty))
                    .collect::<StringArray>(),
            ))
        }),
        // Granary has no user-defined functions (pg_proc is empty).
        function(
            "pg_function_is_visible",
            1..=1,
            ArrowType::Boolean,
            |_, rows| constant(ScalarValue::Boolean(None), rows),
        ),
        function(
            "pg_get_function_result",
            1..=1,
            ArrowType::Utf8,
            |_, rows| constant(ScalarValue::Utf8(None), rows),
        ),
        function(
            "pg_get_function_arguments",
            1..=1,
            ArrowType::Utf8,
            |_, rows| constant(ScalarValue::Utf8(None), rows),
        ),
        // Granary has no logical replication: no table can be published.
        function(
            "pg_relation_is_publishable",
            1..=1,
            ArrowType::Boolean,
            |_, rows| constant(ScalarValue::Boolean(Some(false)), rows),
        ),
        function(
            "has_table_privilege",
            2..=3,
            ArrowType::Boolean,
            |_, rows| constant(ScalarValue::Boolean(Some(true)), rows),
        ),
        function(
            "has_schema_privilege",
            2..=3,
            ArrowType::Boolean,
            |_, rows| constant(ScalarValue::Boolean(Some(true)), rows),
        ),
        function(
            "has_database_privilege",
            2..=3,
            ArrowType::Boolean,
            |_, rows| constant(ScalarValue::Boolean(Some(true)), rows),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::size_pretty;

    #[test]
    fn sizes_are_printed_as_postgresql_prints_them() {
        assert_eq!(size_pretty(0), "0 bytes");
        assert_eq!(size_pretty(10_239), "10239 bytes");
        assert_eq!(size_pretty(10_240), "10 kB");
        assert_eq!(size_pretty(1_000_000), "977 kB");
        assert_eq!(size_pretty(123_456_789), "118 MB");
        assert_eq!(size_pretty(10_000_000_000), "9537 MB");
        assert_eq!(size_pretty(100_000_000_000), "93 GB");
    }
}
