# Shared helpers: config look-ups that fail with the offending key named, before any job runs.
import json


wildcard_constraints:
    source=r"[a-z0-9_]+",
    dataset=r"[a-z0-9_]+",


def _lookup(section, name):
    entries = config[section]
    if name not in entries:
        raise ValueError(f"config: {section}.{name} is not defined; known: {sorted(entries)}")
    return entries[name]


def source_spec(name):
    return _lookup("sources", name)


def dataset_spec(name):
    return _lookup("datasets", name)


def dataset_inputs(wildcards):
    """The fetched source folders a data set is built from, by role."""
    return {role: f"data/raw/{src}" for role, src in dataset_spec(wildcards.dataset)["sources"].items()}


def _check_config():
    for name, spec in config["datasets"].items():
        for role, src in spec["sources"].items():
            if src not in config["sources"]:
                raise ValueError(f"config: datasets.{name}.sources.{role} names unknown source {src!r}")
    for name in config["data_targets"]:
        dataset_spec(name)


_check_config()
