# Look-ups and input functions over the config. Where files live, and the cross-checks between config
# entries, are the package's (unrolled.registry): rules call its layout functions with "{wildcard}"s.
import json
import os

from unrolled import registry
from unrolled.registry import HISTORY, ICL, METRICS, run_config

# Everything the workflow makes goes under the config's results folder (results/, or results/gpu/ for the
# one-GPU tier). With `partial`, nothing trains: rules that make a run's files have no inputs, so the
# finished files the summaries read count as up to date (registry.resolve kept only finished seeds).
RESULTS = config["results"]
RUNS = registry.runs_root(RESULTS)
PARTIAL = config["partial"]


def experiment_file(name, file):
    return registry.experiment_file(name, file, RESULTS)


def run_file(experiment, arm, seed, name):
    return registry.run_file(experiment, arm, seed, name, RUNS)


def run_files(experiment, spec, name):
    return registry.run_files(experiment, spec, name, RUNS)


def unless_partial(function):
    """A run-making rule's input function, or no inputs at all when the config is `partial`."""
    return (lambda wildcards: []) if PARTIAL else function


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
    return {role: registry.raw_dir(src) for role, src in dataset_spec(wildcards.dataset)["sources"].items()}


def experiment_data(wildcards):
    """The prepared data set an experiment trains on."""
    return registry.prepared_dir(experiment_spec(wildcards.experiment)["dataset"])


def training_inputs(wildcards):
    """A training job's inputs: its data set, and a tuned arm's sweep summary."""
    spec = experiment_spec(wildcards.experiment)
    return {"data": experiment_data(wildcards), "tuned": registry.tune_inputs(spec, wildcards.arm, RESULTS)}


def experiment_runs(name):
    """Input function: the file `name` of every run of the experiment."""
    return lambda wildcards: run_files(wildcards.experiment, experiment_spec(wildcards.experiment), name)


def experiment_resource(key, default):
    """Input function: an experiment's `resources.<key>` for a training job."""
    return lambda wildcards: experiment_spec(wildcards.experiment).get("resources", {}).get(key, default)


# A training job's GPUs: its experiment's resources.gpu, else train_gpus. Snakemake may lower the `gpu`
# resource it schedules with to the --resources limit; the job still starts this many ranks (and fails
# with a clear error if that many GPUs are not free), never silently fewer with bigger per-GPU batches.
train_gpus = experiment_resource("gpu", config["train_gpus"])


def compile_cache_arg(wildcards):
    return f"--compile-cache {config['compile_cache']}" if config["compile_cache"] else ""


def tokenizer_inputs(wildcards):
    """The fetched BPE folder a BPE-tokenized experiment's models need to read text; none for chars."""
    bpe = dataset_spec(experiment_spec(wildcards.experiment)["dataset"])["sources"].get("bpe")
    return [registry.raw_dir(bpe)] if bpe else []


def run_path(wildcards):
    """A run's folder, from its wildcards."""
    return registry.run_dir(wildcards.experiment, wildcards.arm, wildcards.seed, RUNS)


def evaluation_inputs(wildcards):
    """What evaluating a finished run reads: its metrics (and, beside them, its weights) and its data set;
    a zero-shot job also the benchmark and the BPE ranks."""
    inputs = {"run": f"{run_path(wildcards)}/{METRICS}", "data": experiment_data(wildcards)}
    if hasattr(wildcards, "benchmark"):
        inputs |= {"benchmark": registry.prepared_dir(wildcards.benchmark), "tokenizer": tokenizer_inputs(wildcards)}
    return inputs


def zeroshot_runs(wildcards):
    spec = experiment_spec(wildcards.experiment)
    return [
        f
        for bench in spec.get("zeroshot", [])
        for f in run_files(wildcards.experiment, spec, registry.zeroshot_name(bench))
    ]


def _exact(names):
    """A wildcard constraint matching exactly these names (none: matches nothing)."""
    return "|".join(names) or "(?!)"


registry.check_config(config)

# Experiments with `ensemble: E > 1` train E seeds per job (rules made in train.smk, one per seed group);
# the others one seed per job (rule train).
ENSEMBLES = {
    name: registry.seed_groups(spec) for name, spec in config["experiments"].items() if spec.get("ensemble", 1) > 1
}
SINGLE_RUN_EXPERIMENTS = _exact(name for name in config["experiments"] if name not in ENSEMBLES)
ZEROSHOT_SUMMARIES = [
    experiment_file(name, "zeroshot.json") for name, spec in config["experiments"].items() if spec.get("zeroshot")
]
ICL_SUMMARIES = [
    experiment_file(name, ICL) for name, spec in config["experiments"].items() if registry.is_icl(spec, config)
]
