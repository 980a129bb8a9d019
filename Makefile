# The two commands a newcomer needs: `make demo` runs the whole suite, `make test` runs every test.
# Both create .venv and install into it themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test lint clean install widget

$(STAMP): pyproject.toml
	@echo "==> Creating $(VENV) and installing Kundresa (first run takes a few minutes) ..."
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --upgrade pip
	@$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

install: $(STAMP)

demo: $(STAMP)
	@$(BIN)/kundresa demo

test: $(STAMP)
	@scripts/ensure-chromium
	@$(BIN)/ruff check .
	@$(BIN)/lint-imports
	@$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	@$(BIN)/ruff check .
	@$(BIN)/lint-imports

clean:
	rm -rf var

widget:
	@scripts/build-widget
