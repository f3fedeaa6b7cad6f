"""Every type Granary stores goes in through the SDK (from lists, pyarrow and pandas) and comes
back with its value: rows as Python values, tables as Arrow."""
import datetime
import decimal
import ipaddress
import uuid

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import granary

COLUMNS = """
    id UInt32, u8 UInt8, u16 UInt16, u32 UInt32, u64 UInt64, i8 Int8, i16 Int16, i32 Int32,
    i64 Int64, i128 Int128, u256 UInt256, f32 Float32, f64 Float64, b Bool, s String,
    fs FixedString(3), d Date, d32 Date32, dt DateTime, dt64 DateTime64(3), dec Decimal(18, 2),
    id_uuid UUID, v4 IPv4, v6 IPv6, e Enum8('a' = 1, 'b' = 2), n Nullable(Int64),
    ns Nullable(String), arr Array(UInt16), arr_n Array(Nullable(String)), lc LowCardinality(String),
    tup Tuple(UInt8, String), m Map(String, UInt64)
"""
NAMES = [
    "id", "u8", "u16", "u32", "u64", "i8", "i16", "i32", "i64", "i128", "u256", "f32", "f64", "b", "s",
    "fs", "d", "d32", "dt", "dt64", "dec", "id_uuid", "v4", "v6", "e", "n", "ns", "arr", "arr_n", "lc",
    "tup", "m",
]

ROWS = [
    (
        1, 255, 65535, 4294967295, 18446744073709551615, -128, -32768, -2147483648,
        -9223372036854775808, 2**127 - 1, 2**256 - 1, 1.5, 2.25, True, "héllo", b"ab\x00",
        datetime.date(2024, 2, 29), datetime.date(1900, 1, 1), datetime.datetime(2024, 2, 29, 23, 59, 58),
        datetime.datetime(2024, 2, 29, 23, 59, 58, 123000), decimal.Decimal("-12345.67"),
        uuid.UUID("01234567-89ab-cdef-0123-456789abcdef"), ipaddress.IPv4Address("10.1.2.3"),
        ipaddress.IPv6Address("2001:db8::1"), "b", None, "x", [1, 2, 3], ["x", None], "low",
        {"1": 7, "2": "seven"}, [("k", 1), ("l", 2)],
    ),
    (
        2, 0, 0, 0, 0, 127, 32767, 2147483647, 9223372036854775807, -(2**127), 0, -0.0, 1e300, False,
        "", b"xyz", datetime.date(1970, 1, 1), datetime.date(2200, 12, 31),
        datetime.datetime(1970, 1, 2, 0, 0, 0), datetime.datetime(2100, 1, 1, 0, 0, 0, 1000),
        decimal.Decimal("0.01"), uuid.UUID(int=0), ipaddress.IPv4Address("0.0.0.0"),
        ipaddress.IPv6Address("::ffff:1.2.3.4"), "a", 42, None, [], [], "", {"1": 0, "2": ""}, [],
    ),
]


def create(client, name, columns, order_by="tuple()"):
    client.execute(f"DROP TABLE IF EXISTS {name}")
    client.execute(f"CREATE TABLE {name} ({columns}) ENGINE = MergeTree ORDER BY {order_by}")


@pytest.mark.parametrize("compression", [None, "lz4", "zstd"])
def test_every_type_round_trips_from_lists(server, database, compression):
    with granary.Client(*server, database=database, compression=compression) as client:
        create(client, "every_type", COLUMNS, "id")
        columns = {name: [row[index] for row in ROWS] for index, name in enumerate(NAMES)}
        result = client.insert("every_type", columns)
        assert (result.rows, result.blocks, result.attempts) == (2, 1, 1)
        rows = client.query_rows("SELECT * FROM every_type ORDER BY id")
        assert len(rows) == len(ROWS)
        for got, expected in zip(rows, ROWS):
            assert dict(zip(NAMES, got)) == dict(zip(NAMES, expected))
        table = client.query("SELECT * FROM every_type ORDER BY id")
        assert table.schema.field("u64").type == pa.uint64()
        assert table.schema.field("lc").type == pa.dictionary(pa.int32(), pa.string())
        assert table.schema.field("id_uuid").metadata[b"clickhouse.type"] == b"UUID"
        assert table.column("u64").to_pylist() == [18446744073709551615, 0]


def test_pyarrow_tables_go_in_as_they_are(client):
    create(client, "arrow_in", "k UInt64, v Float64, s String, n Nullable(Int32), lc LowCardinality(String)", "k")
    n = 200_000
    table = pa.table(
        {
            "k": pa.array(np.arange(n, dtype=np.uint64)),
            "v": pa.array(np.arange(n, dtype=np.float64) / 4),
            "s": pa.array([f"row {i}" for i in range(n)]),
            "n": pa.array([None if i % 3 == 0 else i for i in range(n)], type=pa.int32()),
            "lc": pa.array([f"c{i % 5}" for i in range(n)]).dictionary_encode(),
        }
    )
    client.insert("arrow_in", table)
    # Also a RecordBatch, and a RecordBatchReader over several batches.
    client.insert("arrow_in", table.slice(0, 10).to_batches()[0])
    client.insert("arrow_in", pa.RecordBatchReader.from_batches(table.schema, table.slice(0, 30).to_batches(max_chunksize=7)))
    assert client.query_rows("SELECT count(), sum(k), sum(v), count(n), uniqExact(lc) FROM arrow_in") == [
        (n + 40, n * (n - 1) // 2 + 45 + 435, n * (n - 1) / 8 + 45 / 4 + 435 / 4, n + 40 - (n // 3 + 1) - 4 - 10, 5)
    ]
    back = client.query("SELECT k, s, n FROM arrow_in WHERE k < 4 ORDER BY k, s LIMIT 4")
    assert back.column("s").to_pylist() == ["row 0", "row 0", "row 0", "row 1"]
    assert back.column("n").to_pylist() == [None, None, None, 1]


def test_pandas_frames_and_numpy_dicts(client):
    create(client, "frames", "k Int64, v Float64, s String, t DateTime64(3), flag Bool", "k")
    frame = pd.DataFrame(
        {
            "k": np.arange(1000, dtype=np.int64),
            "v": np.linspace(0, 1, 1000),
            "s": [f"s{i}" for i in range(1000)],
            "t": pd.date_range("2024-01-01", periods=1000, freq="s"),
            "flag": np.arange(1000) % 2 == 0,
        },
        index=np.arange(5000, 6000),  # the index is not a column
    )
    client.insert("frames", frame)
    client.insert("frames", {"k": np.arange(1000, 1010), "v": np.zeros(10), "s": ["numpy"] * 10})
    got = client.query_df("SELECT k, v, s, t, flag FROM frames WHERE k < 1000 ORDER BY k")
    assert list(got["k"]) == list(range(1000))
    assert got["s"].iloc[999] == "s999"
    assert got["t"].iloc[1] == pd.Timestamp("2024-01-01 00:00:01")
    assert list(got["flag"][:3]) == [True, False, True]
    assert client.query_rows("SELECT count(), countIf(s = 'numpy'), min(t) FROM frames") == [
        (1010, 10, datetime.datetime(1970, 1, 1))
    ]


def test_nulls_and_empty_inserts(client):
    create(client, "nulls", "k UInt64, n Nullable(Float64), s Nullable(String)", "k")
    assert client.insert("nulls", {"k": [], "n": [], "s": []}).rows == 0
    assert client.insert("nulls", pa.table({"k": pa.array([], pa.uint64())})).blocks == 0
    client.insert("nulls", {"k": [1, 2, 3], "n": [None, 1.5, None], "s": [None, None, "x"]})
    assert client.query_rows("SELECT k, n, s FROM nulls ORDER BY k") == [(1, None, None), (2, 1.5, None), (3, None, "x")]
    assert client.query_rows("SELECT count() FROM nulls WHERE n IS NULL") == [(2,)]
    assert client.query("SELECT * FROM nulls WHERE k > 100").num_rows == 0


def test_a_million_rows_in_blocks_with_progress(client):
    create(client, "million", "k UInt64, v Float64, s LowCardinality(String)", "k")
    n = 1_000_000
    table = pa.table(
        {
            "k": np.arange(n, dtype=np.uint64),
            "v": np.random.default_rng(7).random(n),
            "s": pa.array(np.array(["a", "b", "c", "d"])[np.arange(n) % 4]),
        }
    )
    reports = []
    result = client.insert("million", table, block_rows=300_000, progress=reports.append)
    assert (result.rows, result.blocks) == (n, 4)
    assert [report["rows_written"] for report in reports] == [300_000, 600_000, 900_000, n]
    assert all(report["blocks_total"] == 4 for report in reports)
    assert client.query_rows("SELECT count(), uniqExact(k), sum(k) FROM million") == [(n, n, n * (n - 1) // 2)]
    assert client.query_rows("SELECT count() FROM system.parts WHERE table = 'million' AND active AND database = currentDatabase()") == [(4,)]
    # Streaming it back: batches as they come, and progress of the rows read.
    seen = []
    rows = 0
    batches = 0
    with client.iter_batches("SELECT k, s FROM million", progress=seen.append) as stream:
        assert stream.schema.names == ["k", "s"]
        for batch in stream:
            rows += batch.num_rows
            batches += 1
    assert (rows, batches > 1) == (n, True)
    assert seen and seen[-1]["read_rows"] == n
    # An iterator closed early cancels its query; the client goes on.
    stream = client.iter_batches("SELECT * FROM numbers(100000000)")
    next(stream)
    stream.close()
    assert list(stream) == []
    assert client.query_rows("SELECT 1") == [(1,)]


def test_progress_bars_with_tqdm(client, capsys):
    create(client, "bars", "k UInt64", "k")
    table = pa.table({"k": np.arange(50_000, dtype=np.uint64)})
    assert client.insert("bars", table, block_rows=10_000, progress=True).blocks == 5
    assert client.query("SELECT k FROM bars", progress=True).num_rows == 50_000
    bars = capsys.readouterr().err
    assert "50.0k/50.0k" in bars, bars
    with pytest.raises(TypeError):
        client.insert("bars", table, progress="yes")
