"""A config's checks: the schema's, each violation worded as one short line naming the key (not
Snakemake's dump of the whole config and schema), and the cross-checks between entries that name each
other (the schema checks each entry; these check that entries agree).
"""

from __future__ import annotations

from pathlib import Path

from unrolled.config import check_seed_group
from unrolled.here import data_missing
from unrolled.registry import FIGURE_THEORY, is_icl, known
from unrolled.schema import first_error


def check_config(config: dict) -> None:
    """Raise ValueError naming the key when two entries of a (schema-valid) config disagree."""
    from unrolled.data.prepare import BENCHMARK_BUILDERS  # numpy, no torch

    for name, spec in config["datasets"].items():
        for role, src in spec["sources"].items():
            known(config, "sources", src, f"datasets.{name}.sources.{role}")
    for name in config.get("data_targets", []):
        known(config, "datasets", name, "data_targets")
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
        known(config, "datasets", spec["dataset"], f"experiments.{name}.dataset")
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
            builder = known(config, "datasets", bench, f"experiments.{name}.zeroshot")["builder"]
            if builder not in BENCHMARK_BUILDERS:
                raise ValueError(f"config: experiments.{name}.zeroshot: {bench!r} is not a zero-shot benchmark "
                                 f"data set (builders {sorted(BENCHMARK_BUILDERS)})")
        for other in spec.get("stand_in_for", []):
            if other not in config["experiments"] and other not in config.get("left_out", {}):
                raise ValueError(f"config: experiments.{name}.stand_in_for names {other!r}, not an experiment")
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
        exp = known(config, "experiments", stage["experiment"], f"slices.order.{i}.experiment")
        for arm in stage["arms"]:
            if arm not in exp["arms"] and not config.get("partial"):
                raise ValueError(f"config: slices.order.{i}: {arm!r} is not an arm of {stage['experiment']}")
    for name, fig in config.get("figures", {}).items():
        if "experiment" in fig:
            exp = known(config, "experiments", fig["experiment"], f"figures.{name}.experiment")
            named = fig.get("arms", []) + [a for row in fig.get("cells", {}).values() for a in row.values()]
            for arm in named:
                if arm not in exp["arms"]:
                    raise ValueError(f"config: figures.{name} names arm {arm!r}, "
                                     f"not in experiments.{fig['experiment']}")
        for exp in fig.get("experiments", []):
            if not is_icl(known(config, "experiments", exp, f"figures.{name}.experiments"), config):
                raise ValueError(f"config: figures.{name} draws ICL curves, but experiments.{exp} is not ICL")
        theory = FIGURE_THEORY.get(fig["kind"])
        if theory and theory not in config.get("theory", {}):
            raise ValueError(f"config: figures.{name} draws theory.{theory}, which this config does not define")
    for name, rmap in config.get("regime_maps", {}).items():
        for exp in rmap["experiments"]:
            spec = known(config, "experiments", exp, f"regime_maps.{name}.experiments")
            if rmap["arm"] not in spec["arms"]:
                raise ValueError(f"config: regime_maps.{name}.arm: {rmap['arm']!r} is not an arm of {exp}")
        if "reference" in rmap:
            known(config, "datasets", rmap["reference"]["dataset"], f"regime_maps.{name}.reference.dataset")
    for name, fig in config.get("figures", {}).items():
        if fig["kind"] == "regime_map":
            known(config, "regime_maps", fig["map"], f"figures.{name}.map")
    if "probdr" in config.get("theory", {}):
        known(config, "datasets", config["theory"]["probdr"]["dataset"], "theory.probdr.dataset")


def check_schema(config: dict, schema_path: str | Path) -> None:
    """Raise a short ValueError for the first schema violation: the key's path in the config, what is
    wrong and what was expected, and for an unknown key the keys allowed there (not the whole config and
    schema)."""
    import yaml

    found = first_error(config, yaml.safe_load(Path(schema_path).read_text()))
    if found is None:
        return
    path, message, validator = found
    hint = ("\n  A file that changes only some keys goes after the registry it changes: --configfile "
            "config/config.yaml yours.yaml" if validator == "required" else "")
    raise ValueError(f"config: {path}: {message}{hint}")
