"""Figures draw exactly the data they are given: checked on the drawn artists, not on file sizes."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from unrolled.figures import draw
from unrolled.layout import HISTORY, run_file
from unrolled.registry import figure_inputs

EXPERIMENTS = {"lm": {"arms": {"vanilla": {}, "a_minus_i": {}}, "seeds": 2, "baseline": "vanilla"}}
STEPS = [0, 10, 20]


def _write_history(path, values):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["step", "train_loss", "val_loss", "lr"])
        writer.writeheader()
        for step, v in zip(STEPS, values):
            writer.writerow({"step": step, "train_loss": v + 0.1, "val_loss": v, "lr": 1e-3})


@pytest.fixture
def histories(tmp_path, monkeypatch):
    """Histories of the configured seeds 0 and 1, and a stale seed 7 left over from an earlier config."""
    monkeypatch.chdir(tmp_path)
    values = {}
    for a, arm in enumerate(("vanilla", "a_minus_i")):
        for seed in (0, 1, 7):
            v = np.array([3.0, 2.5, 2.0]) - 0.1 * a + 0.01 * seed + (100.0 if seed == 7 else 0.0)
            _write_history(tmp_path / run_file("lm", arm, seed, HISTORY), v)
            values[arm, seed] = v
    return values


def test_curves_draw_exactly_the_configured_seeds_and_ignore_a_stale_one(histories, tmp_path):
    spec = {"kind": "curves", "experiment": "lm", "arms": ["vanilla", "a_minus_i"]}
    fig = draw(spec, figure_inputs(spec, EXPERIMENTS), tmp_path / "fig" / "curves.png")
    ax = fig.axes[0]
    assert len(ax.lines) == 2
    for line, arm in zip(ax.lines, spec["arms"]):
        configured = np.array([histories[arm, s] for s in (0, 1)])
        assert list(line.get_xdata()) == STEPS
        np.testing.assert_allclose(line.get_ydata(), configured.mean(0))  # the stale seed 7 would add ~50
        assert line.get_label().startswith(f"{arm} (2 seeds)")
    band = ax.collections[0].get_paths()[0].vertices[:, 1]  # the min-max band of the first arm
    configured = np.array([histories["vanilla", s] for s in (0, 1)])
    assert band.max() == pytest.approx(configured.max()) and band.min() == pytest.approx(configured.min())
    assert (tmp_path / "fig" / "curves.png").exists() and (tmp_path / "fig" / "curves.pdf").exists()


def test_a_figure_without_its_input_names_the_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec = {"kind": "curves", "experiment": "lm", "arms": ["vanilla"]}
    with pytest.raises(FileNotFoundError, match=r"runs/lm/vanilla/seed0/history.csv"):
        draw(spec, figure_inputs(spec, EXPERIMENTS), tmp_path / "curves.png")
    assert not (tmp_path / "curves.png").exists()


def test_violins_show_every_seed_and_every_paired_difference(tmp_path):
    from unrolled import stats

    values = {"vanilla": {0: 2.0, 1: 2.1, 2: 2.2}, "a_minus_i": {0: 1.9, 1: 2.05, 2: 2.25}}
    summary = {"experiment": "lm", "primary": "best_val_loss", "baseline": "vanilla", "seeds": [0, 1, 2],
               "higher_is_better": False,
               "metrics": {"best_val_loss": stats.summarize_experiment(values, "vanilla", False)}}
    path = tmp_path / "summary.json"
    path.write_text(json.dumps(summary))
    fig = draw({"kind": "arms", "experiment": "lm", "arms": ["vanilla", "a_minus_i"]}, [path], tmp_path / "v.png")
    left, right = fig.axes
    points = [c.get_offsets()[:, 1] for c in left.collections if len(c.get_offsets()) == 3]
    assert [sorted(p) for p in points] == [sorted(values[a].values()) for a in ("vanilla", "a_minus_i")]
    diffs = right.collections[0].get_offsets()[:, 1]
    assert sorted(diffs) == pytest.approx(sorted(values["a_minus_i"][s] - values["vanilla"][s] for s in range(3)))


def test_the_grid_draws_the_metric_the_claim_is_judged_on(tmp_path):
    """An under-fitting experiment judged on final val loss: its 2 x 2 grid shows each cell's final mean, not
    the summary's primary (best) one; the figure's metric comes from the experiment's claim_metric."""
    from unrolled import stats
    from unrolled.registry import resolve

    arms = ["gpt", "gpt_a_minus_i", "aot", "aot_a_minus_i"]
    best = {a: {0: 2.0 + i / 10, 1: 2.1 + i / 10} for i, a in enumerate(arms)}
    final = {a: {s: v + 1.0 for s, v in by_seed.items()} for a, by_seed in best.items()}
    summary = {"experiment": "lm", "primary": "best_val_loss", "baseline": "gpt", "seeds": [0, 1],
               "higher_is_better": False,
               "metrics": {"best_val_loss": stats.summarize_experiment(best, "gpt", False),
                           "final_val_loss": stats.summarize_experiment(final, "gpt", False)}}
    path = tmp_path / "summary.json"
    path.write_text(json.dumps(summary))
    spec = {"kind": "grid", "experiment": "lm", "cells": {"gelu": {"A": "gpt", "A_minus_I": "gpt_a_minus_i"},
                                                          "none": {"A": "aot", "A_minus_I": "aot_a_minus_i"}}}
    config = {"experiments": {"lm": {"arms": dict.fromkeys(arms, {}), "claim_metric": "final_val_loss"}},
              "figures": {"grid": spec}}
    assert resolve(config)["figures"]["grid"]["metric"] == "final_val_loss"
    fig = draw(spec, [path], tmp_path / "grid.png")
    drawn = {t.get_text().splitlines()[0]: float(t.get_text().splitlines()[1]) for t in fig.axes[0].texts}
    assert drawn == pytest.approx({a: np.mean(list(final[a].values())) for a in arms})
    assert fig.axes[1].get_ylabel() == "mean final_val_loss over 2 seeds"


def test_across_training_draws_each_comparison_its_best_step_and_the_paper(tmp_path):
    from unrolled import stats

    curves = {"vanilla": {s: {10: 2.0 + s, 20: 1.5 + s, 30: 1.8 + s} for s in range(3)},
              "a_minus_i": {s: {10: 2.3 + s, 20: 1.6 + s, 30: 1.55 + s} for s in range(3)},
              "xsa": {s: {10: 2.1 + s, 20: 1.45 + s, 30: 1.7 + s} for s in range(3)}}
    summary = {"experiment": "lm", "baseline": "vanilla", "higher_is_better": False,
               "across_training": {"metric": "val_loss",
                                   **stats.across_training(curves, "vanilla", False, [("xsa", "a_minus_i")])}}
    path = tmp_path / "summary.json"
    path.write_text(json.dumps(summary))
    claims = {"p1_char_lm": {"vanilla": "vanilla", "a_minus_i": "a_minus_i"}}
    fig = draw({"kind": "across", "experiment": "lm", "claims": claims}, [path], tmp_path / "a.png")
    against, pairs = fig.axes
    drawn = {line.get_label(): line for line in against.lines + pairs.lines}
    for arm, ref, expected in (("a_minus_i", "vanilla", [0.3, 0.1, -0.25]), ("xsa", "vanilla", [0.1, -0.05, -0.1]),
                               ("xsa", "a_minus_i", [-0.2, -0.15, 0.15])):
        line = drawn[f"{arm} − {ref} (3 seeds)"]
        assert list(line.get_xdata()) == [10, 20, 30]
        np.testing.assert_allclose(line.get_ydata(), expected, atol=1e-12)
    paper = [line for label, line in drawn.items() if label.startswith("Ravuri & Lawrence 2025")]
    assert len(paper) == 1 and paper[0].get_ydata()[0] == pytest.approx(1.455 - 1.4685)  # medians in paper_numbers
    verticals = {ax: [line.get_xdata()[0] for line in ax.lines if line.get_linestyle() == "--"] for ax in fig.axes}
    assert verticals[against] == [20] and verticals[pairs] == [30]  # vanilla's and a_minus_i's best steps


def test_best_step_labels_are_one_per_step_and_never_overlap():
    """Arms whose seeds reach their best at the same step share one label; labels of nearby steps are
    stacked; every label stays inside the axes."""
    import matplotlib.pyplot as plt

    from unrolled.figures import _mark_best_steps

    fig, ax = plt.subplots(figsize=(6.5, 4.4))
    ax.plot([0, 600], [0, 1])
    _mark_best_steps(ax, {"aot_mhsa": 600, "a_minus_i": 600, "vanilla": 550, "xsa": 100}, 600)
    labels = {t.get_text().splitlines()[0]: t for t in ax.texts}
    assert set(labels) == {"aot_mhsa, a_minus_i best", "vanilla best", "xsa best"}
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in ax.texts]
    inside = ax.get_window_extent(renderer)
    for i, box in enumerate(boxes):
        assert inside.x0 <= box.x0 and box.x1 <= inside.x1, labels
        assert not any(box.overlaps(other) for other in boxes[i + 1:])
    plt.close(fig)


def test_a_failed_write_leaves_the_previous_figure_intact(tmp_path, monkeypatch):
    """A full disk while the PDF is written: the previous PNG and PDF stay as they were, no temp file left."""
    import errno

    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    from unrolled.figures import _save

    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    _save(fig, tmp_path / "f.png")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert set(before) == {"f.png", "f.pdf"}
    savefig = Figure.savefig

    def full_disk(self, fname, **kwargs):
        if kwargs.get("format") == "pdf":
            open(fname, "wb").write(b"%PDF-1.4 trunc")
            raise OSError(errno.ENOSPC, "No space left on device")
        return savefig(self, fname, **kwargs)

    monkeypatch.setattr(Figure, "savefig", full_disk)
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])  # a different figure
    with pytest.raises(OSError, match="No space"):
        _save(fig, tmp_path / "f.png")
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
