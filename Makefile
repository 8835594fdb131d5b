# wfconsole — the two commands of the README's quick start, and the checks around them.
#
#   make run     set up .venv, then open the console (demo data on the very first run)
#   make test    set up .venv, then run the whole test suite
#   make check   ruff + mypy + the test suite
#   make bench   run the benchmarks in bench/ (they print figures; not part of the tests)
#   make docs    build the documentation site (docs/, mkdocs.yml) into build/site, strictly
#
# The virtual environment is created with $(PYTHON) (3.11 or newer) and installed from
# requirements.lock (every package pinned with its hashes), then the project itself without
# resolving anything more. It is reinstalled only when the lock or pyproject.toml changes
# (the stamp file records the last install). `make lock` re-resolves the lock after a
# change to the dependencies in pyproject.toml (needs uv in the venv: `.venv/bin/pip install uv`).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.wfconsole-installed

.PHONY: run test check lint typecheck bench docs install lock

install: $(STAMP)

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { \
		echo "wfconsole needs Python 3.11 or newer; run: make PYTHON=python3.12 …" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml requirements.lock | $(BIN)/python
	$(BIN)/python -m pip install --quiet --require-hashes --only-binary :all: -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e '.[test]'
	@touch $@

lock:
	$(BIN)/uv pip compile pyproject.toml build-requirements.in --extra test --extra docs --generate-hashes \
		--universal --python-version 3.11 -o requirements.lock

# First run = the configured database is a SQLite file that does not exist yet: seed the
# demo data (`wfconsole demo` opens the console afterwards). A PostgreSQL database is
# never seeded by `make run`.
FIRST_RUN := import sys; from pathlib import Path; from sqlalchemy.engine import make_url; \
	from engine.config import load_settings; url = load_settings().database_url; \
	sys.exit(0 if url.startswith("sqlite") and not Path(make_url(url).database or "").exists() else 1)

run: $(STAMP)
	@if $(BIN)/python -c '$(FIRST_RUN)' 2>/dev/null; then \
		$(BIN)/wfconsole demo; \
	else \
		$(BIN)/wfconsole; \
	fi

# Two test processes per core (pytest-xdist): many tests wait on consumer processes,
# servers and PostgreSQL, so one per core left the cores half idle (2 cores: 1,084 s at
# -n 2, 585 s at -n 4). worksteal evens out the long chaos tests. TEST_WORKERS=N overrides.
# Bytecode is written even where PYTHONDONTWRITEBYTECODE is set (as on the CI machine):
# without it each worker rewrites the asserts of every test module at each run (its
# collection took 17.5 s of CPU, 7.1 s with the cache) and each consumer, serve and CLI
# process the tests start compiles the engine's modules from source again.
TEST_WORKERS ?= $(shell echo $$(( $$(nproc 2>/dev/null || echo 1) * 2 )))
test: $(STAMP)
	PYTHONDONTWRITEBYTECODE= $(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist worksteal

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy engine wfconsole tests

check: lint typecheck test

# The documentation site (MkDocs + Material): --strict fails on a broken link, a page
# missing from the nav or any other warning.
docs: $(STAMP)
	$(BIN)/mkdocs build --strict --site-dir build/site

# Every bench/*.py but the helper modules (_*.py, __init__.py); see bench/README.md.
bench: $(STAMP)
	@for script in bench/[!_]*.py; do \
		[ -e "$$script" ] || continue; \
		echo "== $$script"; \
		$(BIN)/python "$$script" || exit 1; \
	done
