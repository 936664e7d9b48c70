# pmdesk developer tasks. POSIX make; everything runs from the local .venv.
.POSIX:

PYTHON ?= python3
VENV = .venv
BIN = $(VENV)/bin
PYTEST_ARGS ?=
# The suite runs on two workers (pytest-xdist; tests marked `alone` run while the other waits).
# PYTEST_WORKERS=0 runs it in this one process, in order: for --pdb, or to rule xdist out.
PYTEST_WORKERS ?= 2
QT_QPA_PLATFORM ?= offscreen

.PHONY: venv run test test-hardened lint dist

venv: $(BIN)/python

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

run: venv
	$(BIN)/pip install --quiet -e .
	$(BIN)/pmdesk

# pmdesk is byte-compiled first: with PYTHONDONTWRITEBYTECODE set (as on the CI machine) every
# pmdesk process the tests start would compile the package again (about 0.1 s each, hundreds).
test: venv
	$(BIN)/pip install --quiet -e '.[test]'
	$(BIN)/python -m compileall -q pmdesk > /dev/null
	QT_QPA_PLATFORM=$(QT_QPA_PLATFORM) scripts/with-test-env $(BIN)/python -m pytest \
		-n $(PYTEST_WORKERS) $(PYTEST_ARGS)

# Every screen test and the PostgreSQL variants of the core, command-line and reliability tests
# again, against a database set up by `pmdesk server init`, connected as its workstation role,
# each test's actor acting through a real server session (tests/helpers/acting.py;
# docs/server-enforced.md §8.2). What does not apply there skips with its reason
# (tests/helpers/hardened.py); the rest is deselected (tests/conftest.py). The load test stays out: it
# makes its own database, not a hardened one, and runs alone for a full minute.
HARDENED_TESTS = tests/core tests/ui tests/e2e tests/reliability \
	--ignore=tests/reliability/test_load_pg.py
test-hardened: venv
	$(BIN)/pip install --quiet -e '.[test]'
	$(BIN)/python -m compileall -q pmdesk > /dev/null
	QT_QPA_PLATFORM=$(QT_QPA_PLATFORM) scripts/with-test-env $(BIN)/python -m pytest \
		-n $(PYTEST_WORKERS) --pg-hardened --ignore=tests/e2e/test_frozen_app.py \
		$(HARDENED_TESTS) $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy pmdesk

dist: venv
	$(BIN)/pip install --quiet -e '.[package]'
	$(BIN)/pyinstaller --noconfirm pmdesk.spec
