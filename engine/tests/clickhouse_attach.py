"""Attach a part Granary wrote to a real ClickHouse (chDB) table, check it, and dump it.

Usage: clickhouse_attach.py <session dir> <part dir> <columns> <order by> <native output file>
Prints one line of JSON: the CHECK TABLE result and the part as system.parts sees it.
"""
import json
import os
import shutil
import sys

from chdb import session

session_dir, part_dir, columns, order_by, native_out = sys.argv[1:6]
s = session.Session(session_dir)
s.query("CREATE DATABASE IF NOT EXISTS granary ENGINE = Atomic")
s.query(f"CREATE TABLE granary.t ({columns}) ENGINE = MergeTree ORDER BY {order_by}")
data_path = s.query(
    "SELECT data_paths[1] FROM system.tables WHERE database = 'granary' AND name = 't'", "TSV"
).bytes().decode().strip()
name = os.path.basename(part_dir.rstrip("/"))
shutil.copytree(part_dir, os.path.join(data_path, "detached", name))
s.query(f"ALTER TABLE granary.t ATTACH PART '{name}'")
check = s.query("CHECK TABLE granary.t SETTINGS check_query_single_value_result = 1", "TSV").bytes().decode().strip()
parts = s.query(
    "SELECT name, rows, marks FROM system.parts WHERE database = 'granary' AND table = 't' AND active",
    "JSONCompact",
).bytes().decode()
with open(native_out, "wb") as out:
    out.write(s.query(f"SELECT * FROM granary.t ORDER BY {order_by} FORMAT Native", "Native").bytes())
print(json.dumps({"check": check, "parts": json.loads(parts)["data"]}))
