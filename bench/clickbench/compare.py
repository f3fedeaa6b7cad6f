"""Whether two engines' answers to a ClickBench query agree, allowing only what the query leaves
open.

Answers are lists of rows, each a list of normalized values (worker.normalize: numbers as int or
float, dates as ISO text, times as epoch seconds, text as str). Column names are not compared
(engines name `COUNT(*)` differently); values are, floats within a relative tolerance.

A query's ORDER BY fixes the order of its sort keys but not the order of rows with equal keys,
and under LIMIT not which of the tied rows at the edge make it in. So for each query, SPECS says
where its sort keys are in the output:

  ("keys", columns)  the key sequence must be equal; the rows of each run of equal keys must be the
                     same multiset, except the last run under LIMIT and the first under OFFSET
                     (which rows of a tie made the cut is open)
  ("exact",)         equal row by row: the order is total (the data makes the sort key unique,
                     as for EventTime in Q25 and Q27, whose key is not in the output)
  ("set",)           no ORDER BY and no LIMIT: the same multiset of rows
  ("count",)         LIMIT without ORDER BY (Q18): any rows may come, only their number is fixed
"""

import math

FLOAT_RELATIVE = 1e-6

# Query number (1-based, as in queries.sql) -> how its answer is compared.
SPECS = {
    **{q: ("exact",) for q in (1, 2, 3, 4, 5, 6, 7, 21, 25, 27, 30)},
    8: ("keys", (1,)), 9: ("keys", (1,)), 10: ("keys", (2,)), 11: ("keys", (1,)),
    12: ("keys", (2,)), 13: ("keys", (1,)), 14: ("keys", (1,)), 15: ("keys", (2,)),
    16: ("keys", (1,)), 17: ("keys", (2,)), 18: ("count",), 19: ("keys", (3,)), 20: ("set",),
    22: ("keys", (2,)), 23: ("keys", (3,)), 24: ("keys", (4,)), 26: ("keys", (0,)),
    28: ("keys", (1,)), 31: ("keys", (2,)), 32: ("keys", (2,)), 33: ("keys", (2,)),
    34: ("keys", (1,)), 35: ("keys", (2,)), 36: ("keys", (4,)), 37: ("keys", (1,)),
    38: ("keys", (1,)), 39: ("keys", (1,)), 40: ("keys", (5,)), 41: ("keys", (2,)),
    42: ("keys", (2,)), 43: ("keys", (0,)), 29: ("keys", (1,)),
}
assert sorted(SPECS) == list(range(1, 44))


def values_equal(a, b):
    if isinstance(a, float) or isinstance(b, float):
        if not isinstance(a, (int, float)) or not isinstance(b, (int, float)):
            return False
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return math.isclose(a, b, rel_tol=FLOAT_RELATIVE, abs_tol=1e-9)
    return a == b


def rows_equal(a, b):
    return len(a) == len(b) and all(values_equal(x, y) for x, y in zip(a, b))


def sort_key(row):
    """A total order on rows that puts rows equal within the float tolerance side by side."""
    def one(v):
        if v is None:
            return (0, "")
        if isinstance(v, (int, float)):
            return (1, float(f"{float(v):.5g}"), "")
        return (2, 0.0, str(v))
    return [one(v) for v in row]


def same_multiset(a, b):
    if len(a) != len(b):
        return False
    return all(rows_equal(x, y) for x, y in zip(sorted(a, key=sort_key), sorted(b, key=sort_key)))


def runs_of_equal_keys(rows, columns):
    """Consecutive rows with equal keys, as lists of rows."""
    runs = []
    for row in rows:
        key = [row[c] for c in columns]
        if runs and rows_equal(key, [runs[-1][0][c] for c in columns]):
            runs[-1].append(row)
        else:
            runs.append([row])
    return runs


def compare(sql, spec, expected, actual):
    """None when `actual` is an answer to `sql` as good as `expected`, else why not (one line)."""
    if len(expected) != len(actual):
        return f"{len(actual)} rows, expected {len(expected)}"
    if expected and len(expected[0]) != len(actual[0]):
        return f"{len(actual[0])} columns, expected {len(expected[0])}"
    kind = spec[0]
    if kind == "count":
        return None
    if kind == "set":
        return None if same_multiset(expected, actual) else "different rows"
    if kind == "exact":
        for number, (e, a) in enumerate(zip(expected, actual), 1):
            if not rows_equal(e, a):
                return f"row {number}: {short(a)}, expected {short(e)}"
        return None
    columns = spec[1]
    for number, (e, a) in enumerate(zip(expected, actual), 1):
        if not rows_equal([e[c] for c in columns], [a[c] for c in columns]):
            return f"row {number}: sort key {short([a[c] for c in columns])}, expected " \
                   f"{short([e[c] for c in columns])}"
    upper = sql.upper()
    limited, offset = " LIMIT " in upper, " OFFSET " in upper
    expected_runs = runs_of_equal_keys(expected, columns)
    actual_runs = runs_of_equal_keys(actual, columns)
    for index, (e, a) in enumerate(zip(expected_runs, actual_runs)):
        at_edge = (limited and index == len(expected_runs) - 1) or (offset and index == 0)
        if not at_edge and not same_multiset(e, a):
            return f"rows with sort key {short([e[0][c] for c in columns])} differ: " \
                   f"{short(a[0])}, expected {short(e[0])}"
    return None


def short(value, limit=160):
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
