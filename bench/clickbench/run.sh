#!/usr/bin/env bash
# ClickBench side by side: builds the release granary-server and the Python SDK's release wheel,
# installs them with chDB and DuckDB into a venv of the benchmark's own, and runs run.py, which
# generates the data, loads it into the three engines, runs the 43 queries and writes
# bench/results/<date>-<rows>.md and .json. `make bench` (ROWS=..., 10 000 000 by default) and
# `make bench-small` (1 000 000) run it; further arguments go to run.py (e.g. --queries 1,29).
# The work directory (BENCH_WORK, target/clickbench by default) keeps the generated Parquet
# between runs; the engines' data is made afresh each run.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
rows="${ROWS:-10000000}"
work="${BENCH_WORK:-$root/target/clickbench}"
maturin="${MATURIN:-$root/.venv/bin/maturin}"
mkdir -p "$work"

cargo build --release --locked --quiet -p granary-server
rm -rf "$work/wheels"
"$maturin" build --release --locked -m "$root/sdk-python/Cargo.toml" --out "$work/wheels" >/dev/null
[ -x "$work/venv/bin/python" ] || python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --disable-pip-version-check chdb==4.4.0 duckdb==2.0.1 \
  pyarrow==26.0.1 numpy==2.4.6 'psycopg[binary]==3.3.9'
"$work/venv/bin/pip" install --quiet --disable-pip-version-check --force-reinstall --no-deps \
  "$work/wheels"/granary-*.whl
exec "$work/venv/bin/python" "$root/bench/clickbench/run.py" --rows "$rows" \
  --server "$root/target/release/granary-server" --work "$work" --out "$root/bench/results" "$@"
