"""Granary's Python client.

Bulk columnar inserts that land exactly once, and queries answered as Arrow, over ClickHouse's
native protocol (Granary's, or a ClickHouse server's). The network, codec, block and retry work
is Granary's Rust client (``granary._granary``); this package turns Python data into Arrow and
Arrow results into what you asked for.

    import granary
    with granary.Client("127.0.0.1", 9000) as client:
        client.execute("CREATE TABLE t (k UInt64, s String) ENGINE = MergeTree ORDER BY k")
        client.insert("t", {"k": [1, 2], "s": ["a", "b"]}, dedup_token="batch-1")
        print(client.query_rows("SELECT * FROM t ORDER BY k"))
"""

from ._granary import ConnectionError, Error, RetryableError, ServerError, __version__
from .client import BatchIterator, Client, InsertResult

__all__ = [
    "BatchIterator",
    "Client",
    "ConnectionError",
    "Error",
    "InsertResult",
    "RetryableError",
    "ServerError",
    "__version__",
]
