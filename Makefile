# matrix-msn: the two commands a newcomer needs are `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
CONFIG ?= config.yaml
REGISTRATION ?= registration-generated.yaml

.PHONY: install run test lint format

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip uv
	$(VENV)/bin/uv pip install --python $(PY) -q -e '.[sqlite,postgres,dev]'
	touch $@

install: $(VENV)/.installed

# Install, then run the bridge (SQLite by default). The first run writes config.yaml and
# stops so you can point it at your homeserver and MSN server.
run: install
	$(PY) -m bridge.setup_local --config $(CONFIG) --registration $(REGISTRATION)
	$(PY) -m bridge --config $(CONFIG)

# Install the test dependencies (Synapse, PostgreSQL) where missing and run every test.
test: install
	bash tests/install-test-deps.sh
	$(PY) -m pytest -p no:cacheprovider $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check bridge tests bench
	$(VENV)/bin/black --check bridge tests bench
	$(VENV)/bin/isort --check-only bridge tests bench
	$(VENV)/bin/mypy bridge

format: install
	$(VENV)/bin/isort bridge tests bench
	$(VENV)/bin/black bridge tests bench
