"""Users and passwords as clients meet them (run.sh configures the server's users): SCRAM-SHA-256
through libpq (psycopg) and asyncpg's own implementation, 28P01 for a wrong or missing password,
and the same for an unknown user (no answer tells which names exist), 25006 for writes by a
read-only user."""
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


def test_unknown_user_is_refused_as_a_wrong_password_is(port, database):
    answers = []
    for user in ("mallory", "alice"):
        with pytest.raises(psycopg.OperationalError) as refused:
            psycopg.connect(f"host=127.0.0.1 port={port} user={user} password=guess dbname={database}")
        answers.append(str(refused.value).replace(user, "<user>"))
    assert answers[0] == answers[1]
    assert 'password authentication failed for user "<user>"' in answers[0]
    # Without a password the client gives up at the same point for both.
    for user in ("mallory", "alice"):
        with pytest.raises(psycopg.OperationalError, match="no password supplied"):
            psycopg.connect(f"host=127.0.0.1 port={port} user={user} dbname={database}")


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


def test_roles_and_the_session_user_are_the_configured_users(port, database):
    with psycopg.connect(f"host=127.0.0.1 port={port} user=reader dbname={database}") as conn:
        assert conn.execute("SELECT current_user").fetchone() == ("reader",)
        roles = conn.execute("SELECT rolname, rolsuper FROM pg_catalog.pg_roles ORDER BY rolname").fetchall()
        assert roles == [("alice", True), ("default", True), ("reader", False)]
        assert conn.execute("SELECT pg_backend_pid()").fetchone()[0] == conn.info.backend_pid


def test_pg_cancel_backend_stops_another_connections_query(port, database):
    import threading
    import time

    dsn = f"host=127.0.0.1 port={port} user=default dbname={database}"
    with psycopg.connect(dsn, autocommit=True) as victim, psycopg.connect(dsn, autocommit=True) as admin:
        pid = victim.info.backend_pid
        outcome = {}

        def cancel_soon():
            time.sleep(0.3)
            outcome["signalled"] = admin.execute("SELECT pg_cancel_backend(%s)", (pid,)).fetchone()[0]

        canceller = threading.Thread(target=cancel_soon)
        canceller.start()
        with pytest.raises(errors.QueryCanceled):
            victim.execute("SELECT sum(number) FROM numbers(100000000000)")
        canceller.join()
        assert outcome["signalled"] is True
        assert victim.execute("SELECT 1").fetchone() == (1,)
        assert admin.execute("SELECT pg_cancel_backend(999999)").fetchone() == (False,)
        # A read-only user may not cancel another user's query.
        with psycopg.connect(f"host=127.0.0.1 port={port} user=reader dbname={database}") as reader:
            with pytest.raises(psycopg.Error, match="permission denied"):
                reader.execute("SELECT pg_cancel_backend(%s)", (pid,))
