"""generate.py: the data is the schema of create.sql, repeatable, and shaped as the queries need."""

import os
import sys

import pyarrow.compute as pc
import pyarrow.parquet as pq

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import generate  # noqa: E402


def test_same_seed_same_rows_and_create_sql_schema(tmp_path):
    first, second, other = (tmp_path / "a.parquet", tmp_path / "b.parquet", tmp_path / "c.parquet")
    schema = generate.generate(20_000, str(first), seed=3)
    generate.generate(20_000, str(second), seed=3)
    generate.generate(20_000, str(other), seed=4)
    a, b, c = (pq.read_table(p) for p in (first, second, other))
    assert a.schema.equals(schema) and len(schema) == 105 and a.num_rows == 20_000
    assert schema.names[:5] == ["WatchID", "JavaEnable", "Title", "GoodEvent", "EventTime"]
    assert a.equals(b)
    assert not a.equals(c)


def test_shapes_the_queries_rely_on(tmp_path):
    path = tmp_path / "hits.parquet"
    generate.generate(50_000, str(path), seed=1)
    t = pq.read_table(path)
    times = t.column("EventTime").cast("int64").to_numpy()
    # The first 1 000 rows are the month's earliest events, each at its own second.
    early = times[: generate.EARLY_ROWS]
    assert len(set(early)) == generate.EARLY_ROWS
    assert early.max() < times[generate.EARLY_ROWS:].min()
    # Counter 62 is the heaviest; query 20's user, 41's referer hash and 42's URL hash occur.
    counters = pc.value_counts(t.column("CounterID")).to_pylist()
    assert max(counters, key=lambda v: v["counts"])["values"] == 62
    assert generate.SEARCHED_USER in t.column("UserID").to_pylist()
    assert generate.EMPTY_REFERER_HASH in set(t.column("RefererHash").to_pylist())
    assert generate.HOME_URL_HASH in set(t.column("URLHash").to_pylist())
    # A referer's hash is its text's: equal Referer, equal RefererHash.
    pairs = set(zip(t.column("Referer").to_pylist(), t.column("RefererHash").to_pylist()))
    assert len(pairs) == len({referer for referer, _ in pairs})
    # Every event is in July 2013.
    dates = t.column("EventDate").to_pylist()
    assert min(dates).isoformat() >= "2013-07-01" and max(dates).isoformat() <= "2013-07-31"
