"""Fixtures of the Python client tests: the running granary-server (GRANARY_PG_PORT for pgwire,
GRANARY_NATIVE_PORT for the native protocol) and a fresh database per test module."""
import os
import uuid

import psycopg
import pytest


@pytest.fixture(scope="session")
def port():
    value = os.environ.get("GRANARY_PG_PORT")
    if not value:
        pytest.fail("GRANARY_PG_PORT is not set: run server/tests/clients/run.sh")
    return int(value)


@pytest.fixture(scope="session")
def native_port():
    value = os.environ.get("GRANARY_NATIVE_PORT")
    if not value:
        pytest.fail("GRANARY_NATIVE_PORT is not set: run server/tests/clients/run.sh")
    return int(value)


@pytest.fixture(scope="module")
def database(port):
    name = "py_" + uuid.uuid4().hex[:12]
    with psycopg.connect(f"host=127.0.0.1 port={port} user=default dbname=default", autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    yield name
    with psycopg.connect(f"host=127.0.0.1 port={port} user=default dbname=default", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name}")


@pytest.fixture
def dsn(port, database):
    return f"host=127.0.0.1 port={port} user=default dbname={database}"
