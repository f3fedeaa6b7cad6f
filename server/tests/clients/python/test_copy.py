"""COPY ... FROM STDIN through psycopg 3 in text, CSV and binary formats: every row lands, one part
per COPY, bad data fails the whole COPY with its SQLSTATE and the connection goes on; and 20
connections inserting and reading at once."""
import concurrent.futures
import datetime

import psycopg
import pytest
from psycopg import errors

ROWS = [
    (1, "plain", 1.5, datetime.datetime(2024, 2, 29, 13, 45, 56, 123000), True),
    (2, "tab\tnew\nline \\ back", None, datetime.datetime(2024, 3, 1, 0, 0, 0), False),
    (3, "", -0.25, datetime.datetime(1999, 12, 31, 23, 59, 59, 999000), True),
    (4, 'quote " and, comma', 1e300, datetime.datetime(2000, 1, 1), False),
]


@pytest.fixture
def conn(dsn):
    with psycopg.connect(dsn, autocommit=True) as conn:
        yield conn


def create(conn, name):
    conn.execute(
        f"CREATE TABLE {name} (id UInt32, name String, score Nullable(Float64), at DateTime64(3),"
        " ok Bool) ENGINE = MergeTree ORDER BY id"
    )


def rows_and_parts(conn, name):
    rows = conn.execute(f"SELECT id, name, score, at, ok FROM {name} ORDER BY id").fetchall()
    parts = conn.execute(
        "SELECT count() FROM system.parts WHERE database = currentDatabase() AND table = %s AND active",
        (name,),
    ).fetchone()[0]
    return rows, int(parts)


def test_copy_text_writes_every_row_as_one_part(conn):
    create(conn, "copy_text")
    with conn.cursor().copy("COPY copy_text FROM STDIN") as copy:
        for row in ROWS:
            copy.write_row(row)
    assert rows_and_parts(conn, "copy_text") == (ROWS, 1)


def test_copy_csv_with_header_and_quotes(conn):
    create(conn, "copy_csv")
    data = (
        "id,name,score,at,ok\n"
        '1,plain,1.5,2024-02-29 13:45:56.123,t\n'
        '2,"tab\tnew\nline \\ back",,2024-03-01 00:00:00,f\n'
        '3,"",-0.25,1999-12-31 23:59:59.999,true\n'
        '4,"quote "" and, comma",1e300,2000-01-01,false\n'
    )
    with conn.cursor().copy("COPY copy_csv FROM STDIN WITH (FORMAT csv, HEADER true)") as copy:
        # In pieces that split rows and quoted fields.
        for start in range(0, len(data), 7):
            copy.write(data[start : start + 7])
    assert rows_and_parts(conn, "copy_csv") == (ROWS, 1)


def test_copy_binary_with_declared_types(conn):
    create(conn, "copy_binary")
    with conn.cursor().copy("COPY copy_binary (id, name, score, at, ok) FROM STDIN (FORMAT binary)") as copy:
        copy.set_types(["int8", "text", "float8", "timestamp", "bool"])
        for row in ROWS:
            copy.write_row(row)
    assert rows_and_parts(conn, "copy_binary") == (ROWS, 1)


def test_copy_of_many_rows_streams_into_one_part(conn):
    conn.execute("CREATE TABLE copy_many (id UInt64, label String) ENGINE = MergeTree ORDER BY id")
    total = 300_000
    with conn.cursor().copy("COPY copy_many FROM STDIN") as copy:
        for start in range(0, total, 10_000):
            copy.write("".join(f"{i}\tlabel {i}\n" for i in range(start, start + 10_000)))
    count, distinct, parts = conn.execute(
        "SELECT count(), uniqExact(label), (SELECT count() FROM system.parts WHERE database ="
        " currentDatabase() AND table = 'copy_many' AND active) FROM copy_many"
    ).fetchone()
    assert (int(count), int(distinct), int(parts)) == (total, total, 1)


def test_bad_copy_data_writes_nothing_and_the_connection_goes_on(conn):
    create(conn, "copy_bad")
    with pytest.raises(errors.BadCopyFileFormat):
        with conn.cursor().copy("COPY copy_bad FROM STDIN") as copy:
            copy.write("1\tone\t1\t2024-01-01 00:00:00\tt\n2\ttoo few fields\n")
    with pytest.raises(errors.InvalidTextRepresentation):
        with conn.cursor().copy("COPY copy_bad FROM STDIN WITH (FORMAT csv)") as copy:
            copy.write("1,one,not a number,2024-01-01 00:00:00,t\n")
    with pytest.raises(errors.UndefinedTable):
        with conn.cursor().copy("COPY no_such_table FROM STDIN") as copy:
            copy.write("1\n")
    with pytest.raises(RuntimeError):
        with conn.cursor().copy("COPY copy_bad FROM STDIN") as copy:
            copy.write("1\tone\t1\t2024-01-01 00:00:00\tt\n")
            raise RuntimeError("the client gives up")  # psycopg sends CopyFail
    assert rows_and_parts(conn, "copy_bad") == ([], 0)
    assert conn.execute("SELECT 1").fetchone() == (1,)


def test_copy_inside_a_transaction_block_keeps_the_block(dsn):
    with psycopg.connect(dsn) as conn:
        conn.execute("CREATE TABLE copy_block (id UInt32) ENGINE = MergeTree ORDER BY id")
        with conn.cursor().copy("COPY copy_block FROM STDIN") as copy:
            copy.write_row((1,))
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS
        conn.commit()
        assert conn.execute("SELECT count() FROM copy_block").fetchone()[0] == 1


def test_twenty_connections_insert_and_read_at_once(dsn, conn):
    conn.execute("CREATE TABLE concurrent (worker UInt32, n UInt32) ENGINE = MergeTree ORDER BY (worker, n)")

    def work(worker):
        with psycopg.connect(dsn, autocommit=True) as own:
            for batch in range(5):
                own.execute(
                    f"INSERT INTO concurrent SELECT %s, number FROM numbers({batch * 100}, 100)",
                    (worker,),
                )
                seen = own.execute("SELECT count() FROM concurrent WHERE worker = %s", (worker,)).fetchone()[0]
                assert int(seen) == (batch + 1) * 100
            return worker

    with concurrent.futures.ThreadPoolExecutor(max_workers=20) as pool:
        done = sorted(pool.map(work, range(20)))
    assert done == list(range(20))
    total, workers = conn.execute("SELECT count(), uniqExact(worker) FROM concurrent").fetchone()
    assert (int(total), int(workers)) == (20 * 500, 20)


@pytest.mark.parametrize("format", ["text", "csv", "binary"])
def test_copy_of_array_columns(conn, format):
    """psycopg writes rows in the text and binary formats; CSV is written by hand."""
    name = f"copy_arrays_{format}"
    conn.execute(
        f"CREATE TABLE {name} (id UInt32, tags Array(String), nums Array(Nullable(Int64)),"
        " grid Array(Array(Float64))) ENGINE = MergeTree ORDER BY id"
    )
    rows = [(1, ["a", "b c", "it's", '"q"', ""], [1, None], [[1.5, 2.0], [3.0, 4.0]]), (2, [], [], [])]
    with conn.cursor().copy(f"COPY {name} FROM STDIN (FORMAT {format})") as copy:
        if format == "csv":
            copy.write(
                '1,"{a,""b c"",it\'s,""\\""q\\"""",""""}","{1,NULL}","{{1.5,2},{3,4}}"\n'
                '2,{},{},{}\n'
            )
        else:
            if format == "binary":
                copy.set_types(["int8", "text[]", "int8[]", "float8[]"])
            for row in rows:
                copy.write_row(row)
    assert conn.execute(f"SELECT id, tags, nums, grid FROM {name} ORDER BY id").fetchall() == rows
