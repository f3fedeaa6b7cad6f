# Granary: the two commands every landing keeps working.
#   make test  - format check, clippy with -D warnings, every test of every crate, the client
#                tests (psycopg, asyncpg, psql, node-postgres, pgjdbc over PostgreSQL's protocol;
#                clickhouse-driver, clickhouse-client, clickhouse-go over the native one), the
#                SDKs' tests and the benchmark harness's own tests
#   make run   - build and start the server on ./data
SHELL := /bin/bash
CARGO ?= cargo
# Two cores on the development and CI machines.
export CARGO_BUILD_JOBS ?= 2

# Real ClickHouse (chDB) for the tests that check Granary's parts against it.
VENV := .venv
CHDB_VERSION := 4.4.0
CHDB_STAMP := $(VENV)/.chdb-$(CHDB_VERSION)
# Clients for the client tests (server/tests/clients): psycopg 3, asyncpg and clickhouse-driver
# (with LZ4 and ZSTD), pytest; maturin, which builds the Python SDK's wheel; NumPy and pyarrow
# for the benchmark harness's tests (the versions bench/clickbench/run.sh pins).
CLIENTS_STAMP := $(VENV)/.clients-4

.PHONY: test fmt-check clippy unit-tests client-tests sdk-tests bench-tests bench bench-small \
  bench-micro bench-native bench-sdk torture run

test: fmt-check clippy unit-tests client-tests sdk-tests bench-tests

fmt-check:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

unit-tests: $(CHDB_STAMP)
	GRANARY_TEST_PYTHON=$(CURDIR)/$(VENV)/bin/python $(CARGO) test --workspace --locked

$(CHDB_STAMP):
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check chdb==$(CHDB_VERSION)
	touch $@

# The client tests against a server started for them (needs Node, Maven and Go; npm, Maven and
# the Go module proxy supply the client libraries, apt the psql and clickhouse-client binaries).
client-tests: $(CLIENTS_STAMP)
	GRANARY_TEST_PYTHON=$(CURDIR)/$(VENV)/bin/python server/tests/clients/run.sh

$(CLIENTS_STAMP): $(CHDB_STAMP)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check 'psycopg[binary]==3.3.9' asyncpg==0.32.0 \
	  'clickhouse-driver[lz4,zstd]==0.2.11' pytest==9.2.0 maturin==1.16.0 numpy==2.4.6 pyarrow==26.0.1
	touch $@

# The SDKs as users install them: the Python wheel (maturin) into a fresh venv and the packed
# Node package into a fresh project, each tested there against a server the tests start.
sdk-tests: $(CLIENTS_STAMP)
	$(CARGO) test --workspace --locked --quiet --no-run
	MATURIN=$(CURDIR)/$(VENV)/bin/maturin sdk-python/tests/run.sh
	sdk-node/tests/run.sh

# The benchmark harness's own tests: its data generator and its answer comparison.
bench-tests: $(CLIENTS_STAMP)
	$(VENV)/bin/python -m pytest -q bench/clickbench/tests

# ClickBench beside chDB and DuckDB, one machine, one run (bench/README.md): ROWS rows (10M by
# default), report in bench/results/<date>-<rows>.md and .json. bench-small: 1M rows.
bench: $(CLIENTS_STAMP)
	MATURIN=$(CURDIR)/$(VENV)/bin/maturin bench/clickbench/run.sh

bench-small: $(CLIENTS_STAMP)
	ROWS=1000000 MATURIN=$(CURDIR)/$(VENV)/bin/maturin bench/clickbench/run.sh

# Criterion benchmarks (codec, part layer, embedded database); numbers land in target/criterion.
bench-micro:
	$(CARGO) bench -p granary-protocol --bench codec
	$(CARGO) bench -p granary-engine --bench storage
	$(CARGO) bench -p granary-engine --bench database

# Native-protocol throughput: Granary's Rust client beside clickhouse-driver, one release server.
bench-native: $(CLIENTS_STAMP)
	GRANARY_TEST_PYTHON=$(CURDIR)/$(VENV)/bin/python bench/native/run.sh

# Python SDK insert throughput beside chDB and clickhouse-driver, from one pyarrow table.
bench-sdk: $(CLIENTS_STAMP)
	GRANARY_TEST_PYTHON=$(CURDIR)/$(VENV)/bin/python MATURIN=$(CURDIR)/$(VENV)/bin/maturin bench/sdk/run.sh

# The crash-and-race harness at length (server/tests/torture.rs): writers with tokens, merges,
# OPTIMIZE FINAL, SIGKILL/SIGTERM restarts at random moments; `make test` runs 6 restarts.
TORTURE_RESTARTS ?= 120
TORTURE_SEED ?= 20261207
torture:
	GRANARY_TORTURE_RESTARTS=$(TORTURE_RESTARTS) GRANARY_TORTURE_SEED=$(TORTURE_SEED) \
	  $(CARGO) test -p granary-server --locked --test torture -- --nocapture

# Builds (release) and starts the server on ./data: PostgreSQL protocol on 127.0.0.1:5432,
# ClickHouse's native protocol on 127.0.0.1:9000.
run:
	$(CARGO) run --release -p granary-server -- --data-dir ./data
