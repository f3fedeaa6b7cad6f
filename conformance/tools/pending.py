#!/usr/bin/env python3
"""Marks and unmarks the records Granary does not pass yet.

    python conformance/tools/pending.py clear conformance/suites/06_dates.slt   # run everything again
    python conformance/tools/pending.py clear conformance/suites/08_queries.slt:97  # one record
    cargo test -p granary-conformance 2>&1 | python conformance/tools/pending.py mark

`clear` removes the `# pending: ...` / `skipif granary` pairs from the files given; `mark` reads the
engine runner's failure report on stdin and puts such a pair, with the first line of the failure as
the reason, before each failing record. Review what `mark` marked: a failure may be a bug to fix
rather than a feature to wait for.
"""

import re
import sys
from collections import defaultdict

PENDING = "# pending:"
SKIP = "skipif granary"


def clear(targets):
    """Clears every mark of FILE, or the one at FILE:LINE (the line of its `# pending:`)."""
    only = defaultdict(set)
    for target in targets:
        path, _, line = target.partition(":")
        only[path].add(int(line) if line else None)
    for path, numbers in only.items():
        lines = open(path).read().split("\n")
        out = []
        i = 0
        while i < len(lines):
            chosen = None in numbers or (i + 1) in numbers
            if chosen and lines[i].startswith(PENDING) and i + 1 < len(lines) and lines[i + 1] == SKIP:
                i += 2
                continue
            out.append(lines[i])
            i += 1
        open(path, "w").write("\n".join(out))


def mark(report):
    failures = defaultdict(dict)  # path -> line -> reason
    reason = None
    for line in report.split("\n"):
        m = re.match(r"^\S+\.slt: (.*)$", line)
        if m:
            reason = m.group(1).strip()
        m = re.search(r"at (\S+\.slt):(\d+)", line)
        if m and reason is not None:
            failures[m.group(1)][int(m.group(2))] = reason
            reason = None
    for path, lines_to_mark in failures.items():
        lines = open(path).read().split("\n")
        for number in sorted(lines_to_mark, reverse=True):
            index = number - 1
            reason = re.sub(r"\s+", " ", lines_to_mark[number])
            reason = re.sub(r"DB::Exception: |Error during planning: ", "", reason)[:160]
            lines[index:index] = [f"{PENDING} {reason}", SKIP]
        open(path, "w").write("\n".join(lines))
        print(f"{path}: marked {len(lines_to_mark)} records")


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "clear":
        clear(sys.argv[2:])
    elif len(sys.argv) == 2 and sys.argv[1] == "mark":
        mark(sys.stdin.read())
    else:
        sys.exit(__doc__)
