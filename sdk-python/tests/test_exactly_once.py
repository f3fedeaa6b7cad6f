"""Exactly-once inserts through a proxy that cuts connections at random points: in the middle of a
block on its way to the server, or after the server has written a block but before its answer
reaches the client. Every trial ends with exactly the rows that were sent."""
import random
import socket
import threading

import numpy as np
import pyarrow as pa

import granary


class CuttingProxy:
    """Forwards connections to the server; the first `cuts` connections are cut, each at a random
    point of the client's bytes (so inside a Query or a block) or of the server's answers."""

    def __init__(self, upstream, cuts, seed, up_span, down_span):
        self.upstream = upstream
        self.random = random.Random(seed)
        self.cuts = cuts
        self.spans = {"up": up_span, "down": down_span}
        self.connections = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.address = self.listener.getsockname()
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self):
        self.listener.close()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
                cut = None
                if self.connections <= self.cuts:
                    # Which direction, and after how many of its bytes.
                    direction = self.random.choice(["up", "down"])
                    cut = (direction, self.random.randrange(1, self.spans[direction]))
            server = socket.create_connection(self.upstream)
            for source, target, direction in ((client, server, "up"), (server, client, "down")):
                limit = cut[1] if cut and cut[0] == direction else None
                threading.Thread(target=self._pump, args=(source, target, client, server, limit), daemon=True).start()

    @staticmethod
    def _pump(source, target, client, server, limit):
        passed = 0
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if limit is not None and passed + len(data) >= limit:
                    target.sendall(data[: limit - passed])
                    break
                target.sendall(data)
                passed += len(data)
        except OSError:
            pass
        for end in (client, server):
            try:
                end.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            end.close()


def test_inserts_land_exactly_once_through_random_cuts(server, client):
    client.execute("CREATE TABLE once (trial UInt32, k UInt64, v Float64) ENGINE = MergeTree ORDER BY (trial, k)")
    rows = 60_000
    block_rows = 5_000  # 12 blocks, about 100 KB each uncompressed
    trials = 20
    connections = attempts = 0
    for trial in range(trials):
        table = pa.table(
            {
                "trial": pa.array(np.full(rows, trial, dtype=np.uint32)),
                "k": pa.array(np.arange(rows, dtype=np.uint64)),
                "v": pa.array(np.random.default_rng(trial).random(rows)),
            }
        )
        # Up: 20 bytes a row; down: a few hundred bytes of answers per block.
        proxy = CuttingProxy(server, cuts=3, seed=trial, up_span=rows * 20, down_span=2_000)
        try:
            with granary.Client(*proxy.address, database=client_database(client), compression=None, retries=10) as flaky:
                result = flaky.insert("once", table, dedup_token=f"trial-{trial}", block_rows=block_rows)
        finally:
            proxy.close()
        assert result.rows == rows
        connections += proxy.connections
        attempts += result.attempts
        got = client.query_rows(f"SELECT count(), uniqExact(k) FROM once WHERE trial = {trial}")
        assert got == [(rows, rows)], f"trial {trial}: {got} after {proxy.connections} connections"
    assert client.query_rows("SELECT count() FROM once") == [(rows * trials,)]
    # The proxies did cut, and the client went on after each cut.
    print(f"{trials} trials, {connections} connections, {attempts} attempts")
    assert attempts > 2 * trials
    assert connections >= attempts


def test_a_repeated_call_with_the_same_token_writes_nothing(client):
    client.execute("CREATE TABLE repeat (k UInt64) ENGINE = MergeTree ORDER BY k")
    table = pa.table({"k": pa.array(np.arange(10_000, dtype=np.uint64))})
    first = client.insert("repeat", table, dedup_token="job-7", block_rows=3_000)
    again = client.insert("repeat", table, dedup_token="job-7", block_rows=3_000)
    assert (first.blocks, again.blocks, first.token, again.token) == (4, 4, "job-7", "job-7")
    assert client.query_rows("SELECT count() FROM repeat") == [(10_000,)]
    # Without a token, every call is new data.
    client.insert("repeat", table)
    client.insert("repeat", table)
    assert client.query_rows("SELECT count() FROM repeat") == [(30_000,)]


def client_database(client):
    return client.query_rows("SELECT currentDatabase()")[0][0]
