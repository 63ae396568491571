"""A training job killed with Snakemake around it: after `--unlock` the rerun resumes from the
checkpoint (which is not a declared output, so nothing deletes it) and ends exactly where an
uninterrupted run ends."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time

import pytest
from conftest import SMOKE, VENV_BIN, copy_workflow, run

pytestmark = pytest.mark.slow
RUN = f"{SMOKE}/runs/lm_char/vanilla/seed0"
TARGET = f"{RUN}/metrics.json"
LONGER = ("experiments:\n  lm_char:\n"
          "    train: {max_iters: 300, eval_interval: 20, log_interval: 10, checkpoint_interval: 20}\n")


def _workflow(smoke_run, dest):
    wf = copy_workflow(dest)
    shutil.copytree(smoke_run[0] / "data", wf / "data")
    (wf / "longer.yaml").write_text(LONGER)
    return wf


def _snakemake(*extra):
    return ["snakemake", TARGET, "--cores", "1", "--configfile", "config/smoke.yaml", "longer.yaml", *extra]


def test_killed_training_job_resumes_and_matches(smoke_run, tmp_path):
    reference = _workflow(smoke_run, tmp_path / "reference")
    run(_snakemake(), cwd=reference)

    wf = _workflow(smoke_run, tmp_path / "killed")
    env = {**os.environ, "PATH": f"{VENV_BIN}:{os.environ['PATH']}"}
    proc = subprocess.Popen(_snakemake(), cwd=wf, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    ckpt = wf / RUN / "ckpt.pt"
    deadline = time.time() + 120
    while not ckpt.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # Snakemake and the training process with it
    proc.wait()
    assert ckpt.exists() and not (wf / TARGET).exists()

    run(["snakemake", "--unlock", "--configfile", "config/smoke.yaml", "longer.yaml"], cwd=wf)
    run(_snakemake("--rerun-incomplete"), cwd=wf)  # history.csv, rewritten while it trained, is incomplete
    log = (wf / "logs/train/lm_char/vanilla/seed0.log").read_text()
    assert "resumed" in log
    resumed = json.loads((wf / TARGET).read_text())
    expected = json.loads((reference / TARGET).read_text())
    assert resumed["resumed_from_step"] and resumed["steps"] == 300
    for key in ("best_val_loss", "final_val_loss", "best_step", "tokens", "config_hash"):
        assert resumed[key] == expected[key], key
    assert (wf / RUN / "history.csv").read_text() == (reference / RUN / "history.csv").read_text()
