"""Dashboard-style concurrency on the loaded `hits` table: N clients, each on its own connection,
send a key-range aggregate back to back for a fixed time, over PostgreSQL's protocol (psycopg)
and over ClickHouse's native protocol (Granary's Python SDK). Prints JSON: per protocol and
client count, queries per second and latency percentiles (ms).

    python concurrency.py --pg HOST:PORT --native HOST:PORT --clients 1,4,16 --seconds 10

The query is one a dashboard's time chart sends: one counter's page views and distinct users per
day over a week, the counter drawn from the 50 largest and the week from July 2013, with a seeded
generator per client so that runs repeat. Both client libraries release the GIL while they wait on
the network, so Python threads do not serialize the clients.
"""

import argparse
import datetime as dt
import json
import random
import sys
import threading
import time

DASHBOARD = (
    "SELECT EventDate, count(*) AS PageViews, count(DISTINCT UserID) AS Users FROM hits "
    "WHERE CounterID = {counter} AND EventDate >= '{start}' AND EventDate <= '{end}' "
    "GROUP BY EventDate ORDER BY EventDate"
)
TOP_COUNTERS = "SELECT CounterID FROM hits GROUP BY CounterID ORDER BY count(*) DESC, CounterID LIMIT 50"


def queries(seed, counters):
    rng = random.Random(seed)
    while True:
        start = dt.date(2013, 7, 1) + dt.timedelta(days=rng.randrange(0, 25))
        yield DASHBOARD.format(counter=rng.choice(counters), start=start,
                               end=start + dt.timedelta(days=6))


def pg_session(address):
    import psycopg

    host, port = address.rsplit(":", 1)
    connection = psycopg.connect(f"host={host} port={port} user=default dbname=default",
                                 autocommit=True)

    def run(sql):
        with connection.cursor() as cursor:
            cursor.execute(sql)
            return cursor.fetchall()

    return run, connection.close


def native_session(address):
    import granary

    host, port = address.rsplit(":", 1)
    client = granary.Client(host, int(port))
    return client.query_rows, client.close


SESSIONS = {"pgwire": pg_session, "native": native_session}


def percentile(sorted_values, fraction):
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, max(0, round(fraction * (len(sorted_values) - 1))))
    return sorted_values[index]


def measure(protocol, address, clients, seconds, counters):
    """`clients` threads sending dashboard queries for `seconds`; their latencies pooled."""
    latencies, errors, lock = [], [], threading.Lock()
    ready = threading.Barrier(clients + 1)
    stop_at = [0.0]

    def client(index):
        run, close = SESSIONS[protocol](address)
        mine = []
        stream = queries(index, counters)
        ready.wait()
        try:
            while time.perf_counter() < stop_at[0]:
                sql = next(stream)
                started = time.perf_counter()
                rows = run(sql)
                mine.append(time.perf_counter() - started)
                assert rows, sql  # every counter of the 50 has rows in every week
        except Exception as error:  # reported, the other clients go on
            with lock:
                errors.append(f"{type(error).__name__}: {error}")
        finally:
            close()
            with lock:
                latencies.extend(mine)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    stop_at[0] = time.perf_counter() + seconds + 3600  # until the barrier opens
    ready.wait()
    started = time.perf_counter()
    stop_at[0] = started + seconds
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    latencies.sort()
    ms = lambda v: None if v is None else round(v * 1000, 2)  # noqa: E731
    return {
        "protocol": protocol, "clients": clients, "queries": len(latencies),
        "seconds": round(elapsed, 2), "qps": round(len(latencies) / elapsed, 1),
        "p50_ms": ms(percentile(latencies, 0.50)), "p95_ms": ms(percentile(latencies, 0.95)),
        "p99_ms": ms(percentile(latencies, 0.99)), "errors": errors[:5],
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pg", required=True)
    parser.add_argument("--native", required=True)
    parser.add_argument("--clients", default="1,4,16")
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    run, close = native_session(args.native)
    counters = [row[0] for row in run(TOP_COUNTERS)]
    close()
    results = []
    for clients in [int(c) for c in args.clients.split(",") if c]:
        for protocol, address in (("pgwire", args.pg), ("native", args.native)):
            result = measure(protocol, address, clients, args.seconds, counters)
            results.append(result)
            print(json.dumps(result), file=sys.stderr, flush=True)
    print(json.dumps({"query": DASHBOARD, "results": results}))


if __name__ == "__main__":
    main()
