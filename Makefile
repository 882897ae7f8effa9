# Every target sets up what it needs: a fresh clone needs only `make run` or `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
HOST   ?= 127.0.0.1
PORT   ?= 8000
# make run serves for the public CDS Hooks sandbox: it trusts the sandbox's (public) key, on loopback only.
CDS_AUTH ?= sandbox
export CDS_AUTH

.PHONY: setup run test lint typecheck pytest bench load lock clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/tacrolimus-cds serve --host $(HOST) --port $(PORT)

test: lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python -m bench.evaluation

# A bounded load test on loopback: starts its own service (WORKERS workers, default 2) and stops it.
load: $(STAMP)
	$(BIN)/python -m bench.load

# Re-pin every dependency after changing pyproject.toml: installs the newest versions into a
# throw-away environment and writes what was installed to constraints.txt.
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet --upgrade pip
	.lock-venv/bin/pip install --quiet -e '.[dev,postgres]'
	.lock-venv/bin/pip freeze --exclude-editable | grep -v '^tacrolimus-cds' > constraints.txt
	rm -rf .lock-venv

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
