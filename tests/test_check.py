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
from scipy import stats as sps

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


def _run_check(tmp_path, results, *args):
    dvc_file, store = _published(tmp_path, _summary(REFERENCE))
    return subprocess.run([sys.executable, "-m", "unrolled", "check", "--results", str(results), "--dvc-file",
                           str(dvc_file), "--store", str(store), *args], capture_output=True, text=True, cwd=REPO)


def test_a_run_within_seed_noise_passes(tmp_path):
    """Another CPU: every value moved in the 7th digit and beyond, the difference by a fraction of its spread."""
    rng = np.random.default_rng(0)
    ours = {arm: {s: v + rng.normal(0, 0.004) for s, v in by_seed.items()} for arm, by_seed in REFERENCE.items()}
    proc = _run_check(tmp_path, _ours(tmp_path, ours))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "| lm | a_minus_i − vanilla |" in proc.stdout and "| ok |" in proc.stdout
    assert "1 of 1 comparisons of the reference agree" in proc.stdout
    assert "**A weak check:** the reference has 3 seeds" in proc.stdout  # and what it can detect


def test_a_flipped_verdict_fails(tmp_path):
    flipped = {"vanilla": REFERENCE["vanilla"], "a_minus_i": {s: v - 0.03 for s, v in REFERENCE["vanilla"].items()}}
    proc = _run_check(tmp_path, _ours(tmp_path, flipped))
    assert proc.returncode == 2 and "| **sign lost** |" in proc.stdout
    assert "1 comparison(s) of the reference do not agree or are missing" in proc.stderr


def _differences(ref_diffs, our_diffs):
    """Summaries whose one comparison a_minus_i - vanilla has these per-seed differences."""
    make = lambda diffs: _summary({"vanilla": {s: 1.0 for s in range(len(diffs))},  # noqa: E731
                                   "a_minus_i": {s: 1.0 + d for s, d in enumerate(diffs)}})
    return {"lm": make(our_diffs)}, {"lm": make(ref_diffs)}


def test_a_reversed_sign_inside_the_tolerance_fails_whatever_our_interval():
    """Reference 0.02 / 0.03 / 0.04 (its interval excludes zero); ours -0.003, inside the gap the spreads allow
    (Welch: within), its interval across zero: the reproduction lost a significant effect. Ours excluding
    zero on the other side fails too (there the gap is outside the bound as well)."""
    (row,) = check.compare(*_differences([0.02, 0.03, 0.04], [-0.1, -0.003, 0.094]))
    assert row["within"] and row["sign_lost"] and not row["ok"], row
    (row,) = check.compare(*_differences([0.02, 0.03, 0.04], [-0.0031, -0.0030, -0.0029]))
    assert row["sign_lost"] and not row["ok"], row
    (row,) = check.compare(*_differences([0.02, 0.03, 0.04], [0.013, 0.023, 0.033]))
    assert row["ok"]


def test_the_bound_is_welchs_at_the_holm_level_and_is_held_exactly():
    ref, spread = [0.10, 0.13, 0.16, 0.12], np.array([-0.02, 0.0, 0.01, 0.015, -0.005])
    # Welch by hand: both variances, Satterthwaite's degrees of freedom; one comparison: level 0.05.
    va, vb = np.var(spread, ddof=1) / 5, np.var(ref, ddof=1) / 4
    df = (va + vb) ** 2 / (va**2 / 4 + vb**2 / 3)
    bound = sps.t.ppf(0.975, df) * np.sqrt(va + vb)
    for factor, ok in ((0.9, True), (1.1, False)):
        ours = list(np.mean(ref) + spread - spread.mean() + factor * bound)
        (row,) = check.compare(*_differences(ref, ours))
        assert row["bound"] == pytest.approx(bound, rel=1e-9) and row["ok"] is ok, (factor, row)


def test_holm_adjusts_over_the_whole_family():
    adjusted, levels = check.holm([0.01, 0.04, 0.03, 0.5])
    assert adjusted == pytest.approx([0.04, 0.09, 0.09, 0.5]) and levels == pytest.approx([0.0125, 0.025, 1 / 60, 0.05])


def test_a_comparison_missing_from_our_run_fails_by_name(tmp_path):
    ours, references = _differences([0.02, 0.03, 0.04], [0.02, 0.03, 0.04])
    references["vit"] = {**references["lm"], "experiment": "vit"}
    rows = check.compare(ours, references)
    assert [(r["experiment"], r["missing"], r["ok"]) for r in rows] == [("lm", False, True), ("vit", True, False)]
    assert "Missing from this run: vit: a_minus_i − vanilla" in check.markdown(rows)
    # --only checks part of a run on purpose
    proc = _run_check(tmp_path, _ours(tmp_path, REFERENCE), "--only", "lm")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = _run_check(tmp_path, _ours(tmp_path, REFERENCE), "--only", "nope")
    assert proc.returncode == 2 and "not in the reference" in proc.stderr


def test_a_correct_reproduction_of_the_published_reference_passes_at_about_the_nominal_rate():
    """Simulated reproductions of the published reference's 27 comparisons: every per-seed difference drawn
    afresh from the reference's own mean and spread, both runs' noise independent. The family-wise check fails
    about 5% of them or fewer, where 27 uncorrected comparisons would fail most."""
    references = check.reference_summaries(REPO / "results.dvc", REPO / "reference" / "dvc-store")
    rng = np.random.default_rng(1)
    passed, runs = 0, 300
    for _ in range(runs):
        ours, refs = {}, {}
        for name, ref in references.items():
            key = ref["primary"]
            comps = [c for c in ref["metrics"][key]["comparisons"] if "mean" in c]
            draw = lambda c: list(rng.normal(c["mean"], max(np.std(c["differences"], ddof=1), 1e-9), c["n"]))  # noqa: E731
            ours[name] = {"primary": key, "metrics": {key: {"comparisons": [
                {**c, "differences": (d := draw(c)), "mean": float(np.mean(d))} for c in comps]}}}
            refs[name] = {"primary": key, "metrics": {key: {"comparisons": [
                {**c, "differences": (d := draw(c)), "mean": float(np.mean(d)),
                 "ci95": list(stats.t_ci(d))} for c in comps]}}}
        rows = check.compare(ours, refs)
        passed += all(r["ok"] for r in rows)
    assert len(rows) == 27
    assert 0.90 <= passed / runs <= 1.0, passed / runs


def test_power_is_what_a_simulated_pooled_t_test_finds():
    rng = np.random.default_rng(2)
    for n, shift in ((3, 0), (3, 2), (6, 1), (20, 1)):
        a, b = rng.normal(shift, 1, (20000, n)), rng.normal(0, 1, (20000, n))
        found = np.mean(sps.ttest_ind(a, b, axis=1).pvalue < 0.05)
        assert check.power(n, n, (shift,))[0] == pytest.approx(found, abs=0.015), (n, shift)


def test_the_published_reference_is_readable():
    summaries = check.reference_summaries(REPO / "results.dvc", REPO / "reference" / "dvc-store")
    assert {"lm_char", "vit_fashion", "icl_dense", "icl_sparse"} <= set(summaries)
    assert summaries["lm_char"]["primary"] == "best_val_loss"
