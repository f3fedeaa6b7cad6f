//! PostgreSQL's catalogs over Granary's: the queries psql and pgjdbc send, in PostgreSQL's
//! dialect, answered from the tables of the database.

use granary_engine::postgres::PgContext;
use granary_engine::{Parameter, Session};
use granary_protocol::DataType;

use crate::support::open;

fn context() -> PgContext {
    PgContext::with_version("PostgreSQL 15.0 (Granary test)")
}

async fn rows(session: &Session, sql: &str, parameters: &[Parameter]) -> Vec<String> {
    let batches = session
        .execute_postgres(sql, &context(), parameters)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .collect()
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    crate::support::lines(&batches)
}

async fn session_with_tables() -> (tempfile::TempDir, Session) {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    let mut session = db.session();
    for sql in [
        "CREATE DATABASE other",
        "CREATE TABLE t (id UInt64, name String DEFAULT 'x' COMMENT 'who', at DateTime64(3)) ENGINE = MergeTree ORDER BY id",
        "CREATE TABLE other.u (v Nullable(Int32)) ENGINE = MergeTree ORDER BY tuple()",
    ] {
        session.execute(sql).await.unwrap();
    }
    (dir, session)
}

#[tokio::test]
async fn psql_lists_relations_schemas_and_databases() {
    let (_dir, session) = session_with_tables().await;
    // psql 15's \dt, as it sends it.
    let listed = rows(
        &session,
        "SELECT n.nspname as \"Schema\", c.relname as \"Name\",
           CASE c.relkind WHEN 'r' THEN 'table' WHEN 'v' THEN 'view' END as \"Type\",
           pg_catalog.pg_get_userbyid(c.relowner) as \"Owner\"
         FROM pg_catalog.pg_class c
              LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
              LEFT JOIN pg_catalog.pg_am am ON am.oid = c.relam
         WHERE c.relkind IN ('r','p','')
               AND n.nspname <> 'pg_catalog'
               AND n.nspname !~ '^pg_toast'
               AND n.nspname <> 'information_schema'
           AND pg_catalog.pg_table_is_visible(c.oid)
         ORDER BY 1,2;",
        &[],
    )
    .await;
    assert_eq!(listed, ["default|t|table|default"]);
    // \d t's first step: the relation by a regular expression, OPERATOR() and COLLATE spelled out.
    let found = rows(
        &session,
        "SELECT c.relname FROM pg_catalog.pg_class c
           LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relname OPERATOR(pg_catalog.~) '^(t)$' COLLATE pg_catalog.default
           AND pg_catalog.pg_table_is_visible(c.oid)",
        &[],
    )
    .await;
    assert_eq!(found, ["t"]);
    let databases = rows(
        &session,
        "SELECT d.datname, pg_catalog.pg_encoding_to_char(d.encoding),
                pg_catalog.array_to_string(d.datacl, E'\\n')
         FROM pg_catalog.pg_database d WHERE d.datname <> 'system' ORDER BY 1",
        &[],
    )
    .await;
    assert_eq!(databases, ["default|UTF8|", "other|UTF8|"]);
}

#[tokio::test]
async fn columns_types_defaults_and_comments_are_described() {
    let (_dir, session) = session_with_tables().await;
    let columns = rows(
        &session,
        "SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod), a.attnotnull,
           (SELECT pg_catalog.pg_get_expr(d.adbin, d.adrelid, true) FROM pg_catalog.pg_attrdef d
            WHERE d.adrelid = a.attrelid AND d.adnum = a.attnum AND a.atthasdef)
         FROM pg_catalog.pg_attribute a
         WHERE a.attrelid = 't'::regclass AND a.attnum > 0 ORDER BY a.attnum",
        &[],
    )
    .await;
    assert_eq!(
        columns,
        [
            "id|numeric(20,0)|true|NULL",
            "name|text|true|'x'",
            "at|timestamp(3) without time zone|true|NULL"
        ]
    );
    let comments = rows(
        &session,
        "SELECT objsubid, description FROM pg_description
         WHERE objoid = 't'::regclass AND classoid = 'pg_class'::regclass",
        &[],
    )
    .await;
    assert_eq!(comments, ["2|who"]);
    let nullable = rows(
        &session,
        "SELECT column_name, is_nullable, data_type FROM information_schema.columns
         WHERE table_schema = $1",
        &[Parameter {
            value: Some("other".to_string()),
            data_type: DataType::String,
        }],
    )
    .await;
    assert_eq!(nullable, ["v|YES|integer"]);
    let described = session
        .prepare_postgres("SELECT relname FROM pg_class WHERE oid = $1", &context())
        .await
        .unwrap();
    assert_eq!(described.parameters, [Some(DataType::UInt32)]);
}

#[tokio::test]
async fn correlated_subqueries_no_join_expresses_run_per_outer_value() {
    let (_dir, session) = session_with_tables().await;
    // A recursive CTE reading the outer row (asyncpg's domain base types), guarded by CASE,
    // and an ORDER BY ... LIMIT 1 subquery: the first row in that order.
    let found = rows(
        &session,
        "SELECT t.typname,
           (CASE WHEN t.typname = 'int4' THEN
             (WITH RECURSIVE chain(oid, depth) AS (
                SELECT t2.typarray, 0 FROM pg_type t2 WHERE t2.oid = t.oid
                UNION ALL
                SELECT t3.typelem, c.depth + 1 FROM pg_type t3, chain c
                WHERE t3.oid = c.oid AND c.depth < 3)
              SELECT oid FROM chain ORDER BY depth DESC LIMIT 1)
            ELSE NULL END) AS last
         FROM pg_catalog.pg_type t WHERE t.typname IN ('int4', 'text') ORDER BY 1",
        &[],
    )
    .await;
    // int4 -> _int4 (1007) -> its element int4 (23) -> int4's typelem 0 -> 0's row: none.
    assert_eq!(found, ["int4|0", "text|NULL"]);
    // array(SELECT ... FROM unnest(outer column)), as psql's \d+ sends it.
    let options = rows(
        &session,
        "SELECT c.relname, pg_catalog.array_to_string(array(select 'x.' || o from \
         pg_catalog.unnest(c.relacl) o), ', ') AS opts FROM pg_catalog.pg_class c \
         WHERE c.relname = 't'",
        &[],
    )
    .await;
    assert_eq!(options, ["t|"]);
    // `$1::oid[]` takes an array parameter.
    let typed = rows(
        &session,
        "SELECT typname FROM pg_type WHERE oid = any($1::oid[]) ORDER BY 1",
        &[Parameter {
            value: Some("['23','25']".to_string()),
            data_type: DataType::String,
        }],
    )
    .await;
    assert_eq!(typed, ["int4", "text"]);
}
