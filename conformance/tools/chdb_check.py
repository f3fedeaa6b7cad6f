#!/usr/bin/env python3
"""Checks conformance suite files against ClickHouse itself (chDB, the in-process build).

    python conformance/tools/chdb_check.py conformance/suites/*.slt          # report differences
    python conformance/tools/chdb_check.py --write conformance/suites/x.slt  # take ClickHouse's answers

Every record of a file runs, in order, in one chDB session on a fresh directory: statements must
succeed (or fail, for `statement error <regex>`, with a message matching the regex, as Granary's
runner checks), and each query's rows must equal the expected block. Values are written as the
Granary runner writes them: ClickHouse's TabSeparated text with NULL for \\N and (empty) for an
empty string; `rowsort` queries sort their rows.

A record preceded by a comment line starting with `# granary differs:` is Granary's deliberate
difference from ClickHouse (the comment says why and what ClickHouse answers): it is not run here
(ClickHouse may never answer it, as for an aggregate over system.numbers).
A record marked `skipif granary` (after a `# pending:` comment saying what is missing) is ClickHouse
behaviour Granary does not have yet: it is checked here and skipped by Granary's runners.
A record marked `onlyif pgwire` holds what a front end's clients see where it differs from
ClickHouse's text (a Tuple arrives over PostgreSQL as json); it follows the ClickHouse record,
which is marked `skipif pgwire`, and is not run here.
"""

import argparse
import re
import sys
import tempfile

from chdb import session as chdb_session

DIFFERS = "# granary differs:"


class Record:
    def __init__(self, comments, header, sql, expected, start):
        self.comments = comments  # comment lines before the record
        self.header = header  # e.g. "query IT rowsort" or "statement ok"
        self.sql = sql  # list of lines
        self.expected = expected  # list of lines, or None when there is no ---- block
        self.start = start  # line number of the header (1-based)

    @property
    def kind(self):
        return self.header.split()[0]

    @property
    def differs(self):
        return any(line.startswith(DIFFERS) for line in self.comments) or any(
            line.split()[0] == "onlyif" for line in self.comments
        )

    def error_regex(self):
        parts = self.header.split(None, 2)
        if len(parts) >= 2 and parts[1] == "error":
            return parts[2] if len(parts) > 2 else ""
        return None

    def render(self):
        lines = list(self.comments) + [self.header] + list(self.sql)
        if self.expected is not None:
            lines.append("----")
            lines.extend(self.expected)
        return "\n".join(lines)


def parse(text):
    """Splits a file into blank-line-separated chunks: Records, or plain text kept as is."""
    chunks = []
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        if not lines[i].strip():
            i += 1
            continue
        start = i
        block = []
        while i < len(lines) and lines[i].strip():
            block.append(lines[i])
            i += 1
        comments = []
        j = 0
        while j < len(block) and (block[j].startswith("#") or block[j].split()[0] in ("skipif", "onlyif")):
            comments.append(block[j])
            j += 1
        if j < len(block) and block[j].split()[0] in ("query", "statement"):
            header = block[j]
            body = block[j + 1 :]
            if "----" in body:
                k = body.index("----")
                chunks.append(Record(comments, header, body[:k], body[k + 1 :], start + j + 1))
            else:
                chunks.append(Record(comments, header, body, None, start + j + 1))
        else:
            chunks.append("\n".join(block))
    return chunks


def unescape(field):
    out = []
    i = 0
    while i < len(field):
        ch = field[i]
        if ch == "\\" and i + 1 < len(field) and field[i + 1] in "\\tn0'":
            out.append({"\\": "\\", "t": "\t", "n": "\n", "0": "\0", "'": "'"}[field[i + 1]])
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def rows_of(tsv):
    rows = []
    for line in tsv.split("\n"):
        if line == "":
            continue
        values = []
        for field in line.split("\t"):
            if field == "\\N":
                values.append("NULL")
            elif field == "":
                values.append("(empty)")
            else:
                values.append(unescape(field))
        rows.append(values)
    return rows


def normalize(line):
    return " ".join(line.split())


def check_file(path, write):
    text = open(path, encoding="utf-8").read()
    chunks = parse(text)
    problems = 0
    checked = 0
    with tempfile.TemporaryDirectory() as directory:
        sess = chdb_session.Session(directory)
        for chunk in chunks:
            if not isinstance(chunk, Record):
                continue
            if chunk.differs:
                # A deliberate difference: ClickHouse's answer is in the comment (and it may not
                # answer at all: a query it runs until cancelled).
                continue
            sql = "\n".join(chunk.sql)
            regex = chunk.error_regex()
            try:
                result = sess.query(sql, "TabSeparated")
                output = result.bytes().decode("utf-8") if hasattr(result, "bytes") else str(result)
                error = None
            except Exception as e:  # chDB raises RuntimeError with ClickHouse's message
                output = None
                error = str(e)
            where = f"{path}:{chunk.start}"
            if regex is not None:
                checked += 1
                if error is None:
                    print(f"{where}: expected an error matching {regex!r}, ClickHouse succeeded")
                    problems += 1
                elif not re.search(regex, error):
                    print(f"{where}: ClickHouse's error does not match {regex!r}: {error}")
                    problems += 1
                continue
            if error is not None:
                print(f"{where}: ClickHouse failed: {error}")
                problems += 1
                continue
            if chunk.kind != "query":
                continue
            checked += 1
            rows = rows_of(output)
            if "rowsort" in chunk.header.split():
                rows.sort()
            actual = [" ".join(row) for row in rows]
            expected = chunk.expected or []
            if [normalize(l) for l in actual] != [normalize(l) for l in expected]:
                if write:
                    chunk.expected = actual
                else:
                    print(f"{where}: ClickHouse answers differently")
                    print("  expected (file): " + " | ".join(expected))
                    print("  ClickHouse:      " + " | ".join(actual))
                    problems += 1
        sess.close()
    if write:
        rendered = "\n\n".join(c.render() if isinstance(c, Record) else c for c in chunks)
        with open(path, "w", encoding="utf-8") as f:
            f.write(rendered + "\n")
    print(f"{path}: {checked} records checked against ClickHouse, {problems} problems")
    return problems


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", action="store_true", help="replace expected results by ClickHouse's")
    parser.add_argument("files", nargs="+")
    args = parser.parse_args()
    problems = sum(check_file(path, args.write) for path in args.files)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
