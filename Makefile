# Two commands do all the set-up on a fresh machine (Python 3.11, Node 20 + npm, make):
#   make run    the main job: the whole stack in the foreground (`arb sandbox up`): both sandbox chains (real Uniswap
#               contracts, our flash-loan executor), Prefect server + worker + every deployment, MLflow server, the
#               dashboard API, and a detect-and-execute/continuous run on the chains plus the recorded CEX day.
#               Ctrl+C stops all of it.
#   make test   run the whole test suite
# Also: make sandbox-run (the engine alone on its own chains, 2 minutes of sandbox time), make replay (the recorded
#       CEX day 2022-12-13 in dry-run, profile replay-20221213), make bench,
#       make browser (Debian's headless-capable chromium for the browser tests; `make test` installs it when missing).
SHELL := /bin/bash
PY ?= python3
VENV := .venv
UV := $(VENV)/bin/uv
DATA ?= ../shared/data/cex-minute-bars-20221213
PROFILE ?= replay-20221213
PYTEST_ARGS ?=

.PHONY: setup browser run sandbox-run replay test bench lint

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

# Debian's chromium (plus Liberation fonts, metric-compatible with Arial/Times/Courier, so pages render readable text
# in screenshots; DejaVu is the fallback fontconfig already pulls in). Installed only when /usr/bin/chromium is
# missing: ~15 s here and ~400 MiB on disk (26 packages, ~230 MB of downloads), once. sudo only when not root.
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)

$(CHROMIUM):
	$(SUDO) apt-get update -qq
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		chromium fonts-liberation fonts-dejavu-core
	test -x $@

browser: $(CHROMIUM)

DURATION ?= 2m

run: setup
	$(VENV)/bin/arb sandbox up

sandbox-run: setup
	$(VENV)/bin/arb run --source sandbox --data $(DATA) --duration $(DURATION)

replay: setup
	$(VENV)/bin/arb run --source replay --data $(DATA) --profile $(PROFILE) --speed max

test: setup browser
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

bench: setup
	$(VENV)/bin/python bench/run.py --data $(DATA)
	$(VENV)/bin/python bench/chain_bench.py --data $(DATA)

lint: setup
	$(VENV)/bin/ruff check arb flows tests bench
