# Two commands for a fresh machine: `make run` (the demo) and `make test`.
# Both create .venv and install .[dev] idempotently (a stamp file tracks pyproject.toml).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run run-cluster test lint check install chromium bench screenshots clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Browser tests drive Debian's Chromium; never `playwright install` (no browser downloads here).
chromium:
	@test -x /usr/bin/chromium || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium missing: sudo apt-get install -y chromium"; fi; }

lint: $(STAMP)
	$(BIN)/ruff check src tests bench scripts docs/screenshots
	$(BIN)/ruff format --check src tests bench scripts docs/screenshots
	$(BIN)/mypy
	$(BIN)/lint-imports

test: $(STAMP) chromium lint
	$(BIN)/python -m pytest -q

run: $(STAMP)
	$(BIN)/billsync demo --seed 5

# The README's screenshots, from the real demo in Debian's Chromium (docs/screenshots/capture.py).
screenshots: $(STAMP) chromium
	$(BIN)/python docs/screenshots/capture.py

# The demo as a cluster on this machine's PostgreSQL: `serve --no-worker` plus
# CLUSTER_WORKERS `billsync worker` processes on procrastinate. The database is created
# when missing (its server must accept CLUSTER_DB's user); Ctrl-C stops every process.
CLUSTER_DB ?= postgresql+psycopg://postgres@127.0.0.1:5432/billsync_demo
CLUSTER_WORKERS ?= 2
run-cluster: $(STAMP)
	$(BIN)/python scripts/create_database.py '$(CLUSTER_DB)'
	$(BIN)/billsync demo --seed 5 --database-url '$(CLUSTER_DB)' --workers $(CLUSTER_WORKERS)

bench: $(STAMP)
	$(BIN)/python bench/sandbox_throughput.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
