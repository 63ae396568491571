"""The results kept in the repository (reference/): the GPU runs are what their per-seed files say, and
the default run's published results pull into a fresh clone and redraw byte for byte."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
P1_GPU = REPO / "reference" / "p1_gpu"
EXPERIMENT = "p1_shakespeare_char_offline"


def test_p1_gpu_summary_and_figures_are_recomputed_from_its_runs(tmp_path):
    """redraw.sh, run on a copy, rewrites every summary and figure byte for byte from the per-seed files."""
    copy = tmp_path / "p1_gpu"
    shutil.copytree(P1_GPU, copy)
    made = [p for p in copy.rglob("*") if p.is_file() and "runs" not in p.relative_to(copy).parts
            and p.suffix != ".sh" and p.name != "README.md"]
    assert len(made) == 9  # summary .json/.csv, curves.csv, three figures as PNG and PDF
    for path in made:
        path.unlink()
    env = os.environ | {"REF": str(copy), "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    subprocess.run(["bash", str(P1_GPU / "redraw.sh")], cwd=REPO, env=env, check=True, capture_output=True)
    for path in made:
        assert path.read_bytes() == (P1_GPU / path.relative_to(copy)).read_bytes(), path
    summary = json.loads((P1_GPU / EXPERIMENT / "summary.json").read_text())
    (comparison,) = summary["metrics"]["best_val_loss"]["comparisons"]
    assert comparison["n"] == 14 and comparison["wins"] == 14  # the README's numbers
    assert round(comparison["mean"], 4) == -0.0176
    across = summary["across_training"]
    (steps,) = [c["steps"] for c in across["comparisons"]]
    assert [round(s["mean"], 3) for s in (steps[0], steps[-1])] == [0.245, -0.181]  # A - I behind early, ahead late
    assert [s["step"] for s in steps if s["mean"] < 0][0] == 2250  # the sign flips just after vanilla's best
    assert across["arms"]["vanilla"]["best_step_median"] == 2000
    assert across["arms"]["a_minus_i"]["best_step_median"] == 3000
    for arm in ("vanilla", "a_minus_i"):
        for seed in range(14):
            m = json.loads((P1_GPU / "runs" / EXPERIMENT / arm / f"seed{seed}" / "metrics.json").read_text())
            # Paper 1's recipe exactly, on a GPU, as a member of an ensemble of 7.
            recipe = {k: m["config"]["model"][k] for k in ("n_layer", "n_head", "n_embd", "block_size", "dropout")}
            assert recipe == {"n_layer": 6, "n_head": 6, "n_embd": 384, "block_size": 256, "dropout": 0.2}
            assert m["config"]["model"]["identity"] == {"vanilla": "none", "a_minus_i": "subtract"}[arm]
            assert m["steps"] == 5000 and m["config"]["train"]["batch_size"] == 64
            assert m["environment"]["device"] == "cuda" and len(m["ensemble"]["seeds"]) == 7


@pytest.mark.slow
def test_a_fresh_clone_pulls_the_default_reference_and_redraws_it_byte_for_byte(tmp_path):
    """`make pull-reference` in a fresh clone restores the committed default and regime results offline and
    builds their data sets, Snakemake then plans nothing (nothing re-stamped), `make figures` redraws every
    figure and the table byte for byte (the regime config's too, with its map), and `dvc metrics diff`
    against the reference is empty."""
    from conftest import VENV_BIN, run
    from test_workflow import _tree_hashes

    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(REPO), str(clone)], cwd=tmp_path)
    make = ["make", "-s", "-o", f"{VENV_BIN.parent}/.installed", f"VENV={VENV_BIN.parent}"]
    pulled_out = run([*make, "pull-reference"], cwd=clone).stdout.splitlines()
    published = 1 + (clone / "results" / "regime" / "metrics_all.json").exists()  # the default, and the regime's
    assert len(pulled_out) == 2 + published, pulled_out  # a line per step
    assert all(line.startswith("pull-reference") for line in pulled_out), pulled_out
    assert "`snakemake -n` plans nothing" in pulled_out[-1]
    dry = run(["snakemake", "-n"], cwd=clone)
    assert "Nothing to be done" in dry.stdout + dry.stderr  # no training, no summaries, nothing
    # The report leaves the pulled jobs out of its runtime statistics, and says so in one line.
    report = run([*make, "report"], cwd=clone).stdout
    assert "were pulled (make pull or pull-reference)" in report and "Missing metadata" not in report
    html = (clone / "results" / "report.html").read_text()
    assert '{"rule": "train", "runtime"' not in html and '{"rule": "prepare_dataset", "runtime"' in html
    (clone / "results" / "report.html").unlink()  # not a published file (.dvcignore)
    clean = ["dvc", "data", "status", "--granular", "--json"]
    assert json.loads(run([VENV_BIN / clean[0], *clean[1:]], cwd=clone).stdout) == {}, "DVC dirty after the pull"
    pulled = _tree_hashes(clone / "results")
    drawn = {k for k in pulled if k.startswith(("figures/", "tables/"))}
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    assert len(drawn) == 2 * (len(config["figures"]) + len(config["experiments"])) + 1  # + across-training; table
    assert not any(k.endswith("ckpt.pt") for k in pulled)
    for name in drawn:
        (clone / "results" / name).unlink()
    run([*make, "figures"], cwd=clone)
    redrawn = _tree_hashes(clone / "results")
    assert redrawn == pulled  # timing files too: redrawing writes none under results/
    assert json.loads(run([VENV_BIN / clean[0], *clean[1:]], cwd=clone).stdout) == {}, "DVC dirty after figures"
    # the regime config's figures, table and map, redrawn from its published summaries the same way
    regime = {k for k in pulled if k.startswith(("regime/figures/", "regime/tables/", "regime/p1_regime_map."))}
    assert published == 2 and "regime/figures/p1_regime_map.png" in regime and "regime/p1_regime_map.json" in regime
    for name in regime:
        (clone / "results" / name).unlink()
    run([*make, "figures", "SNAKEMAKE_ARGS=--configfile config/regime.yaml"], cwd=clone)
    assert _tree_hashes(clone / "results") == pulled
    diff = run([VENV_BIN / "dvc", "metrics", "diff", "--json"], cwd=clone).stdout
    assert json.loads(diff) == {}
