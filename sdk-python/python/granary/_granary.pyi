"""Type stubs of the native module (Rust, pyo3): the Rust client's connection and errors."""

from typing import Any, Callable, Optional

import pyarrow as pa

__version__: str

class Error(Exception):
    """A Granary client error."""

    code: int
    """ClickHouse's error code (``60`` for ``UNKNOWN_TABLE``)."""
    name: str
    """ClickHouse's name for the code (``"UNKNOWN_TABLE"``), or ``""``."""
    retryable: bool
    """Whether repeating the call could succeed (inserts: with the same token)."""

class ServerError(Error):
    """The server refused the request."""

class RetryableError(Error):
    """The outcome is unknown; repeating the call is safe."""

class ConnectionError(RetryableError):
    """The connection could not be opened or broke."""

class BatchIterator:
    """A running query's record batches; closing it early cancels the query."""

    @property
    def schema(self) -> pa.Schema: ...
    def __iter__(self) -> "BatchIterator": ...
    def __next__(self) -> pa.RecordBatch: ...
    def close(self) -> None: ...
    def __enter__(self) -> "BatchIterator": ...
    def __exit__(self, *exc_info: Any) -> bool: ...

class Connection:
    def __init__(
        self,
        host: str,
        port: int,
        user: str,
        password: str,
        database: str,
        compression: Optional[str],
        connect_timeout: float,
        receive_timeout: float,
        retries: int,
        revision: Optional[int] = None,
    ) -> None: ...
    def insert(
        self,
        table: str,
        data: Any,
        token: Optional[str] = None,
        block_rows: Optional[int] = None,
        settings: Optional[dict] = None,
        progress: Optional[Callable[[dict], Any]] = None,
    ) -> tuple[int, int, int, str]: ...
    def query(
        self,
        sql: str,
        settings: Optional[dict] = None,
        parameters: Optional[dict] = None,
        query_id: Optional[str] = None,
        progress: Optional[Callable[[dict], Any]] = None,
    ) -> pa.Table: ...
    def iter_batches(
        self,
        sql: str,
        settings: Optional[dict] = None,
        parameters: Optional[dict] = None,
        query_id: Optional[str] = None,
        progress: Optional[Callable[[dict], Any]] = None,
    ) -> BatchIterator: ...
    def execute(
        self,
        sql: str,
        settings: Optional[dict] = None,
        parameters: Optional[dict] = None,
        query_id: Optional[str] = None,
    ) -> dict: ...
    def ping(self) -> None: ...
    def server_info(self) -> dict: ...
