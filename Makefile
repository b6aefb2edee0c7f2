# The README's two commands: `make repro` (main job) and `make test` (test suite).
# Each creates or updates .venv with the CPU-pinned torch recipe (../shared/ENVIRONMENT.md).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
export DVC_NO_ANALYTICS := 1

.PHONY: venv repro test study library clean

$(BIN)/python:
	$(PY) -m venv $(VENV)

# Pin torch first: an unpinned torch resolves to a multi-GB CUDA build on CPU machines.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[train,cpu,dev,grid,mlflow,parquet]' torch==2.13.0
	touch $@

venv: $(VENV)/.installed

repro: venv
	@test -d .dvc || $(BIN)/dvc init --no-scm -q 2>/dev/null || $(BIN)/dvc init -q
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dvc repro

# one pytest worker per core; a worker takes the next test when it is free (the slowest take minutes, and are
# listed at the end so that a slower suite shows where the time went)
test: venv
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest -q -n auto --dist worksteal --durations=15 src tests

# The real-data study: trains what its grids lack (hours on a CPU; GPU advised), then writes
# reports/study.md and artifacts/laws/. Needs ../shared/data.
study: venv
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dvc repro studies/real_data/dvc.yaml

# The law library: its own DVC pipeline (library/dvc.yaml) validates the run store's datasets, releases
# artifacts/laws/ and writes the reports and the targets table of docs/results.md. Minutes on a CPU.
library: venv
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dvc repro library/dvc.yaml

clean:
	rm -rf $(VENV) .pytest_cache
