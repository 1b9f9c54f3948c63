# jingkang-planner: two commands do all set-up on a fresh machine with Python 3.11 and make.
#   make app   -> .venv, install, start the dashboard on the embedded Beijing demo (127.0.0.1 only)
#   make serve -> the same for a network: login on every page; needs JINGKANG_USERS (users file)
#   make test  -> same set-up (+ Debian chromium, fonts, poppler, PostgreSQL/PostGIS), then ruff,
#                 lint-imports (pipeline layers) and the whole pytest suite
PYTHON ?= python3.11
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed
PORT   ?= 8501
SUDO    = $(shell [ "$$(id -u)" = "0" ] || echo sudo)

.PHONY: app serve test lint bench install browser-deps db-deps clean mutants

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) on PATH"; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

# Debian's chromium (Playwright cannot download its own browser here) and a CJK font,
# installed only when missing.
browser-deps:
	@if ! command -v chromium >/dev/null 2>&1 || ! command -v pdftoppm >/dev/null 2>&1 || ! fc-list 2>/dev/null | grep -qi 'wenquanyi\|wqy'; then \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium fonts-wqy-microhei poppler-utils; \
	fi

# PostgreSQL + PostGIS for the workspace storage suite (tests start a throw-away cluster on a
# free port and stop it), installed only when missing.
db-deps:
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || \
	    ! ls /usr/share/postgresql/*/extension/postgis.control >/dev/null 2>&1; then \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq postgresql && \
		V=$$(ls /usr/lib/postgresql | sort -n | tail -1) && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq postgresql-$$V-postgis-3; \
	fi

app: $(STAMP)
	$(BIN)/python -m planning.app.launch --server.address 127.0.0.1 --server.port $(PORT)

# Network mode: refuses to start without a users file (checked in planning/app/serve.py).
SERVE_ADDRESS ?= 0.0.0.0
serve: $(STAMP)
	$(BIN)/python -m planning.app.serve --address $(SERVE_ADDRESS) --port $(PORT)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports

test: $(STAMP) browser-deps db-deps
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	JINGKANG_REQUIRE_PG=1 $(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/matrix.py
	$(BIN)/python benchmarks/siting.py
	$(BIN)/python benchmarks/siting_bounds.py

# Single-operator mutation testing of the rule comparator, privacy, siting side rules and station
# capacity (not in CI; ~5 min on 2 cores). Fails below a 90 % kill rate per module.
mutants: $(STAMP)
	$(BIN)/python tests/bad_inputs/mutants.py --min 0.9

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache artifacts
