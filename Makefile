# Developer entry points. `make test` is what CI runs (.ci/run) and what the README says.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: venv demo test

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

venv: $(PY)

demo: $(PY)
	$(PY) -m pip install -q .
	$(VENV)/bin/shipper run --once -c config/demo.yaml

test: $(PY)
	scripts/install-test-deps.sh
	$(PY) -m pip install -q -e '.[test]'
	$(PY) -m pytest -q -p no:cacheprovider
