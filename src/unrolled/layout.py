"""Where every file of the workflow lives: each file name and path, and nothing else. Each path with a
part that varies is a literal template here (SOURCE, RUN, ...: its wildcards in braces), which the workflow's
rules use as f-strings under their results folder and the functions below fill in for the trainer, the data
code and the evaluations; no other module spells a path. It imports nothing of the config or of the package.

    data/raw/{source}/                          a fetched, pinned source (SOURCE.json: its provenance)
    data/external/{source}/                     files a user placed by hand (no internet; url sources)
    data/prepared/{dataset}/                    a built data set (meta.json: what it holds)
    results/ below is the config's `results` folder: `results` for the default, `results/gpu` for the GPU tier
    results/runs/{experiment}/{arm}/run.yaml    the arm's finished run config, which each of its runs trains
    results/runs/{experiment}/{arm}/seed{n}/    a run: metrics.json, history.csv, ckpt.pt (progress.json
                                                while it trains), and its evaluations icl.json and
                                                zeroshot/{benchmark}.json
    results/runs/{experiment}/{arm}/ensemble-seed{a}-{b}/   a seed ensemble's job: its checkpoint while it
                                                trains, then metrics.json, the job's record (its members)
    results/tuned/{experiment}/{arm}.json       a tuned arm's choice of its sweep
    results/{experiment}/{name}                 statistics over seeds: summary.json/.csv, zeroshot.json, icl.json
    results/{map}.json                          a regime map: one comparison across training-set sizes
    results/curves/{experiment}.csv             every run's validation curve, for `dvc plots show`
    results/metrics/{experiment}/{arm}-{reference}.json   the headline for `dvc metrics show`, a row each
    results/metrics_all.json, params.yaml       every metric of every summary; every arm's trained config
    results/theory/{name}                       the theory experiments' results
    results/figures/{figure}.png (and .pdf), results/figures/across_training/{experiment}.png,
    results/tables/paper_vs_reproduced.md
    results/benchmarks/{kind}/{name}.tsv, logs/{kind}/{name}.log   a job's timing file and log

A run is `{experiment}/{arm}/seed{n}`: everything about it follows from the config and those three.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

RAW, PREPARED, EXTERNAL, RESULTS, LOGS = "data/raw", "data/prepared", "data/external", "results", "logs"
# Sources whose exact file the repository holds (the fetch checks it against the pinned sha256): a machine
# without the internet places it in EXTERNAL (tools/gpu-slice.sh) instead of having it carried.
REPOSITORY_COPIES = {"tinyshakespeare": ("input.txt", "tests/fixtures/tinyshakespeare/input.txt.gz")}


def repository_copy(source: str) -> str | None:
    """The repository's gzipped copy of a source's file, where it holds one."""
    return REPOSITORY_COPIES[source][1] if source in REPOSITORY_COPIES else None


def print_repository_copies() -> None:
    """For tools/gpu-slice.sh: each copy as 'where it is placed<TAB>the repository's gzipped copy', a line each."""
    for source, (name, copy) in REPOSITORY_COPIES.items():
        print(f"{EXTERNAL}/{source}/{name}\t{copy}")
META, PROVENANCE = "meta.json", "SOURCE.json"  # a prepared data set's description; a fetched source's
METRICS, HISTORY, CHECKPOINT, ICL = "metrics.json", "history.csv", "ckpt.pt", "icl.json"
SUMMARY, SUMMARY_CSV, ZEROSHOT_SUMMARY = "summary.json", "summary.csv", "zeroshot.json"  # an experiment's
PROGRESS = "progress.json"  # a training run's live state, removed when it finishes
RUN_CONFIG = "run.yaml"  # an arm's finished run config
RESULTS_DVC, REFERENCE_STORE = "results.dvc", "reference/dvc-store"  # the published reference: its .dvc file and store
THEORY = {"probdr": ["probdr.json", "probdr_latents.npz"], "snr": ["snr.json"]}
_SEED = re.compile(r"seed(\d+)")

# -- templates: a rule's wildcards in braces ---------------------------------------------------------------
SOURCE, DATASET = f"{RAW}/{{source}}", f"{PREPARED}/{{dataset}}"  # a fetched source; a built data set
ARM = "{experiment}/{arm}"  # under a runs folder (`runs_root`)
MEMBER = "seed{seed}"  # a run's folder in its arm's
RUN = f"{ARM}/{MEMBER}"
JOB = f"{ARM}/{{job}}"  # a training job's folder, by its name (`job_name`)
ZEROSHOT = "zeroshot/{benchmark}.json"  # a run's zero-shot result on one benchmark, in its folder
# under a results folder
TUNED = "tuned/{experiment}/{arm}.json"  # a tuned arm's choice of its sweep
EXPERIMENT = "{experiment}"  # an experiment's results over seeds: SUMMARY, SUMMARY_CSV, ZEROSHOT_SUMMARY, ICL
CURVES = "curves/{experiment}.csv"  # every run's validation curve
REGIME_MAP = "{map}.json"
FIGURE = "figures/{figure}"  # .png and .pdf
ACROSS = "across_training/{experiment}"  # an experiment's across-training figure's name


# -- data ---------------------------------------------------------------------------------------------
def raw_dir(source: str) -> str:
    """A fetched source (its files and PROVENANCE)."""
    return SOURCE.format(source=source)


def prepared_dir(dataset: str) -> str:
    """A built data set (its files and META)."""
    return DATASET.format(dataset=dataset)


def runs_root(results: str | Path = RESULTS) -> str:
    """Where the runs of a config whose results folder is `results` live."""
    return f"{results}/runs"


RUNS = runs_root()


# -- runs ---------------------------------------------------------------------------------------------
def arm_dir(experiment: str, arm: str, root: str | Path = RUNS) -> str:
    return f"{root}/{ARM.format(experiment=experiment, arm=arm)}"


def run_config_file(experiment: str, arm: str, root: str | Path = RUNS) -> str:
    """An arm's finished run config (the `run_config` rule's output): what every seed group of the arm trains."""
    return f"{arm_dir(experiment, arm, root)}/{RUN_CONFIG}"


def member_dir(arm: str | Path, seed: int | str) -> str:
    """The run folder of `seed` inside an arm's folder."""
    return f"{arm}/{MEMBER.format(seed=seed)}"


def job_name(seeds: list[int]) -> str:
    """A training job's name inside its arm (the train rule's `{job}` wildcard, its folder, log and timing
    file): its seed group, `seed{n}` for a group of one (the run's own folder), `ensemble-seed{first}-{last}`
    for more."""
    return MEMBER.format(seed=seeds[0]) if len(seeds) == 1 else f"ensemble-{MEMBER.format(seed=seeds[0])}-{seeds[-1]}"


JOB_NAME = r"seed\d+|ensemble-seed\d+-\d+"  # the `{job}` wildcard's constraint: every `job_name`


def member_seed(name: str) -> int | None:
    """The seed of a run's folder name (`seed{n}`, a group of one's `job_name`); None for any other name."""
    match = _SEED.fullmatch(name)
    return int(match.group(1)) if match else None


def job_dir(arm: str | Path, seeds: list[int]) -> str:
    """Where a training job keeps its checkpoint and its record: a group of one in its run's folder (the
    checkpoint ends as the run's final weights, the record is the run's metrics.json), a larger group in its
    own folder."""
    return f"{arm}/{job_name(seeds)}"


def job_record(arm: str | Path, job: str) -> str:
    """A training job's record, the train rule's output, by the job's name: a group of one's is its run's
    metrics.json; an ensemble's, metrics.json in the job's folder, naming its members (written last, when
    every member's files are)."""
    return f"{arm}/{job}/{METRICS}"


def run_dir(experiment: str, arm: str, seed: int | str, root: str | Path = RUNS) -> str:
    return f"{root}/{RUN.format(experiment=experiment, arm=arm, seed=seed)}"


def run_file(experiment: str, arm: str, seed: int | str, name: str, root: str | Path = RUNS) -> str:
    """A file of a run; `name` may be a path inside the run folder (see `zeroshot_name`)."""
    return f"{run_dir(experiment, arm, seed, root)}/{name}"


def zeroshot_name(benchmark: str) -> str:
    """A run's zero-shot result on one benchmark, relative to the run folder."""
    return ZEROSHOT.format(benchmark=benchmark)


def lab_benchmark(benchmark: str) -> str:
    """The name of a zero-shot benchmark's twin scored by the lab's protocol (config/sources.yaml)."""
    return f"{benchmark}_lab"


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


def tuned_file(experiment: str, arm: str, root: str | Path = RESULTS) -> str:
    """A tuned arm's choice of its sweep (the `tune` rule's output; every seed group of the arm trains with it)."""
    return f"{root}/{TUNED.format(experiment=experiment, arm=arm)}"


def slice_returns(root: str | Path = RESULTS) -> list[str]:
    """The folders under a results folder whose files a slice returns (tools/gpu-slice.sh packs them, without
    checkpoints): its runs, its jobs' timing files, its tuned arms' choices."""
    return [runs_root(root), str(Path(benchmark_file("k", "n", root)).parents[1]),
            str(Path(tuned_file("e", "a", root)).parent.parent)]


def experiment_file(experiment: str, name: str, root: str | Path = RESULTS) -> str:
    """A per-experiment result over seeds: summary.json, summary.csv, zeroshot.json, icl.json."""
    return f"{root}/{EXPERIMENT.format(experiment=experiment)}/{name}"


def regime_map_file(name: str, root: str | Path = RESULTS) -> str:
    """A regime map (the config's `regime_maps:` entry `name`): its points across training-set sizes."""
    return f"{root}/{REGIME_MAP.format(map=name)}"


def curves_file(experiment: str, root: str | Path = RESULTS) -> str:
    """Every run's validation curve in one long table, for `dvc plots show` (dvc.yaml plots this folder)."""
    return f"{root}/{CURVES.format(experiment=experiment)}"


def metrics_files(root: str | Path = RESULTS) -> tuple[str, str, str]:
    """The headline metrics, a folder of one small file per paired comparison that `dvc metrics show` lists a
    row each (dvc.yaml names the folder); every metric of every summary in one file; and what every arm
    trained with, for `dvc params diff` (dvc.yaml names it)."""
    return f"{root}/metrics", f"{root}/metrics_all.json", f"{root}/params.yaml"


def comparison_file(folder: str | Path, experiment: str, arm: str, reference: str) -> str:
    """A paired comparison's headline in the metrics folder: {experiment}/{arm}-{reference}.json."""
    return f"{folder}/{experiment}/{arm}-{reference}.json"


def figure_file(name: str, suffix: str = "png", root: str | Path = RESULTS) -> str:
    """A figure of the config's `figures:` section by its name, or `across_figure(experiment)`."""
    return f"{root}/{FIGURE.format(figure=name)}.{suffix}"


def across_figure(experiment: str) -> str:
    """The name of an experiment's across-training figure: one per experiment, not in the config."""
    return ACROSS.format(experiment=experiment)


def log_file(kind: str, name: str) -> str:
    """A job's log: logs/{kind}/{name}.log (name may hold "{wildcard}"s and folders)."""
    return f"{LOGS}/{kind}/{name}.log"


def benchmark_file(kind: str, name: str, root: str | Path = RESULTS) -> str:
    """A job's timing file (Snakemake's benchmark): a run's cost is a result (root: the results folder);
    the data and figure steps' go under logs/ (root LOGS), so redrawing changes no result DVC tracks."""
    return f"{root}/benchmarks/{kind}/{name}.tsv"


def table_file(root: str | Path = RESULTS) -> str:
    """The paper-vs-reproduced table of the config whose results folder is `root`."""
    return f"{root}/tables/paper_vs_reproduced.md"


def theory_files(name: str, root: str | Path = RESULTS) -> list[str]:
    return [f"{root}/theory/{f}" for f in THEORY[name]]
