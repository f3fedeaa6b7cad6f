#!/usr/bin/env bash
# The Python SDK's tests as a user meets the SDK: `maturin build` makes the wheel, a fresh venv
# installs it (and pytest, pandas, NumPy, tqdm), and pytest runs sdk-python/tests against a
# granary-server the tests start (target/debug/granary-server, or $GRANARY_SERVER).
# `make test` runs this; MATURIN names the maturin to use.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
maturin="${MATURIN:-$root/.venv/bin/maturin}"
venv="$root/target/sdk-python-venv"
wheels="$root/target/sdk-python-wheels"

rm -rf "$wheels" "$venv"
"$maturin" build --locked -m "$root/sdk-python/Cargo.toml" --out "$wheels"
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check "$wheels"/granary-*.whl \
  pytest==9.2.0 'pandas>=2' numpy tqdm
# The installed package is the one under test, not the source tree.
cd "$root/sdk-python/tests"
GRANARY_SERVER="${GRANARY_SERVER:-$root/target/debug/granary-server}" \
  "$venv/bin/python" -m pytest -q -p no:cacheprovider .
