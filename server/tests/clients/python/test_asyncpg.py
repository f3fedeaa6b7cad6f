"""asyncpg against granary-server: it takes parameter types from the server's description and
sends and reads every value in binary; cursors inside a transaction; 20 connections at once."""
import asyncio
import datetime
import decimal
import uuid

import asyncpg
import pytest


def run(coroutine):
    return asyncio.run(coroutine)


async def connect(port, database):
    return await asyncpg.connect(host="127.0.0.1", port=port, user="default", database=database)


def test_binary_parameters_typed_by_their_columns(port, database):
    async def body():
        conn = await connect(port, database)
        await conn.execute(
            "CREATE TABLE a (id Int32, big Int64, f Float64, s String, d Date, ts DateTime64(6),"
            " b Bool, n Nullable(Int32), u UInt64, id2 UUID) ENGINE = MergeTree ORDER BY id"
        )
        values = (
            7,
            2**53 + 1,
            2.5,
            "x",
            datetime.date(2020, 1, 1),
            datetime.datetime(2020, 1, 1, 1, 1, 1, 5),
            False,
            None,
            decimal.Decimal(12345678901234567890),
            uuid.UUID("61f0c404-5cb3-11e7-907b-a6006ad3dba0"),
        )
        await conn.execute("INSERT INTO a VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)", *values)
        await conn.executemany("INSERT INTO a (id, s) VALUES ($1, $2)", [(100 + i, str(i)) for i in range(5)])
        row = await conn.fetchrow("SELECT * FROM a WHERE id = $1", 7)
        assert tuple(row) == values
        assert await conn.fetchval("SELECT count(*) FROM a WHERE s >= $1", "0") == 6
        await conn.close()

    run(body())


def test_cursors_fetch_in_batches_inside_a_transaction(port, database):
    async def body():
        conn = await connect(port, database)
        async with conn.transaction():
            seen = 0
            async for record in conn.cursor("SELECT number FROM numbers(50000)", prefetch=1000):
                assert record["number"] == seen
                seen += 1
            assert seen == 50000
        await conn.close()

    run(body())


def test_errors_and_twenty_concurrent_connections(port, database):
    async def one(index):
        conn = await connect(port, database)
        with pytest.raises(asyncpg.PostgresSyntaxError):
            await conn.fetch("SELEC 1")
        total = await conn.fetchval("SELECT sum(number) FROM numbers(2000) WHERE number < $1", 1000 + index)
        await conn.close()
        return total

    async def body():
        totals = await asyncio.gather(*(one(index) for index in range(20)))
        assert totals == [(n - 1) * n // 2 for n in range(1000, 1020)]

    run(body())


def test_a_timeout_cancels_the_query_on_the_server(port, database):
    async def body():
        conn = await connect(port, database)
        with pytest.raises(asyncio.TimeoutError):
            await conn.fetchval("SELECT sum(number) FROM numbers(100000000000)", timeout=0.3)
        # asyncpg sent a cancel request; the connection serves the next query.
        assert await conn.fetchval("SELECT 40 + 2") == 42
        await conn.close()

    run(body())


def test_arrays_of_any_element_type_in_and_out(port, database):
    # asyncpg knows only oid[] and text[] by itself: for int4[], float8[] and date[] it runs its
    # type introspection query (a recursive CTE with correlated subqueries, current_setting and
    # set_config) against the server's catalogs.
    async def body():
        conn = await connect(port, database)
        await conn.execute(
            "CREATE TABLE arrays (id UInt32, xs Array(Int32), fs Array(Float64), ds Array(Date))"
            " ENGINE = MergeTree ORDER BY id"
        )
        rows = [
            (1, [1, 2, 3], [1.5], []),
            (2, [], [], [datetime.date(2024, 1, 2)]),
        ]
        await conn.executemany("INSERT INTO arrays VALUES ($1, $2, $3, $4)", rows)
        fetched = await conn.fetch("SELECT id, xs, fs, ds FROM arrays ORDER BY id")
        assert [tuple(row) for row in fetched] == rows
        assert await conn.fetchval("SELECT [[1, 2], [3, 4]]") == [[1, 2], [3, 4]]
        assert await conn.fetchval("SELECT id FROM arrays WHERE xs = $1", [1, 2, 3]) == 1
        await conn.close()

    run(body())
