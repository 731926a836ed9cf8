# The two set-up commands of the README: `make demo` and `make test`.
# Each creates .venv and installs exactly the pinned set in constraints.txt, with the `mmm` extra
# (JAX, NumPyro); a core install (`pip install revline`) leaves it out: `pip install 'revline[mmm]'`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP_CORE := $(VENV)/.core-installed
STAMP_DEV := $(VENV)/.dev-installed

.PHONY: demo test lint bench clean install install-dev system-deps

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(STAMP_CORE): pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/pip install -q -c constraints.txt -e '.[mmm]'
	touch $@

$(STAMP_DEV): pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/pip install -q -c constraints.txt -e '.[dev,mmm]'
	touch $@ $(STAMP_CORE)

install: $(STAMP_CORE)
install-dev: $(STAMP_DEV) system-deps

# Browser tests drive Debian's Chromium (never a downloaded browser build); the Spark tests
# (marked `spark`, `revline --engine spark`) need a Java 17+ runtime, Debian's OpenJDK.
system-deps:
	@if ! command -v chromium >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = "0" ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-liberation; \
	  else \
	    echo "chromium missing: install Debian's chromium package for the browser tests"; \
	  fi; \
	fi
	@if ! command -v java >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = "0" ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless; \
	  else \
	    echo "java missing: install Debian's openjdk-17-jre-headless for the Spark tests"; \
	  fi; \
	fi

demo: install
	$(BIN)/revline demo

# ruff (pyflakes, bandit's security rules, pydocstyle) and mypy; both read pyproject.toml.
# `make test` runs this first.
lint: $(STAMP_DEV)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy

# ruff and mypy first: a finding fails the target before any test runs.
test: install-dev lint
	$(BIN)/python -m pytest -n 2 --dist loadgroup -q

bench: install-dev
	$(BIN)/pip install -q -c constraints.txt -e '.[bench]'
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache revline.duckdb revline-demo revline_report.html
