"""Users and passwords as clients meet them (run.sh configures the server's users): SCRAM-SHA-256
through libpq (psycopg) and asyncpg's own implementation, 28P01 for a wrong or missing password,
28000 for an unknown user, 25006 for writes by a read-only user."""
import asyncio

import asyncpg
import psycopg
import pytest
from psycopg import errors


def test_scram_password_through_libpq(port, database):
    with psycopg.connect(f"host=127.0.0.1 port={port} user=alice password=pencil dbname={database}") as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
        assert conn.pgconn.used_password
    for password in ("wrong", "pencil2"):
        with pytest.raises(psycopg.OperationalError, match='password authentication failed for user "alice"'):
            psycopg.connect(f"host=127.0.0.1 port={port} user=alice password='{password}' dbname={database}")


def test_scram_password_through_asyncpg(port, database):
    async def run():
        conn = await asyncpg.connect(host="127.0.0.1", port=port, user="alice", password="pencil", database=database)
        try:
            assert await conn.fetchval("SELECT 40 + 2") == 42
        finally:
            await conn.close()
        with pytest.raises(asyncpg.InvalidPasswordError):
            await asyncpg.connect(host="127.0.0.1", port=port, user="alice", password="nope", database=database)

    asyncio.run(run())


def test_unknown_user_is_refused(port, database):
    with pytest.raises(psycopg.OperationalError, match='role "mallory" does not exist'):
        psycopg.connect(f"host=127.0.0.1 port={port} user=mallory dbname={database}")


def test_read_only_user_reads_but_cannot_write(port, database):
    with psycopg.connect(f"host=127.0.0.1 port={port} user=default dbname={database}", autocommit=True) as conn:
        conn.execute("CREATE TABLE guarded (id UInt32) ENGINE = MergeTree ORDER BY id")
        conn.execute("INSERT INTO guarded VALUES (1)")
    with psycopg.connect(f"host=127.0.0.1 port={port} user=reader dbname={database}", autocommit=True) as conn:
        assert conn.execute("SELECT count() FROM guarded").fetchone()[0] == 1
        for statement in (
            "INSERT INTO guarded VALUES (2)",
            "CREATE TABLE other (id UInt32) ENGINE = MergeTree ORDER BY id",
            "DROP TABLE guarded",
            "SET readonly = 0",
        ):
            with pytest.raises(errors.ReadOnlySqlTransaction):
                conn.execute(statement)
        with pytest.raises(errors.ReadOnlySqlTransaction):
            with conn.cursor().copy("COPY guarded FROM STDIN") as copy:
                copy.write("3\n")
        assert conn.execute("SELECT count() FROM guarded").fetchone()[0] == 1
