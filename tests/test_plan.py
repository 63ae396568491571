"""`python -m unrolled plan`: training cost from a FLOP count, and paper-scale budgets a cluster grants."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest
import yaml
from conftest import REPO

from unrolled import plan, registry


def _config(tmp_path, **resources):
    """A config with one tiny char-LM experiment on a prepared data set (vocabulary 65)."""
    from unrolled.atomic import write_json

    data = tmp_path / "data" / "prepared" / "chars"
    data.mkdir(parents=True)
    write_json(data / "meta.json", {"tokenizer": "char", "vocab_size": 65})
    return {"datasets": {"chars": {"builder": "text_char", "sources": {"text": "x"}}},
            "experiments": {"tiny": {
                "dataset": "chars", "seeds": 5, "ensemble": 2, "arms": {"vanilla": {}, "aot": {"mlp": "none"}},
                "model": {"n_layer": 2, "n_head": 2, "n_embd": 32, "block_size": 16},
                "train": {"batch_size": 4, "grad_accum": 3, "max_iters": 1000}, "resources": resources}}}


def test_plan_matches_a_hand_count(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rows = plan.plan(_config(tmp_path, gpu=1, runtime=30), mfu=0.5, peak_flops=1e7)
    assert [r["arm"] for r in rows] == ["vanilla", "aot"]
    vanilla = rows[0]
    # Parameters by hand: token and position embeddings (head tied), per block 2 LayerNorms (weight only),
    # attention qkv + out, MLP 4x up and down; the final LayerNorm.
    d, layers, vocab, block = 32, 2, 65, 16
    params = vocab * d + block * d + layers * (2 * d + 4 * d * d + 8 * d * d) + d
    assert vanilla["params"] == params and not vanilla["assumed_data"]
    # every matrix product a token goes through: the blocks' and the tied head's (the lookups, position
    # embeddings and norms cost none), twice per multiply-add and three times for forward and backward
    flops_token = 6 * (layers * 12 * d * d + vocab * d) + 12 * layers * d * block
    tokens = 1000 * 4 * 3 * block
    assert vanilla["tokens_per_run"] == tokens
    # TrainConfig's defaults: an evaluation every 250 steps (4 of them) over 200 batches, forward only (1/3)
    eval_flops = 4 * 200 * 4 * block * flops_token / 3
    assert vanilla["flops_per_job"] == pytest.approx((tokens * flops_token + eval_flops) * 2)  # ensembles of 2
    assert vanilla["jobs"] == 3  # seeds 0-1, 2-3, 4
    hours = (tokens * flops_token + eval_flops) * 2 / (1e7 * 0.5) / 3600
    assert vanilla["hours_per_job"] == pytest.approx(hours)
    # 30-minute allocations, 15 of them usable: the job continues through ceil(hours / 0.25) of them.
    assert vanilla["allocations"] == math.ceil(hours / 0.25) > 1
    assert vanilla["gpu_hours"] == pytest.approx(hours * 3)
    assert rows[1]["params"] == params - layers * 8 * d * d - layers * d  # no MLP, no second LayerNorm


def test_plan_cli_prints_the_table_for_one_experiment():
    proc = subprocess.run([sys.executable, "-m", "unrolled", "plan", "--configfile", "config/paper.yaml",
                           "p2_lm_owt", "--peak-tflops", "312"], cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    rows = [line for line in proc.stdout.splitlines() if line.startswith("| p2_lm_owt")]
    assert [row.split("|")[2].strip() for row in rows] == ["gpt2", "aot_mhsa", "aot_mssa_base", "aot_mssa_medium"]
    assert "of 312 TFLOP/s" in proc.stdout and "| 1 x 8 |" in rows[0]


def test_paper_budgets_fit_a_cluster_and_the_retries_finish_them():
    """The OpenWebText runs: one 8-GPU node, nanoGPT's ~0.5M-token batch, 24-hour allocations, and the
    slurm profile retries often enough for the longest job to finish through requeue and resume."""
    config = registry.load_config([REPO / "config" / "paper.yaml"], checkout=REPO)
    for name in ("p1_gpt2_owt", "p2_lm_owt"):
        spec = config["experiments"][name]
        train, gpus = spec["train"], spec["resources"]["gpu"]
        assert gpus == 8 and spec["resources"]["runtime"] <= 24 * 60
        assert train["batch_size"] % gpus == 0  # every rank keeps an equal share
        assert train["batch_size"] * train["grad_accum"] * spec["model"]["block_size"] == 491_520  # nanoGPT's
    rows = plan.plan(config)
    profile = yaml.safe_load((REPO / "workflow" / "profiles" / "slurm" / "config.yaml").read_text())
    longest = max(rows, key=lambda r: r["allocations"])
    assert longest["allocations"] > 1  # the plan does need requeues ...
    assert longest["allocations"] <= profile["retries"] + 1  # ... and the profile allows enough
