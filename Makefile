# ordergate developer commands. Needs only Python 3.11+; everything else lands in .venv.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.requirements.stamp
OG := $(VENV)/bin/ordergate
# Type-check the packages that exist so far (others are written in parallel).
MYPY_PATHS := $(wildcard shared api worker scripts cli tests bench)

.DEFAULT_GOAL := help
.PHONY: help venv browser run test lint audit bench bench-data migrate rotate-keys import-instruments clean distclean

help:
	@echo "make run        start PostgreSQL, Redis, API, Celery worker+beat, Flower (Ctrl-C stops all)"
	@echo "make test       ruff + mypy + the whole pytest suite (real PostgreSQL, Redis, Chromium)"
	@echo "make lint       ruff + mypy + import-linter layering contracts"
	@echo "make audit      pip-audit: known vulnerabilities of the pinned requirements (CI runs it)"
	@echo "make bench      throughput/latency benchmark"
	@echo "make bench-data read endpoints' server p99 over 1M orders, 10M ticks (SCALE=0.1 a tenth)"
	@echo "make migrate    ordergate migrate on the dev database (embedded unless URLs are set)"
	@echo "make rotate-keys re-encrypt broker credentials under the first CREDENTIALS_KEYS key"
	@echo "make import-instruments FILE=... import Kite's instruments CSV or a plain CSV"
	@echo "make venv       create .venv, install pinned requirements and the ordergate command"
	@echo "make clean      stop embedded servers, remove caches and test data"
	@echo "make distclean  clean, then remove .venv and ALL local data (.data/)"

venv: $(STAMP) $(OG)

# Reinstall only when a requirements file is newer than the stamp.
$(STAMP): requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
		|| { echo "ordergate needs Python 3.11+: run make PYTHON=python3.11 ..." >&2; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV) \
		|| { echo "could not create $(VENV); on Debian/Ubuntu: apt install python3-venv" >&2; exit 1; }
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $@

# The project itself, editable, only for the `ordergate` command on the venv's PATH: built
# by the pinned setuptools and wheel, without fetching other build tools.
$(OG): pyproject.toml $(STAMP)
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	@touch $@

run: venv
	$(OG) run

migrate: venv
	$(OG) run --migrate-only

rotate-keys: venv
	$(OG) rotate-keys

import-instruments: venv
	@test -n "$(FILE)" || { echo "usage: make import-instruments FILE=instruments.csv" >&2; exit 1; }
	$(OG) import-instruments "$(FILE)"

# lint-imports checks the layering contracts of pyproject.toml [tool.importlinter]; it runs in
# a fraction of a second, so it keeps no cache directory in the work tree.
lint: venv
	$(PY) -m ruff check .
	$(PY) -m mypy $(MYPY_PATHS)
	$(VENV)/bin/lint-imports --no-cache

# Needs PyPI's vulnerability data (the network); README "Security" says what it checks.
audit: venv
	$(PY) scripts/audit.py

# The console's browser test drives Debian's Chromium through Playwright, which downloads no
# browser of its own: install the package where we can, else say loudly that the test will fail.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "==> chromium is missing: installing Debian's package for the browser test"; \
			{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
				--no-install-recommends chromium fonts-liberation; } \
				|| echo "!!! apt-get could not install chromium: the browser test WILL FAIL" >&2; \
		else \
			echo "!!! chromium is not on PATH: the browser test (tests/e2e/test_console.py)" \
				"WILL FAIL. Install it as root: apt-get install chromium" >&2; \
		fi; }

test: lint browser
	$(PY) -m pytest -q

bench: venv
	$(PY) -m bench

SCALE ?= 1
bench-data: venv
	$(PY) -m bench.data --scale $(SCALE)

clean:
	@if [ -x $(PY) ]; then \
		$(PY) scripts/devstack.py stop --profile test; \
		$(PY) scripts/devstack.py stop --profile run; \
	fi
	rm -rf .data/test .mypy_cache .ruff_cache .pytest_cache .hypothesis
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) .data
