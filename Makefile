# cxlib: customer-experience diagnostics. Run `make` for the list of targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
CLIENT ?= demo
DEMO_CUSTOMERS ?= 20000
SEED ?=
SEED_ARG := $(if $(SEED),--seed $(SEED))
ENGINE ?=
ENGINE_ARG := $(if $(ENGINE),--engine $(ENGINE))
NOTEBOOK_SCRIPTS := $(wildcard notebooks/[0-9][0-9]_*.py)
DEMO_DATA := data/demo/raw/.generated

.DEFAULT_GOAL := help
.PHONY: help setup java demo-data notebooks report reports test bench lab clean

help: ## list the targets
	@echo "cxlib: customer-experience diagnostics"
	@echo
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'
	@echo
	@echo "Variables: CLIENT=$(CLIENT) DEMO_CUSTOMERS=$(DEMO_CUSTOMERS) SEED=$(SEED) (empty: cxlib's default seed)"
	@echo "           ENGINE=$(ENGINE) (duckdb or spark; empty: as the client.yml says)"

# Re-installs only when pyproject.toml is newer than the last install.
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

setup: $(STAMP) java ## create .venv and install cxlib with its dev extras, and Java for Spark (idempotent)

java: ## Java 17+ for the Spark tests: installs openjdk-17-jre-headless when missing
	@.ci/java

$(DEMO_DATA): $(STAMP) cxlib/demo/*.py
	$(PY) -m cxlib demo --out data/demo --customers $(DEMO_CUSTOMERS) $(SEED_ARG)
	@touch $(DEMO_DATA)

demo-data: $(DEMO_DATA) ## generate the demo client's raw data and truth.json (if missing)

# The notebooks' source is notebooks/NN_name.py (py:percent). jupytext pairs each with a
# git-ignored .ipynb for JupyterLab and nbval; --sync updates whichever side is older, so an
# edit made in JupyterLab (which saves both) is never overwritten.
notebooks: $(STAMP) ## pair every notebook script with its .ipynb (jupytext --sync)
	@$(VENV)/bin/jupytext --sync --quiet $(NOTEBOOK_SCRIPTS)

report: $(STAMP) $(if $(filter spark,$(ENGINE)),java) ## run the report for one client: make report CLIENT=demo
	@if [ "$(CLIENT)" = "demo" ]; then $(MAKE) --no-print-directory $(DEMO_DATA); fi
	$(PY) -m cxlib report --client $(CLIENT) $(SEED_ARG) $(ENGINE_ARG)
	$(PY) -m cxlib check-report --client $(CLIENT) --pdf

reports: $(STAMP) $(DEMO_DATA) ## run every configured client's report, in parallel; landing page reports/index.html
	$(PY) -m cxlib reports $(SEED_ARG)

test: $(STAMP) java $(DEMO_DATA) notebooks ## run every test, notebooks included (nbval)
	$(PY) -m pytest tests notebooks/*.ipynb --nbval-lax -p no:cacheprovider --durations=15

bench: $(STAMP) $(DEMO_DATA) notebooks ## the quick benchmarks (demo report, drivers, 1M events); figures in benchmarks/README.md
	$(PY) benchmarks/bench_report.py --clients demo
	$(PY) benchmarks/bench_drivers.py
	$(PY) benchmarks/bench_journeys.py --sizes 1000000
	$(PY) benchmarks/bench_wide_ingest.py

lab: $(STAMP) notebooks ## open JupyterLab on the notebooks (edits save to the .py scripts too)
	$(VENV)/bin/jupyter lab notebooks/

clean: ## remove reports, the generated demo data and the virtual environment
	rm -rf reports/ data/demo/raw data/demo/truth.json $(VENV) *.egg-info .pytest_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
