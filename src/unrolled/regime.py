"""The regime gate: is an experiment in the regime its config states, judged from its runs' curves?

Paper 1's char-LM claim was made where vanilla attention over-fits (its best val loss comes mid-run and the
loss then rises); paper 2's language models were trained where nothing over-fits (the final loss is the best).
A comparison made in another regime measures something else, so an experiment that states its regime
(`regime: over-fitting` or `under-fitting`) is checked against it, from the runs alone:

- **over-fitting**: the baseline's median best step lies in OVERFIT_BEST_FRACTION of the run, and its median
  drop from best to final is at least OVERFIT_MIN_DROP (nats; accuracy points for an accuracy metric). The
  window is decided by the baseline's curve only, never by the arm it is compared with.
- **under-fitting**: no arm's median drop from best to final exceeds UNDERFIT_MAX_DROP.

An experiment out of its stated regime gets no verdict (table.py). The numbers are computed for every
experiment, stated or not (the regime map reads them at every corpus size).
"""

from __future__ import annotations

from statistics import median

REGIMES = ("over-fitting", "under-fitting")
# The baseline's median best step as a fraction of the run: loss curves, accuracy curves (flatter at the top,
# so their best wanders further).
OVERFIT_BEST_FRACTION = {"val_loss": (0.25, 0.65), "val_acc": (0.20, 0.75)}
# The baseline's median drop from its best to its final value: 0.05 nats; for an accuracy, 3 points. An
# accuracy curve that has stopped rising sits on a noisy plateau whose best lies 1.6-2.0 points above its last
# evaluation by chance alone (Fashion-MNIST ViT probes of vanilla, 10,000 validation images, config/regime.yaml),
# so only a fall well beyond that is over-fitting in the metric the claim is judged on.
OVERFIT_MIN_DROP = {"val_loss": 0.05, "val_acc": 0.03}
# Under-fitting: no arm's median drop above this (0.01 nats; one accuracy point).
UNDERFIT_MAX_DROP = {"val_loss": 0.01, "val_acc": 0.01}
KEYS = {"val_loss": ("best_val_loss", "final_val_loss", 1.0), "val_acc": ("best_val_acc", "final_val_acc", -1.0)}


def drop(metrics: dict, metric: str) -> float:
    """How far a run fell from its best evaluation to its last: final - best for a loss, best - final for an
    accuracy (never negative: the best is the best)."""
    best, final, sign = KEYS[metric]
    return sign * (metrics[final] - metrics[best])


def epochs(metrics: dict, step: float) -> float | None:
    """Passes over the training set after `step` steps, where the run records its training set's size."""
    size = metrics.get("data", {}).get("train_items")
    return step * metrics["tokens"] / metrics["steps"] / size if size else None


def numbers(runs: dict[str, dict[int, dict]], baseline: str, metric: str) -> dict:
    """The regime's numbers from every run's metrics.json ({arm: {seed: metrics}}): the baseline's median best
    step, as a step and as a fraction of its run, with the epochs it had seen there, and each arm's median
    drop from best to final."""
    base = list(runs[baseline].values())
    fraction = float(median([m["best_step"] / m["steps"] for m in base]))
    best_step = float(median([m["best_step"] for m in base]))
    seen = [epochs(m, m["best_step"]) for m in base]
    size = base[0].get("data", {}).get("train_items")
    return {
        "metric": metric,
        "steps": int(median([m["steps"] for m in base])),
        "items_per_step": base[0]["tokens"] / base[0]["steps"],
        "train_items": size,
        "baseline_best_step": best_step,
        "baseline_best_fraction": fraction,
        "epochs_at_baseline_best": float(median(seen)) if all(e is not None for e in seen) else None,
        "median_drop": {arm: float(median([drop(m, metric) for m in by_seed.values()]))
                        for arm, by_seed in runs.items()},
    }


def judge(stated: str | None, found: dict, baseline: str) -> dict:
    """`found` (numbers) judged against the stated regime: in_regime, and why, in words (None where no regime
    is stated)."""
    metric = found["metric"]
    unit = "nats" if metric == "val_loss" else "accuracy"
    if stated is None:
        return {"stated": None, "in_regime": None, "why": "no regime stated"}
    if stated == "over-fitting":
        low, high = OVERFIT_BEST_FRACTION[metric]
        need = OVERFIT_MIN_DROP[metric]
        where, fell = found["baseline_best_fraction"], found["median_drop"][baseline]
        ok_where, ok_fell = low <= where <= high, fell >= need
        why = (f"{baseline}'s median best at {where:.0%} of the run ({'inside' if ok_where else 'outside'} "
               f"{low:.0%}-{high:.0%}), its median final - best {fell:.3f} {unit} "
               f"({'at least' if ok_fell else 'below'} {need})")
        return {"stated": stated, "in_regime": ok_where and ok_fell, "why": why,
                "bounds": {"best_fraction": [low, high], "min_drop": need}}
    if stated == "under-fitting":
        limit = UNDERFIT_MAX_DROP[metric]
        over = {arm: d for arm, d in found["median_drop"].items() if d > limit}
        why = (f"every arm's median final - best at most {limit} {unit}" if not over else
               "median final - best above " + f"{limit} {unit}: " + ", ".join(f"{a} {d:.3f}" for a, d in over.items()))
        return {"stated": stated, "in_regime": not over, "why": why, "bounds": {"max_drop": limit}}
    raise ValueError(f"regime {stated!r} is not one of {REGIMES}")


def gate(stated: str | None, runs: dict[str, dict[int, dict]], baseline: str, metric: str) -> dict:
    """An experiment's `regime` section: the numbers from its runs, and the verdict on the stated regime."""
    found = numbers(runs, baseline, metric)
    return {**judge(stated, found, baseline), **found}


# -- the regime map: one comparison's paired difference across training-set sizes ----------------------
def train_items(dataset: dict) -> int:
    """The training split's size of a char data set from its catalogue entry alone (for runs that did not
    record it): `train_chars`, or the train share of `max_chars` as text.split_text cuts it."""
    if "train_chars" in dataset:
        return dataset["train_chars"]
    if dataset.get("builder") == "text_char" and "max_chars" in dataset:
        return int(dataset["max_chars"] * (1 - dataset["val_fraction"]))
    raise ValueError("the regime map's reference: its data set's training size is not in its runs, and its "
                     "catalogue entry has neither train_chars nor max_chars to compute it from")


def map_point(summary: dict, arm: str, key: str, items: int | None = None) -> dict:
    """One size of the map: `arm` - baseline on `key` (mean, t-interval, signs) with the regime's numbers;
    `items` is the training set's size where the runs did not record it."""
    r = summary["regime"]
    comparison = next((c for c in summary["metrics"][key]["comparisons"]
                       if c["arm"] == arm and c["reference"] == summary["baseline"]), None)
    if comparison is None:
        raise ValueError(f"{summary['experiment']}: no paired comparison {arm} - {summary['baseline']}")
    items = r.get("train_items") or items
    return {"experiment": summary["experiment"], "train_items": items,
            "epochs_at_baseline_best": r["baseline_best_step"] * r["items_per_step"] / items if items else None,
            "mean": comparison.get("mean"), "ci95": comparison.get("ci95"), "n": comparison["n"],
            "better": comparison.get("wins"), "worse": comparison.get("losses"),
            "regime": {k: r.get(k) for k in ("stated", "in_regime", "baseline_best_fraction", "median_drop")}}


def regime_map(spec: dict, summaries: list[dict], reference: dict | None = None,
               reference_items: int | None = None) -> dict:
    """The map: one point per summary, from the largest training set to the smallest (the same model and steps,
    so from under-fitting towards over-fitting), where the mean difference changes sign between neighbouring
    sizes, and the reference's point (a run at the paper's scale) beside them. The epochs the baseline had
    seen at its best place each point on the figure; they need not fall with the size (a baseline still
    improving at the end has its best at the last step), so the sizes, not the epochs, set the order."""
    key = spec["metric"]
    points = sorted((map_point(s, spec["arm"], key) for s in summaries), key=lambda p: -p["train_items"])
    flips = [[a["experiment"], b["experiment"]] for a, b in zip(points, points[1:])
             if a["mean"] is not None and b["mean"] is not None and (a["mean"] < 0) != (b["mean"] < 0)]
    return {"name": spec["name"], "claim": spec.get("claim"), "arm": spec["arm"],
            "baseline": summaries[0]["baseline"], "metric": key, "points": points, "sign_flips": flips,
            "reference": ({**map_point(reference, spec["arm"], key, reference_items),
                           "label": spec["reference"]["label"]} if reference else None)}


def map_files(spec: dict, summaries: list[str], out: str, reference: str | None = None,
              reference_items: int | None = None) -> None:
    """The `regime-map` command: the map's JSON from the summary files the workflow passes."""
    from unrolled.atomic import read_json, write_json

    write_json(out, regime_map(spec, [read_json(p) for p in summaries], read_json(reference) if reference else None,
                               reference_items))
