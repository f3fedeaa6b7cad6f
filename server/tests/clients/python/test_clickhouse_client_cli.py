"""Debian's clickhouse-client (18.16, protocol revision 54412: the older-revision path) against
granary-server: SELECT in TSV, INSERT of TSV from stdin, compression on and off, errors with their
codes as the exit status."""
import subprocess

import pytest


def cli(native_port, *args, stdin=None):
    return subprocess.run(
        ["clickhouse-client", "--host", "127.0.0.1", "--port", str(native_port), *args],
        input=stdin, capture_output=True, text=True, timeout=60,
    )


@pytest.mark.parametrize("compression", ["1", "0"])
def test_select_in_tsv(native_port, compression):
    done = cli(native_port, "--compression", compression, "--query",
               "SELECT 1 AS a, 'x\\ty' AS b, toDate('2024-02-29') AS d, [1, 2] AS arr, "
               "CAST(NULL AS Nullable(Int32)) AS n, toLowCardinality('lc') AS lc FORMAT TSVWithNames")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "a\tb\td\tarr\tn\tlc\n1\tx\\ty\t2024-02-29\t[1,2]\t\\N\tlc\n"
    done = cli(native_port, "--compression", compression, "--query",
               "SELECT count(), sum(number) FROM numbers(1000000)")
    assert done.stdout == "1000000\t499999500000\n", done.stderr


def test_insert_tsv_from_stdin(native_port, database):
    table = f"{database}.cli_insert"
    done = cli(native_port, "--query", f"CREATE TABLE {table} (k UInt64, s String, d Date, "
               "n Nullable(Int32), a Array(String), lc LowCardinality(String)) "
               "ENGINE = MergeTree ORDER BY k")
    assert done.returncode == 0, done.stderr
    null = "\\N"
    rows = "".join(f"{k}\ts{k}\t2024-01-0{k % 9 + 1}\t{null if k % 2 else k}\t['a','b{k}']\tv{k % 3}\n"
                   for k in range(1000))
    done = cli(native_port, "--query", f"INSERT INTO {table} FORMAT TSV", stdin=rows)
    assert done.returncode == 0, done.stderr
    done = cli(native_port, "--query", f"SELECT * FROM {table} ORDER BY k FORMAT TSV")
    assert done.returncode == 0, done.stderr
    assert done.stdout == rows
    done = cli(native_port, "--query", f"INSERT INTO {table} VALUES (5000, 'inline', '2024-01-01', NULL, [], '')")
    assert done.returncode == 0, done.stderr
    done = cli(native_port, "--query", f"SELECT count() FROM {table}")
    assert done.stdout == "1001\n"


def test_errors_exit_with_their_code(native_port):
    done = cli(native_port, "--query", "SELECT * FROM no_such_table")
    assert done.returncode == 60
    assert "UNKNOWN_TABLE" in done.stderr
    done = cli(native_port, "--query", "SELEC 1")
    assert done.returncode == 62
