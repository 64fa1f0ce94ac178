# Two commands on a fresh machine: `make run` and `make test` (README.md).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: install run test test-embedded lint typecheck check bench clean

$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

## Start everything on embedded defaults (or PostgreSQL/Redis when DATABASE_URL/REDIS_URL are set).
run: install
	DEBUG=$${DEBUG:-true} SIMULATE_PRODUCTS=$${SIMULATE_PRODUCTS:-true} $(PY) -m homeservice.launcher

## The whole test suite (uses DATABASE_URL / REDIS_URL when set, else SQLite and in-process stand-ins).
test: install
	$(PY) -m pytest $(PYTEST_ARGS)

## The suite in embedded mode even when DATABASE_URL / REDIS_URL are set in the environment.
test-embedded: install
	env -u DATABASE_URL -u REDIS_URL $(PY) -m pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: install
	$(VENV)/bin/mypy .

check: lint typecheck

## Feed throughput and latency against a bare-ASGI baseline, then WebSocket live updates (docs/benchmarks.md).
bench: install
	$(PY) -m bench.run
	$(PY) -m bench.ws

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
