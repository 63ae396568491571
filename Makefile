# The two commands a newcomer needs: `make reproduce` and `make test`.
# Both create .venv on first use (about 3 minutes: torch is large) and reuse it afterwards.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CORES  ?= 2

.PHONY: reproduce data test test-fast lint dvc-share clean-venv

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

## Run the default reproduction (everything the workflow defines), offline-capable, on the CPU.
reproduce: $(STAMP)
	$(BIN)/snakemake --cores $(CORES)

## Prepare only the default data sets.
data: $(STAMP)
	$(BIN)/snakemake --cores $(CORES) data

## The whole test suite, including real Snakemake and DVC runs.
test: $(STAMP)
	$(BIN)/python -m pytest

## Unit tests only (no Snakemake runs, no registry downloads).
test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow"

lint: $(STAMP)
	$(BIN)/snakemake --lint

## Version the prepared data with DVC and push it to the default remote.
dvc-share: $(STAMP)
	$(BIN)/dvc add data/prepared
	$(BIN)/dvc push

clean-venv:
	rm -rf $(VENV)
