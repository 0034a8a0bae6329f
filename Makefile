# matrix-msn: the two commands a newcomer needs are `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
CONFIG ?= config.yaml
REGISTRATION ?= registration-generated.yaml

.PHONY: install run demo test lint format

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip uv
	$(VENV)/bin/uv pip install --python $(PY) -q --compile-bytecode -e '.[sqlite,postgres,dev]'
	touch $@

install: $(VENV)/.installed

# Install, then run the bridge (SQLite by default). The first run writes config.yaml and
# stops so you can point it at your homeserver and MSN server; the second writes the
# registration for the homeserver. Those stops are not errors (exit 0); setup_local's 5 and 6 are.
run: install
	@export MATRIX_MSN_LAUNCHER=make; \
	status=0; $(PY) -m bridge.setup_local --config $(CONFIG) --registration $(REGISTRATION) || status=$$?; \
	case $$status in \
	0) exec $(PY) -m bridge --config $(CONFIG) --registration $(REGISTRATION) ;; \
	2|3|4) exit 0 ;; \
	*) exit $$status ;; \
	esac

# A local demo: Synapse (installed in ~/.cache/matrix-msn if missing), the MSN test server and
# the bridge, with a Matrix account to log in with. Ctrl-C stops it; .demo/ keeps its state.
# DEMO_ARGS="--free-ports" avoids the usual ports (8008, 29340, 1863, 1864, 8081).
demo: install
	@bash tests/install-test-deps.sh --synapse-only
	@$(PY) -m tests.demo $(DEMO_ARGS)

# Install the test dependencies (Synapse, PostgreSQL) where missing and run every test, in
# TEST_WORKERS processes (pytest-xdist; each starts the end-to-end stacks its tests use). With
# "worksteal" a worker that runs out takes tests from the other: the slow end-to-end tests are
# shared at the end instead of left to whichever worker got them first ("load").
TEST_WORKERS ?= 2
test: install
	bash tests/install-test-deps.sh
	$(PY) -m pytest -p no:cacheprovider -n $(TEST_WORKERS) --dist worksteal $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check bridge tests bench
	$(VENV)/bin/black --check bridge tests bench
	$(VENV)/bin/isort --check-only bridge tests bench
	$(VENV)/bin/mypy bridge

format: install
	$(VENV)/bin/isort bridge tests bench
	$(VENV)/bin/black bridge tests bench
