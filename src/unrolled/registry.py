"""The registry: the config the workflow runs, merged over its catalogues and resolved (arm sets, recipes,
tuned arms), and what follows from it (an experiment's seeds and seed groups, its runs' files, a training
job's resources, the files a figure reads). Pure Python (no torch), cheap enough for the Snakefile to import.
Where files live is layout.py's; what depends on this machine's disk (data here, runs finished, stand-ins,
partial summaries) is here.py's; the schema's wording and the cross-checks are checks.py's; `show-run` is
the CLI's.
"""

from __future__ import annotations

import copy
from pathlib import Path

from unrolled.layout import (
    HISTORY,
    ICL,
    RESULTS,
    RUNS,
    SUMMARY,
    experiment_file,
    regime_map_file,
    run_file,
    runs_root,
    theory_files,
)

FIGURE_THEORY = {"snr": "snr", "mnist": "probdr"}  # figure kind -> the theory experiment it draws


def seeds(spec: dict) -> list[int]:
    s = spec["seeds"]
    return list(range(s)) if isinstance(s, int) else list(s)


def arm_seeds(spec: dict, arm: str) -> list[int]:
    """An arm's seeds: the experiment's, or in a partial summary the arm's finished ones (`published_arms`)."""
    return spec.get("arm_seeds", {}).get(arm) or seeds(spec)


def seed_groups(spec: dict) -> list[list[int]]:
    """The experiment's seeds in training jobs: groups of `ensemble` seeds, in order (the last may be smaller)."""
    size, all_seeds = spec.get("ensemble", 1), seeds(spec)
    return [all_seeds[i: i + size] for i in range(0, len(all_seeds), size)]


def run_files(experiment: str, spec: dict, name: str, root: str | Path = RUNS) -> list[str]:
    """`name` of every run of the experiment: arm by arm, seeds in order."""
    return [run_file(experiment, arm, s, name, root) for arm in spec["arms"] for s in arm_seeds(spec, arm)]


def resources(spec: dict, config: dict) -> dict:
    """A training job's resources: its experiment's `resources`, else the config's `train_resources`, and
    for `gpu` else its `train_gpus` (0 on the CPU; the gpu profile sets 1). A job starts its `gpu` ranks,
    never fewer."""
    return {"gpu": config.get("train_gpus", 0), **config.get("train_resources", {}), **spec.get("resources", {})}


def figure_inputs(spec: dict, experiments: dict, results: str | Path = RESULTS) -> list[str]:
    """The files a figure reads (and only those: figures.py gets this list): summaries, histories of the
    configured arms and seeds, or theory results."""
    kind = spec["kind"]
    if kind in ("arms", "grid", "across"):
        return [experiment_file(spec["experiment"], SUMMARY, results)]
    if kind == "curves":
        exp = experiments[spec["experiment"]]
        return [run_file(spec["experiment"], arm, s, HISTORY, runs_root(results)) for arm in spec["arms"]
                for s in arm_seeds(exp, arm)]
    if kind == "icl":
        return [experiment_file(name, ICL, results) for name in spec["experiments"]]
    if kind == "regime_map":
        return [regime_map_file(spec["map"], results)]
    return theory_files(FIGURE_THEORY[kind], results)


# -- the config ----------------------------------------------------------------------------------------
# The workflow's own files the package carries (catalogue/: links to config/ and workflow/schemas/ in a
# checkout, copies in an installed package), so that a module deployed from a git host, whose files Snakemake
# fetches one by one, and an installed `unrolled` read the same catalogues and schema as a checkout.
CATALOGUE = Path(__file__).resolve().parent / "catalogue"
CATALOGUES = ("sources.yaml", "recipes.yaml")  # always loaded, before the registry
SCHEMA = CATALOGUE / "config.schema.yaml"
CHECKOUT = Path(__file__).resolve().parents[2]  # the repository of a checkout (reference results)


def load_config(configfiles: list[str | Path] | None = None, resolved: bool = True,
                checkout: str | Path | None = None) -> dict:
    """The config as the workflow sees it: `configfiles` (None: config/config.yaml) merged key by key, as
    Snakemake merges --configfile, over the catalogues (`load_catalogues`); then, as the Snakefile does,
    checked against the schema (whose defaults fill in what is left out) and `resolve`d."""
    import yaml
    from snakemake.utils import update_config

    config: dict = {}
    for path in ["config/config.yaml"] if configfiles is None else configfiles:
        update_config(config, yaml.safe_load(Path(path).read_text()) or {})
    load_catalogues(config, checkout)
    if not resolved:
        return config
    from snakemake.utils import validate

    from unrolled.checks import check_schema
    from unrolled.here import resolve_here

    check_schema(config, SCHEMA)
    validate(config, str(SCHEMA))
    return resolve_here(resolve(config))


def load_catalogues(config: dict, checkout: str | Path | None = None) -> dict:
    """`config` (the registry: config.yaml, a --configfile or a module's `config:`) merged in place over the
    catalogues, key by key: the package's (`CATALOGUE`), or those of the checkout at `checkout` (its
    config/sources.yaml and config/recipes.yaml)."""
    import yaml
    from snakemake.utils import update_config

    merged: dict = {}
    for name in CATALOGUES:
        path = CATALOGUE / name if checkout is None else Path(checkout, "config", name)
        update_config(merged, yaml.safe_load(path.read_text()) or {})
    update_config(merged, config)
    config.clear()
    config.update(merged)
    return config


def resolve(config: dict) -> dict:
    """The registry's entries filled in from what they name (changed in place and returned), from a
    schema-valid config; what depends on this machine's disk is `here.resolve_here`'s, applied after:

    - `arm_set`: the named set's arms and pairs, where the experiment sets none (a config over the registry
      may give an experiment its own arms);
    - `recipe`: the named recipe's model and train fill in what the experiment leaves out;
    - an arm with `tune` learns its key's value in each arm of the sweep experiment (read when it trains);
    - a figure of one experiment's arms (`arms`, `grid`) draws, unless it says, the metric the experiment's
      claim is judged on (`claim_metric`), else the summary's primary one.
    """
    experiments = config.get("experiments", {})
    for name, spec in experiments.items():
        if "arm_set" in spec:
            arm_set = known(config, "arm_sets", spec.pop("arm_set"), f"experiments.{name}.arm_set")
            spec.setdefault("arms", copy.deepcopy(arm_set["arms"]))
            spec.setdefault("pairs", copy.deepcopy(arm_set.get("pairs", [])))
        if "recipe" in spec:
            recipe = known(config, "recipes", spec["recipe"], f"experiments.{name}.recipe")
            for part in ("model", "train"):
                spec[part] = {**recipe.get(part, {}), **spec.get(part, {})}
    for name, spec in experiments.items():
        for arm, switches in spec["arms"].items():
            if switches and "tune" in switches:
                tune = switches["tune"]
                where = f"experiments.{name}.arms.{arm}.tune"
                sweep = known(config, "experiments", tune["experiment"], where)
                for a in tune.get("arms", []):
                    if a not in sweep["arms"]:
                        raise ValueError(f"config: {where}.arms: {a!r} is not an arm of {tune['experiment']}")
                tune["values"] = {a: {**sweep.get("model", {}), **(sw or {})}.get(tune["key"])
                                  for a, sw in sweep["arms"].items() if a in tune.get("arms", sweep["arms"])}
    for spec in config.get("figures", {}).values():
        claim = experiments.get(spec.get("experiment"), {}).get("claim_metric")
        if spec["kind"] in ("arms", "grid") and claim and "metric" not in spec:
            spec["metric"] = claim
    return config


# -- the config's cross-checks (the schema checks each entry; these check that entries agree) ----------
def is_icl(spec: dict, config: dict) -> bool:
    """Whether an experiment trains in-context regression (its data set is synthetic regression prompts)."""
    return config["datasets"][spec["dataset"]]["builder"] == "linear_regression"


def known(config: dict, section: str, name: str, where: str) -> dict:
    if name not in config.get(section, {}):
        raise ValueError(f"config: {where} names {name!r}, not defined in {section}; known: "
                         f"{sorted(config.get(section, {}))}")
    return config[section][name]
