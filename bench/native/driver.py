"""clickhouse-driver's side of the native-protocol benchmark: the same rows as
bench/src/native.rs, inserted in its columnar mode in blocks of BLOCK_ROWS with LZ4, then
`SELECT *` read back whole in columnar mode (its fastest way). Prints one JSON object per measurement."""
import json
import sys
import time

from clickhouse_driver import Client

TABLE = "bench_native_driver"
COLUMNS = ("id UInt64, user_id UInt32, ts DateTime, event LowCardinality(String), url String, "
           "duration Float64, score Float32, status UInt16, country String, flag UInt8")
EVENTS = ["view", "click", "scroll", "play", "pause", "seek", "share", "close"]
COUNTRIES = ["US", "DE", "FR", "JP", "BR", "IN"]
STATUS = [200, 200, 200, 301, 404, 500]


def columns(rows):
    ids = range(rows)
    return [
        list(ids),
        [i * 7919 % 100_003 for i in ids],
        [1_700_000_000 + i // 10 for i in ids],
        [EVENTS[i % 8] for i in ids],
        [f"https://example.com/page/{i % 1000}" for i in ids],
        [(i % 10_000) / 8.0 for i in ids],
        [(i % 100) / 4.0 for i in ids],
        [STATUS[i % 6] for i in ids],
        [COUNTRIES[i % 6] for i in ids],
        [i % 2 for i in ids],
    ]


def report(measurement, rows, native_bytes, seconds):
    print(json.dumps({
        "client": "clickhouse-driver", "measurement": measurement, "rows": rows,
        "bytes": native_bytes, "seconds": round(seconds, 4),
        "rows_per_second": round(rows / seconds), "mb_per_second": round(native_bytes / 1e6 / seconds, 1),
    }), flush=True)


def main():
    host, port = sys.argv[1].rsplit(":", 1)
    rows, block_rows, native_bytes = (int(value) for value in sys.argv[2:5])
    client = Client(host, port=int(port), compression="lz4",
                    settings={"insert_block_size": block_rows})
    client.execute(f"DROP TABLE IF EXISTS {TABLE}")
    client.execute(f"CREATE TABLE {TABLE} ({COLUMNS}) ENGINE = MergeTree ORDER BY id")
    data = columns(rows)
    started = time.perf_counter()
    client.execute(f"INSERT INTO {TABLE} VALUES", data, columnar=True)
    report("insert", rows, native_bytes, time.perf_counter() - started)
    started = time.perf_counter()
    result = client.execute(f"SELECT * FROM {TABLE}", columnar=True)
    read = len(result[0])
    seconds = time.perf_counter() - started
    assert read == rows, (read, rows)
    report("select", rows, native_bytes, seconds)


if __name__ == "__main__":
    main()
