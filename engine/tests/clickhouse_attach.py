"""Attach parts Granary wrote to a real ClickHouse (chDB) table, check them, and dump the table.

Usage: clickhouse_attach.py <session dir> <columns> <order by> <partition by or ''> <native output> <part dir>...
Prints one line of JSON: the CHECK TABLE result and the active parts as system.parts sees them.
"""
import json
import os
import shutil
import sys

from chdb import session

session_dir, columns, order_by, partition_by, native_out, *part_dirs = sys.argv[1:]
s = session.Session(session_dir)
s.query("CREATE DATABASE IF NOT EXISTS granary ENGINE = Atomic")
partition = f"PARTITION BY {partition_by}" if partition_by else ""
s.query(f"CREATE TABLE granary.t ({columns}) ENGINE = MergeTree {partition} ORDER BY {order_by}")
data_path = s.query(
    "SELECT data_paths[1] FROM system.tables WHERE database = 'granary' AND name = 't'", "TSV"
).bytes().decode().strip()
for part_dir in part_dirs:
    name = os.path.basename(part_dir.rstrip("/"))
    shutil.copytree(part_dir, os.path.join(data_path, "detached", name))
    s.query(f"ALTER TABLE granary.t ATTACH PART '{name}'")
check = s.query("CHECK TABLE granary.t SETTINGS check_query_single_value_result = 1", "TSV").bytes().decode().strip()
parts = s.query(
    "SELECT name, rows, marks FROM system.parts WHERE database = 'granary' AND table = 't' AND active ORDER BY name",
    "JSONCompact",
).bytes().decode()
with open(native_out, "wb") as out:
    out.write(s.query(f"SELECT * FROM granary.t ORDER BY {order_by} FORMAT Native", "Native").bytes())
print(json.dumps({"check": check, "parts": json.loads(parts)["data"]}))
