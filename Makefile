# The single entry point: CI (.ci/run) calls these same targets.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup chromium up down demo test test-unit test-integration cluster soak lint fmt typecheck clean bench bench-smoke typecheck-bench lock

setup: $(STAMP)  ## venv with the service and its dev tools; RabbitMQ if the machine has none

# tests/browser drive Debian's Chromium through Playwright (`playwright install` cannot download
# browsers here); checked on every setup, so a machine without it gets it.
chromium:
	@command -v chromium >/dev/null 2>&1 || \
		(echo "installing Debian's chromium" && apt-get update -qq && \
		 DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)

# Exactly the versions in requirements/dev.lock (hashes checked), then the project itself.
$(STAMP): pyproject.toml requirements/dev.lock
	@command -v rabbitmq-server >/dev/null 2>&1 || command -v rabbitmqctl >/dev/null 2>&1 || \
		(echo "installing Debian's rabbitmq-server" && apt-get update -qq && \
		 DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rabbitmq-server >/dev/null)
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q --require-hashes -r requirements/dev.lock
	$(BIN)/pip install -q --no-deps -e .
	touch $(STAMP)

# The lock files: the newest versions pyproject.toml's ranges allow, for every platform the
# image and CI run on. Run after changing a dependency; commit the result.
LOCK := $(BIN)/uv pip compile pyproject.toml --universal --python-version 3.11 --generate-hashes --quiet
# The image's lock is resolved within the dev lock, so both pin the same versions.
lock: setup  ## refresh requirements/dev.lock (make setup) and requirements/app.lock (the image)
	$(LOCK) --upgrade --extra dev -o requirements/dev.lock
	$(LOCK) --constraint requirements/dev.lock -o requirements/app.lock

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

# `make test` runs the cluster suite with 400 images; CLUSTER_IMAGES overrides this one's 1,000.
CLUSTER_IMAGES ?= 1000
cluster: setup  ## kill a RabbitMQ node under 1,000 images: 3-node cluster, 2 replicas of everything
	CLUSTER_IMAGES=$(CLUSTER_IMAGES) $(BIN)/pytest tests/cluster

# The soak of issue 13; `make test` runs a short one (60 s, 300 images) and keeps its report in
# pytest's temporary folder. SOAK_S and SOAK_IMAGES override these; SOAK_SEED replays a run.
SOAK_S ?= 600
SOAK_IMAGES ?= 5000
soak: setup  ## kill a random replica, the relay or a node every 5-15 s for 10 min under 5,000 images; writes docs/soak.md
	SOAK_S=$(SOAK_S) SOAK_IMAGES=$(SOAK_IMAGES) SOAK_REPORT=docs/soak.md $(BIN)/pytest tests/soak

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

fmt: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: setup
	$(BIN)/mypy shared ingest fetcher compressor notifier cli deploy

bench: setup chromium  ## the benchmarks (< 15 min): writes docs/benchmarks.md and its plots
	$(BIN)/python -m bench

bench-smoke: setup  ## every benchmark on tiny inputs (under a minute): proves they run
	$(BIN)/python -m bench --smoke

typecheck-bench: setup  ## mypy --strict on the benchmarks too
	$(BIN)/mypy bench

clean: down
	rm -rf .stack
