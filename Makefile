# The two set-up commands: `make plan` (the dev stack's plan, offline) and `make test` (every test).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# checkov cannot share .venv (see requirements-scan.txt); the scan tests find it here.
SCAN_VENV ?= .venv-scan

.PHONY: plan test lint bench servers clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Stamps re-run the install only when the project's dependencies change.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	touch $@ $(VENV)/.installed

$(SCAN_VENV)/.installed: requirements-scan.txt
	$(PYTHON) -m venv $(SCAN_VENV)
	$(SCAN_VENV)/bin/pip install -q -r requirements-scan.txt
	touch $@

plan: $(VENV)/.installed
	$(BIN)/scalestack plan --stack dev

# PostgreSQL and Redis from Debian for the app template's tests, shellcheck for the boot scripts (root on
# this machine; skipped when present).
servers:
	@bash .ci/install-servers

# Lint first: it takes seconds, and the test summaries stay the last thing a CI log shows.
test: $(VENV)/.installed-dev $(SCAN_VENV)/.installed servers
	$(MAKE) lint
	$(MAKE) -C app_template lint
	$(BIN)/python -m pytest -q
	$(MAKE) -C app_template test

# zizmor lints the workflows and actions (they deploy to production) with its offline audits only: the
# online ones query GitHub's API, which `make test` does not need.
lint: $(VENV)/.installed-dev
	$(BIN)/ruff check infra scripts tests bench
	$(BIN)/ruff format --check infra scripts tests bench
	$(BIN)/mypy
	$(BIN)/zizmor --offline .
	$(BIN)/python -m tests.boot_lint

# Figures for the closing notes; not part of `make test` (timings belong in benchmarks, not tests).
bench: $(VENV)/.installed
	$(BIN)/python bench/plan_speed.py
	$(PYTHON) bench/app/run.py

clean:
	rm -rf $(VENV) $(SCAN_VENV)
