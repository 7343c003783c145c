# The two commands: `make run` (set up + serve on SQLite with a demo workflow), `make test`.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test bench bench-api bench-queue leak-check lint install frontend fuzz-api

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) (Python 3.11)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Local use: DEBUG on (a secret key is generated once into var/), SQLite in var/, a demo
# user and workflow (password and token printed the first time), served on $(BIND).
BIND ?= 127.0.0.1:8080
run: $(STAMP)
	DEBUG=1 $(VENV)/bin/thaiyyal manage migrate --noinput
	DEBUG=1 $(VENV)/bin/thaiyyal manage create_demo --url http://$(BIND)
	DEBUG=1 $(VENV)/bin/thaiyyal serve --no-migrate --bind $(BIND)

test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/pytest

bench: $(STAMP)
	$(VENV)/bin/pytest tests/benchmarks --benchmark-only --benchmark-columns=min,mean,median,ops -s

# API load benchmark: thaiyyal serve on a fresh PostgreSQL database, driven by wrk.
bench-api: $(STAMP)
	$(PY) deploy/loadtest/bench_api.py

# The API contract, fuzzed long: schemathesis, every phase (coverage included), 150
# examples per operation, against a real server (tests/security/test_api_contract.py).
fuzz-api: $(STAMP)
	THAIYYAL_CONTRACT_LONG=1 $(VENV)/bin/pytest tests/security/test_api_contract.py -k schemathesis -s

# Queue mode: async throughput with one and two worker processes, and the queue wait.
bench-queue: $(STAMP)
	$(PY) deploy/loadtest/bench_queue.py

leak-check: $(STAMP)
	$(PY) deploy/loadtest/leak_check.py

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

# The graph and editor pages' JavaScript and CSS: the libraries -> workflows/static/vendor,
# frontend/src -> workflows/static/workflows/dist (committed, so `make run` and CI need no
# Node). Needs Node 20+ and npm. Then records the
# sha256 of the sources and the built files in frontend/build-record.json, which a test
# checks against the checkout.
frontend: $(STAMP)
	cd frontend && npm ci --no-audit --no-fund && npm run build
	$(PY) frontend/build_record.py
