#!/usr/bin/env bash
# Native-protocol throughput, measured in one run against one release granary-server: Granary's
# Rust client (bench/src/native.rs) and clickhouse-driver in columnar mode (driver.py) insert the
# same 10-column rows in blocks of 100 000 with LZ4, then read them back with SELECT *. Prints
# both clients' numbers and the ratio. `make bench-native` runs it (ROWS=... to change the size).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
rows="${ROWS:-2000000}"
block_rows="${BLOCK_ROWS:-100000}"
python="${GRANARY_TEST_PYTHON:-$root/.venv/bin/python}"

cargo build --release --locked --quiet -p granary-server -p granary-bench
work="$(mktemp -d)"
log="$work/server.log"
"$root/target/release/granary-server" --data-dir "$work/data" --pg-addr 127.0.0.1:0 --native-addr 127.0.0.1:0 2>"$log" &
server=$!
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true; rm -rf "$work"' EXIT
address=""
for _ in $(seq 1 200); do
  address="$(sed -n 's/.*native protocol listening on \(127\.0\.0\.1:[0-9]*\).*/\1/p' "$log" | head -n 1)"
  [ -n "$address" ] && break
  sleep 0.1
done
[ -n "$address" ] || { cat "$log" >&2; exit 1; }

rust="$("$root/target/release/native-bench" "$address" "$rows" "$block_rows")"
bytes="$(echo "$rust" | head -n 1 | sed 's/.*"bytes": \([0-9]*\).*/\1/')"
driver="$("$python" "$root/bench/native/driver.py" "$address" "$rows" "$block_rows" "$bytes")"
peak_kb="$(grep VmHWM "/proc/$server/status" | awk '{print $2}')"

"$python" - "$rust" "$driver" "$peak_kb" <<'PY'
import json, sys
rust = {m["measurement"]: m for m in map(json.loads, sys.argv[1].splitlines())}
driver = {m["measurement"]: m for m in map(json.loads, sys.argv[2].splitlines())}
print(f"native protocol, {rust['insert']['rows']:,} rows x 10 columns, "
      f"{rust['insert']['bytes'] / 1e6:.0f} MB uncompressed Native, LZ4")
print(f"{'':8} {'granary-rust':>22} {'clickhouse-driver':>22} {'ratio':>7}")
for name in ("insert", "select"):
    r, d = rust[name], driver[name]
    print(f"{name:8} {r['rows_per_second']:>12,} rows/s {r['mb_per_second']:>5} MB/s "
          f"{d['rows_per_second']:>12,} rows/s {d['mb_per_second']:>5} MB/s "
          f"{r['rows_per_second'] / d['rows_per_second']:>6.1f}x")
print(f"server peak RSS: {int(sys.argv[3]) / 1024:.0f} MiB")
PY
