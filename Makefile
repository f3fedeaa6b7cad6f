# Granary: the two commands every landing keeps working.
#   make test  - format check, clippy with -D warnings, every test of every crate
#   make run   - (once the server crate lands) build and start the server on ./data
SHELL := /bin/bash
CARGO ?= cargo
# Two cores on the development and CI machines.
export CARGO_BUILD_JOBS ?= 2

# Real ClickHouse (chDB) for the tests that check Granary's parts against it.
VENV := .venv
CHDB_VERSION := 4.4.0
CHDB_STAMP := $(VENV)/.chdb-$(CHDB_VERSION)

.PHONY: test fmt-check clippy unit-tests bench run

test: fmt-check clippy unit-tests

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

# Criterion benchmarks (codec, part layer, embedded database); numbers land in target/criterion.
bench:
	$(CARGO) bench -p granary-protocol --bench codec
	$(CARGO) bench -p granary-engine --bench storage
	$(CARGO) bench -p granary-engine --bench database

# Builds (release) and starts the server on ./data: PostgreSQL protocol on 127.0.0.1:5432.
run:
	$(CARGO) run --release -p granary-server -- --data-dir ./data
