"""PostgreSQL's catalogs as clients read them: psql's \\dt, \\dn and \\l (the real psql, its output
parsed), \\d of a table, information_schema through psycopg."""
import os
import shutil
import subprocess

import psycopg
import pytest


@pytest.fixture(scope="module")
def table(port, database):
    with psycopg.connect(f"host=127.0.0.1 port={port} user=default dbname={database}", autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE events (id UInt64, name String DEFAULT 'anon', at DateTime64(3), score Nullable(Float64))"
            " ENGINE = MergeTree ORDER BY id"
        )
    return "events"


def psql(port, database, command):
    binary = shutil.which("psql")
    if binary is None:
        pytest.fail("psql is not installed (server/tests/clients/run.sh installs postgresql-client)")
    result = subprocess.run(
        [binary, "-X", "-A", "-F", "|", "-h", "127.0.0.1", "-p", str(port), "-U", "default", "-d", database, "-c", command],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "PGCONNECT_TIMEOUT": "10"},
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_psql_lists_the_tables_of_the_current_database(port, database, table):
    lines = psql(port, database, "\\dt")
    assert lines[:2] == ["List of relations", "Schema|Name|Type|Owner"]
    assert f"{database}|{table}|table|default" in lines


def test_psql_describes_a_table(port, database, table):
    lines = psql(port, database, f"\\d {table}")
    assert lines == [
        f'Table "{database}.{table}"',
        "Column|Type|Collation|Nullable|Default",
        "id|numeric(20,0)||not null|",
        "name|text||not null|'anon'",
        "at|timestamp(3) without time zone||not null|",
        "score|double precision|||",
        "Indexes:",
        f'    "{table}_pkey" PRIMARY KEY, mergetree (id)',
    ]
    missing = subprocess.run(
        ["psql", "-X", "-h", "127.0.0.1", "-p", str(port), "-U", "default", "-d", database, "-c", "\\d nosuch"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert 'Did not find any relation named "nosuch".' in missing.stderr


def test_psql_describes_a_table_verbosely(port, database, table):
    # \d+ reads array(SELECT ... FROM unnest(outer column)) and storage columns.
    lines = psql(port, database, f"\\d+ {table}")
    assert lines == [
        f'Table "{database}.{table}"',
        "Column|Type|Collation|Nullable|Default|Storage|Compression|Stats target|Description",
        "id|numeric(20,0)||not null||main|||",
        "name|text||not null|'anon'|extended|||",
        "at|timestamp(3) without time zone||not null||plain|||",
        "score|double precision||||plain|||",
        "Indexes:",
        f'    "{table}_pkey" PRIMARY KEY, mergetree (id)',
        "Access method: heap",
    ]


def test_psql_lists_schemas_and_databases(port, database, table):
    schemas = psql(port, database, "\\dn")
    assert f"{database}|default" in schemas
    assert "default|default" in schemas
    databases = psql(port, database, "\\l")
    assert any(line.startswith(f"{database}|default|UTF8|") for line in databases), databases


def test_information_schema_describes_columns(port, database, table):
    with psycopg.connect(f"host=127.0.0.1 port={port} user=default dbname={database}") as conn:
        rows = conn.execute(
            "SELECT column_name, data_type, is_nullable, numeric_precision FROM information_schema.columns"
            " WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
            (database, table),
        ).fetchall()
        assert rows == [
            ("id", "numeric", "NO", 20),
            ("name", "text", "NO", None),
            ("at", "timestamp without time zone", "NO", None),
            ("score", "double precision", "YES", 53),
        ]
        tables = conn.execute(
            "SELECT table_name, table_type FROM information_schema.tables WHERE table_schema = %s",
            (database,),
        ).fetchall()
        assert tables == [(table, "BASE TABLE")]


def test_version_names_postgresql_first(port, database):
    with psycopg.connect(f"host=127.0.0.1 port={port} user=default dbname={database}") as conn:
        version = conn.execute("SELECT version()").fetchone()[0]
        assert version.startswith("PostgreSQL 15.0 (Granary "), version
        assert conn.execute("SELECT current_schema()").fetchone() == (database,)


def test_psql_verbose_listings_roles_and_functions(port, database, table):
    with psycopg.connect(f"host=127.0.0.1 port={port} user=default dbname={database}", autocommit=True) as conn:
        conn.execute(f"INSERT INTO {table} (id, name, at) VALUES (1, 'a', now())")
    tables = psql(port, database, "\\dt+")
    row = next(line for line in tables if line.startswith(f"{database}|{table}|table|"))
    size = row.split("|")[6]
    assert size.endswith(" bytes") and int(size.split()[0]) > 0, row
    databases = psql(port, database, "\\l+")
    assert any(line.startswith(f"{database}|default|UTF8|") and "|pg_default|" in line for line in databases)
    assert "default|Superuser, Create role, Create DB, Bypass RLS|" in psql(port, database, "\\du")
    assert psql(port, database, "\\df")[-1] == "(0 rows)"
