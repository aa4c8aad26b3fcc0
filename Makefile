# Two entry points: `make run` (set up and start the service) and `make test` (set up and run the tests).
# Each creates its own virtual environment in .venv; PYTHON may point at any Python 3.11+.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test lint bench clean lock

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Installs are held to the versions in constraints.txt (made by `make lock`), so every checkout gets the same set.
$(VENV)/.installed: $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/pip install --quiet -c constraints.txt -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/pip install --quiet -c constraints.txt -e '.[test]'
	touch $@

# Re-pin: resolve pyproject.toml afresh in two clean virtual environments and write constraints.txt (the test
# set, for the Makefile) and requirements.lock (the production set, for the Dockerfile).
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv && .lock-venv/bin/pip install --quiet --upgrade pip
	.lock-venv/bin/pip install --quiet '.[test]'
	{ sed -n '1,3p' constraints.txt; .lock-venv/bin/pip freeze --exclude imatinib-cds; } > constraints.txt.new
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv && .lock-venv/bin/pip install --quiet --upgrade pip
	.lock-venv/bin/pip install --quiet -c constraints.txt.new '.[postgres]'
	{ sed -n '1,2p' requirements.lock; .lock-venv/bin/pip freeze --exclude imatinib-cds; } > requirements.lock.new
	mv constraints.txt.new constraints.txt && mv requirements.lock.new requirements.lock && rm -rf .lock-venv build

run: $(VENV)/.installed
	$(BIN)/cds-service serve

# Lint, the type checker in strict mode (pyproject.toml [tool.mypy]), then the tests with their coverage report.
test: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest --cov --cov-report=term

# The service beside a bare FastAPI echo under wrk (installed from Debian if missing), then the in-process cost.
bench: $(VENV)/.installed
	@command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
	$(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) *.egg-info bench/.peer-venv
