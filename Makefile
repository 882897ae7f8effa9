# Every target sets up what it needs: a fresh clone needs only `make run` or `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000
# make run serves for the public CDS Hooks sandbox: it trusts the sandbox's (public) key, on loopback only.
CDS_AUTH ?= sandbox
export CDS_AUTH

.PHONY: setup run test test-dates mutants lint typecheck pytest bench load panel lock clean

# Two stamps: `make run` installs the runtime dependencies only; `make test` (and the other tool targets) add
# the dev extras (pytest, mypy, ruff, selenium, schemathesis, ...). pip prints what it collects and installs.
RUNTIME := $(VENV)/.runtime-installed
DEV     := $(VENV)/.dev-installed
WORKERS ?= 1

setup: $(DEV)

$(RUNTIME): pyproject.toml constraints.txt
	@echo "==> creating $(VENV) and installing the runtime dependencies (pinned in constraints.txt)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade --progress-bar on pip
	$(BIN)/pip install --progress-bar on -c constraints.txt -e .
	touch $(RUNTIME)

$(DEV): $(RUNTIME)
	@echo "==> adding the development tools (the dev extras)"
	$(BIN)/pip install --progress-bar on -c constraints.txt -e '.[dev]'
	touch $(DEV)

run: $(RUNTIME)
	$(BIN)/tacrolimus-cds serve --host $(HOST) --port $(PORT) --workers $(WORKERS)

test: lint typecheck pytest

lint: $(DEV)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(DEV)
	$(BIN)/mypy

pytest: $(DEV)
	$(BIN)/pytest

# The date-sensitive tests (those that read the suite's clock, tests/clock.py) at each instant in
# tests.clock.EDGES: month ends, the new year, a leap day, daylight-saving changes in Europe and the US, and
# just before midnight UTC at +14:00 and -12:00. Not in CI: about a dozen runs of half the suite.
test-dates: $(DEV)
	$(BIN)/python -m tests.dates

# Mutation testing of cards/*.py and cds/record.py (mutmut, [tool.mutmut] in pyproject.toml); writes
# docs/mutants-report.md with every survivor and its explanation (tests/mutants-explained.json). Not in CI.
# MUTANTS="cards.vaccines*" limits a run to some modules; results are kept in mutants/ between runs.
MUTANTS ?=
mutants: $(DEV)
	$(BIN)/python -m tests.mutants $(MUTANTS)

# The burden panel: 39 realistic patients, each call with the cards a pharmacist wants; prints cards per call,
# the info share per hook, and every call whose cards differ (exit 1 when one does).
panel: $(RUNTIME)
	$(BIN)/python -m bench.panel --check

bench: $(DEV)
	$(BIN)/python -m bench.evaluation

# A bounded load test on loopback: starts its own service (WORKERS workers, default 2) and stops it.
load: $(DEV)
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
