"""compare.py: an answer is accepted exactly when it is as good as the reference's."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from compare import SPECS, compare  # noqa: E402

TOP = "SELECT k, COUNT(*) AS c FROM t GROUP BY k ORDER BY c DESC LIMIT 3"


def test_every_query_has_a_spec_and_keys_within_its_columns():
    queries = [q for q in open(os.path.join(
        os.path.dirname(__file__), "..", "..", "..", "..", "shared", "bench", "clickbench",
        "queries.sql")) if q.strip()]
    assert sorted(SPECS) == list(range(1, len(queries) + 1))


def test_ties_at_the_limit_may_differ_but_nothing_else():
    expected = [["a", 9], ["b", 5], ["c", 5]]
    # "d" also has 5: which of the tied rows makes the cut is open ...
    assert compare(TOP, ("keys", (1,)), expected, [["a", 9], ["d", 5], ["b", 5]]) is None
    # ... but not the rows above the tie, nor the counts.
    assert "differ" in compare(TOP, ("keys", (1,)), expected, [["z", 9], ["b", 5], ["c", 5]])
    assert "sort key" in compare(TOP, ("keys", (1,)), expected, [["a", 9], ["b", 5], ["c", 4]])
    assert "rows" in compare(TOP, ("keys", (1,)), expected, expected[:2])


def test_ties_inside_the_answer_compare_as_sets():
    sql = "SELECT k, COUNT(*) AS c FROM t GROUP BY k ORDER BY c DESC"
    expected = [["a", 9], ["b", 5], ["c", 5], ["d", 1]]
    assert compare(sql, ("keys", (1,)), expected, [["a", 9], ["c", 5], ["b", 5], ["d", 1]]) is None
    # Without LIMIT the last run is complete too.
    assert compare(sql, ("keys", (1,)), expected, [["a", 9], ["c", 5], ["b", 5], ["e", 1]])


def test_the_first_run_under_offset_is_open():
    sql = TOP + " OFFSET 10"
    expected = [["a", 5], ["b", 4], ["c", 3]]
    assert compare(sql, ("keys", (1,)), expected, [["x", 5], ["b", 4], ["y", 3]]) is None
    assert compare(sql, ("keys", (1,)), expected, [["x", 5], ["z", 4], ["y", 3]])


def test_floats_within_tolerance_and_types_do_not_matter():
    assert compare("SELECT AVG(x)", ("exact",), [[1499.509164]], [[1499.5091640000001]]) is None
    assert compare("SELECT AVG(x)", ("exact",), [[1499.509164]], [[1499.6]])
    assert compare("SELECT SUM(x)", ("exact",), [[3]], [[3.0]]) is None
    assert compare("SELECT s", ("exact",), [["3"]], [[3]])


def test_exact_set_and_count():
    assert compare("SELECT x", ("exact",), [[1], [2]], [[2], [1]])
    assert compare("SELECT x", ("set",), [[1], [2]], [[2], [1]]) is None
    assert compare("SELECT x LIMIT 2", ("count",), [[1], [2]], [[7], [8]]) is None
    assert compare("SELECT x LIMIT 2", ("count",), [[1], [2]], [[7]])
