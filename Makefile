# Two commands do all the set-up on a fresh machine (Python 3.11, Node 20 + npm, make):
#   make run    replay the recorded day 2022-12-13 in dry-run with the documented profile
#   make test   run the whole test suite
SHELL := /bin/bash
PY ?= python3
VENV := .venv
UV := $(VENV)/bin/uv
DATA ?= ../shared/data/cex-minute-bars-20221213
PROFILE ?= replay-20221213
PYTEST_ARGS ?=

.PHONY: setup run test bench lint clean-warehouse

$(UV):
	$(PY) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check "uv==0.13.8"

$(VENV)/.synced: uv.lock pyproject.toml | $(UV)
	$(UV) sync --frozen --quiet
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

setup: $(VENV)/.synced node_modules/.installed

run: setup
	$(VENV)/bin/arb run --source replay --data $(DATA) --profile $(PROFILE) --speed max

test: setup
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

bench: setup
	$(VENV)/bin/python bench/run.py --data $(DATA)

lint: setup
	$(VENV)/bin/ruff check arb flows tests bench
