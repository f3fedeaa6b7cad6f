"""Errors carry ClickHouse's code and name and say whether repeating the call may help; the
client goes on working after each."""
import pyarrow as pa
import pytest

import granary


def test_server_errors_carry_codes(client):
    with pytest.raises(granary.ServerError) as caught:
        client.query("SELECT * FROM no_such_table")
    assert (caught.value.code, caught.value.name, caught.value.retryable) == (60, "UNKNOWN_TABLE", False)
    assert isinstance(caught.value, granary.Error)
    with pytest.raises(granary.ServerError) as caught:
        client.execute("SELEC 1")
    assert (caught.value.code, caught.value.name) == (62, "SYNTAX_ERROR")
    assert client.query_rows("SELECT 1 + 1") == [(2,)]


def test_bad_data_is_refused_and_nothing_lands(client):
    client.execute("CREATE TABLE typed (k UInt32, s String) ENGINE = MergeTree ORDER BY k")
    # A value that does not fit the column: refused by the client before anything is sent.
    with pytest.raises(granary.Error) as caught:
        client.insert("typed", pa.table({"k": pa.array([-1], pa.int64())}))
    assert caught.value.name == "TYPE_MISMATCH"
    # A column the table does not have.
    with pytest.raises(granary.Error) as caught:
        client.insert("typed", pa.table({"nope": [1]}))
    assert caught.value.code in (16, 53)
    # A number where text belongs: refused by the server.
    with pytest.raises(granary.ServerError) as caught:
        client.insert("typed", pa.table({"s": pa.array([1.5])}))
    assert caught.value.name == "TYPE_MISMATCH"
    with pytest.raises(TypeError):
        client.insert("typed", 42)
    assert client.query_rows("SELECT count() FROM typed") == [(0,)]
    client.insert("typed", {"k": [1], "s": ["ok"]})
    assert client.query_rows("SELECT * FROM typed") == [(1, "ok")]


def test_connection_errors_are_retryable(server):
    with pytest.raises(granary.ConnectionError) as caught:
        granary.Client("127.0.0.1", 1, retries=1, connect_timeout=2)
    assert caught.value.retryable
    assert isinstance(caught.value, granary.RetryableError)
    with pytest.raises(granary.ServerError) as caught:
        granary.Client(*server, user="nobody", password="x")
    assert caught.value.name in ("AUTHENTICATION_FAILED", "UNKNOWN_USER", "REQUIRED_PASSWORD")
    with pytest.raises(ValueError):
        granary.Client(*server, compression="snappy")


def test_settings_parameters_and_closing(server, database):
    client = granary.Client(*server, database=database)
    assert client.query_rows("SELECT {n:UInt8} + 1, {s:String}", parameters={"n": 41, "s": "it's"}) == [(42, "it's")]
    # Settings reach the server: a result limit refuses a larger result.
    with pytest.raises(granary.ServerError) as caught:
        client.query("SELECT number FROM numbers(100)", settings={"max_result_rows": 10})
    assert caught.value.name == "TOO_MANY_ROWS_OR_BYTES"
    # An unknown setting is skipped, as ClickHouse does unless a client marks it important.
    assert client.query_rows("SELECT 1", settings={"no_such_setting_at_all": 1}) == [(1,)]
    assert client.server_info()["revision"] >= 54460
    client.ping()
    client.close()
    with pytest.raises(granary.Error):
        client.query("SELECT 1")
