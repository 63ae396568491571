# Shared helpers: config look-ups that fail with the offending key named, before any job runs.
import json
import os

from unrolled.registry import figure_inputs, run_config, seed_groups, seeds


wildcard_constraints:
    source=r"[a-z0-9_]+",
    dataset=r"[a-z0-9_]+",
    experiment=r"[a-z0-9_]+",
    arm=r"[a-z0-9_]+",
    seed=r"\d+",
    figure=r"[a-z0-9_]+",
    benchmark=r"[a-z0-9_]+",


def _lookup(section, name):
    entries = config.get(section, {})
    if name not in entries:
        raise ValueError(f"config: {section}.{name} is not defined; known: {sorted(entries)}")
    return entries[name]


def source_spec(name):
    return _lookup("sources", name)


def dataset_spec(name):
    return _lookup("datasets", name)


def experiment_spec(name):
    return _lookup("experiments", name)


def dataset_inputs(wildcards):
    """The fetched source folders a data set is built from, by role."""
    return {role: f"data/raw/{src}" for role, src in dataset_spec(wildcards.dataset)["sources"].items()}


def experiment_resource(key, default):
    """Input function: an experiment's `resources.<key>` for a training job."""
    return lambda wildcards: experiment_spec(wildcards.experiment).get("resources", {}).get(key, default)


def launcher(spec):
    gpus = spec.get("resources", {}).get("gpu", 0)
    return f"torchrun --standalone --nproc_per_node {gpus}" if gpus > 1 else "python"


def run_paths(experiment, filename):
    spec = experiment_spec(experiment)
    return [f"results/runs/{experiment}/{arm}/seed{s}/{filename}" for arm in spec["arms"] for s in seeds(spec)]


def _exact(names):
    """A wildcard constraint matching exactly these names (none: matches nothing)."""
    return "|".join(names) or "(?!)"


# Experiments with `ensemble: E > 1` train E seeds per job (rules made in train.smk, one per seed group);
# the others one seed per job (rule train).
ENSEMBLES = {name: seed_groups(spec) for name, spec in config["experiments"].items() if spec.get("ensemble", 1) > 1}
SINGLE_RUN_EXPERIMENTS = _exact(name for name in config["experiments"] if name not in ENSEMBLES)


BENCHMARK_BUILDERS = ("lambada", "text_document", "cbt", "text_cloze")


def tokenizer_inputs(experiment):
    """The fetched BPE folder a BPE-tokenized experiment's models need to read text; none for chars."""
    bpe = dataset_spec(experiment_spec(experiment)["dataset"])["sources"].get("bpe")
    return [f"data/raw/{bpe}"] if bpe else []


def zeroshot_paths(experiment):
    spec = experiment_spec(experiment)
    return [f"results/runs/{experiment}/{arm}/seed{s}/zeroshot/{bench}.json"
            for bench in spec.get("zeroshot", []) for arm in spec["arms"] for s in seeds(spec)]


def is_icl(spec):
    return dataset_spec(spec["dataset"])["builder"] == "linear_regression"


ZEROSHOT_SUMMARIES = [f"results/{name}/zeroshot.json" for name, spec in config["experiments"].items()
                      if spec.get("zeroshot")]
ICL_SUMMARIES = [f"results/{name}/icl.json" for name, spec in config["experiments"].items() if is_icl(spec)]


def _check_config():
    for name, spec in config["datasets"].items():
        for role, src in spec["sources"].items():
            if src not in config["sources"]:
                raise ValueError(f"config: datasets.{name}.sources.{role} names unknown source {src!r}")
    for name in config["data_targets"]:
        dataset_spec(name)
    for name, spec in config["experiments"].items():
        dataset_spec(spec["dataset"])
        arms = set(spec["arms"])
        for arm in [spec["baseline"], *(a for pair in spec.get("pairs", []) for a in pair)]:
            if arm not in arms:
                raise ValueError(f"config: experiments.{name} refers to arm {arm!r}; its arms: {sorted(arms)}")
        if spec.get("ensemble", 1) > 1 and spec.get("resources", {}).get("gpu", 0) > 1:
            raise ValueError(f"config: experiments.{name}: an ensemble trains in one process on one device; "
                             f"set resources.gpu to 1 or ensemble to 1")
        for bench in spec.get("zeroshot", []):
            if dataset_spec(bench)["builder"] not in BENCHMARK_BUILDERS:
                raise ValueError(f"config: experiments.{name}.zeroshot: {bench!r} is not a zero-shot benchmark "
                                 f"data set (builders {sorted(BENCHMARK_BUILDERS)})")
        for claim, mapping in spec.get("claims", {}).items():
            for arm in mapping:
                if arm not in arms:
                    raise ValueError(f"config: experiments.{name}.claims.{claim} maps unknown arm {arm!r}")
    for name, fig in config["figures"].items():
        if "experiment" in fig:
            exp = experiment_spec(fig["experiment"])
            named = fig.get("arms", []) + [a for row in fig.get("cells", {}).values() for a in row.values()]
            for arm in named:
                if arm not in exp["arms"]:
                    raise ValueError(f"config: figures.{name} names arm {arm!r}, not in experiments.{fig['experiment']}")
        for exp in fig.get("experiments", []):
            if not is_icl(experiment_spec(exp)):
                raise ValueError(f"config: figures.{name} draws ICL curves, but experiments.{exp} is not ICL")
        if fig["kind"] in ("snr", "mnist") and {"snr": "snr", "mnist": "probdr"}[fig["kind"]] not in config["theory"]:
            raise ValueError(f"config: figures.{name} needs the theory experiment it draws")
    if "probdr" in config["theory"]:
        dataset_spec(config["theory"]["probdr"]["dataset"])


_check_config()
