# `make run` starts the platform, `make test` runs the tests; both bootstrap .venv themselves.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)
# No TRADING_HOME or DAGSTER_HOME here: `make run` is `trading-platform run`, with the CLI's
# defaults (TRADING_HOME=~/.trading_platform, DAGSTER_HOME=./dagster_home), so the README's
# `trading-platform bots list` in a fresh shell sees the database `make run` created.

.PHONY: run test lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $@

run: $(STAMP)
	$(BIN)/trading-platform run

# The suite mostly waits on Dagster processes and exchanges, so it runs in 4 workers on 2 cores; a test
# module (an end-to-end module: a module and backend) stays on one worker, for its module
# fixtures (see tests/conftest.py), and the longest units go first (hence no xdist reorder).
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest -q -n 4 --dist loadgroup --no-loadscope-reorder

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(STAMP)
	$(BIN)/python benchmarks/backtest_overhead.py

clean:
	rm -rf $(VENV)
