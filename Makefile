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
	$(BIN)/pip install --quiet -e '.[train,cpu,dev]' torch==2.13.0
	touch $@

venv: $(VENV)/.installed

repro: venv
	@test -d .dvc || $(BIN)/dvc init --no-scm -q 2>/dev/null || $(BIN)/dvc init -q
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dvc repro

test: venv
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest -q src tests

# The real-data study (issue 6): trains what its grids lack (hours on a CPU; GPU advised), then writes
# reports/study.md and artifacts/laws/. Needs ../shared/data.
study: venv
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dvc repro studies/real_data/dvc.yaml

# The law library (issue 15): on the run store (reports/library_runs/), the leave-one-dataset-out calibration
# report (reports/calibration.md) and the scale-extrapolation report (reports/extrapolation.md), then the release:
# artifacts/laws/index.json and one law per dataset, each carrying its dataset's numbers from both reports; last,
# reports/targets.md and the README's targets table, read off both reports and the benchmarks' JSON.
# Minutes on a CPU; training the store is studies/library/gpu.sh's job.
library: venv
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m studies.library.validate
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m studies.library.extrapolate >/dev/null
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m studies.library.release
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m studies.library.targets >/dev/null

clean:
	rm -rf $(VENV) .pytest_cache
