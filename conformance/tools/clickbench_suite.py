#!/usr/bin/env python3
"""Writes conformance/suites/09_clickbench.slt: the ClickBench `hits` table from
../shared/bench/clickbench/create.sql (as written), a small deterministic data set, and the 43
queries of queries.sql (as written), with ClickHouse's answers (chDB).

    python conformance/tools/clickbench_suite.py

Queries whose order the data leaves open (no ORDER BY, or ties in the first key) compare their rows
sorted (`rowsort`). The data has ten groups, g = 0..9, of 64 * (2g + 1) rows each (so no two groups have the same
count), and every column a query groups, filters or orders by is a function of g — except
EventTime, one hour apart per row plus g minutes, so that ORDER BY EventTime is a total order, and
one row's UserID, 435090932899640449 (the one query 20 looks for; one row only, so that sums stay
within Int64: ClickHouse's avg of Int64 wraps where Granary's does not).
With at most ten groups per GROUP BY, `LIMIT 10` keeps every group and the answer does not depend
on how an engine breaks ties; the OFFSET queries and the HAVING COUNT(*) > 100000 ones return no
rows at this size (they still plan and run).
"""

import os
import re
import sys

import chdb

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SHARED = os.path.join(os.path.dirname(ROOT), "shared", "bench", "clickbench")
OUT = os.path.join(ROOT, "conformance", "suites", "09_clickbench.slt")

GROUP = "toUInt32(sqrt(intDiv(number, 64)))"
COLUMNS = {
    "WatchID": "5000000000 + g",
    "JavaEnable": "g % 2",
    "Title": "if(g % 3 = 0, 'Google Maps', concat('Title ', toString(g)))",
    "GoodEvent": "1",
    "EventTime": "toDateTime(1372636800 + number * 3600 + g * 60)",
    "EventDate": "toDate(toDateTime(1372636800 + number * 3600 + g * 60))",
    "CounterID": "if(g % 2 = 0, 62, g)",
    "ClientIP": "1000 + g * 7",
    "RegionID": "g % 5 * 11",
    "UserID": "if(number = 100, 435090932899640449, g % 7 * 1000003)",
    "URL": "if(g = 5, '', concat('http://', if(g % 3 = 1, 'www.google.com', 'shop.example.org'), '/page/', toString(g)))",
    "Referer": "if(g % 4 = 3, '', concat('https://www.ref', toString(g % 3), '.com/path/', toString(g)))",
    "IsRefresh": "if(g = 4, 1, 0)",
    "ResolutionWidth": "1000 + g * 10",
    "MobilePhone": "g % 3",
    "MobilePhoneModel": "if(g % 2 = 1, concat('iPhone ', toString(g % 3)), '')",
    "TraficSourceID": "toInt16(g % 8) - 1",
    "SearchEngineID": "g % 3",
    "AdvEngineID": "g % 4",
    "SearchPhrase": "if(g % 3 = 2, '', concat('phrase ', toString(g % 7 % 4)))",
    "WindowClientWidth": "g * 100",
    "WindowClientHeight": "g * 50",
    "IsLink": "g % 2",
    "DontCountHits": "if(g = 6, 1, 0)",
    "RefererHash": "if(g % 2 = 0, 3594120000172545465, g)",
    "URLHash": "if(g % 3 = 0, 2868770270353813622, g * 31)",
}
ROWS = 6400


def insert_statement():
    names = ", ".join(COLUMNS)
    values = ", ".join(COLUMNS.values())
    return (
        f"INSERT INTO hits ({names})\n"
        f"SELECT {values}\n"
        f"FROM (SELECT number, {GROUP} AS g FROM numbers({ROWS}))"
    )


def needs_rowsort(sql, names, rows):
    """Whether the order of `rows` is not fixed by the query: no ORDER BY, or ties in the first
    ORDER BY key when the result shows it."""
    m = re.search(r"ORDER BY (.+?)(?: DESC| ASC|,| LIMIT|$)", sql)
    if not m:
        return True
    key = m.group(1).strip()
    key = {"COUNT(*)": "count()"}.get(key, key)
    if key not in names:
        return False
    column = names.index(key)
    values = [row.split("\t")[column] for row in rows]
    return len(set(values)) < len(values)


def escape(value):
    return "(empty)" if value == "" else value


def main():
    create = open(os.path.join(SHARED, "create.sql")).read().strip()
    queries = [q.strip() for q in open(os.path.join(SHARED, "queries.sql")) if q.strip()]
    assert len(queries) == 43, len(queries)
    insert = insert_statement()

    session = chdb.session.Session()
    session.query("CREATE DATABASE IF NOT EXISTS cb")
    session.query("USE cb")
    session.query(create.rstrip(";"))
    session.query(insert)

    out = [
        "# ClickBench: the `hits` table of ../shared/bench/clickbench/create.sql and the 43 queries of",
        "# queries.sql, both as written, on 6,400 generated rows (conformance/tools/clickbench_suite.py",
        "# writes this file and says how the data makes every answer independent of tie-breaking).",
        "# Expected results are ClickHouse's: written by chDB 4.4 and checked with",
        "# conformance/tools/chdb_check.py.",
        "",
        "statement ok",
        create.rstrip(";"),
        "",
        "statement ok",
        insert,
        "",
    ]
    for number, query in enumerate(queries, 1):
        sql = query.rstrip(";")
        result = session.query(sql, "TabSeparated").data()
        header = session.query(f"SELECT * FROM ({sql}) LIMIT 0", "TabSeparatedWithNames").data()
        names = header.rstrip("\n").split("\t")
        rows = [line for line in result.split("\n") if line != ""]
        out.append(f"# Q{number}")
        sort = " rowsort" if needs_rowsort(sql, names, rows) else ""
        out.append(f"query {'T' * len(names)}{sort}")
        out.append(sql)
        out.append("----")
        table = [[escape(v.replace("\\N", "NULL")) for v in row.split("\t")] for row in rows]
        if sort:
            table.sort()  # as the runners sort a rowsort result
        out.extend(" ".join(row) for row in table)
        out.append("")
    open(OUT, "w").write("\n".join(out))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    sys.exit(main())
