"""The experiment registry: where every file of the workflow lives, which runs an experiment has, and
the config's cross-checks. Pure Python (no torch), cheap enough for the Snakefile to import.

The layout, written only here (the workflow's rules and the package both call these functions; a
rule passes "{wildcard}" strings for the parts it matches):

    data/raw/{source}/                          a fetched, pinned source
    data/prepared/{dataset}/                    a built data set
    results/runs/{experiment}/{arm}/seed{n}/    a run: metrics.json, history.csv, ckpt.pt (progress.json
                                                while it trains), and its evaluations icl.json and
                                                zeroshot/{benchmark}.json
    results/runs/{experiment}/{arm}/ensemble-seed{a}-{b}/   a seed-ensemble job's resumable state
    results/{experiment}/{name}                 statistics over seeds: summary.json/.csv, zeroshot.json, icl.json
    results/curves/{experiment}.csv             every run's validation curve, for `dvc plots show`
    results/theory/{name}                       the theory experiments' results
    results/figures/{figure}.png (and .pdf), results/figures/across_training/{experiment}.png,
    results/tables/paper_vs_reproduced.md

A run is `{experiment}/{arm}/seed{n}`: everything about it follows from the config and those three.
"""

from __future__ import annotations

import csv
import json
import os
import re
from collections.abc import Iterable
from pathlib import Path

RAW, PREPARED, RESULTS = "data/raw", "data/prepared", "results"
RUNS = f"{RESULTS}/runs"
METRICS, HISTORY, CHECKPOINT, ICL = "metrics.json", "history.csv", "ckpt.pt", "icl.json"
PROGRESS = "progress.json"  # a training run's live state, removed when it finishes
THEORY = {"probdr": ["probdr.json", "probdr_latents.npz"], "snr": ["snr.json"]}
FIGURE_THEORY = {"snr": "snr", "mnist": "probdr"}  # figure kind -> the theory experiment it draws
_SEED = re.compile(r"seed(\d+)")


# -- data ---------------------------------------------------------------------------------------------
def raw_dir(source: str) -> str:
    return f"{RAW}/{source}"


def prepared_dir(dataset: str) -> str:
    return f"{PREPARED}/{dataset}"


# -- runs ---------------------------------------------------------------------------------------------
def arm_dir(experiment: str, arm: str, root: str | Path = RUNS) -> str:
    return f"{root}/{experiment}/{arm}"


def member_dir(arm: str | Path, seed: int | str) -> str:
    """The run folder of `seed` inside an arm's folder."""
    return f"{arm}/seed{seed}"


def ensemble_dir(arm: str | Path, seeds: list[int]) -> str:
    """Where an ensemble job of these seeds keeps its resumable state while it trains."""
    return f"{arm}/ensemble-seed{seeds[0]}-{seeds[-1]}"


def run_dir(experiment: str, arm: str, seed: int | str, root: str | Path = RUNS) -> str:
    return member_dir(arm_dir(experiment, arm, root), seed)


def run_file(experiment: str, arm: str, seed: int | str, name: str, root: str | Path = RUNS) -> str:
    """A file of a run; `name` may be a path inside the run folder (see `zeroshot_name`)."""
    return f"{run_dir(experiment, arm, seed, root)}/{name}"


def zeroshot_name(benchmark: str) -> str:
    """A run's zero-shot result on one benchmark, relative to the run folder."""
    return f"zeroshot/{benchmark}.json"


def lab_benchmark(benchmark: str) -> str:
    """The name of a zero-shot benchmark's twin scored by the lab's protocol (config/sources.yaml)."""
    return f"{benchmark}_lab"


def seeds(spec: dict) -> list[int]:
    s = spec["seeds"]
    return list(range(s)) if isinstance(s, int) else list(s)


def seed_groups(spec: dict) -> list[list[int]]:
    """The experiment's seeds in training jobs: groups of `ensemble` seeds, in order (the last may be smaller)."""
    size, all_seeds = spec.get("ensemble", 1), seeds(spec)
    return [all_seeds[i: i + size] for i in range(0, len(all_seeds), size)]


def run_files(experiment: str, spec: dict, name: str, root: str | Path = RUNS) -> list[str]:
    """`name` of every run of the experiment: arm by arm, seeds in order."""
    return [run_file(experiment, arm, s, name, root) for arm in spec["arms"] for s in seeds(spec)]


def run_of(path: str | Path, name: str) -> tuple[str, str, int]:
    """(experiment, arm, seed) of a run's file `name`: the inverse of `run_file`."""
    parts = Path(path).parts
    depth = len(Path(name).parts)
    if len(parts) < depth + 3 or not _SEED.fullmatch(parts[-depth - 1]) or Path(*parts[-depth:]) != Path(name):
        raise ValueError(f"{path}: not a run's {name} (expected .../{{experiment}}/{{arm}}/seed{{n}}/{name})")
    experiment, arm, seed = parts[-depth - 3: -depth]
    return experiment, arm, int(_SEED.fullmatch(seed).group(1))


def runs_named(files: Iterable[str | Path], name: str) -> list[str | Path]:
    """Those of `files` that are a run's file `name` (e.g. one benchmark's results among several)."""
    depth = len(Path(name).parts)
    return [f for f in files if Path(*Path(f).parts[-depth:]) == Path(name)]


def read_json(path: str | Path) -> dict:
    return json.loads(Path(path).read_text())


def read_history(path: str | Path) -> list[dict[str, str]]:
    """A run's history.csv: one dict of strings per evaluation."""
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


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
    missing = [f"{arm}/seed{s}" for arm in spec["arms"] for s in seeds(spec) if s not in runs[arm]]
    extra = [f"{arm}/seed{s}" for arm, by_seed in runs.items() for s in by_seed
             if arm not in spec["arms"] or s not in seeds(spec)]
    if missing or extra:
        raise ValueError(f"{name} files do not match the experiment's runs: missing {missing}, not in it {extra}")
    return {arm: {s: runs[arm][s] for s in seeds(spec)} for arm in spec["arms"]}


def run_config(spec: dict, arm: str, data_root: str = PREPARED) -> dict:
    """The trainer's run config for one arm: the experiment's base model with the arm's switches."""
    if arm not in spec["arms"]:
        raise ValueError(f"arm {arm!r} is not defined; arms: {sorted(spec['arms'])}")
    return {"data": f"{data_root}/{spec['dataset']}",
            "model": {**spec.get("model", {}), **(spec["arms"][arm] or {})},
            "train": dict(spec.get("train", {}))}


# -- statistics, theory, figures ----------------------------------------------------------------------
def experiment_file(experiment: str, name: str, root: str | Path = RESULTS) -> str:
    """A per-experiment result over seeds: summary.json, summary.csv, zeroshot.json, icl.json."""
    return f"{root}/{experiment}/{name}"


def curves_file(experiment: str, root: str | Path = RESULTS) -> str:
    """Every run's validation curve in one long table, for `dvc plots show` (dvc.yaml plots this folder)."""
    return f"{root}/curves/{experiment}.csv"


def figure_file(name: str, suffix: str = "png", root: str | Path = RESULTS) -> str:
    """A figure of the config's `figures:` section by its name, or `across_figure(experiment)`."""
    return f"{root}/figures/{name}.{suffix}"


def across_figure(experiment: str) -> str:
    """The name of an experiment's across-training figure: one per experiment, not in the config."""
    return f"across_training/{experiment}"


def theory_files(name: str, root: str | Path = RESULTS) -> list[str]:
    return [f"{root}/theory/{f}" for f in THEORY[name]]


def figure_inputs(spec: dict, experiments: dict) -> list[str]:
    """The files a figure reads (and only those: figures.py gets this list): summaries, histories of the
    configured arms and seeds, or theory results."""
    kind = spec["kind"]
    if kind in ("arms", "grid", "across"):
        return [experiment_file(spec["experiment"], "summary.json")]
    if kind == "curves":
        exp = experiments[spec["experiment"]]
        return [run_file(spec["experiment"], arm, s, HISTORY) for arm in spec["arms"] for s in seeds(exp)]
    if kind == "icl":
        return [experiment_file(name, ICL) for name in spec["experiments"]]
    return theory_files(FIGURE_THEORY[kind])


# -- the config ----------------------------------------------------------------------------------------
def load_config(configfiles: list[str | Path] | None = None, catalogue: str | Path = "config/sources.yaml") -> dict:
    """The config as the workflow sees it: the catalogue, then `configfiles` (default config/config.yaml)
    merged over it key by key (as Snakemake merges --configfile)."""
    import yaml

    def merge(base: dict, update: dict) -> dict:
        for key, value in update.items():
            base[key] = merge(base.get(key, {}), value) if isinstance(value, dict) and isinstance(
                base.get(key), dict) else value
        return base

    config = yaml.safe_load(Path(catalogue).read_text())
    for path in configfiles or ["config/config.yaml"]:
        config = merge(config, yaml.safe_load(Path(path).read_text()) or {})
    return config


# -- the config's cross-checks (the schema checks each entry; these check that entries agree) ----------
def is_icl(spec: dict, config: dict) -> bool:
    """Whether an experiment trains in-context regression (its data set is synthetic regression prompts)."""
    return config["datasets"][spec["dataset"]]["builder"] == "linear_regression"


def _known(config: dict, section: str, name: str, where: str) -> dict:
    if name not in config.get(section, {}):
        raise ValueError(f"config: {where} names {name!r}, not defined in {section}; known: "
                         f"{sorted(config.get(section, {}))}")
    return config[section][name]


def check_config(config: dict) -> None:
    """Raise ValueError naming the key when two entries of a (schema-valid) config disagree."""
    from unrolled.data.prepare import BENCHMARK_BUILDERS  # numpy, no torch

    for name, spec in config["datasets"].items():
        for role, src in spec["sources"].items():
            _known(config, "sources", src, f"datasets.{name}.sources.{role}")
    for name in config["data_targets"]:
        _known(config, "datasets", name, "data_targets")
    for name, spec in config["experiments"].items():
        _known(config, "datasets", spec["dataset"], f"experiments.{name}.dataset")
        arms = set(spec["arms"])
        for arm in [spec["baseline"], *(a for pair in spec.get("pairs", []) for a in pair)]:
            if arm not in arms:
                raise ValueError(f"config: experiments.{name} refers to arm {arm!r}; its arms: {sorted(arms)}")
        if spec.get("ensemble", 1) > 1 and spec.get("resources", {}).get("gpu", 0) > 1:
            raise ValueError(f"config: experiments.{name}: an ensemble trains in one process on one device; "
                             f"set resources.gpu to 1 or ensemble to 1")
        for bench in spec.get("zeroshot", []):
            builder = _known(config, "datasets", bench, f"experiments.{name}.zeroshot")["builder"]
            if builder not in BENCHMARK_BUILDERS:
                raise ValueError(f"config: experiments.{name}.zeroshot: {bench!r} is not a zero-shot benchmark "
                                 f"data set (builders {sorted(BENCHMARK_BUILDERS)})")
        for claim, mapping in spec.get("claims", {}).items():
            for arm in mapping:
                if arm not in arms:
                    raise ValueError(f"config: experiments.{name}.claims.{claim} maps unknown arm {arm!r}")
    for name, fig in config["figures"].items():
        if "experiment" in fig:
            exp = _known(config, "experiments", fig["experiment"], f"figures.{name}.experiment")
            named = fig.get("arms", []) + [a for row in fig.get("cells", {}).values() for a in row.values()]
            for arm in named:
                if arm not in exp["arms"]:
                    raise ValueError(f"config: figures.{name} names arm {arm!r}, not in experiments.{fig['experiment']}")
        for exp in fig.get("experiments", []):
            if not is_icl(_known(config, "experiments", exp, f"figures.{name}.experiments"), config):
                raise ValueError(f"config: figures.{name} draws ICL curves, but experiments.{exp} is not ICL")
        theory = FIGURE_THEORY.get(fig["kind"])
        if theory and theory not in config["theory"]:
            raise ValueError(f"config: figures.{name} draws theory.{theory}, which this config does not define")
    if "probdr" in config["theory"]:
        _known(config, "datasets", config["theory"]["probdr"]["dataset"], "theory.probdr.dataset")


def check_schema(config: dict, schema_path: str | Path) -> None:
    """Raise a short ValueError for the first schema violation: the key's path in the config, what is
    wrong, and for an unknown key the keys allowed there (not the whole config and schema)."""
    import jsonschema
    import yaml

    schema = yaml.safe_load(Path(schema_path).read_text())
    error = jsonschema.exceptions.best_match(jsonschema.validators.validator_for(schema)(schema).iter_errors(config))
    if error is None:
        return
    where = list(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = set(error.schema.get("properties", {}))
        unknown = sorted(k for k in error.instance if k not in allowed)
        where = where + unknown[:1]
        message = f"unknown key {unknown[0]!r}" + (f"; expected one of {sorted(allowed)}" if allowed else "")
    else:
        message = error.message if len(error.message) <= 300 else error.message[:300] + " ..."
    path = ".".join(map(str, where)) or "(top level)"
    raise ValueError(f"config: {path}: {message}\n  (checked against {os.path.relpath(schema_path)}; the config is "
                     f"config/sources.yaml plus config/config.yaml or your --configfile)")
