"""`make check`: a finished run against the published reference, read from the DVC store in the repository."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import numpy as np
import pytest
import yaml

from conftest import REPO
from unrolled import check, stats


def _store_object(store, data: bytes, suffix: str = "") -> str:
    md5 = hashlib.md5(data).hexdigest() + suffix  # a directory's file list is stored as {md5}.dir
    path = store / "files" / "md5" / md5[:2] / md5[2:]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return md5


def _summary(values: dict, name="lm") -> dict:
    return {"experiment": name, "primary": "best_val_loss",
            "metrics": {"best_val_loss": stats.summarize_experiment(values, "vanilla", False)}}


def _published(tmp_path, summary: dict):
    """A DVC remote holding one summary, and the .dvc file naming its results folder (DVC 3's layout)."""
    store = tmp_path / "store"
    entry = {"relpath": "lm/summary.json", "md5": _store_object(store, json.dumps(summary).encode())}
    manifest = _store_object(store, json.dumps([entry]).encode(), ".dir")
    (tmp_path / "results.dvc").write_text(yaml.safe_dump({"outs": [{"md5": manifest, "path": "results"}]}))
    return tmp_path / "results.dvc", store


REFERENCE = {"vanilla": {0: 1.80, 1: 1.82, 2: 1.81}, "a_minus_i": {0: 1.94, 1: 1.97, 2: 1.95}}


def _ours(tmp_path, values):
    path = tmp_path / "mine" / "lm" / "summary.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_summary(values)))
    return tmp_path / "mine"


def _run_check(tmp_path, results):
    dvc_file, store = _published(tmp_path, _summary(REFERENCE))
    return subprocess.run([sys.executable, "-m", "unrolled", "check", "--results", str(results), "--dvc-file",
                           str(dvc_file), "--store", str(store)], capture_output=True, text=True, cwd=REPO)


def test_a_run_within_seed_noise_passes(tmp_path):
    """Another CPU: every value moved in the 7th digit and beyond, the difference by a fraction of its spread."""
    rng = np.random.default_rng(0)
    ours = {arm: {s: v + rng.normal(0, 0.004) for s, v in by_seed.items()} for arm, by_seed in REFERENCE.items()}
    proc = _run_check(tmp_path, _ours(tmp_path, ours))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "| lm | a_minus_i − vanilla |" in proc.stdout and "| agrees | ok |" in proc.stdout
    assert "1 of 1 comparisons agree" in proc.stdout


def test_a_flipped_verdict_fails(tmp_path):
    flipped = {"vanilla": REFERENCE["vanilla"], "a_minus_i": {s: v - 0.03 for s, v in REFERENCE["vanilla"].items()}}
    proc = _run_check(tmp_path, _ours(tmp_path, flipped))
    assert proc.returncode == 2 and "| flipped | **disagrees** |" in proc.stdout
    assert "1 comparison(s) disagree with the reference" in proc.stderr


def test_a_difference_outside_the_seed_spread_fails(tmp_path):
    larger = {"vanilla": REFERENCE["vanilla"], "a_minus_i": {s: v + 0.5 for s, v in REFERENCE["a_minus_i"].items()}}
    rows = check.compare(_summary(larger), _summary(REFERENCE))
    assert rows[0]["direction"] == "agrees" and not rows[0]["within"] and not rows[0]["ok"]
    diffs = [REFERENCE["a_minus_i"][s] - REFERENCE["vanilla"][s] for s in range(3)]
    assert rows[0]["tolerance"] == pytest.approx(4.302653 * np.std(diffs, ddof=1) * np.sqrt(2 / 3), rel=1e-5)


def test_the_published_reference_is_readable():
    summaries = check.reference_summaries(REPO / "results.dvc", REPO / "reference" / "dvc-store")
    assert {"lm_char", "vit_fashion", "icl_dense", "icl_sparse"} <= set(summaries)
    assert summaries["lm_char"]["primary"] == "best_val_loss"
