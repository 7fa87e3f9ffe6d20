# cxlib: customer-experience diagnostics. Run `make` for the list of targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
CLIENT ?= demo
DEMO_CUSTOMERS ?= 20000
SEED ?= 42
DEMO_DATA := data/demo/raw/.generated

.DEFAULT_GOAL := help
.PHONY: help setup demo-data report reports test lab clean

help: ## list the targets
	@echo "cxlib: customer-experience diagnostics"
	@echo
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'
	@echo
	@echo "Variables: CLIENT=$(CLIENT) DEMO_CUSTOMERS=$(DEMO_CUSTOMERS) SEED=$(SEED)"

# Re-installs only when pyproject.toml is newer than the last install.
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	$(PY) -m ipykernel install --sys-prefix --name cxlib --display-name "Python (cxlib)" >/dev/null
	@touch $(STAMP)

setup: $(STAMP) ## create .venv and install cxlib with its dev extras (idempotent)

$(DEMO_DATA): $(STAMP) cxlib/demo.py
	$(PY) -m cxlib demo --out data/demo --customers $(DEMO_CUSTOMERS) --seed $(SEED)
	@touch $(DEMO_DATA)

demo-data: $(DEMO_DATA) ## generate the demo client's raw data and truth.json (if missing)

report: $(STAMP) ## run the report for one client: make report CLIENT=demo
	@if [ "$(CLIENT)" = "demo" ]; then $(MAKE) --no-print-directory $(DEMO_DATA); fi
	$(PY) -m cxlib report --client $(CLIENT) --seed $(SEED)
	$(PY) -m cxlib check-report --client $(CLIENT)

reports: $(STAMP) $(DEMO_DATA) ## run every configured client's report, in parallel; landing page reports/index.html
	$(PY) -m cxlib reports --seed $(SEED)

test: $(STAMP) $(DEMO_DATA) ## run every test, notebooks included (nbval)
	$(PY) -m pytest tests notebooks --nbval-lax -p no:cacheprovider

lab: $(STAMP) ## open JupyterLab with the project's kernel
	$(VENV)/bin/jupyter lab notebooks/

clean: ## remove reports, the generated demo data and the virtual environment
	rm -rf reports/ data/demo/raw data/demo/truth.json $(VENV) *.egg-info .pytest_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
