# The two commands a newcomer needs: `make reproduce` and `make test`.
# Both create .venv on first use (about 3 minutes: torch is large) and reuse it afterwards.
SHELL  := bash
.SHELLFLAGS := -eo pipefail -c
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CORES  ?= 2
ifneq ($(shell [ "$(CORES)" -ge 1 ] 2>/dev/null && echo ok),ok)
$(error CORES=$(CORES): give Snakemake at least one core, e.g. make reproduce CORES=2)
endif
ifdef NO_VENV
# A machine whose python3 already has every package (a GPU node without internet, with snakemake brought
# as wheels: tools/gpu-slice.sh): no venv; the package runs from src/.
STAMP  :=
PY     := python3
SMK    := python3 -m snakemake
export PYTHONPATH := $(abspath src)$(if $(PYTHONPATH),:$(PYTHONPATH))
else
PY     := $(BIN)/python
SMK    := $(BIN)/snakemake
# Rules call `python -m unrolled`: put the venv first on PATH for them.
export PATH := $(abspath $(BIN)):$(PATH)
endif
# Snakemake finds workflow/Snakefile and its default profile (workflow/profiles/default) itself: the profile
# reruns jobs whose outputs a kill left incomplete (history.csv is rewritten while training).
SNAKEMAKE := $(SMK)
# The papers' claims in their own regimes on the CPU (`make regime`): its config, results in results/regime/.
REGIME_CONFIG ?= config/regime.yaml
# The one-GPU tier: its config, through the gpu profile (local GPUs) instead of the default one.
GPU_CONFIG ?= config/gpu.yaml
GPU_TIER  := --configfile $(GPU_CONFIG)
SNAKEMAKE_GPU := $(SMK) --workflow-profile none --profile workflow/profiles/gpu
SLICE_OUT ?= logs/slices
# The page `make plots` has `dvc plots show` fill in, with Vega inlined so that it draws offline.
PLOTS_PAGE := .dvc/plots/offline.html
# A quiet step: its output goes to a log, shown (its end) only if it fails.
QUIETLY = > $(1) 2>&1 || { tail -n 40 $(1); echo "failed: the whole log is $(1)"; exit 1; }
# Outputs pulled by `make pull-reference` (or `make pull`, which re-stamps them with --touch --drop-metadata) have
# no run times: the report leaves them out of its runtime statistics, and this says so in one line instead of
# one warning per file.
UNTOUCHED := awk '/^Missing metadata for file/ {n++; next} {print} END {if (n) print n " outputs were \
	pulled (make pull or pull-reference), not made here: their jobs are left out of the runtime statistics"}'
# This machine's pip config names index folders that may not exist; silence that noise only.
QUIET_PIP := { grep -v "^WARNING: Location 'file:" || true; }

.DEFAULT_GOAL := help
.PHONY: help plots check reproduce regime _reference_data reproduce-gpu rehearse-gpu figures-gpu gpu-wheels data figures report status test test-fast lint share pull \
	pull-reference clean-venv

ifndef NO_VENV
$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip 2>&1 | $(QUIET_PIP)
	$(BIN)/pip install --quiet -r requirements.txt 2>&1 | $(QUIET_PIP)
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e . 2>&1 | $(QUIET_PIP)
	touch $@
endif

## This list: every target and what it does (the default goal).
help:
	@awk '/^## /{doc = doc substr($$0, 4) "\n"; next} /^[a-z][a-z-]*:/ && doc {split($$0, t, ":"); \
		printf "%s\n", t[1]; n = split(doc, lines, "\n"); \
		for (i = 1; i < n; i++) printf "    %s\n", lines[i]} {doc = ""}' $(MAKEFILE_LIST)

## Run the default reproduction (everything the workflow defines), offline-capable, on the CPU,
## then build the HTML report of every figure and the table.
reproduce: $(STAMP)
	$(SNAKEMAKE) --cores $(CORES) $(SNAKEMAKE_ARGS)
	$(MAKE) --no-print-directory results/report.html

## The papers' claims in their own regimes, on the CPU (config/regime.yaml, into results/regime/): paper 1's
## char LM where vanilla over-fits, the dropout-tuned control, the regime map across corpus sizes, the ViT on
## a subset it over-fits, and paper 2 at matched size; then its report. Hours on 2 cores (docs/results.md).
regime: $(STAMP)
	$(SNAKEMAKE) --cores $(CORES) --configfile $(REGIME_CONFIG) $(SNAKEMAKE_ARGS)
	$(SNAKEMAKE) --report results/regime/report.html --configfile $(REGIME_CONFIG) $(SNAKEMAKE_ARGS) 2>&1 | $(UNTOUCHED)

# Rebuilt only when the workflow's last outputs are newer, so a second `make reproduce` does nothing.
results/report.html: results/tables/paper_vs_reproduced.md results/metrics_all.json
	$(SNAKEMAKE) --report $@ $(SNAKEMAKE_ARGS) 2>&1 | $(UNTOUCHED)

## The one-GPU tier (config/gpu.yaml) through the gpu profile, into results/gpu/: every experiment, then the
## table, the figures and the report. SLICE=n (or SLICE=next) runs one slice instead, as a GPU node does
## (tools/gpu-slice.sh: one deadline, jobs that fit it, their archive in SLICE_OUT). The slices and their
## state: `python -m unrolled slices --configfile config/gpu.yaml`.
reproduce-gpu: $(STAMP)
ifdef SLICE
	PYTHON=$(PY) GPU_CONFIG=$(GPU_CONFIG) tools/gpu-slice.sh $(SLICE) $(SLICE_OUT)
else
	$(SNAKEMAKE_GPU) $(GPU_TIER) $(SNAKEMAKE_ARGS)
	$(SNAKEMAKE) --report results/gpu/report.html $(GPU_TIER) $(SNAKEMAKE_ARGS)
endif

REHEARSAL ?= .rehearsal
## The GPU slice path rehearsed on the CPU: a stand-in for the GPU node (its packages only, plus the wheels
## of gpu-wheels) runs a smoke-size slice under its deadline; its archive is unpacked in a second copy and
## summarized. Fails unless a summary with paired seeds comes out (tools/rehearse_gpu.py; a few minutes).
rehearse-gpu: $(STAMP)
	$(PY) tools/rehearse_gpu.py $(REHEARSAL)

## The GPU tier's summaries, figures, table and report from the seeds finished so far (slices made on any
## machine and copied into results/gpu/runs/), training nothing: CPU, seconds.
figures-gpu: $(STAMP)
	$(SNAKEMAKE) figures table metrics --cores $(CORES) $(GPU_TIER) --config partial=True $(SNAKEMAKE_ARGS)
	$(SNAKEMAKE) --report results/gpu/report.html $(GPU_TIER) --config partial=True $(SNAKEMAKE_ARGS) 2>&1 | $(UNTOUCHED)

## Snakemake and what it needs that a GPU node's Python lacks, as wheels for Python 3.12 in .whl/ (rebuilt
## whole), and the commit in COMMIT (untracked: it travels with the tree, and runs record it where no .git
## does); tools/gpu-slice.sh's caller carries both (the node has no internet).
gpu-wheels: $(STAMP)
	$(PY) tools/gpu_wheels.py .whl
	$(PY) -c "from unrolled.provenance import git_sha; print(git_sha())" > COMMIT

## Prepare only the default data sets.
data: $(STAMP)
	$(SNAKEMAKE) --cores $(CORES) $(SNAKEMAKE_ARGS) data

## Redraw every figure and the table from the summaries and histories (after `make pull`: seconds).
figures: $(STAMP)
	$(SNAKEMAKE) figures table --cores $(CORES) $(SNAKEMAKE_ARGS) --forcerun figure across_training_figure table

## An HTML report with every figure and its caption: results/report.html (always rebuilt).
report: $(STAMP)
	$(SNAKEMAKE) --report results/report.html $(SNAKEMAKE_ARGS) 2>&1 | $(UNTOUCHED)

## Every run of the config: done, running (step/total, last val loss, ETA), stopped or not started.
## Reads the run folders only, so it works beside a running `make reproduce` or on a cluster's submit host.
## Another registry or one experiment: make status STATUS_ARGS="--configfile config/paper.yaml p1_shakespeare_char"
status: $(STAMP)
	$(PY) -m unrolled status $(STATUS_ARGS)

## The whole test suite, including real Snakemake and DVC runs. Run as root, the SLURM test installs Debian's
## slurm-wlm and munge with apt-get and starts their daemons for the test (stopped after); NO_SYSTEM_PACKAGES=1
## skips it.
test: $(STAMP)
	@if [ "$$(id -u)" = 0 ] && [ -z "$(NO_SYSTEM_PACKAGES)" ] && ! command -v slurmctld >/dev/null; then \
		echo "make test: as root, tests/test_slurm.py installs slurm-wlm and munge with apt-get and starts their \
	daemons for the test (NO_SYSTEM_PACKAGES=1 skips it)"; fi
	NO_SYSTEM_PACKAGES=$(NO_SYSTEM_PACKAGES) $(BIN)/python -m pytest

## Everything but the end-to-end Snakemake/DVC runs (marked slow).
test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow"

## Snakemake's linter, the Snakefile formatter's check and the Python linter (CI runs this before the tests).
lint: $(STAMP)
	$(SNAKEMAKE) --lint
	$(BIN)/snakefmt --check workflow
	$(BIN)/ruff check src tests tools benchmarks

## Version data/prepared and results/ with DVC and push them: the data to your default remote, the results
## to the reference store (reference/dvc-store, results.dvc's remote); then commit the two .dvc files and
## reference/ so that a colleague's `make pull` (or `dvc pull`) gets exactly these.
share: $(STAMP)
	$(BIN)/dvc add data/prepared results
	$(BIN)/dvc push

## Restore DVC-tracked outputs (the results from the reference store, the prepared data from your default
## remote), then re-stamp every job's outputs in DAG order (--forceall: finished runs do not depend on the
## data's times, so only touching what looks out of date would leave them older than their summaries):
## `dvc pull` writes files in arbitrary order, and Snakemake would otherwise rerun jobs.
pull: $(STAMP)
	@test -e data/prepared.dvc || { echo "make pull: no data/prepared.dvc here: \`make share\` makes it on the \
	machine that trained; to restore the published results and rebuild their data, make pull-reference"; exit 2; }
	$(BIN)/dvc pull
	$(SNAKEMAKE) --touch --forceall --drop-metadata --cores 1 $(SNAKEMAKE_ARGS)

## The published results (reference/dvc-store, in git; no checkpoints), offline, without retraining: restore
## results/ (`dvc pull`; FORCE=1 passes --force, after an interrupted pull), then for the default config and,
## where its results were published, config/regime.yaml: build its data sets (data_targets) from the pinned
## sources (the prepared data is too large for git; about a minute; a plain `dvc pull` needs none, only
## training more does), and check that `snakemake -n` plans nothing: the finished runs no longer depend on their
## data, and the published results count as up to date as pulled, so nothing is re-stamped. A line per step;
## the logs are in logs/pull-reference/. Then `make figures` redraws every figure and the table byte for byte.
pull-reference: $(STAMP)
	@mkdir -p logs/pull-reference
	@echo "pull-reference: results/ from reference/dvc-store"
	@$(BIN)/dvc pull $(if $(FORCE),--force) results.dvc $(call QUIETLY,logs/pull-reference/dvc.log)
	@$(MAKE) --no-print-directory _reference_data STEP=default
	@if [ -e results/regime/metrics_all.json ] && [ -z "$(SNAKEMAKE_ARGS)" ]; then \
		$(MAKE) --no-print-directory _reference_data STEP=regime SNAKEMAKE_ARGS="--configfile $(REGIME_CONFIG)"; fi
	@echo "pull-reference: done: $$(find results -type f | wc -l) files in results/, \
	$$(ls data/prepared | wc -l) data sets; \`snakemake -n\` plans nothing; \`make figures\` redraws them"

# pull-reference's step for one config (STEP names its logs): its data sets, then the check that nothing is
# planned.
_reference_data:
	@echo "pull-reference ($(STEP)): its data sets (data_targets), from the pinned sources"
	@$(SNAKEMAKE) --cores $(CORES) data $(SNAKEMAKE_ARGS) \
		$(call QUIETLY,logs/pull-reference/$(STEP)-data.log)
	@$(SNAKEMAKE) -n $(SNAKEMAKE_ARGS) > logs/pull-reference/$(STEP)-plan.log 2>&1
	@grep -q "Nothing to be done" logs/pull-reference/$(STEP)-plan.log || \
		{ echo "pull-reference: snakemake -n still plans jobs: logs/pull-reference/$(STEP)-plan.log"; exit 1; }

## The validation curves of every run (dvc.yaml's plots), in dvc_plots/index.html, drawn offline (plain
## `dvc plots show` works too, with DVC's own page, which loads Vega from the internet when opened).
plots: $(STAMP)
	$(PY) tools/dvc_plots_page.py $(PLOTS_PAGE)
	$(BIN)/dvc plots show --html-template $(PLOTS_PAGE)

## After your own `make reproduce` (and `make regime`): does each paired difference agree with the published
## reference (same direction, within its seed spread)? A table per config; exit status 2 on a real
## disagreement. Byte-identical results hold only on the same CPU and library versions.
check: $(STAMP)
	$(PY) -m unrolled check
	@if [ -e results/regime/metrics_all.json ]; then $(PY) -m unrolled check --configfile $(REGIME_CONFIG); else \
		echo "check: no results/regime/metrics_all.json: \`make regime\` (or make pull-reference) makes it; not checked"; fi

## Remove the virtual environment (the next command that needs it builds it again).
clean-venv:
	rm -rf $(VENV)
