"""`python -m unrolled <command>`: the entry point every Snakemake rule calls."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

from unrolled.errors import ChecksumError, UnrolledError


def _json_arg(value: str) -> dict:
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON: {exc}") from None


def _roles(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        role, sep, path = pair.partition("=")
        if not sep:
            raise argparse.ArgumentTypeError(f"--source expects ROLE=FOLDER, got {pair!r}")
        out[role] = path
    return out


def cmd_fetch(args) -> None:
    from unrolled.data.sources import fetch

    prov = fetch(args.name, args.spec, args.out)
    logging.info("fetched %s: %d file(s) into %s", args.name, len(prov["files"]), args.out)


def cmd_prepare(args) -> None:
    from unrolled.data.prepare import prepare

    meta = prepare(args.name, args.spec, _roles(args.source), args.out)
    sizes = {k: meta[k] for k in ("train_tokens", "val_tokens", "counts") if k in meta}
    logging.info("prepared %s into %s: %s", args.name, args.out, sizes)


def _run_config(value: str) -> dict:
    """Inline JSON, or a YAML/JSON file."""
    import yaml

    from pathlib import Path

    if value.lstrip().startswith("{"):
        return _json_arg(value)
    path = Path(value)
    if not path.exists():
        raise argparse.ArgumentTypeError(f"{value}: no such run config file")
    return yaml.safe_load(path.read_text())


def cmd_train(args) -> None:
    import torch

    from unrolled import distributed
    from unrolled.train import train, train_ensemble

    if args.compile_cache:  # before anything compiles; torchrun's ranks inherit it
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = os.path.abspath(args.compile_cache)
    if args.processes > 1 and "WORLD_SIZE" not in os.environ:
        distributed.launch(args.processes, args.argv)  # the same command, as each rank (which sees WORLD_SIZE)
        return
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.seeds:
        runs = train_ensemble(args.config, args.seeds, args.out, progress=not args.no_progress)
    else:
        runs = [train(args.config, args.seed, args.out, progress=not args.no_progress)]
    for metrics in runs:
        logging.info("seed %d: best val loss %.4f at step %d", metrics["seed"], metrics["best_val_loss"],
                     metrics["best_step"])


def cmd_plan(args) -> None:
    from unrolled import plan, registry

    config = registry.load_config(args.configfile)
    if args.experiments:
        config["experiments"] = {name: config["experiments"][name] for name in args.experiments}
    mfu = args.mfu or plan.ASSUMED_MFU
    peak = args.peak_tflops * 1e12 if args.peak_tflops else plan.H100_BF16_FLOPS
    print(plan.markdown(plan.plan(config, mfu, peak), mfu, peak), end="")


def cmd_slices(args) -> None:
    from unrolled import registry, slices

    config = registry.load_config(args.configfile)
    if args.targets:
        number, jobs = slices.pick(config, args.targets)
        logging.info("slice %d: %s", number, ", ".join(f"{j['experiment']}/{j['arm']}" for j in jobs))
        print("\n".join(t for job in jobs for t in job["targets"]))
    else:
        print(slices.markdown(config), end="")


def cmd_check(args) -> None:
    from unrolled import check

    rows, missing = check.check(args.results, args.dvc_file, args.store)
    print(check.markdown(rows, missing), end="")
    bad = sum(not r["ok"] for r in rows)
    if bad or not rows:
        raise UnrolledError(f"{bad} comparison(s) disagree with the reference" if rows else
                            f"nothing to compare: {args.results} holds none of the reference's experiments")


def cmd_summarize(args) -> None:
    from unrolled.experiments import load_histories, summarize, write_curves, write_summary

    histories = load_histories(args.histories, args.spec)
    write_curves(histories, args.out_curves)
    write_summary(summarize(args.experiment, args.spec, args.runs, histories), args.out_json, args.out_csv)
    logging.info("summarized %s into %s", args.experiment, args.out_json)


def cmd_metrics(args) -> None:
    from unrolled.atomic import write_json
    from unrolled.experiments import flat_metrics

    write_json(args.out, flat_metrics(args.summaries))


def cmd_zeroshot(args) -> None:
    from unrolled import zeroshot
    from unrolled.atomic import write_json

    result = zeroshot.evaluate_run(args.run, args.benchmark, args.data, args.bpe, args.stride)
    write_json(args.out, result)
    logging.info("%s on %s: %s", args.run, result["benchmark"],
                 {k: v for k, v in result["metrics"].items() if k in ("loss", "accuracy")})


def cmd_summarize_zeroshot(args) -> None:
    from unrolled import zeroshot
    from unrolled.atomic import write_json

    write_json(args.out, zeroshot.summarize(args.experiment, args.spec, args.runs))


def cmd_icl_eval(args) -> None:
    from unrolled import icl
    from unrolled.atomic import write_json

    write_json(args.out, icl.evaluate_run(args.run, args.data))


def cmd_summarize_icl(args) -> None:
    from unrolled import icl
    from unrolled.atomic import write_json

    write_json(args.out, icl.summarize(args.experiment, args.spec, args.runs, args.data))


def cmd_probdr(args) -> None:
    from unrolled.theory import probdr

    probdr.experiment(args.spec, args.data, args.out_json, args.out_latents)


def cmd_snr(args) -> None:
    from unrolled.atomic import write_json
    from unrolled.theory import snr

    write_json(args.out, snr.run(**args.spec))


def cmd_figure(args) -> None:
    from unrolled.figures import draw

    draw(args.spec, args.inputs, args.out)


def cmd_status(args) -> None:
    from unrolled.registry import RESULTS, load_config, runs_root
    from unrolled.status import report

    config = load_config(args.configfile)
    runs = args.runs or runs_root(config.get("results", RESULTS))
    print("\n".join(report(config["experiments"], args.experiments, runs)))


def cmd_table(args) -> None:
    from unrolled.table import write

    write(args.spec, args.results, args.out, args.config_name, args.left_out)


def _experiment_parser(sub, name: str, help: str, runs: str) -> argparse.ArgumentParser:
    """A summary command: one experiment's config entry and the files of its runs it reads."""
    p = sub.add_parser(name, help=help)
    p.add_argument("--experiment", required=True)
    p.add_argument("--spec", required=True, type=_json_arg, help="the experiment's config entry as JSON")
    p.add_argument("runs", nargs="+", help=f"every run's {runs} (as the workflow passes them)")
    return p


def _configfile_arg(p: argparse.ArgumentParser) -> None:
    # One file per flag (repeatable), so a positional argument after it is not taken for a second file.
    p.add_argument("--configfile", action="append", metavar="FILE",
                   help="the registry, as given to snakemake; repeat for more (default: config/config.yaml)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="unrolled", description=__doc__)
    parser.add_argument("-q", "--quiet", action="store_true", help="log warnings only")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("fetch", help="fetch one pinned data source into data/raw/{name}/")
    p.add_argument("--name", required=True)
    p.add_argument("--spec", required=True, type=_json_arg, help="the source's config entry as JSON")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_fetch)

    p = sub.add_parser("prepare", help="build one data set into data/prepared/{name}/")
    p.add_argument("--name", required=True)
    p.add_argument("--spec", required=True, type=_json_arg, help="the data set's config entry as JSON")
    p.add_argument("--source", action="append", default=[], metavar="ROLE=FOLDER",
                   help="a fetched source folder for one role of the builder (repeatable)")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_prepare)

    p = sub.add_parser("train", help="train one run into results/runs/{experiment}/{arm}/seed{n}/, or a seed "
                                      "ensemble into results/runs/{experiment}/{arm}/ (resumes)")
    p.add_argument("--config", required=True, type=_run_config,
                   help="run config (data, model, train) as a YAML/JSON file or inline JSON")
    seeds = p.add_mutually_exclusive_group(required=True)
    seeds.add_argument("--seed", type=int, help="the run's seed (from its wildcards); --out is its run folder")
    seeds.add_argument("--seeds", type=int, nargs="+",
                       help="train these seeds as one ensemble; --out is the arm folder, each run in seed{n}/")
    p.add_argument("--out", required=True, help="run folder (--seed) or arm folder (--seeds)")
    p.add_argument("--no-progress", action="store_true", help="no progress lines in the log")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    # Not --nproc: torchrun re-parses this command line and would take it for its --nproc-per-node.
    p.add_argument("--processes", type=int, default=1,
                   help="data-parallel processes, one per GPU it locks (torchrun; on the CPU, gloo)")
    p.add_argument("--compile-cache", metavar="DIR",
                   help="torch.compile's cache (TORCHINDUCTOR_CACHE_DIR): on shared storage, a requeued or sibling "
                        "job reuses the compiled kernels")
    p.set_defaults(func=cmd_train)

    p = _experiment_parser(sub, "summarize", "statistics over an experiment's runs -> summary.json/.csv",
                           "metrics.json")
    p.add_argument("--histories", nargs="+", required=True, help="every run's history.csv")
    p.add_argument("--out-json", required=True)
    p.add_argument("--out-csv", required=True)
    p.add_argument("--out-curves", required=True, help="every run's validation curve in one table (dvc plots)")
    p.set_defaults(func=cmd_summarize)

    p = sub.add_parser("metrics", help="results/metrics.json (for `dvc metrics show`) from the summaries")
    p.add_argument("summaries", nargs="*")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_metrics)

    p = sub.add_parser("zeroshot", help="score one trained LM on one zero-shot benchmark")
    p.add_argument("--run", required=True, help="the run folder (metrics.json, ckpt.pt)")
    p.add_argument("--benchmark", required=True, help="the prepared benchmark folder")
    p.add_argument("--data", required=True, help="the run's prepared training data (for its tokenizer)")
    p.add_argument("--bpe", help="the fetched GPT-2 BPE folder, for BPE models")
    p.add_argument("--stride", type=int, help="sliding-window stride in tokens (default: block_size / 2)")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_zeroshot)

    p = _experiment_parser(sub, "summarize-zeroshot", "statistics over seeds of an experiment's zero-shot scores",
                           "zeroshot/{benchmark}.json, for each benchmark")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_summarize_zeroshot)

    p = sub.add_parser("icl-eval", help="in-context regression error by number of examples, one run")
    p.add_argument("--run", required=True)
    p.add_argument("--data", required=True, help="the prepared regression data set (its test prompts)")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_icl_eval)

    p = _experiment_parser(sub, "summarize-icl", "ICL curves over seeds with least squares, optimal and Lasso",
                           "icl.json")
    p.add_argument("--data", required=True)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_summarize_icl)

    p = sub.add_parser("theory-probdr", help="paper 1's unrolled Laplacian Eigenmaps on MNIST")
    p.add_argument("--spec", required=True, type=_json_arg, help="the config's theory.probdr entry as JSON")
    p.add_argument("--data", required=True, help="its prepared image data set")
    p.add_argument("--out-json", required=True)
    p.add_argument("--out-latents", required=True)
    p.set_defaults(func=cmd_probdr)

    p = sub.add_parser("theory-snr", help="paper 2's SNR of MSSA layers on MoLRG data")
    p.add_argument("--spec", required=True, type=_json_arg)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_snr)

    p = sub.add_parser("figure", help="draw one figure (PNG + PDF) from summaries and histories")
    p.add_argument("--spec", required=True, type=_json_arg, help="the figure's config entry as JSON")
    p.add_argument("--out", required=True, help="the .png path; the .pdf goes beside it")
    p.add_argument("inputs", nargs="+", help="the files it draws (registry.figure_inputs: the workflow passes them)")
    p.set_defaults(func=cmd_figure)

    p = sub.add_parser("status", help="every run of the config: done, running (step, val loss, ETA), stopped "
                                      "or not started, from the run folders alone")
    p.add_argument("experiments", nargs="*", help="only these experiments (default: all of the config)")
    _configfile_arg(p)
    p.add_argument("--runs", help="the runs folder (default: the config's results folder's runs/)")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("plan", help="expected training time of every experiment and arm of a config (FLOPs, "
                                    "an assumed MFU) and the cluster allocations it takes, as a markdown table")
    p.add_argument("experiments", nargs="*", help="only these experiments (default: all of the config)")
    _configfile_arg(p)
    from unrolled.plan import ASSUMED_MFU  # pure Python; the model is imported only when a plan is made

    p.add_argument("--mfu", type=float, help=f"assumed model FLOPs utilisation (default: {ASSUMED_MFU})")
    p.add_argument("--peak-tflops", type=float, help="a GPU's peak TFLOP/s (default: H100 bf16 dense, 989; A100: 312)")
    p.set_defaults(func=cmd_plan)

    p = sub.add_parser("slices", help="the config's training jobs cut into slices of one short GPU allocation each "
                                      "(its `slices.minutes`), in order, with their state")
    _configfile_arg(p)
    p.add_argument("--targets", metavar="N", help="print slice N's target files (N from 1, or 'next': the first "
                                                   "not finished), for snakemake")
    p.set_defaults(func=cmd_slices)

    p = sub.add_parser("check", help="compare a finished run's paired differences with the published reference: "
                                     "same direction, within the reference's seed spread (exit 2 if not)")
    p.add_argument("--results", default="results", help="the run's results folder")
    p.add_argument("--dvc-file", default="results.dvc", help="the .dvc file naming the reference")
    p.add_argument("--store", default="reference/dvc-store", help="the DVC remote holding it")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("table", help="results/tables/paper_vs_reproduced.md")
    p.add_argument("--spec", required=True, type=_json_arg, help="the experiments section as JSON")
    p.add_argument("--results", default="results")
    p.add_argument("--config-name", default="config/config.yaml")
    p.add_argument("--left-out", type=_json_arg, default={},
                   help="experiments the config left out here and why (their data is not here), as JSON")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_table)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.argv = sys.argv[1:] if argv is None else list(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO,
                        format="%(asctime)s %(levelname)s %(message)s")
    try:
        args.func(args)
    except (UnrolledError, FileNotFoundError, ValueError) as exc:
        kind = "checksum mismatch" if isinstance(exc, ChecksumError) else "error"
        print(f"unrolled {args.command}: {kind}: {exc}", file=sys.stderr)
        return 2
    return 0
