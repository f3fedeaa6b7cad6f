#!/usr/bin/env bash
# The SDKs' insert throughput, measured in one run: Granary's Python SDK into a release
# granary-server, chDB into its own MergeTree, clickhouse-driver into the same granary-server,
# all from the same pyarrow table (bench/sdk/python_insert.py); then the Node SDK inserting the
# same rows from TypedArrays and arrays (bench/sdk/node_insert.js). Prints rows/s, MB/s (of the Arrow
# data), the ratios and the server's peak RSS. `make bench-sdk` runs it (ROWS=... to change the
# size; 10 000 000 by default).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
rows="${ROWS:-10000000}"
python="${GRANARY_TEST_PYTHON:-$root/.venv/bin/python}"
maturin="${MATURIN:-$root/.venv/bin/maturin}"

cargo build --release --locked --quiet -p granary-server -p granary-node
work="$(mktemp -d)"
# The release Node addon, packed and installed as a user would.
cp "$root/target/release/libgranary_node.so" "$root/sdk-node/granary.node"
package="$(cd "$root/sdk-node" && npm pack --silent --pack-destination "$work")"
(mkdir -p "$work/node" && cd "$work/node" && npm init -y --silent >/dev/null \
  && npm install --silent --no-audit --no-fund "$work/$package")
"$maturin" build --release --locked -m "$root/sdk-python/Cargo.toml" --out "$work/wheels" >/dev/null
# The release wheel in a venv of its own, beside chDB and clickhouse-driver.
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --disable-pip-version-check "$work/wheels"/granary-*.whl \
  chdb==4.4.0 'clickhouse-driver[lz4]==0.2.11' pandas numpy
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

results="$("$work/venv/bin/python" "$root/bench/sdk/python_insert.py" "$address" "$rows" "$work/chdb")"
node_result="$(node "$root/bench/sdk/node_insert.js" "$work/node/node_modules/granary" "$address" "$rows")"
peak_kb="$(grep VmHWM "/proc/$server/status" | awk '{print $2}')"
"$python" - "$results" "$peak_kb" "$node_result" <<'PY'
import json, sys
runs = {m["engine"]: m for m in map(json.loads, sys.argv[1].splitlines())}
node = json.loads(sys.argv[3])
first = runs["granary"]
print(f"Python SDK insert, {first['rows']:,} rows x 10 columns, {first['arrow_bytes'] / 1e6:.0f} MB of Arrow")
for name in ("granary", "chdb", "clickhouse-driver"):
    run = runs[name]
    print(f"{name:18} {run['rows_per_second']:>12,} rows/s {run['mb_per_second']:>7} MB/s "
          f"{run['seconds']:>8} s   granary/{name}: {first['rows_per_second'] / run['rows_per_second']:.2f}x")
print(f"{'granary-node':18} {node['rows_per_second']:>12,} rows/s {'':>12} {node['seconds']:>8} s   "
      f"(Node SDK, the same rows from TypedArrays and arrays)")
print(f"granary-server peak RSS: {int(sys.argv[2]) / 1024:.0f} MiB")
PY
