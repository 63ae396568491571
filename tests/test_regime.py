"""The regime gate (regime.py) on synthetic curves, through the trainer's own record of a run's best and
final values; the table's refusal to draw a verdict out of regime; the regime map; the size-matched check."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from unrolled import regime, stats
from unrolled.layout import HISTORY, METRICS, experiment_file, run_file

STEPS = 1000


def run_metrics(curve: dict[int, float], accuracy: bool = False, items: int | None = 10_000) -> dict:
    """A run's metrics.json fields as the trainer writes them (train.History), from its validation curve."""
    from unrolled.train import History

    history = History([Path("unused")])
    for step, value in curve.items():
        ev = {"val_loss": 1.0 - value, "val_acc": value} if accuracy else {"val_loss": value}
        history.record(step, 1e-3, [0.0], [ev], write=False)
    return {**history.outcome(0, accuracy), "steps": max(curve), "tokens": max(curve) * 100, "params": 1000,
            "data": {"train_items": items} if items else {}}


def loss_curve(best_at: float, rise: float, floor: float = 2.0) -> dict[int, float]:
    """A val loss falling to `floor` at `best_at` of the run, then rising linearly by `rise` at the end."""
    out = {}
    for step in range(50, STEPS + 1, 50):
        t = step / STEPS
        out[step] = floor + (best_at - t) * 2 if t <= best_at else floor + rise * (t - best_at) / (1 - best_at + 1e-12)
    return out


def gate(stated, arms: dict[str, list[dict]], metric="val_loss"):
    runs = {arm: dict(enumerate(ms)) for arm, ms in arms.items()}
    return regime.gate(stated, runs, "vanilla", metric)


def test_over_fitting_in_its_regime():
    r = gate("over-fitting", {"vanilla": [run_metrics(loss_curve(0.4, 0.2))] * 3,
                              "a_minus_i": [run_metrics(loss_curve(0.6, 0.05))] * 3})
    assert r["in_regime"] is True
    assert r["baseline_best_step"] == 400 and r["baseline_best_fraction"] == pytest.approx(0.4)
    assert r["median_drop"] == {"vanilla": pytest.approx(0.2), "a_minus_i": pytest.approx(0.05)}
    # 400 steps of 100 items over a training set of 10,000: 4 epochs at the baseline's best
    assert r["epochs_at_baseline_best"] == pytest.approx(4.0)
    assert "inside 25%-65%" in r["why"] and "at least 0.05" in r["why"]


def test_still_improving_is_not_over_fitting():
    r = gate("over-fitting", {"vanilla": [run_metrics(loss_curve(1.0, 0.0))] * 3,
                              "a_minus_i": [run_metrics(loss_curve(1.0, 0.0))] * 3})
    assert r["in_regime"] is False and r["baseline_best_fraction"] == 1.0
    assert "outside 25%-65%" in r["why"] and "below 0.05" in r["why"]


def test_over_fitting_too_early_or_too_little_is_out_of_regime():
    early = gate("over-fitting", {"vanilla": [run_metrics(loss_curve(0.1, 0.5))] * 3})
    assert early["in_regime"] is False and "outside 25%-65%" in early["why"] and "at least" in early["why"]
    shallow = gate("over-fitting", {"vanilla": [run_metrics(loss_curve(0.5, 0.04))] * 3})
    assert shallow["in_regime"] is False and "inside" in shallow["why"] and "below 0.05" in shallow["why"]


@pytest.mark.parametrize("best_at, inside", [(0.2, False), (0.25, True), (0.65, True), (0.7, False)])
def test_the_window_is_inclusive_at_its_ends(best_at, inside):
    assert gate("over-fitting", {"vanilla": [run_metrics(loss_curve(best_at, 0.3))]})["in_regime"] is inside


def test_the_drop_threshold_is_inclusive():
    curve = loss_curve(0.5, 0.0, floor=0.5)  # 0.55 - 0.5 is 0.05 in floating point (2.05 - 2.0 is not)
    curve[STEPS] = 0.55  # exactly the threshold at the end
    assert gate("over-fitting", {"vanilla": [run_metrics(curve)]})["in_regime"] is True
    curve[STEPS] = 0.549
    assert gate("over-fitting", {"vanilla": [run_metrics(curve)]})["in_regime"] is False


def test_the_baseline_decides_over_fitting_by_its_median_seed():
    """Two of three seeds in the window: the median is; the arm compared never enters the decision."""
    vanilla = [run_metrics(loss_curve(b, 0.2)) for b in (0.3, 0.5, 0.95)]
    r = gate("over-fitting", {"vanilla": vanilla, "a_minus_i": [run_metrics(loss_curve(1.0, 0.0))] * 3})
    assert r["baseline_best_fraction"] == pytest.approx(0.5) and r["in_regime"] is True


def test_an_accuracy_curve():
    """Accuracy: the best is its highest value (window 20%-75%), the drop best - final in accuracy."""
    def acc(best_at, fall):
        return {s: 0.8 - abs(s / STEPS - best_at) * (0.2 if s / STEPS < best_at else fall / (1 - best_at))
                for s in range(50, STEPS + 1, 50)}

    r = gate("over-fitting", {"vanilla": [run_metrics(acc(0.7, 0.04), accuracy=True)] * 3}, metric="val_acc")
    assert r["in_regime"] is True and r["median_drop"]["vanilla"] == pytest.approx(0.04)
    assert "inside 20%-75%" in r["why"] and "accuracy" in r["why"]
    late = gate("over-fitting", {"vanilla": [run_metrics(acc(0.8, 0.04), accuracy=True)] * 3}, metric="val_acc")
    assert late["in_regime"] is False and "outside 20%-75%" in late["why"]
    # a plateau's chance dip of two points is not over-fitting
    flat = gate("over-fitting", {"vanilla": [run_metrics(acc(0.5, 0.02), accuracy=True)] * 3}, metric="val_acc")
    assert flat["in_regime"] is False and "below 0.03" in flat["why"]
    under = gate("under-fitting", {"vanilla": [run_metrics(acc(0.9, 0.005), accuracy=True)] * 3,
                                   "a_minus_i": [run_metrics(acc(0.9, 0.011), accuracy=True)] * 3}, metric="val_acc")
    assert under["in_regime"] is False and "a_minus_i 0.011" in under["why"]


def test_under_fitting_means_no_arm_past_its_best():
    fine = gate("under-fitting", {"vanilla": [run_metrics(loss_curve(1.0, 0.0))] * 3,
                                  "aot": [run_metrics(loss_curve(0.95, 0.01))] * 3})
    assert fine["in_regime"] is True, fine["why"]
    r = gate("under-fitting", {"vanilla": [run_metrics(loss_curve(1.0, 0.0))] * 3,
                               "aot": [run_metrics(loss_curve(0.8, 0.02))] * 3})
    assert r["in_regime"] is False and "aot 0.020" in r["why"] and "vanilla" not in r["why"]


def test_no_stated_regime_gets_the_numbers_and_no_judgement():
    r = gate(None, {"vanilla": [run_metrics(loss_curve(0.4, 0.2), items=None)]})
    assert r["in_regime"] is None and r["stated"] is None and r["epochs_at_baseline_best"] is None
    with pytest.raises(ValueError, match="regime 'sideways'"):
        gate("sideways", {"vanilla": [run_metrics(loss_curve(0.4, 0.2))]})


# -- through the summary and the table ---------------------------------------------------------------------
def write_experiment(root: Path, name: str, curves: dict[str, list[dict]], items=10_000) -> list[str]:
    """Every run's metrics.json and history.csv of a synthetic experiment; returns the metrics files."""
    files = []
    for arm, by_seed in curves.items():
        for seed, curve in enumerate(by_seed):
            m = run_metrics(curve, items=items) | {"seed": seed, "config": {}}
            path = Path(run_file(name, arm, seed, METRICS, root))
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(m))
            path.with_name(HISTORY).write_text("step,train_loss,val_loss,val_acc,lr\n" + "".join(
                f"{s},0,{v},,0.001\n" for s, v in curve.items()))
            files.append(str(path))
    return files


def summarize(root: Path, name: str, curves, stated=None, items=10_000, **extra) -> tuple[dict, dict]:
    from unrolled.summaries import load_histories
    from unrolled.summaries import summarize as summarize_runs

    spec = {"dataset": "shakespeare_char", "metric": "val_loss", "baseline": "vanilla", "seeds": len(curves["vanilla"]),
            "arms": {a: ({} if a == "vanilla" else {"identity": "subtract"}) for a in curves},
            "claims": {"p1_char_lm": {"vanilla": "vanilla", "a_minus_i": "a_minus_i"}},
            **({"regime": stated} if stated else {}), **extra}
    files = write_experiment(root, name, curves, items)
    histories = load_histories([f.replace(METRICS, HISTORY) for f in files], spec)
    return spec, summarize_runs(name, spec, files, histories)


def table(tmp_path, experiments: dict[str, tuple[dict, dict]]) -> str:
    from unrolled.table import write

    paths = []
    for name, (_, summary) in experiments.items():
        path = tmp_path / experiment_file(name, "summary.json", "results")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(summary))
        paths.append(path)
    write({n: spec for n, (spec, _) in experiments.items()}, {"summaries": paths}, tmp_path / "t.md",
          "config/regime.yaml")
    return (tmp_path / "t.md").read_text()


def test_out_of_regime_the_table_gives_the_reason_instead_of_a_difference(tmp_path):
    improving = {"vanilla": [loss_curve(1.0, 0.0, 2.0 + 0.01 * s) for s in range(6)],
                 "a_minus_i": [loss_curve(1.0, 0.0, 2.1 + 0.01 * s) for s in range(6)]}
    over = {"vanilla": [loss_curve(0.4, 0.3, 2.0 + 0.01 * s) for s in range(6)],
            "a_minus_i": [loss_curve(0.6, 0.1, 1.9 + 0.01 * s) for s in range(6)]}
    text = table(tmp_path, {"under": summarize(tmp_path / "runs", "under", improving, "over-fitting"),
                            "over": summarize(tmp_path / "runs", "over", over, "over-fitting")})
    claim = text.split("## Paper 1, char-level")[1].split("## ")[0]
    under, over_part = claim.split("experiment `over`")
    assert "*Regime:* over-fitting (stated); vanilla's median best at 100% of the run (outside 25%-65%)" in under
    assert "**not in its regime**: no verdict is drawn" in under
    row = next(line for line in under.splitlines() if line.startswith("| a_minus_i − vanilla"))
    assert "not in its regime (over-fitting)" in row and "no verdict" in row and "0.1000" not in row
    assert "in its regime." in over_part and "**same direction** as the paper" in over_part
    assert "-0.1000 [-0.1000, -0.1000]" in over_part


def test_the_summary_carries_each_arms_size_and_refuses_unmatched_arms(tmp_path):
    curves = {"vanilla": [loss_curve(1.0, 0.0)] * 2, "a_minus_i": [loss_curve(1.0, 0.0)] * 2}
    _, summary = summarize(tmp_path / "a", "p2", curves, size_matched=True)
    assert summary["params"] == {"vanilla": 1000, "a_minus_i": 1000}
    from unrolled.errors import UnrolledError
    from unrolled.summaries import MATCHED_TOLERANCE, arm_sizes

    spec = {"size_matched": True}
    runs = lambda a, b: {"gpt": {0: {"params": a}}, "aot": {0: {"params": b}}}  # noqa: E731
    assert arm_sizes("p2", spec, runs(1000, round(1000 * (1 + MATCHED_TOLERANCE))))  # exactly 2%: matched
    with pytest.raises(UnrolledError, match="aot has 1,021 parameters and gpt 1,000"):
        arm_sizes("p2", spec, runs(1000, 1021))
    assert arm_sizes("p2", {}, runs(1000, 3000)) == {"gpt": 1000, "aot": 3000}  # not asked to match


def test_the_regime_configs_matched_arms_are_within_two_percent():
    """Paper 2 at matched size in config/regime.yaml: each arm's model built as the trainer builds it (the
    vocabulary is the same for every arm, so any plausible one will do) within 2% of the others."""
    from unrolled.config import run_config
    from unrolled.models import ModelConfig, Transformer
    from unrolled.registry import load_config
    from unrolled.summaries import MATCHED_TOLERANCE

    config = load_config(["config/regime.yaml"])
    matched = {n: s for n, s in config["experiments"].items() if s.get("size_matched")}
    assert matched, "config/regime.yaml has no size-matched experiment"
    for name, spec in matched.items():
        sizes = {arm: Transformer(ModelConfig(**run_config(spec, arm)["model"], vocab_size=84)).num_params()
                 for arm in spec["arms"]}
        assert max(sizes.values()) <= min(sizes.values()) * (1 + MATCHED_TOLERANCE), (name, sizes)
        assert len(set(spec["arms"][a].get("n_layer") for a in spec["arms"])) == len(spec["arms"]), \
            "matched by depth: each arm its own number of layers"


# -- the regime map ------------------------------------------------------------------------------------------
def test_the_map_orders_sizes_largest_first_finds_the_sign_flip_and_places_the_reference(tmp_path):
    """Ordered by size, not by the epochs at vanilla's best: the smallest set's vanilla peaks so early that it
    had seen fewer epochs at its best than the middle one's, as at 14,000 and 28,000 characters on the CPU."""
    sizes = {"big": (100_000, 1.0, 0.0, 0.1), "mid": (30_000, 0.8, 0.02, 0.01), "small": (10_000, 0.2, 0.3, -0.05)}
    summaries = []
    for name, (items, best_at, rise, gap) in sizes.items():
        curves = {"vanilla": [loss_curve(best_at, rise, 2.0 + 0.01 * s) for s in range(4)],
                  "a_minus_i": [loss_curve(best_at, rise, 2.0 + gap + 0.01 * s + 0.001 * s * s) for s in range(4)]}
        summaries.append(summarize(tmp_path / name, name, curves, items=items)[1])
    reference = summarize(tmp_path / "ref", "ref", {"vanilla": [loss_curve(0.4, 0.2)] * 3,
                                                    "a_minus_i": [loss_curve(0.5, 0.05, 1.98)] * 3}, items=None)[1]
    spec = {"name": "p1_map", "arm": "a_minus_i", "metric": "best_val_loss", "reference": {"label": "H100"}}
    m = regime.regime_map(spec, summaries, reference, reference_items=2_000)
    assert [p["experiment"] for p in m["points"]] == ["big", "mid", "small"]
    # epochs at vanilla's best: best step x 100 items a step / training items
    assert [p["epochs_at_baseline_best"] for p in m["points"]] == pytest.approx([1.0, 800 * 100 / 30_000, 2.0])
    assert m["points"][2]["mean"] < 0 < m["points"][1]["mean"]
    assert m["sign_flips"] == [["mid", "small"]]
    expected = stats.t_ci([0.1 + 0.001 * s * s for s in range(4)])
    assert m["points"][0]["ci95"] == pytest.approx(list(expected)) and m["points"][0]["n"] == 4
    assert m["reference"]["epochs_at_baseline_best"] == pytest.approx(400 * 100 / 2_000)
    assert m["reference"]["mean"] == pytest.approx(-0.02) and m["reference"]["label"] == "H100"
    from unrolled.figures import draw

    draw({"kind": "regime_map"}, [_written(tmp_path / "map.json", m)], tmp_path / "map.png")
    assert (tmp_path / "map.png").stat().st_size > 10_000 and (tmp_path / "map.pdf").exists()


def _written(path: Path, data: dict) -> Path:
    path.write_text(json.dumps(data))
    return path


def test_the_reference_size_follows_from_its_catalogue_entry():
    """The H100 reference trained on shakespeare_char_1m: its training split as text.split_text cuts it."""
    from unrolled.data.text import split_text
    from unrolled.registry import load_config

    datasets = load_config(resolved=False)["datasets"]
    spec = datasets["shakespeare_char_1m"]
    assert regime.train_items(spec) == len(split_text("x" * spec["max_chars"], spec["val_fraction"])[0]) == 1_003_854
    assert regime.train_items({"train_chars": 14_000}) == 14_000
    with pytest.raises(ValueError, match="neither train_chars nor max_chars"):
        regime.train_items(datasets["shakespeare_char"])


def test_a_char_slice_trains_on_its_first_characters_and_keeps_the_whole_vocabulary_and_validation(tmp_path):
    from unrolled.data.text import build_char, load_tokens

    text = "abcdefghij" * 10 + "XYZ" * 10  # the capitals are not in the 25 characters kept
    whole = build_char(text, _mkdir(tmp_path / "whole"), 0.2)
    part = build_char(text, _mkdir(tmp_path / "part"), 0.2, train_chars=25)
    assert part["vocab_size"] == whole["vocab_size"] == 13 and part["train_chars"] == 25
    assert part["train_tokens"] == 25 and whole["train_tokens"] == 104
    assert np.array_equal(load_tokens(tmp_path / "part/val.bin"), load_tokens(tmp_path / "whole/val.bin"))
    assert np.array_equal(load_tokens(tmp_path / "part/train.bin"), load_tokens(tmp_path / "whole/train.bin")[:25])


def test_an_image_subset_is_balanced_seeded_and_leaves_validation_alone(tmp_path):
    from unrolled.data.images import build_images, load_split

    rng = np.random.default_rng(0)
    x = rng.integers(0, 255, (600, 1, 4, 4), dtype=np.uint8)
    y = np.repeat(np.arange(3), 200)
    test = (x[:50], y[:50])
    meta = build_images((x, y), test, _mkdir(tmp_path / "a"), 0.1, 0, 3, "official", train_images=60)
    again = build_images((x, y), test, _mkdir(tmp_path / "b"), 0.1, 0, 3, "official", train_images=60)
    xa, ya = load_split(tmp_path / "a", "train")
    assert meta["counts"] == {"train": 60, "val": 50} and np.bincount(ya).tolist() == [20, 20, 20]
    assert np.array_equal(xa, load_split(tmp_path / "b", "train")[0]) and again["train_images"] == 60
    other = build_images((x, y), test, _mkdir(tmp_path / "c"), 0.1, 1, 3, "official", train_images=60)
    assert not np.array_equal(xa, load_split(tmp_path / "c", "train")[0]) and other["counts"]["train"] == 60
    with pytest.raises(ValueError, match="not a multiple of the 3 classes"):
        build_images((x, y), test, _mkdir(tmp_path / "d"), 0.1, 0, 3, "official", train_images=61)


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True)
    return path
