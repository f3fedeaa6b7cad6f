"""The Python clickhouse-driver package over the native protocol: every type Granary stores, in
and out, with and without LZ4/ZSTD block compression; INSERT deduplication by token; settings;
errors with their ClickHouse codes; cancel and timeouts; logins."""
import datetime
import decimal
import ipaddress
import uuid

import pytest
from clickhouse_driver import Client
from clickhouse_driver import errors


@pytest.fixture(params=[False, "lz4", "zstd"], ids=["plain", "lz4", "zstd"])
def client(request, native_port, database):
    client = Client("127.0.0.1", port=native_port, database=database, compression=request.param)
    yield client
    client.disconnect()


@pytest.fixture
def plain(native_port, database):
    client = Client("127.0.0.1", port=native_port, database=database)
    yield client
    client.disconnect()


def table(client, name, columns, order_by="tuple()"):
    client.execute(f"DROP TABLE IF EXISTS {name}")
    client.execute(f"CREATE TABLE {name} ({columns}) ENGINE = MergeTree ORDER BY {order_by}")


ROWS = [
    (
        1, 255, 65535, 4294967295, 18446744073709551615, -128, -32768, -2147483648,
        -9223372036854775808, 2**127 - 1, 1.5, 2.25, True, "héllo", "ab", datetime.date(2024, 2, 29),
        datetime.date(1900, 1, 1), datetime.datetime(2024, 2, 29, 23, 59, 58),
        datetime.datetime(2024, 2, 29, 23, 59, 58, 123000), decimal.Decimal("-12345.67"),
        uuid.UUID("01234567-89ab-cdef-0123-456789abcdef"), ipaddress.IPv4Address("10.1.2.3"),
        ipaddress.IPv6Address("2001:db8::1"), "b", None, [1, 2, 3], ["x", None], "low", ["p", "q"],
        (7, "seven"), {"k": 1, "l": 2},
    ),
    (
        2, 0, 0, 0, 0, 127, 32767, 2147483647, 9223372036854775807, -(2**127), -0.0, 1e300, False,
        "", "xyz", datetime.date(1970, 1, 1), datetime.date(2200, 12, 31),
        datetime.datetime(1970, 1, 2, 0, 0, 0), datetime.datetime(2100, 1, 1, 0, 0, 0, 1000),
        decimal.Decimal("0.01"), uuid.UUID(int=0), ipaddress.IPv4Address("0.0.0.0"),
        ipaddress.IPv6Address("::ffff:1.2.3.4"), "a", 42, [], [], "", [], (0, ""), {},
    ),
]

COLUMNS = """
    id UInt32, u8 UInt8, u16 UInt16, u32 UInt32, u64 UInt64, i8 Int8, i16 Int16, i32 Int32,
    i64 Int64, i128 Int128, f32 Float32, f64 Float64, b Bool, s String, fs FixedString(3), d Date,
    d32 Date32, dt DateTime, dt64 DateTime64(3), dec Decimal(18, 2), id_uuid UUID, v4 IPv4,
    v6 IPv6, e Enum8('a' = 1, 'b' = 2), n Nullable(Int64), arr Array(UInt16),
    arr_n Array(Nullable(String)), lc LowCardinality(String), arr_lc Array(LowCardinality(String)),
    tup Tuple(UInt8, String), m Map(String, UInt64)
"""


def test_every_type_round_trips(client):
    table(client, "every_type", COLUMNS, "id")
    client.execute("INSERT INTO every_type VALUES", ROWS)
    got = client.execute("SELECT * FROM every_type ORDER BY id")
    names = [name.split()[0] for name in COLUMNS.replace("\n", " ").split(", ")]
    for row, expected in zip(got, ROWS):
        assert dict(zip(names, row)) == dict(zip(names, expected))
    assert len(got) == len(ROWS)
    types = dict(client.execute("SELECT name, type FROM system.columns WHERE table = 'every_type'"))
    assert types["lc"] == "LowCardinality(String)"
    assert types["dt64"] == "DateTime64(3)"


def test_columnar_insert_and_typed_results(client):
    table(client, "columnar", "k UInt64, v Float64, s LowCardinality(String)", "k")
    n = 100_000
    columns = [list(range(n)), [i / 2 for i in range(n)], [f"s{i % 7}" for i in range(n)]]
    client.execute("INSERT INTO columnar (k, v, s) VALUES", columns, columnar=True)
    assert client.execute("SELECT count(), sum(k), sum(v), uniqExact(s) FROM columnar") == [
        (n, n * (n - 1) // 2, n * (n - 1) / 4, 7)
    ]
    got = client.execute("SELECT k, s FROM columnar WHERE k < 3 ORDER BY k", columnar=True)
    assert got == [(0, 1, 2), ("s0", "s1", "s2")]
    _, types = client.execute("SELECT k, v, s FROM columnar LIMIT 1", with_column_types=True)
    assert types == [("k", "UInt64"), ("v", "Float64"), ("s", "LowCardinality(String)")]


def test_insert_blocks_each_become_a_part(native_port, database):
    # insert_block_size is clickhouse-driver's own setting: rows per block it sends.
    plain = Client("127.0.0.1", port=native_port, database=database, settings={"insert_block_size": 10})
    table(plain, "blocks", "k UInt64", "k")
    rows = [(i,) for i in range(25)]
    plain.execute("INSERT INTO blocks VALUES", rows)
    assert plain.execute("SELECT count() FROM blocks") == [(25,)]
    assert plain.execute(
        "SELECT count() FROM system.parts WHERE table = 'blocks' AND active"
    ) == [(3,)]


def test_dedup_token_makes_a_retried_insert_a_no_op(plain):
    table(plain, "dedup", "k UInt64, v String", "k")
    rows = [(1, "a"), (2, "b")]
    for _ in range(3):
        plain.execute("INSERT INTO dedup VALUES", rows, settings={"insert_deduplication_token": "batch-1"})
    assert plain.execute("SELECT count() FROM dedup") == [(2,)]
    plain.execute("INSERT INTO dedup VALUES", rows, settings={"insert_deduplication_token": "batch-2"})
    assert plain.execute("SELECT count() FROM dedup") == [(4,)]
    # Without a token, identical blocks are deduplicated by their content only when the table
    # says so (non-replicated MergeTree does not by default): both land.
    plain.execute("INSERT INTO dedup VALUES", rows)
    plain.execute("INSERT INTO dedup VALUES", rows)
    assert plain.execute("SELECT count() FROM dedup") == [(8,)]


def test_large_result_streams_in_blocks(client):
    rows = 0
    last = None
    for row in client.execute_iter("SELECT number, toString(number) FROM numbers(1000000)"):
        rows += 1
        last = row
    assert rows == 1_000_000
    assert last == (999_999, "999999")
    total = client.execute("SELECT sum(number) FROM numbers(1000000)")
    assert total == [(499999500000,)]


def test_progress_reports_rows_read(plain):
    table(plain, "progress", "k UInt64", "k")
    plain.execute("INSERT INTO progress SELECT number FROM numbers(300000)")
    progress = plain.execute_with_progress("SELECT sum(k) FROM progress")
    seen = [rows for rows, _ in progress]
    assert progress.get_result() == [(44999850000,)]
    assert plain.last_query.progress.rows == 300_000
    assert sum(seen) == 0 or max(seen) <= 300_000


def test_query_parameters(plain):
    got = plain.execute("SELECT %(a)s + 1, %(b)s, %(c)s", {"a": 41, "b": "it's", "c": [1, 2]})
    assert got == [(42, "it's", [1, 2])]


def test_errors_carry_clickhouse_codes_and_the_connection_stays_usable(plain):
    cases = [
        ("SELECT * FROM no_such_table", 60),
        ("SELEC 1", 62),
        ("SELECT no_such_function(1)", 46),
        ("SELECT no_such_column FROM system.one", 47),
        ("SELECT 1 + 'a'", 43),
        ("SELECT toUInt8('abc')", 6),
        ("SELECT CAST('x' AS Date)", 38),
    ]
    for sql, code in cases:
        with pytest.raises(errors.ServerException) as raised:
            plain.execute(sql)
        assert raised.value.code == code, (sql, raised.value)
        assert plain.execute("SELECT 1") == [(1,)]


def test_a_failing_insert_block_leaves_nothing_and_the_connection_usable(plain):
    table(plain, "strict", "k UInt64, d Date", "k")
    with pytest.raises(errors.ServerException) as raised:
        plain.execute("INSERT INTO strict (k, nope) VALUES", [(1, 2)])
    assert raised.value.code == 16  # NO_SUCH_COLUMN_IN_TABLE
    with pytest.raises(errors.ServerException) as raised:
        plain.execute("INSERT INTO no_such_table VALUES", [(1,)])
    assert raised.value.code == 60
    assert plain.execute("SELECT count() FROM strict") == [(0,)]
    plain.execute("INSERT INTO strict VALUES", [(1, datetime.date(2024, 1, 1))])
    assert plain.execute("SELECT count() FROM strict") == [(1,)]


def test_settings(plain):
    # Unknown settings are ignored unless flagged important (clickhouse-driver never flags them).
    assert plain.execute("SELECT 1", settings={"no_such_setting": 1}) == [(1,)]
    with pytest.raises(errors.ServerException) as raised:
        plain.execute("SELECT number FROM numbers(100000)", settings={"max_result_rows": 10})
    assert raised.value.code == 396  # TOO_MANY_ROWS_OR_BYTES
    with pytest.raises(errors.ServerException) as raised:
        plain.execute("SELECT count() FROM numbers(100000000000)", settings={"max_execution_time": 1})
    assert raised.value.code == 159  # TIMEOUT_EXCEEDED
    assert plain.execute("SELECT 2") == [(2,)]


def test_cancel_stops_a_running_query(plain):
    rows = 0
    for _ in plain.execute_iter("SELECT number FROM numbers(100000000000)"):
        rows += 1
        if rows == 100_000:
            break
    plain.cancel()
    assert plain.execute("SELECT 3") == [(3,)]


def test_logins(native_port, database):
    with pytest.raises(errors.ServerException) as raised:
        Client("127.0.0.1", port=native_port, user="alice", password="wrong").execute("SELECT 1")
    assert raised.value.code == 516  # AUTHENTICATION_FAILED
    alice = Client("127.0.0.1", port=native_port, user="alice", password="pencil", database=database)
    assert alice.execute("SELECT currentDatabase()") == [(database,)]
    with pytest.raises(errors.ServerException) as raised:
        Client("127.0.0.1", port=native_port, database="no_such_database").execute("SELECT 1")
    assert raised.value.code == 81  # UNKNOWN_DATABASE
    reader = Client("127.0.0.1", port=native_port, user="reader", database=database)
    assert reader.execute("SELECT 1") == [(1,)]
    with pytest.raises(errors.ServerException) as raised:
        reader.execute("CREATE TABLE nope (k UInt8) ENGINE = MergeTree ORDER BY k")
    assert raised.value.code == 164  # READONLY


def test_server_identifies_itself(plain):
    plain.connection.force_connect()
    info = plain.connection.server_info
    assert info.name == "ClickHouse"
    assert info.display_name == "granary"
    assert info.timezone == "UTC"
