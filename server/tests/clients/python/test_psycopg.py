"""psycopg 3 against granary-server: parameters of every type (text and binary), prepared
statements past the prepare threshold, binary results, server-side streaming, errors."""
import datetime
import decimal

import psycopg
import pytest
from psycopg import errors

ROW = (
    1,
    2**53 + 1,
    1.5,
    "it's",
    datetime.date(2024, 2, 29),
    datetime.datetime(2024, 2, 29, 13, 45, 56, 123456),
    True,
    None,
    18446744073709551615,
)


@pytest.fixture
def conn(dsn):
    with psycopg.connect(dsn, autocommit=True) as conn:
        yield conn


def create_table(conn, name):
    conn.execute(
        f"CREATE TABLE {name} (id Int32, big Int64, f Float64, s String, d Date, ts DateTime64(6),"
        " b Bool, n Nullable(Int32), u UInt64) ENGINE = MergeTree ORDER BY id"
    )


def test_parameters_of_every_type_round_trip(conn):
    create_table(conn, "typed")
    cur = conn.cursor()
    cur.execute("INSERT INTO typed VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)", ROW)
    assert cur.rowcount == 1
    cur.execute("SELECT * FROM typed WHERE id = %s", (1,))
    row = cur.fetchone()
    assert row[:8] == ROW[:8]
    # UInt64 is numeric: exact, a Decimal in Python.
    assert row[8] == decimal.Decimal(ROW[8])
    assert [c.type_code for c in cur.description] == [23, 20, 701, 25, 1082, 1114, 16, 23, 1700]
    binary = conn.cursor(binary=True)
    binary.execute("SELECT * FROM typed WHERE s = %s", ("it's",))
    assert binary.fetchone()[:8] == ROW[:8]


def test_a_bare_null_is_sql_null_in_text_and_binary(conn):
    assert conn.execute("SELECT NULL AS a, 1 AS b").fetchone() == (None, 1)
    assert conn.execute("SELECT NULL AS a, 1 AS b", binary=True).fetchone() == (None, 1)
    catalog = conn.execute("SELECT NULL AS a FROM pg_catalog.pg_namespace LIMIT 1").fetchone()
    assert catalog == (None,)


def test_prepared_statements_are_reused_past_the_threshold(conn):
    create_table(conn, "many")
    cur = conn.cursor()
    cur.executemany(
        "INSERT INTO many (id, s, d) VALUES (%s, %s, %s)",
        [(i, str(i), datetime.date(2024, 1, i)) for i in range(1, 11)],
    )
    for i in range(1, 11):
        cur.execute("SELECT count(*) FROM many WHERE id >= %s", (i,), prepare=i > 5)
        assert cur.fetchone()[0] == 11 - i
    cur.execute("SELECT s FROM many WHERE d = %s", (datetime.date(2024, 1, 7),))
    assert cur.fetchall() == [("7",)]


def test_stream_reads_rows_as_the_server_sends_them(conn):
    total = 0
    count = 0
    for (number,) in conn.cursor().stream("SELECT number FROM numbers(200000)"):
        total += number
        count += 1
    assert count == 200000
    assert total == 199999 * 200000 // 2


def test_errors_carry_their_sqlstate_and_the_connection_stays(conn):
    with pytest.raises(errors.UndefinedTable):
        conn.execute("SELECT * FROM missing")
    with pytest.raises(errors.SyntaxError):
        conn.execute("SELEC 1")
    with pytest.raises(errors.UndefinedColumn):
        conn.execute("SELECT nope FROM numbers(1)")
    assert conn.execute("SELECT %s::String || 'x'", ("a",)).fetchone() == ("ax",)


def test_a_failed_block_refuses_statements_until_rollback(dsn):
    with psycopg.connect(dsn) as conn:
        with pytest.raises(errors.UndefinedTable):
            conn.execute("SELECT * FROM missing")
        with pytest.raises(errors.InFailedSqlTransaction):
            conn.execute("SELECT 1")
        conn.rollback()
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_cancel_stops_a_long_query_and_the_connection_stays(conn):
    import threading
    import time

    def cancel_soon():
        time.sleep(0.3)
        conn.cancel_safe()

    canceller = threading.Thread(target=cancel_soon)
    canceller.start()
    started = time.monotonic()
    with pytest.raises(errors.QueryCanceled):
        conn.execute("SELECT sum(number) FROM numbers(100000000000)")
    canceller.join()
    assert time.monotonic() - started < 10
    assert conn.execute("SELECT 1").fetchone() == (1,)


@pytest.mark.parametrize("binary", [False, True])
def test_arrays_maps_and_tuples_arrive_as_lists_and_json(conn, binary):
    conn.execute(
        "CREATE TABLE IF NOT EXISTS composite (id UInt32, tags Array(String), nums Array(Nullable(Int32)),"
        " days Array(Date), attrs Map(String, UInt64)) ENGINE = MergeTree ORDER BY id"
    )
    conn.execute("TRUNCATE TABLE composite")
    conn.execute("INSERT INTO composite SELECT 1, ['a', 'b c', '', 'NULL'], [1, NULL], [toDate('2024-02-29')], map('x', 1)")
    row = conn.execute(
        "SELECT tags, nums, days, attrs, [[1, 2], [3, 4]], (1, 'a'), [] FROM composite", binary=binary
    ).fetchone()
    assert row == (
        ["a", "b c", "", "NULL"],
        [1, None],
        [datetime.date(2024, 2, 29)],
        {"x": 1},
        [[1, 2], [3, 4]],
        [1, "a"],
        [],
    )
    with pytest.raises(errors.ArraySubscriptError):
        conn.execute("SELECT [[1], [2, 3]]", binary=binary).fetchall()


@pytest.mark.parametrize("binary", [False, True])
def test_list_parameters_are_arrays(conn, binary):
    conn.execute(
        "CREATE TABLE IF NOT EXISTS listed (id UInt32, tags Array(String), nums Array(Nullable(Int32)))"
        " ENGINE = MergeTree ORDER BY id"
    )
    conn.execute("TRUNCATE TABLE listed")
    rows = [(1, ["a", "b c", "it's", "", "NULL"], [1, None]), (2, [], [])]
    for row in rows:
        conn.execute("INSERT INTO listed VALUES (%s, %s, %s)", row, binary=binary)
    assert conn.execute("SELECT id, tags, nums FROM listed ORDER BY id").fetchall() == rows
    found = conn.execute("SELECT id FROM listed WHERE hasAny(tags, %s::Array(String))", (["zzz", "b c"],), binary=binary)
    assert found.fetchall() == [(1,)]

