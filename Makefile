# Two entry points: `make run` (set up and start the service) and `make test` (set up and run the tests).
# Each creates its own virtual environment in .venv; PYTHON may point at any Python 3.11+.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

run: $(VENV)/.installed
	$(BIN)/cds-service serve

test: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/pytest

# The service beside a bare FastAPI echo under wrk (installed from Debian if missing), then the in-process cost.
bench: $(VENV)/.installed
	@command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
	$(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) *.egg-info bench/.peer-venv
