"""The GPU results kept in the repository (reference/p1_gpu) are what their per-seed files say."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from unrolled.experiments import summarize, write_summary
from unrolled.registry import METRICS, run_files

REPO = Path(__file__).resolve().parents[1]
P1_GPU = REPO / "reference" / "p1_gpu"
EXPERIMENT = "p1_shakespeare_char_offline"


def test_p1_gpu_summary_is_recomputed_from_its_runs(tmp_path):
    spec = yaml.safe_load((REPO / "config" / "paper.yaml").read_text())["experiments"][EXPERIMENT]
    runs = sorted((P1_GPU / "runs" / EXPERIMENT / "vanilla").glob("seed*"))
    spec["seeds"] = len(runs)  # the seeds measured so far, 0..13
    files = run_files(EXPERIMENT, spec, METRICS, P1_GPU / "runs")
    write_summary(summarize(EXPERIMENT, spec, files), tmp_path / "s.json", tmp_path / "s.csv")
    for name in ("summary.json", "summary.csv"):
        assert (tmp_path / f"s{Path(name).suffix}").read_text() == (P1_GPU / EXPERIMENT / name).read_text()
    summary = json.loads((P1_GPU / EXPERIMENT / "summary.json").read_text())
    (comparison,) = summary["metrics"]["best_val_loss"]["comparisons"]
    assert comparison["n"] == 14 and comparison["wins"] == 14  # the README's numbers
    assert round(comparison["mean"], 4) == -0.0176
    for arm in ("vanilla", "a_minus_i"):
        for seed in range(14):
            m = json.loads((P1_GPU / "runs" / EXPERIMENT / arm / f"seed{seed}" / "metrics.json").read_text())
            # Paper 1's recipe exactly, on a GPU, as a member of an ensemble of 7.
            recipe = {k: m["config"]["model"][k] for k in ("n_layer", "n_head", "n_embd", "block_size", "dropout")}
            assert recipe == {"n_layer": 6, "n_head": 6, "n_embd": 384, "block_size": 256, "dropout": 0.2}
            assert m["config"]["model"]["identity"] == {"vanilla": "none", "a_minus_i": "subtract"}[arm]
            assert m["steps"] == 5000 and m["config"]["train"]["batch_size"] == 64
            assert m["environment"]["device"] == "cuda" and len(m["ensemble"]["seeds"]) == 7
