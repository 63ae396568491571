"""Per-experiment summaries of training over seeds (the registry's look-ups are in registry.py; each
evaluation kind, zero-shot and ICL, summarizes its own results in its module).

An experiment names its data set, a base model and training recipe, its arms (each a setting of the
model switches), its seeds, its baseline arm and the metric; `summarize` gathers every run's
metrics.json and writes summary.json / summary.csv with per-arm statistics and paired comparisons, and
from every run's history.csv the paired differences at each evaluation step ("across_training").
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path

from unrolled import atomic, layout, regime, stats
from unrolled.atomic import atomic_dir, atomic_path, read_json, write_json
from unrolled.errors import UnrolledError
from unrolled.layout import run_of
from unrolled.registry import arm_seeds, seeds


def load_runs(files: Iterable[str | Path], spec: dict, name: str, read=read_json) -> dict[str, dict[int, object]]:
    """{arm: {seed: read(file)}} from the file `name` of every run of the experiment `spec`, given as
    `files` (exactly those the workflow passes). A missing file or a run of the spec without a file is
    an error."""
    runs = {arm: {} for arm in spec["arms"]}
    for path in files:
        _, arm, seed = run_of(path, name)
        if not Path(path).exists():
            raise FileNotFoundError(f"{path}: missing; run the step that writes it first")
        runs.setdefault(arm, {})[seed] = read(path)
    missing = [f"{arm}/seed{s}" for arm in spec["arms"] for s in arm_seeds(spec, arm) if s not in runs[arm]]
    extra = [f"{arm}/seed{s}" for arm, by_seed in runs.items() for s in by_seed
             if arm not in spec["arms"] or s not in arm_seeds(spec, arm)]
    if missing or extra:
        raise ValueError(f"{name} files do not match the experiment's runs: missing {missing}, not in it {extra}")
    return {arm: {s: runs[arm][s] for s in arm_seeds(spec, arm)} for arm in spec["arms"]}


# metric name -> (keys in metrics.json, higher is better)
METRIC_KEYS = {
    "val_loss": (("best_val_loss", "final_val_loss"), False),
    "val_acc": (("best_val_acc", "final_val_acc"), True),
}


def _device(env: dict) -> str:
    """A run's device in words: the GPU's name and the start of its UUID, or the CPU's model."""
    uuid = env.get("device_uuid")
    return f"{env.get('device_name', 'unknown')}{f' ({uuid[:13]})' if uuid else ''}"


def load_histories(files: list[str | Path], spec: dict) -> dict:
    """Every run's history.csv (`files`) as {arm: {seed: rows}}, read once for the summary and the curves."""
    return load_runs(files, spec, layout.HISTORY, read=atomic.read_history)


def check_pooled_configs(experiment: str, runs: dict[str, dict[int, dict]]) -> None:
    """Seeds of one arm are pooled only if they trained with one run config (model and training), wherever
    and whenever they ran: an error naming the arm, the seeds and the keys that differ otherwise."""
    for arm, by_seed in runs.items():
        flat = {seed: {f"{part}.{k}": v for part, d in m.get("config", {}).items() for k, v in d.items()}
                for seed, m in by_seed.items()}
        first, *rest = sorted(flat)
        for seed in rest:
            keys = sorted(k for k in flat[first].keys() | flat[seed].keys() if flat[first].get(k) != flat[seed].get(k))
            if keys:
                raise UnrolledError(
                    f"{experiment}/{arm}: seeds {first} and {seed} trained with different run configs "
                    f"({', '.join(f'{k}: {flat[first].get(k)!r} vs {flat[seed].get(k)!r}' for k in keys[:4])}); "
                    f"their results cannot be pooled: retrain one of them, or give them different arms")


MATCHED_TOLERANCE = 0.02  # a size-matched experiment's arms: parameter counts within 2% of each other


def arm_sizes(experiment: str, spec: dict, runs: dict[str, dict[int, dict]]) -> dict[str, int]:
    """Each arm's parameter count (from its runs); for an experiment that says its arms are `size_matched`, an
    error naming the arms when the largest is more than MATCHED_TOLERANCE above the smallest."""
    sizes = {arm: next(iter(by_seed.values()))["params"] for arm, by_seed in runs.items()}
    small, large = min(sizes, key=sizes.get), max(sizes, key=sizes.get)
    if spec.get("size_matched") and sizes[large] > sizes[small] * (1 + MATCHED_TOLERANCE):
        raise UnrolledError(f"{experiment}: its arms are to be size-matched (within {MATCHED_TOLERANCE:.0%}), but "
                            f"{large} has {sizes[large]:,} parameters and {small} {sizes[small]:,} "
                            f"({sizes[large] / sizes[small] - 1:.1%} more): change their layers or width")
    return sizes


def summarize(experiment: str, spec: dict, files: list[str | Path], histories: dict) -> dict:
    """Statistics over seeds from `files`, the metrics.json of every run of the experiment, and
    `histories`, their history.csv rows (`load_histories`)."""
    keys, higher = METRIC_KEYS[spec["metric"]]
    runs = load_runs(files, spec, layout.METRICS)
    check_pooled_configs(experiment, runs)
    values = {key: {arm: {s: m[key] for s, m in by_seed.items()} for arm, by_seed in runs.items()} for key in keys}
    curves = {arm: {s: {int(row["step"]): float(row[spec["metric"]]) for row in rows} for s, rows in by_seed.items()}
              for arm, by_seed in histories.items()}
    # Where the runs were made: several jobs, machines or commits (slices on GPUs) pool their seeds, each once.
    made_by = {"jobs": len({(arm, tuple(m.get("ensemble", {}).get("seeds", [m["seed"]])))
                            for arm, by_seed in runs.items() for m in by_seed.values()}),
               "devices": sorted({_device(m.get("environment", {}))
                                  for by_seed in runs.values() for m in by_seed.values()}),
               "git_shas": sorted({m.get("git_sha", "unknown") for by_seed in runs.values() for m in by_seed.values()})}
    # An arm tuned by a sweep records the value its runs took (the same for every seed: one sweep summary).
    tuned = {arm: next(iter(by_seed.values()))["tuned"] for arm, by_seed in runs.items()
             if "tuned" in next(iter(by_seed.values()))}
    return {
        **({"tuned": tuned} if tuned else {}),
        "experiment": experiment, "dataset": spec["dataset"], "metric": spec["metric"], "primary": keys[0],
        "made_by": made_by,
        "higher_is_better": higher, "baseline": spec["baseline"], "seeds": seeds(spec),
        "arms": {arm: (spec["arms"][arm] or {}) for arm in spec["arms"]},
        "params": arm_sizes(experiment, spec, runs),
        # what each arm trained with: its runs' complete config (the same for every seed: check_pooled_configs)
        "configs": {arm: next(iter(by_seed.values())).get("config", {}) for arm, by_seed in runs.items()},
        # the regime its runs are in, judged against the one the experiment states (regime.py)
        "regime": regime.gate(spec.get("regime"), runs, spec["baseline"], spec["metric"]),
        "metrics": {key: stats.summarize_experiment(values[key], spec["baseline"], higher,
                                                    spec.get("pairs", [])) for key in keys},
        "across_training": {"metric": spec["metric"], **stats.across_training(curves, spec["baseline"], higher,
                                                                              spec.get("pairs", []))},
    }


def summarize_files(experiment: str, spec: dict, runs: list, histories: list, out_json, out_csv, out_curves) -> None:
    """The summarize step: every run's metrics.json and history.csv into the summary and the curves table."""
    read = load_histories(histories, spec)
    write_curves(read, out_curves)
    write_summary(summarize(experiment, spec, runs, read), out_json, out_csv)


CURVE_FIELDS = ["step", "arm", "seed", "val_loss", "val_acc"]


def write_curves(histories: dict, path: str | Path) -> None:
    """Every run's history (`load_histories`) as one long table: a row per run and evaluation step."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=CURVE_FIELDS)
        writer.writeheader()
        for arm, by_seed in histories.items():
            for s, rows in by_seed.items():
                for row in rows:
                    writer.writerow({"step": row["step"], "arm": arm, "seed": s, "val_loss": row["val_loss"],
                                     "val_acc": row.get("val_acc", "")})


CSV_FIELDS = ["metric", "kind", "arm", "reference", "n", "mean", "median", "std", "ci95_low", "ci95_high",
              "wilcoxon_p", "wins", "losses"]


def write_summary(summary: dict, json_path: str | Path, csv_path: str | Path) -> None:
    with atomic_path(csv_path) as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_FIELDS)
        writer.writeheader()
        for key, block in summary["metrics"].items():
            for arm, d in block["arms"].items():
                writer.writerow({"metric": key, "kind": "arm", "arm": arm, "n": d["n"], "mean": d["mean"],
                                 "median": d["median"], "std": d["std"], "ci95_low": d["ci95"][0],
                                 "ci95_high": d["ci95"][1]})
            for c in block["comparisons"]:
                writer.writerow({"metric": key, "kind": "paired_difference", "arm": c["arm"],
                                 "reference": c["reference"], "n": c["n"], "mean": c.get("mean"),
                                 "median": c.get("median"), "ci95_low": c.get("ci95", [None, None])[0],
                                 "ci95_high": c.get("ci95", [None, None])[1], "wilcoxon_p": c.get("wilcoxon_p"),
                                 "wins": c.get("wins"), "losses": c.get("losses")})
    write_json(json_path, summary)  # last: its presence means the summary is complete


def _rounded(x: float | None) -> float | None:
    return None if x is None else round(x, 6)


def flat_metrics(summary_paths: list[str | Path], out: str | Path, out_all: str | Path,
                 out_params: str | Path) -> None:
    """What `dvc metrics show` reads: the folder `out` with one file per paired comparison of each experiment's
    primary metric, {experiment}/{arm}-{reference}.json (the arm minus the reference: mean, 95% t-interval,
    seeds and signs), so that it prints a row per comparison, a terminal wide. Every metric's arm means and
    paired differences go to `out_all`, for `dvc metrics diff` on any of them; and what every arm trained with
    (its runs' complete config) to `out_params`, for `dvc params diff` and `dvc exp show`."""
    import yaml

    everything, trained = {}, {}
    with atomic_dir(out) as tmp:
        for path in summary_paths:
            s = read_json(path)
            for c in s["metrics"][s["primary"]]["comparisons"]:
                write_json(layout.comparison_file(tmp, s["experiment"], c["arm"], c["reference"]), _difference(c))
            trained[s["experiment"]] = s.get("configs", {})
            everything[s["experiment"]] = {metric: {
                "arms": {arm: round(d["mean"], 6) for arm, d in b["arms"].items()},
                "differences": {f"{c['arm']}-{c['reference']}": _difference(c) for c in b["comparisons"]},
            } for metric, b in s["metrics"].items()}
    write_json(out_all, everything)
    with atomic_path(out_params) as tmp:
        tmp.write_text(yaml.safe_dump(trained, sort_keys=True))


def _difference(c: dict) -> dict:
    return {"mean": _rounded(c.get("mean")), "ci95_low": _rounded(c.get("ci95", [None])[0]),
            "ci95_high": _rounded(c.get("ci95", [None, None])[1]), "n": c["n"], "better": c.get("wins"),
            "worse": c.get("losses")}
