"""The workflow through the `slurm` profile on a real single-node SLURM (slurm-wlm + munge on 127.0.0.1,
with two GPUs in name only), in one Snakemake run: the smoke config's training jobs compared with its local
run, and a 2-GPU data-parallel job that is cancelled part way, retried and resumed. Needs root; CI runs as
root."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, SMOKE, VENV_BIN, copy_workflow

from unrolled.layout import METRICS, experiment_file, run_file

pytestmark = pytest.mark.slow
CLUSTER = REPO / "tests" / "slurm" / "cluster.sh"


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    if os.environ.get("NO_SYSTEM_PACKAGES"):
        pytest.skip("NO_SYSTEM_PACKAGES is set: no apt-get install of slurm-wlm and munge, no daemons")
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


def _run_metrics(results: Path, experiments) -> dict:
    return {str(p.relative_to(results)): {k: v for k, v in json.loads(p.read_text()).items()
                                          if k in ("best_val_loss", "final_val_loss", "best_val_acc", "steps")}
            for exp in experiments for p in sorted((results / "runs" / exp).glob("*/seed*/metrics.json"))}


# A data-parallel experiment: 2 GPUs (the test cluster's are in name only, so 2 gloo ranks on the CPU), one
# seed, checkpoints every 25 steps, long enough (several seconds of training) to be cancelled part way.
# No dropout: a resumed rank 1 reseeds its RNG (rank 0's state is in the checkpoint).
DDP_EXPERIMENT = {
    "scale": "slurm test: 2-rank DDP", "dataset": "shakespeare_char", "metric": "val_loss", "baseline": "vanilla",
    "seeds": 1, "arms": {"vanilla": {}},
    "model": {"n_layer": 4, "n_head": 4, "n_embd": 128, "block_size": 64, "dropout": 0.0},
    "train": {"batch_size": 16, "max_iters": 200, "warmup_iters": 10, "eval_interval": 50, "eval_iters": 4,
              "checkpoint_interval": 25},
    "resources": {"gpu": 2, "mem_mb": 2000, "runtime": 10}}
DDP_TARGET = run_file("lm_ddp", "vanilla", 0, METRICS, f"{SMOKE}/runs")


@pytest.fixture(scope="module")
def through_slurm(slurm, smoke_run, tmp_path_factory):
    """One Snakemake run through the slurm profile, of every kind of training job: two single runs of the smoke
    config (the char LM's vanilla and A - I, seed 0), the ViT's ensembles (an ensemble job an arm) with their
    summary, and the DDP experiment's run, whose job is cancelled (scancel) once it has written a checkpoint, so
    that Snakemake's retry resubmits it. The other smoke runs, evaluation, theory and figure jobs are left out
    (nothing SLURM-specific in them, and every SLURM job waits on the executor's status polls). Beside it, at
    the same time (the executor's polls leave the CPUs idle), the DDP run trained locally, uninterrupted."""
    import time

    import yaml

    from unrolled.config import run_config
    from unrolled.train import CHECKPOINT

    env, state = slurm
    senv = {**os.environ, "PATH": f"{VENV_BIN}:{os.environ['PATH']}", **env}
    local, _ = smoke_run
    wf = copy_workflow(tmp_path_factory.mktemp("slurm_wf") / "wf")
    shutil.copytree(local / "data", wf / "data")  # same prepared data; everything after it runs on SLURM
    (wf / "ddp.yaml").write_text(yaml.safe_dump({"experiments": {"lm_ddp": DDP_EXPERIMENT}}))
    uninterrupted = tmp_path_factory.mktemp("ddp_local")
    config = run_config(DDP_EXPERIMENT, "vanilla", str(wf / "data" / "prepared"))
    reference = subprocess.Popen(
        [sys.executable, "-m", "unrolled", "train", "--config", json.dumps(config), "--seeds", "0", "--out",
         str(uninterrupted), "--processes", "2", "--threads", "1", "--no-progress"],
        cwd=wf, env=senv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    singles = [run_file("lm_char", arm, 0, METRICS, f"{SMOKE}/runs") for arm in ("vanilla", "a_minus_i")]
    targets = [experiment_file("vit_mnist", "summary.json", SMOKE), *singles, DDP_TARGET]
    proc = subprocess.Popen(
        ["snakemake", "--profile", "workflow/profiles/slurm", "--configfile", "config/smoke.yaml", "ddp.yaml",
         "--slurm-status-command", "squeue", "--slurm-init-seconds-before-status-checks", "1",
         "--slurm-keep-successful-logs", "--default-resources", "mem_mb=1000", "runtime=10", "--jobs", "5",
         *targets],
        cwd=wf, env=senv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    ckpt = wf / os.path.dirname(DDP_TARGET) / CHECKPOINT
    deadline = time.monotonic() + 300
    while not ckpt.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    queue = subprocess.run(["squeue", "-h", "-o", "%i %k"], env=senv, capture_output=True, text=True).stdout
    jobs = [line.split()[0] for line in queue.splitlines() if "lm_ddp" in line]  # the comment names the wildcards
    if not (ckpt.exists() and len(jobs) == 1):
        proc.kill()
        reference.kill()
        pytest.fail(f"no running DDP job with a checkpoint to cancel:\n{queue}\n{proc.communicate()[0][-3000:]}")
    job = subprocess.run(["scontrol", "show", "job", jobs[0]], env=senv, capture_output=True, text=True).stdout
    subprocess.run(["scancel", jobs[0]], env=senv, check=True)
    out, _ = proc.communicate(timeout=900)
    assert proc.returncode == 0, out[-4000:]
    assert "Nothing to be done" not in out
    assert reference.wait(timeout=900) == 0, reference.communicate()[0][-3000:]
    return {"wf": wf, "state": state, "run": wf / os.path.dirname(DDP_TARGET), "local": uninterrupted / "seed0",
            "job": job}


def test_smoke_workflow_through_slurm_matches_local(through_slurm, smoke_run):
    wf, state = through_slurm["wf"], through_slurm["state"]
    local, _ = smoke_run
    # The jobs went through SLURM: the controller allocated them and the executor kept their logs, a log a
    # SLURM job. Only the training jobs and the summary: the run configs are written where Snakemake runs.
    logs = list((wf / ".snakemake" / "slurm_logs").glob("*/*/*.log"))
    by_rule = {rule: sum(p.parts[-3] == rule for p in logs) for rule in {p.parts[-3] for p in logs}}
    # two single-run jobs and the DDP job's two, 2 ViT arms' ensemble jobs of 2 seeds each; the summary
    assert by_rule == {"rule_train": 2 + 2 + 2, "rule_summarize": 1}
    assert (state / "slurmctld.log").read_text().count("sched: Allocate JobId=") == len(logs)

    # ... and produced what the local run produced, run for run, bit for bit (CPU, 1 thread each).
    ran = _run_metrics(wf / SMOKE, ("lm_char", "vit_mnist"))
    local_runs = _run_metrics(local / SMOKE, ("lm_char", "vit_mnist"))
    assert len(ran) == 2 + 2 * 2 and ran == {run: local_runs[run] for run in ran}
    a = json.loads((wf / SMOKE / "vit_mnist" / "summary.json").read_text())["metrics"]
    b = json.loads((local / SMOKE / "vit_mnist" / "summary.json").read_text())["metrics"]
    assert a == b
    assert not (wf / SMOKE / "tables").exists() and not (wf / SMOKE / "lm_char").exists()  # only the targets ran


def _val_curve(run_dir: Path) -> list[tuple[str, str]]:
    rows = [line.split(",") for line in (run_dir / "history.csv").read_text().splitlines()]
    return [(r[0], r[2]) for r in rows]  # step, val_loss


def test_a_two_gpu_job_is_one_task_with_both_gpus_and_equals_the_local_run(through_slurm):
    """resources.gpu: 2 reaches sbatch unchanged (--gpus=2), in one task that starts torchrun's 2 ranks."""
    job = through_slurm["job"]
    assert "gpu:2" in job and "NumTasks=1 " in job, job
    slurm = json.loads((through_slurm["run"] / METRICS).read_text())
    local = json.loads((through_slurm["local"] / METRICS).read_text())
    assert slurm["world_size"] == local["world_size"] == 2
    for key in ("best_val_loss", "final_val_loss", "steps", "tokens"):
        assert slurm[key] == local[key], key
    assert _val_curve(through_slurm["run"]) == _val_curve(through_slurm["local"])


def test_a_cancelled_job_is_retried_and_resumes_from_its_checkpoint(through_slurm):
    slurm = json.loads((through_slurm["run"] / METRICS).read_text())
    # Two SLURM jobs, the cancelled one and its retry: the executor kept a log of each (named by job id), and
    # the controller allocated both.
    logs = list((through_slurm["wf"] / ".snakemake" / "slurm_logs" / "rule_train").glob("lm_ddp*/*.log"))
    assert len(logs) == 2
    allocated = (through_slurm["state"] / "slurmctld.log").read_text()
    assert all(f"sched: Allocate JobId={log.stem} " in allocated for log in logs)
    assert slurm["resumed_from_step"] and slurm["resumed_from_step"] % 25 == 0  # from a checkpoint, not step 0
    assert json.loads((through_slurm["local"] / METRICS).read_text())["resumed_from_step"] is None
