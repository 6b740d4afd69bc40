# The README's two commands: `make run` and `make test`. Everything else here serves them.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
FLASK  := $(BIN)/flask --app wsgi
HOST   ?= 127.0.0.1
PORT   ?= 5000
PYTEST_ARGS ?=
# Test processes (pytest-xdist): each has its own database, S3 servers, browser and ports; a module's
# tests stay together in one process (--dist loadfile), the costliest modules handed out first
# (tests/module_costs.json; --no-loadscope-reorder keeps that order). Three processes on two cores:
# much of a browser or live-server test is waiting. TEST_WORKERS=0 runs in this process only.
TEST_WORKERS ?= 3
XDIST := $(if $(filter 0,$(TEST_WORKERS)),-p no:xdist,-n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder)

.PHONY: run test test-db install lint typecheck bench setup clean-venv

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"

# Reinstall whenever pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $@

install: $(VENV)/.installed

# A local configuration with a random secret key, written once and kept (git-ignored).
instance/config.py:
	@mkdir -p instance
	@$(BIN)/python -c "import secrets; print('# Local settings written by make run; keep private.'); print('ENV = \"development\"'); print('SECRET_KEY = %r' % secrets.token_urlsafe(48))" > $@
	@echo "instance/config.py written (development settings, random secret key)."

setup: install instance/config.py
	$(FLASK) db upgrade
	$(FLASK) demo

run: setup
	@echo "Portfolio : http://$(HOST):$(PORT)"
	$(FLASK) run --host $(HOST) --port $(PORT)

test: install
	$(BIN)/python -m pytest $(XDIST) $(PYTEST_ARGS)

# The database suite again, on the database named by PORTFOLIO_TEST_DATABASE_URL (PostgreSQL in CI).
test-db: install
	$(BIN)/python -m pytest $(XDIST) -m db $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

typecheck: install
	$(BIN)/mypy

bench: install
	$(BIN)/python bench/run.py

clean-venv:
	rm -rf $(VENV)
