# The two commands a newcomer needs: `make demo` runs the whole suite, `make test` runs every test.
# Both create .venv and install into it themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# The suite runs on pytest-xdist workers (one per core, at most 4), a whole test file at a time
# (tests/conftest.py says why that is safe). Not --dist loadgroup: xdist 3.8 tags the groups
# into node ids the way pytest 9.2 no longer reads, so groups are ignored. Serially:
# make test PYTEST_ARGS="-n 0".
PYTEST_PARALLEL ?= -n auto --maxprocesses=4 --dist loadfile

.PHONY: demo test lint clean install widget

# The exact versions CI and Docker use come from the lock files (README: "Dependencies").
$(STAMP): pyproject.toml requirements-dev.lock
	@echo "==> Creating $(VENV) and installing Kundresa (first run takes a few minutes) ..."
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --upgrade pip
	@$(BIN)/python -m pip install --quiet -r requirements-dev.lock
	@$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $@

install: $(STAMP)

demo: $(STAMP)
	@$(BIN)/kundresa demo

test: $(STAMP)
	@scripts/ensure-chromium
	@scripts/ensure-jdbc-driver
	@$(BIN)/ruff check .
	@$(BIN)/ruff format --check .
	@$(BIN)/lint-imports
	@$(BIN)/python -m pytest $(PYTEST_PARALLEL) $(PYTEST_ARGS)

lint: $(STAMP)
	@$(BIN)/ruff check .
	@$(BIN)/ruff format --check .
	@$(BIN)/lint-imports

clean:
	rm -rf var

widget:
	@scripts/build-widget
