"""Pure-Python look-ups over the experiment registry, cheap enough for the Snakefile to import.

A run is `{experiment}/{arm}/seed{n}`: everything about it follows from the config and those three.
"""

from __future__ import annotations

from pathlib import Path


def run_config(spec: dict, arm: str, data_root: str = "data/prepared") -> dict:
    """The trainer's run config for one arm: the experiment's base model with the arm's switches."""
    if arm not in spec["arms"]:
        raise ValueError(f"arm {arm!r} is not defined; arms: {sorted(spec['arms'])}")
    return {"data": f"{data_root}/{spec['dataset']}",
            "model": {**spec.get("model", {}), **(spec["arms"][arm] or {})},
            "train": dict(spec.get("train", {}))}


def seeds(spec: dict) -> list[int]:
    s = spec["seeds"]
    return list(range(s)) if isinstance(s, int) else list(s)


def seed_groups(spec: dict) -> list[list[int]]:
    """The experiment's seeds in training jobs: groups of `ensemble` seeds, in order (the last may be smaller)."""
    size, all_seeds = spec.get("ensemble", 1), seeds(spec)
    return [all_seeds[i: i + size] for i in range(0, len(all_seeds), size)]


def run_dir(root: str | Path, experiment: str, arm: str, seed: int) -> Path:
    return Path(root) / experiment / arm / f"seed{seed}"


def figure_inputs(spec: dict, experiments: dict, results: str = "results") -> list[str]:
    """The files a figure reads, for the workflow's DAG: summaries, histories or theory results."""
    kind = spec["kind"]
    if kind in ("arms", "grid"):
        return [f"{results}/{spec['experiment']}/summary.json"]
    if kind == "curves":
        exp = experiments[spec["experiment"]]
        return [str(run_dir(f"{results}/runs", spec["experiment"], arm, s) / "history.csv")
                for arm in spec["arms"] for s in seeds(exp)]
    if kind == "icl":
        return [f"{results}/{name}/icl.json" for name in spec["experiments"]]
    if kind == "snr":
        return [f"{results}/theory/snr.json"]
    return [f"{results}/theory/probdr.json", f"{results}/theory/probdr_latents.npz"]
