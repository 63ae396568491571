"""The one-GPU tier (config/gpu.yaml) end to end through Snakemake, at smoke size on the CPU: a copy of the
tier with every experiment, arm, recipe option, sweep and stand-in kept and only the sizes shrunk. Its
slices run one at a time; a slice cut off by SIGTERM (a slice's time limit) checkpoints, and the second
invocation resumes it; finished slices are never rerun; the partial summaries show the finished seeds; the
whole tier then writes the table and figures."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time

import pytest
import yaml
from conftest import REPO, VENV_BIN, copy_workflow, run
from rehearse_gpu import SMOKE, TINY, place_tinyshakespeare, write_smoke

from unrolled import layout, slices
from unrolled.registry import load_config

pytestmark = pytest.mark.slow
SLOW_EXPERIMENT = "p2_lm_shakespeare"  # its jobs train long enough on the CPU to be cut off mid-run


@pytest.fixture(scope="module")
def tier(smoke_run, tmp_path_factory):
    """A workflow copy holding the smoke-size tier, the packaged sources the smoke run fetched, and
    tiny-shakespeare where a user without internet puts it."""
    smoke_wf, _ = smoke_run
    wf = copy_workflow(tmp_path_factory.mktemp("gpu_tier") / "wf")
    write_smoke(wf, slow=SLOW_EXPERIMENT)
    for source in ("shakespeare", "mnist5k"):
        shutil.copytree(smoke_wf / "data" / "raw" / source, wf / "data" / "raw" / source)
    place_tinyshakespeare(wf)
    return wf


def _config(wf):
    cwd = os.getcwd()
    os.chdir(wf)  # the registry's paths are relative to the workflow's folder
    try:
        return load_config([SMOKE])
    finally:
        os.chdir(cwd)


def _snakemake(wf, *args, **kwargs):
    return run([VENV_BIN / "snakemake", "--cores", "2", *args, "--configfile", SMOKE], cwd=wf, **kwargs)


def _targets(wf, which):
    proc = run([VENV_BIN / "python", "-m", "unrolled", "-q", "slices", "--configfile", SMOKE, "--targets", which],
               cwd=wf)
    return proc.stdout.split()


def test_the_smoke_tier_keeps_every_experiment_of_the_gpu_tier(tier):
    config = _config(tier)
    gpu = yaml.safe_load((REPO / "config" / "gpu.yaml").read_text())
    # ImageNet 16x16 and CIFAR-10 are not here: Fashion-MNIST's stand-in runs, and says why.
    assert set(config["left_out"]) == {"p1_vit_imagenet16", "p1_vit_cifar10"}
    assert set(config["experiments"]) == set(gpu["experiments"]) - set(config["left_out"])
    vit = config["experiments"]["p1_vit_fashion"]
    assert vit["stand_in"]["for"] == ["p1_vit_imagenet16", "p1_vit_cifar10"]
    assert "imagenet16" in vit["stand_in"]["because"] and "data/external/imagenet16" in vit["stand_in"]["because"]
    assert config["figures"]["p1_vit_violin"]["experiment"] == "p1_vit_fashion"
    # The recipe options reach the stand-in: the paper's init and decay, counted in epochs.
    assert vit["model"]["init"] == "torch" and vit["train"]["decay"] == "all" and vit["train"]["epochs"] == 1
    tuned = config["experiments"]["p1_tinyshakespeare"]["arms"]["a_minus_i_tuned"]["tune"]
    assert tuned["values"] == {f"a_minus_i_0p{d}": d / 10 for d in range(1, 4)}  # A - I's own sweep arms only
    packed = slices.slices(config)
    # Every slice pairs: slice 1 is the char LM's vanilla and A - I, side by side.
    assert [(j["experiment"], j["arm"]) for j in packed[0]] == [("p1_tinyshakespeare", "vanilla"),
                                                               ("p1_tinyshakespeare", "a_minus_i")]
    assert slices.unpaired(config, packed) == []


def test_slices_run_resume_after_sigterm_and_accumulate(tier):
    wf = tier
    config = _config(wf)
    packed = slices.slices(config)
    # Slice 1 alone: the char LM's vanilla and A - I, nothing else trained.
    _snakemake(wf, *_targets(wf, "1"))
    first = {t: os.stat(wf / t).st_mtime_ns for job in packed[0] for t in job["targets"]}
    assert not (wf / "results" / "gpu" / "runs" / "p1_vit_fashion").exists()

    # Partial summaries: the paired seeds of the arms finished so far, nothing trained. (Their figures, drawn
    # from a tier with one experiment begun: `make rehearse-gpu`'s `make figures-gpu`, tests/test_gpu_slice.py.)
    _snakemake(wf, "table", "--config", "partial=True")
    assert {t: os.stat(wf / t).st_mtime_ns for t in first} == first  # summarizing retrains nothing
    summary = json.loads((wf / "results/gpu/p1_tinyshakespeare/summary.json").read_text())
    assert summary["arms"].keys() == {"vanilla", "a_minus_i"}
    (comparison,) = summary["metrics"]["best_val_loss"]["comparisons"]
    assert (comparison["arm"], comparison["reference"], comparison["n"]) == ("a_minus_i", "vanilla", 2)
    table = (wf / "results" / "gpu" / "tables" / "paper_vs_reproduced.md").read_text()
    assert "- `p1_vit_fashion`: no seed finished in the baseline and another arm yet" in table

    # A slice cut off by its time limit: SIGTERM to Snakemake's process group (as `timeout` sends it) while
    # the slow experiment's job trains; the job checkpoints and stops.
    number = next(i for i, s in enumerate(packed, 1) if any(j["experiment"] == SLOW_EXPERIMENT for j in s))
    job = next(j for j in packed[number - 1] if j["experiment"] == SLOW_EXPERIMENT)
    before = [t for s in packed[: number - 1] for j in s for t in j["targets"]]
    _snakemake(wf, *before)  # every slice before it (the sweep and the tuned arms among them)
    progress = wf / layout.run_file(job["experiment"], job["arm"], job["seeds"][0], "progress.json",
                                      layout.runs_root("results/gpu"))
    env = {**os.environ, "PATH": f"{VENV_BIN}:{os.environ['PATH']}"}
    # The slow job's own targets: slice numbers follow the measured times, which slice 1 has just changed.
    proc = subprocess.Popen([VENV_BIN / "snakemake", "--cores", "2", *job["targets"], "--configfile", SMOKE],
                            cwd=wf, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    deadline = time.time() + 300
    while not progress.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, "the slow job ended before it was cut off:\n" + proc.communicate()[0][-3000:]
    os.killpg(proc.pid, signal.SIGTERM)
    log = proc.communicate(timeout=300)[0]
    assert proc.returncode != 0, "the slice finished before it was cut off:\n" + log[-2000:]
    ckpt = wf / layout.job_dir(layout.arm_dir(job["experiment"], job["arm"], layout.runs_root("results/gpu")),
                               job["seeds"]) / layout.CHECKPOINT
    assert ckpt.exists(), log[-3000:]
    assert not (wf / job["targets"][0]).exists()

    # The second invocation: Snakemake unlocks, reruns the incomplete job, which resumes from its checkpoint.
    run([VENV_BIN / "snakemake", "--unlock", "--configfile", SMOKE], cwd=wf)
    _snakemake(wf, "--rerun-incomplete", *job["targets"])
    assert json.loads((wf / job["targets"][0]).read_text()) == {"seeds": job["seeds"]}  # the ensemble's record
    resumed = json.loads(progress.with_name(layout.METRICS).read_text())  # its first member's
    assert 0 < resumed["resumed_from_step"] < 400 and resumed["steps"] == 400
    assert {t: os.stat(wf / t).st_mtime_ns for t in first} == first  # slice 1 was not rerun


def test_the_whole_tier_writes_table_and_figures(tier):
    wf = tier
    _snakemake(wf, "--rerun-incomplete")
    again = _snakemake(wf)
    assert "Nothing to be done" in again.stdout + again.stderr
    runs = wf / "results" / "gpu" / "runs"
    sweep = json.loads((wf / "results/gpu/p1_char_dropout_sweep/summary.json").read_text())
    means = {a: d["mean"] for a, d in sweep["metrics"]["best_val_loss"]["arms"].items()}
    for arm, family in (("vanilla_tuned", "vanilla_0p"), ("a_minus_i_tuned", "a_minus_i_0p")):
        own = {a: m for a, m in means.items() if a.startswith(family)}  # each arm chooses among its own
        best = min(own, key=own.get)
        value = int(best[-1]) / 10
        choice = json.loads((wf / layout.tuned_file("p1_tinyshakespeare", arm, "results/gpu")).read_text())
        assert choice == {"experiment": "p1_char_dropout_sweep", "arm": best, "key": "dropout", "value": value,
                          "metric": "best_val_loss", "mean": own[best], "seeds": [100, 101],
                          "grid": [0.1, 0.2, 0.3], "edge": value in (0.1, 0.3)}
        for seed in (0, 1):
            tuned = json.loads((runs / "p1_tinyshakespeare" / arm / f"seed{seed}" / "metrics.json").read_text())
            assert tuned["tuned"] == choice and tuned["config"]["model"]["dropout"] == value
    for seed in (0, 1):
        learned = json.loads((runs / "p1_tinyshakespeare" / "learned_a" / f"seed{seed}" / "metrics.json").read_text())
        assert 0 < learned["identity_scale"] < 1
    # The data set is nanoGPT's tiny-shakespeare, from data/external/, hash-checked.
    meta = json.loads((wf / "data" / "prepared" / "tinyshakespeare_char" / "meta.json").read_text())
    assert (meta["characters"], meta["train_tokens"], meta["val_tokens"]) == (1_115_394, 1_003_854, 111_540)
    # Matched sizes: depth traded for the MLP.
    params = {arm: json.loads((runs / "p2_lm_shakespeare" / arm / "seed0" / "metrics.json").read_text())["params"]
              for arm in ("gpt", "aot_mhsa", "aot_mssa")}
    # 1 : 3 : 6 layers: 12 d^2 = 3 x 4 d^2 = 6 x 2 d^2, and the same embeddings; only the LayerNorms (d weights
    # each: 2 a GPT layer, 1 an AoT layer, 1 final) differ
    d = TINY["n_embd"]
    assert params["gpt"] - 3 * d == params["aot_mhsa"] - 4 * d == params["aot_mssa"] - 7 * d
    table = (wf / "results" / "gpu" / "tables" / "paper_vs_reproduced.md").read_text()
    assert "Generated by the workflow from `config/gpu_smoke.yaml`" in table
    assert "Stand-in" in table and "p1_vit_imagenet16" in table
    assert "1.4697" in table  # vanilla beside nanoGPT's published best val loss
    assert f"`a_minus_i_tuned` took dropout {value} from the sweep `p1_char_dropout_sweep`" in table
    for figure in ("p1_vit_violin", "p1_lm_violin", "p1_lm_curves", "p2_lm_curves", "grid_mlp_identity", "p2_icl"):
        assert (wf / "results" / "gpu" / "figures" / f"{figure}.png").stat().st_size > 10_000, figure
    assert not (wf / "results" / "figures").exists()  # the tier writes under results/gpu/ only
