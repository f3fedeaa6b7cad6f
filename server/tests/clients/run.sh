#!/usr/bin/env bash
# The client tests against a granary-server started here on free ports with a fresh data directory,
# stopped at the end: psycopg 3, asyncpg, psql, clickhouse-driver and Debian's clickhouse-client
# (pytest), node-postgres and pg-cursor (node --test), pgjdbc (JUnit 5 through Maven) and
# clickhouse-go (go test). `make test` runs this after installing the Python packages.
set -euo pipefail
root="$(cd "$(dirname "$0")/../../.." && pwd)"
python="${GRANARY_TEST_PYTHON:-$root/.venv/bin/python}"

# Debian's command-line clients: psql (postgresql-client) and clickhouse-client 18.16.
apt_get="apt-get"
[ "$(id -u)" -eq 0 ] || apt_get="sudo apt-get"
for pair in psql:postgresql-client clickhouse-client:clickhouse-client; do
  if ! command -v "${pair%%:*}" >/dev/null; then
    DEBIAN_FRONTEND=noninteractive $apt_get install -y -q "${pair#*:}" >/dev/null
  fi
done

# The server binary as `cargo test --workspace` builds it (the same features, so after the unit
# tests this compiles nothing; `cargo build -p granary-server` would rebuild the engine).
cargo test --workspace --locked --quiet --no-run
work="$(mktemp -d)"
log="$work/server.log"
# Users the tests log in as: default (no password), alice (SCRAM-SHA-256, password "pencil"),
# reader (read-only).
secret="$(echo pencil | "$root/target/debug/granary-server" --hash-password)"
printf '[users.default]\n\n[users.alice]\npassword_scram_sha256 = "%s"\n\n[users.reader]\nreadonly = true\n' \
  "$secret" >"$work/granary.toml"
GRANARY_LOG=info "$root/target/debug/granary-server" --config "$work/granary.toml" --data-dir "$work/data" --pg-addr 127.0.0.1:0 --native-addr 127.0.0.1:0 2>"$log" &
server=$!
stop() {
  kill "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  rm -rf "$work"
}
trap stop EXIT

port=""
native_port=""
for _ in $(seq 1 200); do
  port="$(sed -n 's/.*PostgreSQL protocol listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log" | head -n 1)"
  native_port="$(sed -n 's/.*native protocol listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log" | head -n 1)"
  [ -n "$port" ] && [ -n "$native_port" ] && break
  kill -0 "$server" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$port" ] || [ -z "$native_port" ]; then
  echo "granary-server did not start:" >&2
  cat "$log" >&2
  exit 1
fi
export GRANARY_PG_PORT="$port" GRANARY_NATIVE_PORT="$native_port"
echo "client tests against granary-server on 127.0.0.1:$port (pgwire) and :$native_port (native)"

echo "== psycopg, asyncpg, psql, clickhouse-driver, clickhouse-client"
"$python" -m pytest -q -p no:cacheprovider "$root/server/tests/clients/python"

echo "== node-postgres, pg-cursor"
(cd "$root/server/tests/clients/node" && npm ci --silent --no-audit --no-fund && node --test)

echo "== pgjdbc"
mvn -q -B -Dstyle.color=never -f "$root/jdbc-tests/pom.xml" test -Dgranary.pg.port="$port"

echo "== clickhouse-go"
(cd "$root/server/tests/clients/go" && go test -count=1 ./...)

kill -0 "$server" || { echo "granary-server died during the client tests" >&2; cat "$log" >&2; exit 1; }
