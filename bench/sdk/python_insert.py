"""The Python SDK's insert benchmark: one pyarrow table of ROWS rows x 10 columns (the columns of
bench/native), inserted into a MergeTree table by

  granary            Granary's Python SDK into granary-server (blocks of 1 048 576 rows, LZ4)
  chdb               chDB (ClickHouse in-process) into its own MergeTree, from the same table
                     (`INSERT ... SELECT * FROM Python(table)`)
  clickhouse-driver  into granary-server, in its NumPy mode from a DataFrame of the same table
                     (converted before the clock starts; LZ4)

Each row count is checked after the insert. Prints one JSON object per engine.
Usage: python_insert.py HOST:PORT ROWS CHDB_DIR
"""
import json
import sys
import time

import numpy as np
import pyarrow as pa

TABLE = "bench_sdk_insert"
COLUMNS = ("id UInt64, user_id UInt32, ts DateTime, event LowCardinality(String), url String, "
           "duration Float64, score Float32, status UInt16, country String, flag UInt8")
EVENTS = np.array(["view", "click", "scroll", "play", "pause", "seek", "share", "close"])
COUNTRIES = np.array(["US", "DE", "FR", "JP", "BR", "IN"])
STATUS = np.array([200, 200, 200, 301, 404, 500], dtype=np.uint16)
URLS = np.array([f"https://example.com/page/{i}" for i in range(1000)])


def table(rows):
    ids = np.arange(rows, dtype=np.uint64)
    return pa.table({
        "id": ids,
        "user_id": (ids * 7919 % 100_003).astype(np.uint32),
        "ts": pa.array((1_700_000_000 + ids // 10).astype("datetime64[s]")),
        "event": pa.array(EVENTS[ids % 8]).dictionary_encode(),
        "url": pa.array(URLS[ids % 1000]),
        "duration": (ids % 10_000) / 8.0,
        "score": ((ids % 100) / 4.0).astype(np.float32),
        "status": STATUS[ids % 6],
        "country": pa.array(COUNTRIES[ids % 6]),
        "flag": (ids % 2).astype(np.uint8),
    })


def report(engine, rows, nbytes, seconds):
    print(json.dumps({
        "engine": engine, "rows": rows, "arrow_bytes": nbytes, "seconds": round(seconds, 3),
        "rows_per_second": round(rows / seconds), "mb_per_second": round(nbytes / 1e6 / seconds, 1),
    }), flush=True)


def granary_sdk(host, port, data):
    import granary

    with granary.Client(host, port) as client:
        client.execute(f"DROP TABLE IF EXISTS {TABLE}")
        client.execute(f"CREATE TABLE {TABLE} ({COLUMNS}) ENGINE = MergeTree ORDER BY id")
        started = time.perf_counter()
        client.insert(TABLE, data)
        seconds = time.perf_counter() - started
        assert client.query_rows(f"SELECT count() FROM {TABLE}") == [(data.num_rows,)]
    return seconds


def chdb_session(path, data):
    from chdb import session

    chdb = session.Session(path)
    chdb.query("CREATE DATABASE IF NOT EXISTS bench")
    chdb.query(f"DROP TABLE IF EXISTS bench.{TABLE}")
    chdb.query(f"CREATE TABLE bench.{TABLE} ({COLUMNS}) ENGINE = MergeTree ORDER BY id")
    arrow_table = data  # noqa: F841 (named in the query below)
    started = time.perf_counter()
    chdb.query(f"INSERT INTO bench.{TABLE} SELECT * FROM Python(arrow_table)")
    seconds = time.perf_counter() - started
    count = chdb.query(f"SELECT count() FROM bench.{TABLE}", "CSV").data().strip()
    assert int(count) == data.num_rows, count
    return seconds


def clickhouse_driver(host, port, data):
    import pandas
    from clickhouse_driver import Client

    client = Client(host, port=port, compression="lz4", settings={"use_numpy": True})
    client.execute(f"DROP TABLE IF EXISTS {TABLE}")
    client.execute(f"CREATE TABLE {TABLE} ({COLUMNS}) ENGINE = MergeTree ORDER BY id")
    frame = data.to_pandas()
    # Its NumPy mode takes text as object arrays (not pandas 3's string dtype).
    for name in ("event", "url", "country"):
        frame[name] = pandas.Series(frame[name].astype(str).to_numpy(dtype=object), dtype=object)
    started = time.perf_counter()
    client.insert_dataframe(f"INSERT INTO {TABLE} VALUES", frame)
    seconds = time.perf_counter() - started
    assert client.execute(f"SELECT count() FROM {TABLE}") == [(data.num_rows,)]
    client.disconnect()
    return seconds


def main():
    host, port = sys.argv[1].rsplit(":", 1)
    rows = int(sys.argv[2])
    data = table(rows)
    nbytes = data.nbytes
    report("granary", rows, nbytes, granary_sdk(host, int(port), data))
    report("chdb", rows, nbytes, chdb_session(sys.argv[3], data))
    report("clickhouse-driver", rows, nbytes, clickhouse_driver(host, int(port), data))


if __name__ == "__main__":
    main()
