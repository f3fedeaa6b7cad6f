//! The `pg_catalog` and `information_schema` relations PostgreSQL clients read, as in-memory
//! tables made from Granary's catalog when a catalog query is planned: each ClickHouse database
//! is a schema (`pg_namespace`), each table a relation (`pg_class`) with its columns
//! (`pg_attribute`, `information_schema.columns`), DEFAULTs (`pg_attrdef`) and comments
//! (`pg_description`); `pg_type` holds the builtin types Granary uses; relations clients join but
//! Granary has nothing for (constraints, inheritance, policies...) are present and empty.
//!
//! OIDs: builtin objects keep PostgreSQL's; a database's and a table's OID is a hash of its name
//! (stable across restarts; renaming a table gives it a new OID).

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::ArrayRef;
use arrow_schema::{DataType as ArrowType, Field, Schema};
use datafusion::catalog::{MemorySchemaProvider, SchemaProvider};
use datafusion::datasource::MemTable;
use datafusion::scalar::ScalarValue;

use super::types::{self, TYPES};
use crate::catalog::{Catalog, SYSTEM_DATABASE};
use crate::error::Result;

/// `pg_catalog`'s OID, as in PostgreSQL.
pub const PG_CATALOG_OID: u32 = 11;
/// `information_schema`'s OID.
pub const INFORMATION_SCHEMA_OID: u32 = 13_000;
/// The OID of the one role, `default` (PostgreSQL's bootstrap superuser has 10).
pub const ROLE_OID: u32 = 10;
/// `pg_class`'s own OID (the `classoid` of descriptions of relations).
const PG_CLASS_OID: u32 = 1259;
/// The OIDs of the catalog relations clients name in `'pg_class'::regclass` (PostgreSQL's).
const CATALOG_RELATIONS: &[(&str, u32)] = &[
    ("pg_type", 1247),
    ("pg_attribute", 1249),
    ("pg_proc", 1255),
    ("pg_class", PG_CLASS_OID),
    ("pg_database", 1262),
    ("pg_namespace", 2615),
    ("pg_constraint", 2606),
    ("pg_index", 2610),
    ("pg_description", 2609),
    ("pg_attrdef", 2604),
];

/// `regclass` names and their OIDs: the catalog relations, every table qualified by its database,
/// and the current database's tables unqualified.
pub fn relation_oids(catalog: &Catalog, current: &str) -> Result<HashMap<String, u32>> {
    let mut oids: HashMap<String, u32> = CATALOG_RELATIONS
        .iter()
        .flat_map(|(name, oid)| {
            [
                (name.to_string(), *oid),
                (format!("pg_catalog.{name}"), *oid),
            ]
        })
        .collect();
    for table in table_facts(catalog)? {
        if table.database == current {
            oids.insert(table.name.clone(), table.oid);
        }
        oids.insert(format!("{}.{}", table.database, table.name), table.oid);
    }
    Ok(oids)
}

/// Every schema's OID and name.
pub fn namespace_oids(catalog: &Catalog) -> Result<HashMap<u32, String>> {
    let mut oids: HashMap<u32, String> = catalog
        .database_names()?
        .into_iter()
        .map(|database| (namespace_oid(&database), database))
        .collect();
    oids.insert(PG_CATALOG_OID, "pg_catalog".to_string());
    oids.insert(INFORMATION_SCHEMA_OID, "information_schema".to_string());
    Ok(oids)
}
/// `pg_default`, the one tablespace.
const DEFAULT_TABLESPACE_OID: u32 = 1663;
/// The `heap` access method.
const HEAP_OID: u32 = 2;
/// The role clients see as the owner of everything.
pub const ROLE: &str = "default";

/// The OID of a user object named `name`: 16384 and up, as PostgreSQL numbers user objects.
pub fn object_oid(name: &str) -> u32 {
    // FNV-1a: stable across releases and platforms.
    let hash = name.bytes().fold(0x811c_9dc5u32, |hash, byte| {
        (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193)
    });
    16_384 + hash % (i32::MAX as u32 - 16_384)
}

/// The OID of a role: PostgreSQL's bootstrap superuser's (10) for `default`, the others hashed.
pub fn role_oid(name: &str) -> u32 {
    if name == ROLE {
        ROLE_OID
    } else {
        object_oid(&format!("role {name}"))
    }
}

/// The OID of a database's schema.
pub fn namespace_oid(database: &str) -> u32 {
    object_oid(database)
}

/// The access method of a table's primary key: MergeTree's sparse index (not unique).
const MERGETREE_AM_OID: u32 = 3;

/// The OID of a table's primary key, shown as an index.
pub fn index_oid(database: &str, table: &str) -> u32 {
    object_oid(&format!("{database}.{table} primary key"))
}

/// The name of a table's primary key index, as PostgreSQL names one.
pub fn index_name(table: &str) -> String {
    format!("{table}_pkey")
}

/// Bytes on disk of every table (by OID) and of every database (by name).
pub fn sizes(catalog: &Catalog) -> Result<(HashMap<u32, u64>, HashMap<String, u64>)> {
    let mut tables = HashMap::new();
    let mut databases: HashMap<String, u64> = catalog
        .database_names()?
        .into_iter()
        .map(|name| (name, 0))
        .collect();
    for table in table_facts(catalog)? {
        tables.insert(table.oid, table.bytes);
        *databases.entry(table.database).or_default() += table.bytes;
    }
    Ok((tables, databases))
}

/// `pg_get_indexdef` of every primary key: the statement that would create it, and its columns.
pub fn index_definitions(catalog: &Catalog) -> Result<HashMap<u32, (String, Vec<String>)>> {
    Ok(table_facts(catalog)?
        .into_iter()
        .filter(|table| !table.key.is_empty())
        .map(|table| {
            let columns: Vec<String> = table
                .key
                .iter()
                .filter_map(|n| table.columns.get(usize::try_from(*n - 1).ok()?))
                .map(|column| column.0.clone())
                .collect();
            let definition = format!(
                "CREATE INDEX {} ON {}.{} USING mergetree ({})",
                index_name(&table.name),
                table.database,
                table.name,
                columns.join(", ")
            );
            (
                index_oid(&table.database, &table.name),
                (definition, columns),
            )
        })
        .collect())
}

/// The OID of a table.
pub fn table_oid(database: &str, table: &str) -> u32 {
    object_oid(&format!("{database}.{table}"))
}

fn oid(value: u32) -> ScalarValue {
    ScalarValue::UInt32(Some(value))
}

fn text(value: &str) -> ScalarValue {
    ScalarValue::Utf8(Some(value.to_string()))
}

fn no_text() -> ScalarValue {
    ScalarValue::Utf8(None)
}

/// A NULL `text[]` (an ACL or options column Granary has nothing for).
fn no_texts() -> ScalarValue {
    ScalarValue::try_from(&text_array()).unwrap_or(ScalarValue::Null)
}

/// `text[]`.
fn text_array() -> ArrowType {
    ArrowType::List(Arc::new(Field::new_list_field(TEXT, true)))
}

fn int2(value: i16) -> ScalarValue {
    ScalarValue::Int16(Some(value))
}

fn int4(value: i32) -> ScalarValue {
    ScalarValue::Int32(Some(value))
}

fn flag(value: bool) -> ScalarValue {
    ScalarValue::Boolean(Some(value))
}

/// A column of a catalog relation: its name and the PostgreSQL type of its values.
type Column = (&'static str, ArrowType);

const OID: ArrowType = ArrowType::UInt32;
const TEXT: ArrowType = ArrowType::Utf8;
const INT2: ArrowType = ArrowType::Int16;
const INT4: ArrowType = ArrowType::Int32;
const FLOAT4: ArrowType = ArrowType::Float32;
const BOOL: ArrowType = ArrowType::Boolean;

/// `oid[]`.
fn oid_array() -> ArrowType {
    ArrowType::List(Arc::new(Field::new_list_field(OID, true)))
}

/// An in-memory relation of `columns` holding `rows`.
fn relation(columns: &[Column], rows: &[Vec<ScalarValue>]) -> Result<Arc<MemTable>> {
    let schema = Arc::new(Schema::new(
        columns
            .iter()
            .map(|(name, data_type)| Field::new(*name, data_type.clone(), true))
            .collect::<Vec<_>>(),
    ));
    let arrays = columns
        .iter()
        .enumerate()
        .map(|(index, (_, data_type))| {
            if rows.is_empty() {
                return Ok(arrow_array::new_empty_array(data_type));
            }
            let values = rows.iter().map(|row| row[index].clone());
            Ok(ScalarValue::iter_to_array(values)?)
        })
        .collect::<Result<Vec<ArrayRef>>>()?;
    let batch = arrow_array::RecordBatch::try_new(Arc::clone(&schema), arrays)?;
    Ok(Arc::new(MemTable::try_new(schema, vec![vec![batch]])?))
}

/// A database's tables with what the catalogs say of them.
struct TableFacts {
    database: String,
    name: String,
    oid: u32,
    comment: Option<String>,
    /// The attribute numbers of the primary key's columns, in key order.
    key: Vec<i16>,
    /// Rows and bytes on disk of the active parts.
    rows: u64,
    bytes: u64,
    /// Name, ClickHouse type, DEFAULT text, comment.
    columns: Vec<(
        String,
        granary_protocol::DataType,
        Option<String>,
        Option<String>,
    )>,
}

fn table_facts(catalog: &Catalog) -> Result<Vec<TableFacts>> {
    let mut facts = Vec::new();
    for database in catalog.database_names()? {
        if database == SYSTEM_DATABASE {
            // ClickHouse's system tables are views of the server, not tables of a schema.
            continue;
        }
        for table in catalog.tables(&database)? {
            let parts = table.data.snapshot()?;
            facts.push(TableFacts {
                rows: parts.rows(),
                bytes: parts.parts.iter().map(|part| part.bytes_on_disk).sum(),
                oid: table_oid(&database, &table.name),
                database: database.clone(),
                name: table.name.clone(),
                comment: table.definition.comment.clone(),
                key: table
                    .definition
                    .primary_key_columns()
                    .iter()
                    .filter_map(|name| table.definition.column_index(name))
                    .map(|index| i16::try_from(index + 1).unwrap_or(i16::MAX))
                    .collect(),
                columns: table
                    .definition
                    .columns
                    .iter()
                    .map(|column| {
                        (
                            column.name.clone(),
                            column.data_type.clone(),
                            column.default.as_ref().map(ToString::to_string),
                            column.comment.clone(),
                        )
                    })
                    .collect(),
            });
        }
    }
    Ok(facts)
}

/// The `pg_catalog` schema of `catalog` as it is now.
pub fn pg_catalog(catalog: &Catalog, roles: &[super::Role]) -> Result<Arc<dyn SchemaProvider>> {
    let schema = MemorySchemaProvider::new();
    let databases = catalog.database_names()?;
    let tables = table_facts(catalog)?;
    let register = |name: &str, table: Arc<MemTable>| -> Result<()> {
        schema.register_table(name.to_string(), table)?;
        Ok(())
    };

    let mut namespaces = vec![
        vec![
            oid(PG_CATALOG_OID),
            text("pg_catalog"),
            oid(ROLE_OID),
            no_texts(),
        ],
        vec![
            oid(INFORMATION_SCHEMA_OID),
            text("information_schema"),
            oid(ROLE_OID),
            no_texts(),
        ],
    ];
    namespaces.extend(databases.iter().map(|database| {
        vec![
            oid(namespace_oid(database)),
            text(database),
            oid(ROLE_OID),
            no_texts(),
        ]
    }));
    register(
        "pg_namespace",
        relation(
            &[
                ("oid", OID),
                ("nspname", TEXT),
                ("nspowner", OID),
                ("nspacl", text_array()),
            ],
            &namespaces,
        )?,
    )?;

    let class = |oid_value: u32, name: &str, table: &TableFacts, kind: &str, am: u32| {
        vec![
            oid(oid_value),
            text(name),
            oid(namespace_oid(&table.database)),
            oid(0),
            oid(ROLE_OID),
            oid(am),
            oid(0),
            text(kind),
            text("p"),
            text("d"),
            flag(kind == "r" && !table.key.is_empty()),
            int2(0),
            flag(false),
            flag(false),
            flag(false),
            flag(false),
            flag(false),
            oid(0),
            oid(0),
            no_text(),
            int2(i16::try_from(table.columns.len()).unwrap_or(i16::MAX)),
            // Rows as PostgreSQL's estimate (exact here).
            ScalarValue::Float32(Some(table.rows as f32)),
            no_texts(),
            no_texts(),
            oid(0),
        ]
    };
    let mut classes = Vec::new();
    let mut indexes = Vec::new();
    for table in &tables {
        classes.push(class(table.oid, &table.name, table, "r", HEAP_OID));
        if !table.key.is_empty() {
            let index = index_oid(&table.database, &table.name);
            classes.push(class(
                index,
                &index_name(&table.name),
                table,
                "i",
                MERGETREE_AM_OID,
            ));
            let count = i16::try_from(table.key.len()).unwrap_or(i16::MAX);
            let key: Vec<ScalarValue> = table.key.iter().map(|n| int2(*n)).collect();
            indexes.push(vec![
                oid(index),
                oid(table.oid),
                int2(count),
                int2(count),
                flag(true),
                flag(false),
                flag(false),
                flag(true),
                flag(true),
                flag(false),
                ScalarValue::List(ScalarValue::new_list_nullable(&key, &INT2)),
                no_text(),
                no_text(),
            ]);
        }
    }
    register(
        "pg_class",
        relation(
            &[
                ("oid", OID),
                ("relname", TEXT),
                ("relnamespace", OID),
                ("reltype", OID),
                ("relowner", OID),
                ("relam", OID),
                ("reltablespace", OID),
                ("relkind", TEXT),
                ("relpersistence", TEXT),
                ("relreplident", TEXT),
                ("relhasindex", BOOL),
                ("relchecks", INT2),
                ("relhasrules", BOOL),
                ("relhastriggers", BOOL),
                ("relrowsecurity", BOOL),
                ("relforcerowsecurity", BOOL),
                ("relispartition", BOOL),
                ("reloftype", OID),
                ("reltoastrelid", OID),
                ("relpartbound", TEXT),
                ("relnatts", INT2),
                ("reltuples", FLOAT4),
                ("relacl", text_array()),
                ("reloptions", text_array()),
                ("relfilenode", OID),
            ],
            &classes,
        )?,
    )?;

    register(
        "pg_index",
        relation(
            &[
                ("indexrelid", OID),
                ("indrelid", OID),
                ("indnatts", INT2),
                ("indnkeyatts", INT2),
                ("indisprimary", BOOL),
                ("indisunique", BOOL),
                ("indisclustered", BOOL),
                ("indisvalid", BOOL),
                ("indimmediate", BOOL),
                ("indisreplident", BOOL),
                (
                    "indkey",
                    ArrowType::List(Arc::new(Field::new_list_field(INT2, true))),
                ),
                ("indexprs", TEXT),
                ("indpred", TEXT),
            ],
            &indexes,
        )?,
    )?;

    let mut attributes = Vec::new();
    let mut defaults = Vec::new();
    let mut descriptions = Vec::new();
    for table in &tables {
        if let Some(comment) = &table.comment {
            descriptions.push(vec![
                oid(table.oid),
                oid(PG_CLASS_OID),
                int4(0),
                text(comment),
            ]);
        }
        for (index, (name, data_type, default, comment)) in table.columns.iter().enumerate() {
            let number = i16::try_from(index + 1).unwrap_or(i16::MAX);
            let type_oid = types::oid(data_type);
            attributes.push(vec![
                oid(table.oid),
                text(name),
                oid(type_oid),
                int2(number),
                int2(types::type_size(type_oid)),
                int4(types::type_modifier(data_type)),
                flag(!data_type.is_nullable()),
                flag(default.is_some()),
                flag(false),
                text(""),
                text(""),
                oid(0),
                int4(0),
                // PostgreSQL's default storage of the type: fixed-width values plain, numeric
                // "main", other variable-width values "extended"; no compression method or
                // statistics target is set.
                text(if types::type_size(type_oid) > 0 {
                    "p"
                } else if type_oid == types::NUMERIC {
                    "m"
                } else {
                    "x"
                }),
                text(""),
                int4(-1),
            ]);
            if let Some(default) = default {
                defaults.push(vec![
                    oid(object_oid(&format!(
                        "{}.{}.{name}",
                        table.database, table.name
                    ))),
                    oid(table.oid),
                    int2(number),
                    text(default),
                ]);
            }
            if let Some(comment) = comment {
                descriptions.push(vec![
                    oid(table.oid),
                    oid(PG_CLASS_OID),
                    int4(i32::from(number)),
                    text(comment),
                ]);
            }
        }
    }
    register(
        "pg_attribute",
        relation(
            &[
                ("attrelid", OID),
                ("attname", TEXT),
                ("atttypid", OID),
                ("attnum", INT2),
                ("attlen", INT2),
                ("atttypmod", INT4),
                ("attnotnull", BOOL),
                ("atthasdef", BOOL),
                ("attisdropped", BOOL),
                ("attidentity", TEXT),
                ("attgenerated", TEXT),
                ("attcollation", OID),
                ("attndims", INT4),
                ("attstorage", TEXT),
                ("attcompression", TEXT),
                ("attstattarget", INT4),
            ],
            &attributes,
        )?,
    )?;
    register(
        "pg_attrdef",
        relation(
            &[
                ("oid", OID),
                ("adrelid", OID),
                ("adnum", INT2),
                ("adbin", TEXT),
            ],
            &defaults,
        )?,
    )?;
    register(
        "pg_description",
        relation(
            &[
                ("objoid", OID),
                ("classoid", OID),
                ("objsubid", INT4),
                ("description", TEXT),
            ],
            &descriptions,
        )?,
    )?;

    let database_rows: Vec<Vec<ScalarValue>> = databases
        .iter()
        .map(|database| {
            vec![
                oid(namespace_oid(database)),
                text(database),
                oid(ROLE_OID),
                int4(6),
                text("C"),
                text("C"),
                no_text(),
                text("c"),
                ScalarValue::List(ScalarValue::new_list_nullable(&[], &TEXT)),
                flag(false),
                flag(true),
                int4(-1),
                oid(DEFAULT_TABLESPACE_OID),
            ]
        })
        .collect();
    register(
        "pg_database",
        relation(
            &[
                ("oid", OID),
                ("datname", TEXT),
                ("datdba", OID),
                ("encoding", INT4),
                ("datcollate", TEXT),
                ("datctype", TEXT),
                ("daticulocale", TEXT),
                ("datlocprovider", TEXT),
                (
                    "datacl",
                    ArrowType::List(Arc::new(Field::new_list_field(TEXT, true))),
                ),
                ("datistemplate", BOOL),
                ("datallowconn", BOOL),
                ("datconnlimit", INT4),
                ("dattablespace", OID),
            ],
            &database_rows,
        )?,
    )?;

    let type_rows: Vec<Vec<ScalarValue>> = TYPES
        .iter()
        .map(|pg_type| {
            vec![
                oid(pg_type.oid),
                text(pg_type.name),
                oid(PG_CATALOG_OID),
                oid(ROLE_OID),
                int2(pg_type.len),
                text("b"),
                text(&pg_type.category.to_string()),
                flag(false),
                oid(0),
                int4(-1),
                oid(0),
                oid(pg_type.element),
                oid(pg_type.array),
                text(if pg_type.element != 0 { "array_in" } else { "" }),
                oid(0),
                text(","),
                int4(0),
            ]
        })
        .collect();
    register(
        "pg_type",
        relation(
            &[
                ("oid", OID),
                ("typname", TEXT),
                ("typnamespace", OID),
                ("typowner", OID),
                ("typlen", INT2),
                ("typtype", TEXT),
                ("typcategory", TEXT),
                ("typnotnull", BOOL),
                ("typbasetype", OID),
                ("typtypmod", INT4),
                ("typrelid", OID),
                ("typelem", OID),
                ("typarray", OID),
                ("typinput", TEXT),
                ("typcollation", OID),
                ("typdelim", TEXT),
                ("typndims", INT4),
            ],
            &type_rows,
        )?,
    )?;

    register(
        "pg_am",
        relation(
            &[("oid", OID), ("amname", TEXT), ("amtype", TEXT)],
            &[
                vec![oid(HEAP_OID), text("heap"), text("t")],
                vec![oid(403), text("btree"), text("i")],
                vec![oid(MERGETREE_AM_OID), text("mergetree"), text("i")],
            ],
        )?,
    )?;
    let role_rows: Vec<Vec<ScalarValue>> = roles
        .iter()
        .map(|role| {
            vec![
                oid(role_oid(&role.name)),
                text(&role.name),
                flag(role.superuser),
                flag(true),
                flag(role.superuser),
                flag(role.superuser),
                flag(true),
                int4(-1),
                ScalarValue::TimestampMicrosecond(None, None),
                flag(false),
                flag(role.superuser),
            ]
        })
        .collect();
    register(
        "pg_roles",
        relation(
            &[
                ("oid", OID),
                ("rolname", TEXT),
                ("rolsuper", BOOL),
                ("rolinherit", BOOL),
                ("rolcreaterole", BOOL),
                ("rolcreatedb", BOOL),
                ("rolcanlogin", BOOL),
                ("rolconnlimit", INT4),
                (
                    "rolvaliduntil",
                    ArrowType::Timestamp(arrow_schema::TimeUnit::Microsecond, None),
                ),
                ("rolreplication", BOOL),
                ("rolbypassrls", BOOL),
            ],
            &role_rows,
        )?,
    )?;
    register(
        "pg_user",
        relation(
            &[("usename", TEXT), ("usesysid", OID), ("usesuper", BOOL)],
            &roles
                .iter()
                .map(|role| {
                    vec![
                        text(&role.name),
                        oid(role_oid(&role.name)),
                        flag(role.superuser),
                    ]
                })
                .collect::<Vec<_>>(),
        )?,
    )?;
    register(
        "pg_tablespace",
        relation(
            &[("oid", OID), ("spcname", TEXT), ("spcowner", OID)],
            &[vec![
                oid(DEFAULT_TABLESPACE_OID),
                text("pg_default"),
                oid(ROLE_OID),
            ]],
        )?,
    )?;
    for (name, columns) in empty_relations() {
        register(name, relation(&columns, &[])?)?;
    }
    Ok(Arc::new(schema))
}

/// Relations clients join that Granary has nothing for: present, with the columns read, empty.
pub(super) fn empty_relations() -> Vec<(&'static str, Vec<Column>)> {
    vec![
        (
            "pg_constraint",
            vec![
                ("oid", OID),
                ("conname", TEXT),
                ("connamespace", OID),
                ("contype", TEXT),
                ("conrelid", OID),
                ("confrelid", OID),
                ("conindid", OID),
                ("conparentid", OID),
                ("condeferrable", BOOL),
                ("condeferred", BOOL),
                ("convalidated", BOOL),
            ],
        ),
        (
            "pg_inherits",
            vec![
                ("inhrelid", OID),
                ("inhparent", OID),
                ("inhseqno", INT4),
                ("inhdetachpending", BOOL),
            ],
        ),
        (
            "pg_collation",
            vec![("oid", OID), ("collname", TEXT), ("collnamespace", OID)],
        ),
        (
            "pg_trigger",
            vec![("oid", OID), ("tgrelid", OID), ("tgname", TEXT)],
        ),
        (
            "pg_rewrite",
            vec![("oid", OID), ("rulename", TEXT), ("ev_class", OID)],
        ),
        (
            "pg_policy",
            vec![
                ("oid", OID),
                ("polname", TEXT),
                ("polrelid", OID),
                ("polcmd", TEXT),
                ("polpermissive", BOOL),
                ("polroles", oid_array()),
                ("polqual", TEXT),
                ("polwithcheck", TEXT),
            ],
        ),
        (
            "pg_enum",
            vec![("oid", OID), ("enumtypid", OID), ("enumlabel", TEXT)],
        ),
        (
            "pg_range",
            vec![
                ("rngtypid", OID),
                ("rngsubtype", OID),
                ("rngmultitypid", OID),
                ("rngcollation", OID),
                ("rngsubopc", OID),
                ("rngcanonical", TEXT),
                ("rngsubdiff", TEXT),
            ],
        ),
        (
            "pg_statistic_ext",
            vec![
                ("oid", OID),
                ("stxrelid", OID),
                ("stxname", TEXT),
                ("stxnamespace", OID),
                ("stxowner", OID),
                ("stxstattarget", INT4),
                ("stxkeys", TEXT),
                (
                    "stxkind",
                    ArrowType::List(Arc::new(Field::new_list_field(TEXT, true))),
                ),
            ],
        ),
        (
            "pg_publication",
            vec![
                ("oid", OID),
                ("pubname", TEXT),
                ("pubowner", OID),
                ("puballtables", BOOL),
                ("pubinsert", BOOL),
                ("pubupdate", BOOL),
                ("pubdelete", BOOL),
                ("pubtruncate", BOOL),
                ("pubviaroot", BOOL),
            ],
        ),
        (
            "pg_publication_namespace",
            vec![("oid", OID), ("pnpubid", OID), ("pnnspid", OID)],
        ),
        (
            "pg_publication_rel",
            vec![
                ("oid", OID),
                ("prpubid", OID),
                ("prrelid", OID),
                ("prqual", TEXT),
                ("prattrs", TEXT),
            ],
        ),
        (
            "pg_auth_members",
            vec![
                ("oid", OID),
                ("roleid", OID),
                ("member", OID),
                ("grantor", OID),
                ("admin_option", BOOL),
            ],
        ),
        // Granary has no user-defined functions; its builtins are not PostgreSQL's.
        (
            "pg_proc",
            vec![
                ("oid", OID),
                ("proname", TEXT),
                ("pronamespace", OID),
                ("proowner", OID),
                ("prokind", TEXT),
                ("prorettype", OID),
                ("proargtypes", TEXT),
                ("proretset", BOOL),
            ],
        ),
        ("pg_extension", vec![("oid", OID), ("extname", TEXT)]),
    ]
}

/// The `information_schema` schema of `catalog` as it is now.
pub fn information_schema(catalog: &Catalog, current: &str) -> Result<Arc<dyn SchemaProvider>> {
    let schema = MemorySchemaProvider::new();
    let databases = catalog.database_names()?;
    let tables = table_facts(catalog)?;
    let schemata: Vec<Vec<ScalarValue>> = databases
        .iter()
        .map(|database| vec![text(current), text(database), text(ROLE)])
        .collect();
    schema.register_table(
        "schemata".to_string(),
        relation(
            &[
                ("catalog_name", TEXT),
                ("schema_name", TEXT),
                ("schema_owner", TEXT),
            ],
            &schemata,
        )?,
    )?;
    let table_rows: Vec<Vec<ScalarValue>> = tables
        .iter()
        .map(|table| {
            vec![
                text(current),
                text(&table.database),
                text(&table.name),
                text("BASE TABLE"),
            ]
        })
        .collect();
    schema.register_table(
        "tables".to_string(),
        relation(
            &[
                ("table_catalog", TEXT),
                ("table_schema", TEXT),
                ("table_name", TEXT),
                ("table_type", TEXT),
            ],
            &table_rows,
        )?,
    )?;
    let mut column_rows = Vec::new();
    for table in &tables {
        for (index, (name, data_type, default, _)) in table.columns.iter().enumerate() {
            let type_oid = types::oid(data_type);
            let modifier = types::type_modifier(data_type);
            let (precision, scale) = match (type_oid, modifier) {
                (types::NUMERIC, modifier) if modifier >= 4 => {
                    (Some((modifier - 4) >> 16), Some((modifier - 4) & 0xffff))
                }
                (types::INT2, _) => (Some(16), Some(0)),
                (types::INT4, _) => (Some(32), Some(0)),
                (types::INT8, _) => (Some(64), Some(0)),
                (types::FLOAT4, _) => (Some(24), None),
                (types::FLOAT8, _) => (Some(53), None),
                _ => (None, None),
            };
            let datetime_precision = match type_oid {
                types::TIMESTAMP | types::TIMESTAMPTZ => Some(modifier.max(0)),
                types::DATE => Some(0),
                _ => None,
            };
            let type_name = types::format_type(type_oid, -1).unwrap_or_default();
            column_rows.push(vec![
                text(current),
                text(&table.database),
                text(&table.name),
                text(name),
                int4(i32::try_from(index + 1).unwrap_or(i32::MAX)),
                default.as_deref().map_or_else(no_text, text),
                text(if data_type.is_nullable() { "YES" } else { "NO" }),
                text(&type_name),
                ScalarValue::Int32(None),
                ScalarValue::Int32(precision),
                ScalarValue::Int32(scale),
                ScalarValue::Int32(datetime_precision),
                text(types::by_oid(type_oid).map_or("text", |t| t.name)),
            ]);
        }
    }
    schema.register_table(
        "columns".to_string(),
        relation(
            &[
                ("table_catalog", TEXT),
                ("table_schema", TEXT),
                ("table_name", TEXT),
                ("column_name", TEXT),
                ("ordinal_position", INT4),
                ("column_default", TEXT),
                ("is_nullable", TEXT),
                ("data_type", TEXT),
                ("character_maximum_length", INT4),
                ("numeric_precision", INT4),
                ("numeric_scale", INT4),
                ("datetime_precision", INT4),
                ("udt_name", TEXT),
            ],
            &column_rows,
        )?,
    )?;
    Ok(Arc::new(schema))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_object_oids_are_stable_and_above_the_builtin_range() {
        assert_eq!(table_oid("default", "t"), table_oid("default", "t"));
        assert_ne!(table_oid("default", "t"), table_oid("default", "u"));
        assert!(namespace_oid("default") >= 16_384);
        assert!(namespace_oid("default") < i32::MAX as u32);
    }
}
