PYTHON ?= python3
VENV ?= .venv
PORT ?= 8501
# Only this machine reaches the app unless a team chooses to open it (with [auth] set up).
ADDRESS ?= 127.0.0.1
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench demo faults clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

run: $(STAMP)
	# Bytecode made once here, not at every start (nor at none, where bytecode writing is off).
	$(BIN)/python -m compileall -q cmoc_core
	$(BIN)/streamlit run app.py --server.address $(ADDRESS) --server.port $(PORT) --server.headless true

test: $(STAMP)
	$(BIN)/python tests/preflight.py
	$(BIN)/ruff check .
	$(BIN)/mypy cmoc_core
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(STAMP)
	$(BIN)/pip install --quiet -r requirements-bench.txt
	# Every benchmark runs and prints its table; the target fails if any missed its targets.
	status=0; \
	$(BIN)/python benchmarks/sync_scale.py || status=1; \
	$(BIN)/python benchmarks/composer_rerun.py || status=1; \
	$(BIN)/python benchmarks/kpi_scale.py --keep data/kpi-scale.db || status=1; \
	$(BIN)/python benchmarks/dashboard_rerun.py --keep data/kpi-scale.db || status=1; \
	$(BIN)/python benchmarks/first_view.py || status=1; \
	exit $$status

demo: $(STAMP)
	$(BIN)/python -m cmoc_core demo

faults: $(STAMP)
	$(BIN)/python -m tests.fault_matrix_report

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
