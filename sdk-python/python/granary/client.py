"""The ``Client`` class: connection options, input conversion to Arrow, result shapes, progress."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Callable, NamedTuple, Optional, Union

import pyarrow as pa

from . import _granary, _values

#: ClickHouse's ``max_insert_block_size``: rows per block (one part on the server) by default.
BLOCK_ROWS = 1_048_576

Progress = Union[bool, Callable[[dict], Any], None]


class InsertResult(NamedTuple):
    """What an insert sent: rows, blocks (one part each), tries, and the token it used."""

    rows: int
    blocks: int
    attempts: int
    token: str


class Client:
    """A connection to a Granary (or ClickHouse) server's native protocol port.

    ``compression`` is ``"lz4"`` (the default), ``"zstd"`` or ``None``. Connection failures
    are retried ``retries`` times in all, with backoff; inserts are retried block by block with
    the same deduplication token, so a retried insert never doubles data. One call runs at a time
    per client; use one client per thread. Use it as a context manager, or call :meth:`close`.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 9000,
        *,
        user: str = "default",
        password: str = "",
        database: str = "",
        compression: Optional[str] = "lz4",
        connect_timeout: float = 10.0,
        receive_timeout: float = 300.0,
        retries: int = 5,
        block_rows: int = BLOCK_ROWS,
    ) -> None:
        self.block_rows = block_rows
        self._connection: Optional[_granary.Connection] = _granary.Connection(
            host,
            port,
            user,
            password,
            database,
            compression,
            connect_timeout,
            receive_timeout,
            retries,
        )

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def close(self) -> None:
        """Closes the connection; the client cannot be used afterwards."""
        self._connection = None

    @property
    def _open(self) -> _granary.Connection:
        if self._connection is None:
            raise _granary.Error("the client is closed")
        return self._connection

    def server_info(self) -> dict:
        """The server's name, version, revision and time zone."""
        return self._open.server_info()

    def ping(self) -> None:
        """Checks that the server answers."""
        self._open.ping()

    def execute(
        self,
        sql: str,
        *,
        settings: Optional[Mapping[str, Any]] = None,
        parameters: Optional[Mapping[str, Any]] = None,
        query_id: Optional[str] = None,
    ) -> dict:
        """Runs a statement, dropping any rows; returns the progress totals (rows read/written)."""
        return self._open.execute(sql, _dict(settings), _dict(parameters), query_id)

    def insert(
        self,
        table: str,
        data: Any,
        *,
        dedup_token: Optional[str] = None,
        block_rows: Optional[int] = None,
        settings: Optional[Mapping[str, Any]] = None,
        progress: Progress = None,
    ) -> InsertResult:
        """Inserts ``data`` into ``table`` exactly once.

        ``data`` is a ``pyarrow.Table``, ``RecordBatch`` or ``RecordBatchReader``, a pandas
        ``DataFrame``, any object with ``__arrow_c_stream__``, or a dict of column name to NumPy
        array or list. Columns are matched by name; the table's other columns take their
        defaults. Arrow data crosses to the client without a copy.

        The rows are sent in blocks of at most ``block_rows`` rows (one part each); block ``n``
        carries the token ``<dedup_token>:<n>``. Calling again with the same token and the same
        rows writes nothing new, so an insert can be repeated after any failure. Without a token
        the client makes one per call (its own retries are then still exactly-once).

        ``progress`` is a callable given a dict (``rows_written``, ``rows_total``,
        ``blocks_written``, ``blocks_total``) after each block, or ``True`` for a tqdm bar.
        """
        stream = self._arrow(table, data)
        callback, done = _progress(progress, "rows_written", "rows_total", "rows")
        try:
            rows, blocks, attempts, token = self._open.insert(
                table,
                stream,
                dedup_token,
                block_rows or self.block_rows,
                _dict(settings),
                callback,
            )
        finally:
            done()
        return InsertResult(rows, blocks, attempts, token)

    def query(
        self,
        sql: str,
        *,
        settings: Optional[Mapping[str, Any]] = None,
        parameters: Optional[Mapping[str, Any]] = None,
        query_id: Optional[str] = None,
        progress: Progress = None,
    ) -> pa.Table:
        """Runs a query and returns its result as a ``pyarrow.Table``.

        ``parameters`` fill the query's ``{name:Type}`` placeholders. ``progress`` is a callable
        given the totals so far (``read_rows``, ``read_bytes``, ...) or ``True`` for a tqdm bar.
        """
        callback, done = _progress(progress, "read_rows", "total_rows_to_read", "rows")
        try:
            return self._open.query(sql, _dict(settings), _dict(parameters), query_id, callback)
        finally:
            done()

    def query_df(self, sql: str, **options: Any):
        """Runs a query and returns its result as a pandas ``DataFrame``."""
        return self.query(sql, **options).to_pandas()

    def query_rows(self, sql: str, **options: Any) -> list:
        """Runs a query and returns its rows as a list of tuples. UUIDs, IP addresses and 128/256-bit
        integers (bytes or ``uint32`` in Arrow) come as ``uuid.UUID``, ``ipaddress`` and ``int``."""
        table = self.query(sql, **options)
        columns = [
            _values.decode(field, column.to_pylist()) for field, column in zip(table.schema, table.columns)
        ]
        return list(zip(*columns)) if columns else []

    def iter_batches(
        self,
        sql: str,
        *,
        settings: Optional[Mapping[str, Any]] = None,
        parameters: Optional[Mapping[str, Any]] = None,
        query_id: Optional[str] = None,
        progress: Optional[Callable[[dict], Any]] = None,
    ) -> "BatchIterator":
        """Runs a query and yields its ``pyarrow.RecordBatch``es as they arrive.

        The result streams: memory holds a few batches, however large the result. Closing the
        iterator (or leaving its ``with`` block) early cancels the query.
        """
        return self._open.iter_batches(sql, _dict(settings), _dict(parameters), query_id, progress)

    def _arrow(self, table: str, data: Any) -> Any:
        """``data`` as an object with ``__arrow_c_stream__``."""
        if isinstance(data, (pa.Table, pa.RecordBatchReader)):
            return data
        if isinstance(data, pa.RecordBatch):
            return pa.Table.from_batches([data])
        if _is_dataframe(data):
            return pa.Table.from_pandas(data, preserve_index=False)
        if isinstance(data, Mapping):
            return self._from_columns(table, data)
        if hasattr(data, "__arrow_c_stream__"):
            return data
        raise TypeError(
            "insert takes a pyarrow Table/RecordBatch/RecordBatchReader, a pandas DataFrame, "
            f"an Arrow stream or a dict of columns, not {type(data).__name__}"
        )

    def _from_columns(self, table: str, columns: Mapping[str, Any]) -> pa.Table:
        """A dict of columns as a table. Lists are converted with the table's column types (so
        that, say, integers above 2**63 fit a UInt64 column, and ``uuid.UUID`` or ``ipaddress``
        values fit UUID and IP columns); arrays keep their own types and are converted by the
        client where no value changes."""
        if not columns:
            raise ValueError("insert of a dict needs at least one column")
        lists = [name for name, values in columns.items() if isinstance(values, (list, tuple))]
        fields = {}
        if lists:
            schema = self._open.query(f"SELECT * FROM {table} LIMIT 0").schema
            fields = {field.name: field for field in schema}
        arrays = {}
        for name, values in columns.items():
            field = fields.get(name) if isinstance(values, (list, tuple)) else None
            if field is None:
                arrays[name] = _array(values, None)
            else:
                arrays[name] = _array(_values.encode(field, list(values)), field.type)
        return pa.table(arrays)


BatchIterator = _granary.BatchIterator


def _array(values: Any, target: Optional[pa.DataType]) -> pa.Array:
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        return values
    if target is not None:
        try:
            return pa.array(values, type=target)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, TypeError):
            pass  # Inferred instead; the client or the server names what does not fit.
    return pa.array(values)


def _dict(mapping: Optional[Mapping[str, Any]]) -> Optional[dict]:
    return None if mapping is None else dict(mapping)


def _is_dataframe(data: Any) -> bool:
    module = type(data).__module__
    return module.startswith("pandas") and type(data).__name__ == "DataFrame"


def _progress(progress: Progress, done_key: str, total_key: str, unit: str):
    """The callback to hand to the client, and what to call when the work ends."""
    if progress is None or progress is False:
        return None, lambda: None
    if progress is True:
        try:
            from tqdm.auto import tqdm
        except ImportError as error:
            raise ImportError("progress=True needs tqdm: pip install 'granary[progress]'") from error
        bar = tqdm(unit=unit, unit_scale=True)

        def update(report: dict) -> None:
            if report.get(total_key):
                bar.total = report[total_key]
            bar.n = report[done_key]
            bar.refresh()

        return update, bar.close
    if callable(progress):
        return progress, lambda: None
    raise TypeError("progress must be a callable, True or None")
