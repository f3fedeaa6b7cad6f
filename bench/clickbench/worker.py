"""One engine in a process of its own, driven by run.py over stdin/stdout (one JSON object per
line each way), so that a query past its time limit or a crash costs that engine's process, not
the run.

    python worker.py granary HOST:PORT
    python worker.py chdb SESSION_DIR
    python worker.py duckdb DATABASE_FILE

Requests: {"op": "load", "parquet": PATH}, {"op": "query", "sql": SQL}, {"op": "size"},
{"op": "version"}. Each answer has "ok"; a failure carries "error" (the engine's message). Times
are taken here, around the engine's call only, with the whole answer read (as Arrow).
"""

import datetime as dt
import decimal
import json
import os
import re
import sys
import time

import pyarrow.parquet as pq

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from generate import CREATE_SQL  # noqa: E402


def create_sql():
    return open(CREATE_SQL).read().strip()


def without_comments(sql):
    return re.sub(r"--[^\n]*", "", sql).strip().rstrip(";").strip()


def normalize(value):
    """A value as compare.py compares it: the same whichever engine and Arrow type it came in."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        return int(value.timestamp())
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def rows_of(table):
    columns = [[normalize(v) for v in column.to_pylist()] for column in table.columns]
    return [list(row) for row in zip(*columns)] if columns else []


class Granary:
    """Granary's server through the Python SDK (native protocol, LZ4)."""

    def __init__(self, address):
        import granary

        host, port = address.rsplit(":", 1)
        self.client = granary.Client(host, int(port))
        self.module = granary

    def load(self, parquet):
        self.client.execute("DROP TABLE IF EXISTS hits")
        self.client.execute(create_sql())  # as written: CREATE OR REPLACE, aliases, SETTINGS
        source = pq.ParquetFile(parquet)
        for index in range(source.num_row_groups):
            self.client.insert("hits", source.read_row_group(index))

    def query(self, sql):
        return self.client.query(sql)

    def size(self):
        [(size,)] = self.client.query_rows(
            "SELECT sum(bytes_on_disk) FROM system.parts WHERE table = 'hits' AND active")
        return int(size)

    def version(self):
        return f"Granary {self.module.__version__} (Python SDK over the native protocol)"


class Chdb:
    """ClickHouse in-process (chDB): a MergeTree table in a persistent session directory."""

    def __init__(self, path):
        import chdb
        from chdb import session

        self.chdb = chdb
        self.session = session.Session(path)

    def load(self, parquet):
        self.session.query("DROP TABLE IF EXISTS hits")
        self.session.query(without_comments(create_sql()))
        self.session.query(f"INSERT INTO hits SELECT * FROM file('{parquet}', Parquet)")

    def query(self, sql):
        return self.session.query(sql, "ArrowTable")

    def size(self):
        text = self.session.query(
            "SELECT sum(bytes_on_disk) FROM system.parts WHERE table = 'hits' AND active",
            "CSV").data()
        return int(text.strip())

    def version(self):
        return "chDB " + self.chdb.__version__ + " (ClickHouse " + \
            self.session.query("SELECT version()", "CSV").data().strip().strip('"') + ")"


class DuckDB:
    """DuckDB: a native table in a database file. DuckDB takes create.sql without ClickHouse's
    ENGINE and SETTINGS clauses and without the PRIMARY KEY, which DuckDB would enforce as a
    unique index (ClickHouse's is the sort order, not a constraint)."""

    def __init__(self, path):
        import duckdb

        self.duckdb = duckdb
        self.path = path
        self.connection = duckdb.connect(path)

    def load(self, parquet):
        sql = without_comments(create_sql())
        sql = sql[: sql.index("ENGINE")].strip()
        sql = re.sub(r",\s*PRIMARY KEY \([^)]*\)", "", sql)
        self.connection.execute(sql)
        self.connection.execute(f"INSERT INTO hits SELECT * FROM read_parquet('{parquet}')")
        self.connection.execute("CHECKPOINT")

    def query(self, sql):
        return self.connection.sql(sql).to_arrow_table()

    def size(self):
        return os.path.getsize(self.path)

    def version(self):
        return "DuckDB " + self.duckdb.__version__


ENGINES = {"granary": Granary, "chdb": Chdb, "duckdb": DuckDB}


def serve(engine):
    for line in sys.stdin:
        request = json.loads(line)
        op = request["op"]
        try:
            started = time.perf_counter()
            if op == "load":
                engine.load(request["parquet"])
                answer = {"seconds": time.perf_counter() - started}
            elif op == "query":
                table = engine.query(request["sql"])
                seconds = time.perf_counter() - started
                answer = {"seconds": seconds, "rows": rows_of(table)}
            elif op == "size":
                answer = {"bytes": engine.size()}
            elif op == "version":
                answer = {"version": engine.version()}
            else:
                raise ValueError(f"unknown request {op!r}")
            answer["ok"] = True
        except Exception as error:  # the engine's error, reported to run.py
            answer = {"ok": False, "error": f"{type(error).__name__}: {error}"}
        print(json.dumps(answer), flush=True)


def main():
    name, target = sys.argv[1], sys.argv[2]
    serve(ENGINES[name](target))


if __name__ == "__main__":
    main()
