"""`python -m unrolled <command>`: the entry point every Snakemake rule calls. Parsing and dispatch only:
each command calls one function of the package (imported when it runs); a result that is a dict is written
to the command's --out as JSON, a result that is text is printed."""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys
from pathlib import Path

from unrolled.errors import ChecksumError, UnrolledError


def _json_arg(value: str) -> dict:
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON: {exc}") from None


def _role(pair: str) -> tuple[str, str]:
    role, sep, path = pair.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"--source expects ROLE=FOLDER, got {pair!r}")
    return role, path


def _run_config(value: str) -> dict:
    from unrolled.config import read_run_config

    try:
        return read_run_config(value)
    except (ValueError, OSError) as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _call(target: str, **kwargs):
    """`module:function` of the package, called with the parsed arguments it takes."""
    module, function = target.split(":")
    return getattr(importlib.import_module(f"unrolled.{module}"), function)(**kwargs)


def _command(sub, name: str, help: str, target: str, *arguments, out: bool = False, **mapping):
    """One subcommand: its arguments ((flags, options) pairs), and how it calls `target`: `mapping` names
    each keyword of the function and the argument it takes (default: the argument of the same name)."""
    p = sub.add_parser(name, help=help)
    for flags, options in arguments:
        p.add_argument(*flags, **options)
    if out:
        p.add_argument("--out", required=True, help="the JSON file the result is written to")
    keywords = mapping.pop("keywords")
    p.set_defaults(dispatch=lambda a: _call(target, **{k: getattr(a, mapping.get(k, k)) for k in keywords}),
                   writes=out)
    return p


def _arg(*flags, **options):
    return flags, options


SPEC = _arg("--spec", required=True, type=_json_arg, help="the config entry as JSON")
EXPERIMENT = _arg("--experiment", required=True)
CONFIGFILE = _arg("--configfile", action="extend", nargs="+", metavar="FILE",  # as snakemake's: one or more
                  help="the registry and files merged over it, as given to snakemake; as in the workflow, files "
                       "given here REPLACE the default config/config.yaml: name it first to change a few of its "
                       "keys (default: config/config.yaml)")
EXPERIMENTS = _arg("experiments", nargs="*", help="only these experiments (default: all of the config)")


def runs_of(files: str) -> tuple:
    return _arg("runs", nargs="+", help=f"every run's {files} (as the workflow passes them)")


def build_parser() -> argparse.ArgumentParser:
    from unrolled.config import H100_BF16_FLOPS  # pure Python; the model is imported only when a plan is made
    from unrolled.layout import REFERENCE_STORE, RESULTS, RESULTS_DVC
    from unrolled.plan import ASSUMED_MFU

    parser = argparse.ArgumentParser(prog="unrolled", description=__doc__)
    parser.add_argument("-q", "--quiet", action="store_true", help="log warnings only")
    sub = parser.add_subparsers(dest="command", required=True)
    _command(sub, "fetch", "fetch one pinned data source into data/raw/{name}/", "data.sources:fetch",
             _arg("--name", required=True), SPEC, _arg("--out", required=True), keywords=("name", "spec", "out"))
    _command(sub, "prepare", "build one data set into data/prepared/{name}/", "data.prepare:prepare",
             _arg("--name", required=True), SPEC,
             _arg("--source", action="append", default=[], type=_role, metavar="ROLE=FOLDER",
                  help="a fetched source folder for one role of the builder (repeatable)"),
             _arg("--out", required=True), keywords=("name", "spec", "source_dirs", "out"))
    _command(sub, "train", "train a seed group of runs: one seed, or several as a seed ensemble (resumes)",
             "train:train_job",
             _arg("--config", required=True, type=_run_config,
                  help="run config as a YAML/JSON file or inline JSON: an arm's run.yaml (the run-config "
                  "command's), or data, model and train keys, finished here"),
             _arg("--seeds", type=int, nargs="+", required=True,
                  help="the group's seeds (from the job's wildcards); one seed is a single run"),
             _arg("--out", required=True, help="the arm folder; each run goes in its seed{n}/"),
             _arg("--no-progress", action="store_true", help="no progress lines in the log"),
             _arg("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)"),
             # Not --nproc: torchrun re-parses this command line and would take it for its --nproc-per-node.
             _arg("--processes", type=int, default=1,
                  help="data-parallel processes, one per GPU it locks (torchrun; on the CPU, gloo)"),
             _arg("--compile-cache", metavar="DIR", help="torch.compile's cache (TORCHINDUCTOR_CACHE_DIR)"),
             keywords=("run", "seeds", "out", "threads", "processes", "compile_cache", "progress", "argv"),
             run="config")
    _command(sub, "run-config", "an arm's finished run config (run.yaml): its data set's fields, a tuned arm's "
             "choice and every default filled in, checked", "config:finish_file",
             _arg("--config", required=True, type=_json_arg, help="the arm's data, model and train (JSON)"),
             _arg("--tuned", metavar="CHOICE", help="a tuned arm's choice file (the tune command's output)"),
             _arg("--out", required=True), keywords=("run", "tuned", "out"), run="config")
    _command(sub, "summarize", "statistics over an experiment's runs -> summary.json/.csv",
             "summaries:summarize_files", EXPERIMENT, SPEC, runs_of("metrics.json"),
             _arg("--histories", nargs="+", required=True, help="every run's history.csv"),
             _arg("--out-json", required=True), _arg("--out-csv", required=True),
             _arg("--out-curves", required=True, help="every run's validation curve in one table (dvc plots)"),
             keywords=("experiment", "spec", "runs", "histories", "out_json", "out_csv", "out_curves"))
    _command(sub, "tune", "a tuned arm's choice: the sweep arm with the best mean primary metric",
             "config:choose_file", _arg("--summary", required=True, help="the sweep's summary.json"),
             _arg("--key", required=True, help="the model key the sweep varies"),
             _arg("--values", required=True, type=_json_arg, help="{sweep arm: its value} as JSON"),
             out=True, keywords=("summary", "key", "values"))
    _command(sub, "metrics", "results/metrics/ (the headline for `dvc metrics show`: a file per paired "
             "comparison) and every metric (--out-all) from the summaries", "summaries:flat_metrics",
             _arg("summary_paths", nargs="*"), _arg("--out", required=True, help="the headline's folder"),
             _arg("--out-all", required=True, help="every metric's arms and paired differences (JSON)"),
             _arg("--out-params", required=True, help="every arm's trained config (YAML, for dvc params diff)"),
             keywords=("summary_paths", "out", "out_all", "out_params"))
    _command(sub, "zeroshot", "score one trained LM on one zero-shot benchmark", "zeroshot:evaluate_run",
             _arg("--run-dir", required=True, help="the run folder (metrics.json, ckpt.pt)"),
             _arg("--benchmark", required=True, help="the prepared benchmark folder"),
             _arg("--data", required=True, help="the run's prepared training data (for its tokenizer)"),
             _arg("--bpe", help="the fetched GPT-2 BPE folder, for BPE models"),
             out=True, keywords=("run_dir", "benchmark", "data", "bpe"))
    _command(sub, "summarize-zeroshot", "statistics over seeds of an experiment's zero-shot scores",
             "zeroshot:summarize", EXPERIMENT, SPEC, runs_of("zeroshot/{benchmark}.json, for each benchmark"),
             out=True, keywords=("experiment", "spec", "files"), files="runs")
    _command(sub, "icl-eval", "in-context regression error by number of examples, one run", "icl:evaluate_run",
             _arg("--run-dir", required=True, help="the run folder"),
             _arg("--data", required=True, help="the prepared regression data set"),
             out=True, keywords=("run_dir", "data_folder"), data_folder="data")
    _command(sub, "summarize-icl", "ICL curves over seeds with least squares, optimal and Lasso", "icl:summarize",
             EXPERIMENT, SPEC, runs_of("icl.json"), _arg("--data", required=True), out=True,
             keywords=("experiment", "spec", "files", "data_folder"), files="runs", data_folder="data")
    _command(sub, "theory-probdr", "paper 1's unrolled Laplacian Eigenmaps on MNIST", "theory.probdr:experiment",
             SPEC, _arg("--data", required=True, help="its prepared image data set"), _arg("--out-json", required=True),
             _arg("--out-latents", required=True), keywords=("spec", "data", "out_json", "out_latents"))
    _command(sub, "theory-snr", "paper 2's SNR of MSSA layers on MoLRG data", "theory.snr:from_spec", SPEC,
             out=True, keywords=("spec",))
    _command(sub, "figure", "draw one figure (PNG + PDF) from summaries and histories", "figures:draw", SPEC,
             _arg("--out", required=True, help="the .png path; the .pdf goes beside it"),
             _arg("inputs", nargs="+", help="the files it draws (registry.figure_inputs: the workflow passes them)"),
             keywords=("spec", "inputs", "out"))
    _command(sub, "regime-map", "one comparison's paired difference across training-set sizes (a regime map) "
             "from the summaries of its sizes", "regime:map_files", SPEC,
             _arg("summaries", nargs="+", help="each size's summary.json"),
             _arg("--reference", help="the summary of a run at the paper's scale, drawn beside them"),
             _arg("--reference-items", type=int, help="its training set's size, where its runs did not record it"),
             _arg("--out", required=True), keywords=("spec", "summaries", "out", "reference", "reference_items"))
    _command(sub, "status", "every run of the config: done, running (step, val loss, ETA), stopped or not "
             "started, from the run folders alone", "status:command", EXPERIMENTS, CONFIGFILE,
             keywords=("configfiles", "experiments"), configfiles="configfile")
    _command(sub, "show-run", "the finished run config an arm's jobs train with (as YAML), before they run",
             "cli:show_run", _arg("experiment"), _arg("arm"), CONFIGFILE,
             keywords=("configfiles", "experiment", "arm"), configfiles="configfile")
    _command(sub, "plan", "expected training time of every experiment and arm of a config (FLOPs, an assumed "
             "MFU) and the cluster allocations it takes, as a markdown table", "plan:report", EXPERIMENTS,
             CONFIGFILE, _arg("--mfu", type=float, help=f"assumed model FLOPs utilisation (default: {ASSUMED_MFU})"),
             _arg("--peak-tflops", type=float,
                  help=f"a GPU's peak TFLOP/s (default: an H100's bf16 dense, {H100_BF16_FLOPS / 1e12:g})"),
             keywords=("configfiles", "experiments", "mfu", "peak_tflops"), configfiles="configfile")
    _command(sub, "slices", "the config's training jobs cut into slices of one short GPU allocation each "
             "(its `slices.minutes`), in order, with their state", "slices:command", CONFIGFILE,
             _arg("--targets", metavar="N", help="print slice N's target files (N from 1, or 'next')"),
             _arg("--jobs", metavar="N",
                  help="print slice N's jobs: minutes, its stage's, name and targets, a line each, after a line "
                  "naming the folders a slice returns (exit 2 naming a source not here)"),
             _arg("--needs", metavar="N", help="print the paths a machine without internet needs for slice N's data "
                  "(exit 2 naming a source that is not here)"),
             keywords=("configfiles", "targets", "jobs_of", "needs_of"), configfiles="configfile",
             jobs_of="jobs", needs_of="needs")
    _command(sub, "check", "does a finished run reproduce the published reference? Every paired difference: "
             "Welch's test of the gap (Holm over all), the same sign where the reference is significant, none "
             "missing (exit 2 if not)", "check:command",
             _arg("--results", help=f"the run's results folder (default: the config's, else {RESULTS})"),
             CONFIGFILE,
             _arg("--dvc-file", default=RESULTS_DVC, help="the .dvc file naming the reference"),
             _arg("--store", default=REFERENCE_STORE, help="the DVC remote holding it"),
             _arg("--only", action="append", metavar="EXPERIMENT", help="check only this experiment (repeatable)"),
             keywords=("results", "dvc_file", "store", "only", "configfiles"), configfiles="configfile")
    _command(sub, "table", "results/tables/paper_vs_reproduced.md from the files it is given", "table:write",
             _arg("--experiments", required=True, type=_json_arg, help="the config's experiments section as JSON"),
             _arg("--config-name", default="config/config.yaml"),
             _arg("--left-out", type=_json_arg, default={}, help="experiments left out here and why, as JSON"),
             *(_arg(f"--{kind}", nargs="*", default=[], help=f"the {kind} files it reads")
               for kind in ("summaries", "zeroshot", "icl", "theory")),
             _arg("--out", required=True),
             keywords=("experiments", "inputs", "out", "config_name", "left_out"))
    return parser


def _names_after_configfiles(args) -> None:
    """`--configfile a.yaml b.yaml NAME`: the config files are the YAML/JSON ones; names after them are the
    command's experiments (Snakemake would read them as files too)."""
    files = getattr(args, "configfile", None) or []
    names = [f for f in files if not f.endswith((".yaml", ".yml", ".json"))]
    if names and hasattr(args, "experiments"):
        args.configfile = [f for f in files if f not in names]
        args.experiments = [*args.experiments, *names]


def show_run(configfiles: list[str | Path] | None, experiment: str, arm: str) -> str:
    """The `show-run` command: the finished run config one arm's jobs train with (its run.yaml), as the
    `run_config` rule wrote it, or, where that is not made yet, as it would write it now (the same function,
    `finish`); where one of its inputs is not here (the data set, a tuned arm's choice), the config as the
    config files give it and the input it waits for. A header says its seed groups and resources."""
    import yaml

    from unrolled.atomic import read_json
    from unrolled.config import finish, run_config
    from unrolled.layout import META, prepared_dir, run_config_file, runs_root, tuned_file
    from unrolled.registry import known, load_config, resources, seed_groups

    config = load_config(configfiles)
    spec = known(config, "experiments", experiment, "show-run")
    run = run_config(spec, arm)
    made = Path(run_config_file(experiment, arm, runs_root(config["results"])))
    header = f"# {experiment}/{arm}: seed groups {seed_groups(spec)}, resources {resources(spec, config)}\n"
    if made.exists():
        return header + f"# {made}\n" + made.read_text()
    meta = Path(prepared_dir(spec["dataset"]), META)
    choice = tuned_file(experiment, arm, config["results"]) if (spec["arms"][arm] or {}).get("tune") else None
    waits = {str(path): target for path, target in ((meta, meta.parent), (choice, choice)) if path is not None
             and not Path(path).exists()}  # what is not here yet: the target that makes it
    if waits:
        return (header + f"# {made} waits for {' and '.join(waits)} (snakemake {' '.join(map(str, waits.values()))} "
                f"makes it); until then, as the config files give it:\n" + yaml.safe_dump(run, sort_keys=False))
    finished = finish(run, read_json(meta), read_json(choice) if choice else None)
    return header + f"# {made}, as the run_config rule will write it:\n" + yaml.safe_dump(finished, sort_keys=False)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _names_after_configfiles(args)
    args.argv = sys.argv[1:] if argv is None else list(argv)
    args.progress = not getattr(args, "no_progress", False)
    args.source_dirs = dict(getattr(args, "source", []) or [])
    args.inputs = {kind: getattr(args, kind) for kind in ("summaries", "zeroshot", "icl", "theory")} \
        if args.command == "table" else getattr(args, "inputs", None)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO,
                        format="%(asctime)s %(levelname)s %(message)s")
    try:
        result = args.dispatch(args)
    except (UnrolledError, FileNotFoundError, ValueError) as exc:
        kind = "checksum mismatch" if isinstance(exc, ChecksumError) else "error"
        print(f"unrolled {args.command}: {kind}: {exc}", file=sys.stderr)
        return 2
    if args.writes:
        from unrolled.atomic import write_json

        write_json(args.out, result)
    elif isinstance(result, str):
        print(result, end="")
    return 0
