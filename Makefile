# Two commands on a fresh machine: `make run` and `make test` (README.md).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: install run test test-embedded lint typecheck check bench clean web web-test web-if-node

$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

# --- The reference web client (web/, docs/web-client.md): Node.js 20.19+ and npm ----------------
WEB_BUILD := webclient/static/webclient/index.html
WEB_DEPS := web/node_modules/.ci-stamp
WEB_SOURCES := $(shell find web/src web/index.html web/vite.config.ts web/tsconfig.json -type f 2>/dev/null)

$(WEB_DEPS): web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund
	@touch $(WEB_DEPS)

$(WEB_BUILD): $(WEB_DEPS) $(WEB_SOURCES)
	cd web && npm run build

## Build the web client when its build is missing or older than its sources (npm ci when needed).
web: $(WEB_BUILD)

## The web client's unit tests (Vitest).
web-test: $(WEB_DEPS)
	cd web && npm test

# `make run` and `make test` build the client when Node.js is there, and go on without it
# (saying why) when it is not; with CI set a missing Node.js is an error.
web-if-node:
	@if command -v npm >/dev/null 2>&1; then \
	  $(MAKE) --no-print-directory web; \
	elif [ -n "$${CI:-}" ]; then \
	  echo "CI: Node.js/npm not found; the web client cannot be built (docs/web-client.md)" >&2; exit 1; \
	else \
	  echo "[homeservice] Node.js/npm not found: the web client is not built or updated (the API runs without it; / says how to build it; docs/web-client.md)"; \
	fi

## Start everything on embedded defaults (or PostgreSQL/Redis when DATABASE_URL/REDIS_URL are set).
run: install
	@$(MAKE) --no-print-directory web-if-node || \
	  echo "[homeservice] the web client could not be built (above); starting the API without it"
	DEBUG=$${DEBUG:-true} SIMULATE_PRODUCTS=$${SIMULATE_PRODUCTS:-true} $(PY) -m homeservice.launcher

## The whole test suite (uses DATABASE_URL / REDIS_URL when set, else SQLite and in-process stand-ins).
test: install web-if-node
	@if command -v npm >/dev/null 2>&1 || [ -n "$${CI:-}" ]; then $(MAKE) --no-print-directory web-test; fi
	$(PY) -m pytest $(PYTEST_ARGS)

## The suite in embedded mode even when DATABASE_URL / REDIS_URL are set in the environment.
test-embedded: install web-if-node
	env -u DATABASE_URL -u REDIS_URL $(PY) -m pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: install
	$(VENV)/bin/mypy .

check: lint typecheck

## Feed throughput and latency against a bare-ASGI baseline, then WebSocket live updates, then the plan finder (docs/benchmarks.md).
bench: install
	$(PY) -m bench.run
	$(PY) -m bench.ws
	$(PY) -m bench.plans

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache web/node_modules webclient/static/webclient
