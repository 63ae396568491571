"""The smoke workflow through the `slurm` profile on a real single-node SLURM (slurm-wlm + munge on
127.0.0.1), compared with the local run of the same config. Needs root; CI runs as root."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import REPO, copy_workflow, run
from unrolled.registry import ICL, experiment_file

pytestmark = pytest.mark.slow
CLUSTER = REPO / "tests" / "slurm" / "cluster.sh"


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("a local SLURM needs root (slurmd launches jobs); CI runs as root")
    if not shutil.which("apt-get") and not shutil.which("slurmctld"):
        pytest.skip("no Debian package manager to install slurm-wlm and munge")
    state = tmp_path_factory.mktemp("slurm")
    up = subprocess.run(["bash", str(CLUSTER), "up", str(state)], capture_output=True, text=True, timeout=600)
    try:
        assert up.returncode == 0, f"could not start SLURM:\n{up.stdout}\n{up.stderr}"
        yield {"SLURM_CONF": str(state / "slurm.conf")}, state
    finally:
        subprocess.run(["bash", str(CLUSTER), "down", str(state)], capture_output=True)


def _run_metrics(results: Path) -> dict:
    return {str(p.relative_to(results)): {k: v for k, v in json.loads(p.read_text()).items()
                                          if k in ("best_val_loss", "final_val_loss", "best_val_acc", "steps")}
            for p in sorted((results / "runs").rglob("metrics.json"))}


def test_smoke_workflow_through_slurm_matches_local(slurm, smoke_run, tmp_path):
    env, state = slurm
    local, _ = smoke_run
    wf = copy_workflow(tmp_path / "wf")
    shutil.copytree(local / "data", wf / "data")  # same prepared data; everything after it runs on SLURM
    # Every training, evaluation and summary job through SLURM; the theory and figure jobs (nothing
    # SLURM-specific, and the suite's time) are left out.
    targets = [experiment_file(exp, name) for exp, name in
               (("lm_char", "summary.json"), ("lm_char", "zeroshot.json"), ("vit_mnist", "summary.json"),
                ("icl_dense", "summary.json"), ("icl_dense", ICL))]
    proc = run(["snakemake", "--profile", "workflow/profiles/slurm", "--configfile", "config/smoke.yaml",
                "--slurm-status-command", "squeue", "--slurm-init-seconds-before-status-checks", "1",
                "--slurm-keep-successful-logs",
                "--default-resources", "mem_mb=1000", "runtime=10", "--jobs", "4", *targets],
               cwd=wf, env_extra=env, timeout=1200)
    assert "Nothing to be done" not in proc.stdout + proc.stderr

    # The jobs went through SLURM: the controller allocated them and the executor kept their logs.
    train_logs = list((wf / ".snakemake" / "slurm_logs").glob("rule_train*/**/*.log"))
    # smoke: 6 LM and 2 ICL arms, 2 seeds each, one job per run; 2 ViT arms, one ensemble job of 2 seeds each
    assert len(train_logs) == 2 * 6 + 2 * 2 + 2
    assert len(list((wf / ".snakemake" / "slurm_logs" / "rule_zeroshot").rglob("*.log"))) == 2 * 6
    allocated = (state / "slurmctld.log").read_text().count("sched: Allocate JobId=")
    assert allocated >= len(train_logs)

    # ... and produced what the local run produced, run for run, bit for bit (CPU, 1 thread each).
    assert _run_metrics(wf / "results") == _run_metrics(local / "results")
    for exp in ("lm_char", "vit_mnist", "icl_dense"):
        a = json.loads((wf / "results" / exp / "summary.json").read_text())["metrics"]
        b = json.loads((local / "results" / exp / "summary.json").read_text())["metrics"]
        assert a == b
    for path in ("lm_char/zeroshot.json", "icl_dense/icl.json"):
        a, b = (json.loads((root / "results" / path).read_text()) for root in (wf, local))
        assert a == b, path
    assert not (wf / "results" / "tables").exists()  # only what the targets need ran
