"""What the workflow's rules ask of the config: their inputs, params, resources and file names, from their
wildcards. Pure Python (no torch), so the Snakefile imports it cheaply; workflow/rules/common.smk makes one
`Lookups(config)`, `lookups`, and every rule calls it. Where files live is layout.py's: this class only
applies it to the config's results folder.

Everything a config makes goes under its `results` folder. With `partial`, nothing trains: no rule makes a
run's files (their wildcard constraints match no experiment), so the finished files the summaries read are
sources, up to date (here.resolve_here kept only the finished seeds).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from unrolled import layout, published, regime, registry
from unrolled.config import run_config


def exact(names) -> str:
    """A wildcard constraint matching exactly these names (none: matches nothing)."""
    return "|".join(names) or "(?!)"


class Lookups:
    def __init__(self, config: dict, repository_file=None):
        """`repository_file(path)`: a file of the workflow's repository as a local path (the Snakefile's, through
        Snakemake's source cache); by default the checkout's."""
        self.config = config
        self.repository_file = repository_file or (lambda path: str(registry.CHECKOUT / path))
        self.results = config["results"]
        self.runs = layout.runs_root(self.results)
        self.partial = config["partial"]
        # With `partial`, no rule makes a run's files: they are the summaries' sources, never out of date
        # (a rule without inputs would look changed to Snakemake, and retrain).
        experiments = {} if self.partial else config["experiments"]
        # Experiments with `ensemble: E > 1` train E seeds per job, whose record stands for its runs' files.
        self.ensembles = {name: registry.seed_groups(spec) for name, spec in experiments.items()
                          if spec.get("ensemble", 1) > 1}
        self.trained_experiments = exact(experiments)  # whose runs a rule trains and evaluates

    def published(self, files: list[str]) -> list:
        """`files` (results a job reads), with those whose content is the published file's marked `ancient`: after
        a plain `dvc pull`, which writes them in any order, the published results are up to date as pulled
        (published.py). Files that differ from the published ones keep their modification time's say."""
        from snakemake.io import ancient

        listing = published.manifest()
        return [ancient(f) if listing and published.is_published(f, listing) else f for f in files]

    # -- the config's entries ---------------------------------------------------------------------------
    def lookup(self, section: str, name: str) -> dict:
        entries = self.config.get(section, {})
        if name not in entries:
            raise ValueError(f"config: {section}.{name} is not defined; known: {sorted(entries)}")
        return entries[name]

    def experiment(self, name: str) -> dict:
        return self.lookup("experiments", name)

    def spec_json(self, section: str):
        """Params function: a config entry (named by the wildcard of the section's kind) as JSON."""
        key = {"sources": "source", "datasets": "dataset", "experiments": "experiment", "figures": "figure"}[section]
        return lambda wildcards: json.dumps(self.lookup(section, getattr(wildcards, key)))

    def across_spec(self, wildcards) -> str:
        """An experiment's across-training figure spec (every experiment has one, without a config entry)."""
        return json.dumps({"kind": "across", "experiment": wildcards.experiment,
                           "claims": self.experiment(wildcards.experiment).get("claims", {})})

    def table_params(self, configfiles) -> dict:
        """The table's experiments, what the config left out here, and the config's name, relative to the
        repository, so the table reads the same in every clone (Snakemake gives absolute paths)."""
        return {"experiments": json.dumps(self.config["experiments"]), "left_out": json.dumps(self.config["left_out"]),
                "config_name": " ".join(os.path.relpath(f) for f in configfiles) or "config/config.yaml"}

    def probdr_inputs(self, wildcards) -> dict:
        """The MNIST unrolling's data set, unless its results are made (`unless_made`)."""
        from snakemake.io import ancient

        return self.unless_made(self.theory("probdr"), {"data": ancient(layout.prepared_dir(
            self.config["theory"]["probdr"]["dataset"]))})

    def theory_json(self, name: str):
        """Params function: the config's theory.<name> entry as JSON."""
        return lambda wildcards: json.dumps(self.config["theory"][name])

    # -- files ----------------------------------------------------------------------------------------
    def summary(self, experiment: str, name: str = layout.SUMMARY) -> str:
        return layout.experiment_file(experiment, name, self.results)

    def run_file(self, experiment, arm, seed, name: str) -> str:
        return layout.run_file(experiment, arm, seed, name, self.runs)

    def job_record(self, experiment, arm, job) -> str:
        """A training job's record (the train rule's output), by its name (`layout.job_name`)."""
        return layout.job_record(layout.arm_dir(experiment, arm, self.runs), job)

    def trained(self, files: list[str]) -> list[str]:
        """`files` with each run's metrics.json or history.csv replaced by its training job's record, the file a
        rule makes (once each, in order): the run's metrics.json for a group of one, the job's record for a
        seed ensemble, which writes its members' files. Other files as they are."""
        out = []
        for f in files:
            name = Path(f).name
            if name in (layout.METRICS, layout.HISTORY):
                experiment, arm, seed = layout.run_of(f, name)
                group = next((g for g in self.ensembles.get(experiment, []) if seed in g), [seed])
                f = self.job_record(experiment, arm, layout.job_name(group))
            out.append(f)
        return list(dict.fromkeys(out))

    def job_seeds(self, wildcards) -> list[int]:
        """A training job's seeds, from its `{job}` wildcard: a seed group of the experiment's (`seed_groups`)."""
        groups = self.ensembles.get(wildcards.experiment)
        seed = layout.member_seed(wildcards.job)
        if groups is None and seed is not None:  # a group of one: any seed
            return [seed]
        for group in groups or []:
            if layout.job_name(group) == wildcards.job:
                return group
        jobs = [layout.job_name(g) for g in groups] if groups else ["seed{n}, one seed a job"]
        raise ValueError(f"{wildcards.experiment} trains its seeds as {jobs}, not {wildcards.job}")

    def run_path(self, wildcards) -> str:
        """A run's folder, from its wildcards."""
        return layout.run_dir(wildcards.experiment, wildcards.arm, wildcards.seed, self.runs)

    def benchmark(self, kind: str, name: str) -> str:
        """A job's timing file: under the results folder (a result: what a run cost)."""
        return layout.benchmark_file(kind, name, self.results)

    def figure(self, name: str, suffix: str = "png") -> str:
        return layout.figure_file(name, suffix, self.results)

    def theory(self, name: str) -> list[str]:
        return layout.theory_files(name, self.results)

    @property
    def theory_results(self) -> list[str]:
        """Each theory experiment's result (the table and figures read)."""
        return [self.theory(name)[0] for name in self.config["theory"]]

    def figure_files(self, wildcards) -> list[str]:
        """The files a configured figure draws (and only those)."""
        return registry.figure_inputs(self.lookup("figures", wildcards.figure), self.config["experiments"],
                                      self.results)

    def figure_inputs(self, wildcards) -> list:
        """What a configured figure waits for: its files, a run's through its training job's record (`trained`)."""
        return self.published(self.trained(self.figure_files(wildcards)))

    def made_from(self, files_of):
        """Input function: the results `files_of(self)` names, `published` ones ancient (a rule that reads every
        summary, the theory results, ...)."""
        return lambda wildcards: self.published(files_of(self, wildcards))

    @property
    def summaries(self) -> list[str]:
        return [self.summary(name) for name in self.config["experiments"]]

    @property
    def zeroshot_summaries(self) -> list[str]:
        return [self.summary(name, layout.ZEROSHOT_SUMMARY) for name, spec in self.config["experiments"].items()
                if spec.get("zeroshot")]

    @property
    def icl_summaries(self) -> list[str]:
        return [self.summary(name, layout.ICL) for name, spec in self.config["experiments"].items()
                if registry.is_icl(spec, self.config)]

    @property
    def regime_maps(self) -> list[str]:
        return [layout.regime_map_file(name, self.results) for name in self.config.get("regime_maps", {})]

    def map_summaries(self, wildcards) -> list:
        """The summaries of a regime map's sizes, in its order."""
        return self.published([self.summary(name) for name in self.lookup("regime_maps", wildcards.map)["experiments"]])

    def map_reference(self, wildcards) -> list[str]:
        """A regime map's reference summary (a run at the paper's scale, a file of this checkout, wherever the
        workflow runs from), if it has one."""
        ref = self.lookup("regime_maps", wildcards.map).get("reference")
        return [self.repository_file(ref["summary"])] if ref else []

    def map_spec(self, wildcards) -> str:
        """A regime map's entry as JSON, with its name."""
        return json.dumps({**self.lookup("regime_maps", wildcards.map), "name": wildcards.map})

    def map_reference_option(self, wildcards) -> str:
        """`--reference SUMMARY --reference-items N`: the reference's training size from its data set's
        catalogue entry (its runs predate recording it); none without a reference."""
        ref = self.lookup("regime_maps", wildcards.map).get("reference")
        if not ref:
            return ""
        items = regime.train_items(self.lookup("datasets", ref["dataset"]))
        return f"--reference {self.map_reference(wildcards)[0]} --reference-items {items}"

    # -- input functions ------------------------------------------------------------------------------
    def dataset_inputs(self, wildcards) -> dict:
        """The fetched source folders a data set is built from, by role, `ancient`: a source is pinned by its
        sha256, so fetched (or re-stamped) again it is the same bytes and rebuilds nothing; a changed pin is
        a change of `dataset_pins`, the rule's params."""
        from snakemake.io import ancient

        return {role: ancient(layout.raw_dir(src))
                for role, src in self.lookup("datasets", wildcards.dataset)["sources"].items()}

    def dataset_pins(self, wildcards) -> str:
        """What a data set is built from, as pinned: its sources' entries (a new pin rebuilds it)."""
        return json.dumps({role: self.lookup("sources", src)
                           for role, src in self.lookup("datasets", wildcards.dataset)["sources"].items()},
                          sort_keys=True)

    def experiment_data(self, wildcards):
        """The prepared data set an experiment trains on, `ancient`: data prepared afresh (a new clone, a GPU
        node, `make pull-reference`) from the same pinned sources never makes finished runs, their evaluations
        or summaries out of date."""
        from snakemake.io import ancient

        return ancient(layout.prepared_dir(self.experiment(wildcards.experiment)["dataset"]))

    @staticmethod
    def unless_made(outputs, inputs: dict) -> dict:
        """A job's data inputs; where its outputs are all here already, only those inputs that are here too: a
        finished job (a published run, its evaluations, a summary) never waits for a data set to be prepared,
        so after a plain `dvc pull` Snakemake plans nothing. A data set that is here stays an input (`ancient`),
        so a finished job's inputs are the ones Snakemake recorded when it ran it (a changed set of inputs
        would rerun it). Its command takes the paths from params, so a forced rerun still finds them."""
        def here(value) -> bool:
            return all(Path(str(v)).exists() for v in (value if isinstance(value, list) else [value]))

        if not all(Path(f).exists() for f in outputs):
            return inputs
        return {key: value for key, value in inputs.items() if here(value)}

    def data_path(self, wildcards) -> str:
        """Params function: the experiment's prepared data set (see `unless_made`)."""
        return layout.prepared_dir(self.experiment(wildcards.experiment)["dataset"])

    def training_inputs(self, wildcards) -> dict:
        """A training job's inputs: its arm's finished run config (the `run_config` rule's) and its data set
        (`experiment_data`), unless the job is finished (its record is here)."""
        made = [self.job_record(wildcards.experiment, wildcards.arm, wildcards.job)]
        return self.unless_made(made, {"data": self.experiment_data(wildcards),
                                       "config": self.run_config_file(wildcards)})

    def run_config_file(self, wildcards) -> str:
        """An arm's finished run config (run.yaml), from its wildcards."""
        return layout.run_config_file(wildcards.experiment, wildcards.arm, self.runs)

    def run_config_inputs(self, wildcards) -> dict:
        """What an arm's run config is finished from: its data set (its meta.json) and a tuned arm's choice."""
        return {"data": self.experiment_data(wildcards), "tuned": self.published(self.tuned_inputs(wildcards))}

    def tuned_inputs(self, wildcards) -> list[str]:
        """A tuned arm's choice file (none for other arms)."""
        tune = (self.experiment(wildcards.experiment)["arms"][wildcards.arm] or {}).get("tune")
        return [layout.tuned_file(wildcards.experiment, wildcards.arm, self.results)] if tune else []

    def sweep_summary(self, wildcards):
        """What a tuned arm's choice is made from: its sweep's summary, `ancient`, so the choice is made once
        and every seed group of the arm trains with the same value, however many seeds the sweep gains."""
        from snakemake.io import ancient

        tune = self.experiment(wildcards.experiment)["arms"][wildcards.arm]["tune"]
        return ancient(self.summary(tune["experiment"]))

    def tune_params(self, wildcards) -> dict:
        tune = self.experiment(wildcards.experiment)["arms"][wildcards.arm]["tune"]
        return {"key": tune["key"], "values": json.dumps(tune["values"])}

    def tokenizer_inputs(self, wildcards) -> list[str]:
        """The fetched BPE folder a BPE-tokenized experiment's models need to read text; none for chars."""
        dataset = self.experiment(wildcards.experiment)["dataset"]
        bpe = self.lookup("datasets", dataset)["sources"].get("bpe")
        return [layout.raw_dir(bpe)] if bpe else []

    def evaluation_inputs(self, wildcards) -> dict:
        """What evaluating a finished run reads: its metrics (and, beside them, its weights) and its data set
        (`ancient`, as for training: the weights stay where the run trained); a zero-shot job also the
        benchmark and the BPE ranks. An evaluation already made needs none of the data (`unless_made`)."""
        from snakemake.io import ancient

        zeroshot = hasattr(wildcards, "benchmark")
        made = self.run_file(wildcards.experiment, wildcards.arm, wildcards.seed,
                             layout.zeroshot_name(wildcards.benchmark) if zeroshot else layout.ICL)
        data = {"data": self.experiment_data(wildcards)}
        if zeroshot:  # built from pinned sources too: re-made, the same questions
            data |= {"benchmark": ancient(layout.prepared_dir(wildcards.benchmark)),
                     "tokenizer": [ancient(folder) for folder in self.tokenizer_inputs(wildcards)]}
        return {"run": self.published(self.trained([f"{self.run_path(wildcards)}/{layout.METRICS}"])),
                **self.unless_made([made], data)}

    def icl_summary_inputs(self, wildcards) -> dict:
        """The ICL summary's inputs: every run's errors, and the data set (its test prompts) unless it is made."""
        return {"runs": self.experiment_runs(layout.ICL)(wildcards),
                **self.unless_made([self.summary(wildcards.experiment, layout.ICL)],
                                   {"data": self.experiment_data(wildcards)})}

    def run_files(self, name: str):
        """Params function: the file `name` of every run of the experiment."""
        return lambda wildcards: registry.run_files(wildcards.experiment, self.experiment(wildcards.experiment),
                                                    name, self.runs)

    def experiment_runs(self, name: str):
        """Input function: the file `name` of every run of the experiment, a run's metrics.json or history.csv
        through its training job's record (`trained`); `published` ones ancient."""
        return lambda wildcards: self.published(self.trained(self.run_files(name)(wildcards)))

    def zeroshot_runs(self, wildcards) -> list:
        spec = self.experiment(wildcards.experiment)
        return self.published([f for bench in spec.get("zeroshot", [])
                               for f in registry.run_files(wildcards.experiment, spec, layout.zeroshot_name(bench),
                                                           self.runs)])

    # -- params and resources -------------------------------------------------------------------------
    def run_config(self, wildcards) -> str:
        """An arm's run config as the config writes it (JSON), which the `run_config` rule finishes: a change of it
        is a change of the rule's params, so the arm's run.yaml, and then its runs, are made again."""
        return json.dumps(run_config(self.experiment(wildcards.experiment), wildcards.arm))

    def tuned_option(self, wildcards) -> str:
        """A tuned arm's `--tuned CHOICE` (its `tune` rule's file, an input of its run config); none for others."""
        return " ".join(f"--tuned {path}" for path in self.tuned_inputs(wildcards))

    def resource(self, key: str):
        """A training job's `gpu`, `mem_mb` or `runtime` (registry.resources)."""
        return lambda wildcards: registry.resources(self.experiment(wildcards.experiment), self.config)[key]

    def compile_cache(self, wildcards) -> str:
        return f"--compile-cache {self.config['compile_cache']}" if self.config["compile_cache"] else ""

    def arm_path(self, wildcards) -> str:
        """An arm's folder, from its wildcards: a training job's --out, where each of its seeds has its run folder."""
        return layout.arm_dir(wildcards.experiment, wildcards.arm, self.runs)
