# The single entry point: CI (.ci/run) calls these same targets.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup chromium up down demo test test-unit test-integration lint fmt typecheck clean bench bench-smoke typecheck-bench

setup: $(STAMP)  ## venv with the service and its dev tools; RabbitMQ if the machine has none

# tests/browser drive Debian's Chromium through Playwright (`playwright install` cannot download
# browsers here); checked on every setup, so a machine without it gets it.
chromium:
	@command -v chromium >/dev/null 2>&1 || \
		(echo "installing Debian's chromium" && apt-get update -qq && \
		 DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)

$(STAMP): pyproject.toml
	@command -v rabbitmq-server >/dev/null 2>&1 || command -v rabbitmqctl >/dev/null 2>&1 || \
		(echo "installing Debian's rabbitmq-server" && apt-get update -qq && \
		 DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rabbitmq-server >/dev/null)
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

up: setup  ## start the whole stack on loopback (see README for ports)
	$(BIN)/python -m deploy.local.stack up

down:  ## stop everything `make up` started
	@test -x $(BIN)/python && $(BIN)/python -m deploy.local.stack down || true

demo: setup  ## start the stack, submit the sample CSV, print its status and output CSV
	$(BIN)/python -m deploy.local.demo

test: setup chromium lint typecheck  ## everything CI runs
	$(BIN)/pytest

test-unit: setup
	$(BIN)/pytest tests/unit

test-integration: setup
	$(BIN)/pytest -m integration

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

fmt: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: setup
	$(BIN)/mypy shared ingest fetcher compressor notifier deploy

bench: setup  ## the benchmarks (< 15 min): writes docs/benchmarks.md and its plots
	$(BIN)/pip install -q -e '.[bench]'
	$(BIN)/python -m bench

bench-smoke: setup  ## every benchmark on tiny inputs (under a minute): proves they run
	$(BIN)/pip install -q -e '.[bench]'
	$(BIN)/python -m bench --smoke

typecheck-bench: setup  ## mypy --strict on the benchmarks too
	$(BIN)/mypy bench

clean: down
	rm -rf .stack
