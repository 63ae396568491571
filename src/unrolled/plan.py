"""What a config's training costs before it runs: FLOPs per job from the model's own count, wall time from
an assumed MFU, and how many cluster allocations of the experiment's `resources.runtime` that takes.

    hours = (training + evaluation FLOPs) x seeds per job / (GPUs x peak FLOP/s x MFU)

Training is max_iters x items per step x the model's `flops_per_item` (nanoGPT's 6N + 12 L d T per token;
per image or prompt for the other tasks); each evaluation scores its items forward only, a third of that
(2N + 4 L d T). A job longer than one allocation continues through Snakemake's retries, each resuming from
the run's checkpoint, so it needs `allocations - 1` retries; an allocation is counted as its runtime less
`ALLOCATION_OVERHEAD_MINUTES` (start, compile, and the work since the last checkpoint).
"""

from __future__ import annotations

import math

from unrolled import layout, registry
from unrolled.config import H100_BF16_FLOPS, built, finish, run_config

# The measured single-H100 MFU of GPT-2 124M is 0.39 and of AoT-MSSA 0.35 (benchmarks/results/
# step_time_gpt2.json, batch 12, compile, bf16); 0.30 leaves room for 8-GPU all-reduce and evaluation.
ASSUMED_MFU = 0.30
# A slice's jobs (config/gpu.yaml: small models, seed ensembles on one GPU) until they are measured: E = 16
# ensembles of paper 1's char LM measured 0.16-0.25 on an H200 (benchmarks/results/ensemble_gpu.json).
SLICE_MFU = 0.25
ALLOCATION_OVERHEAD_MINUTES = 15


def _meta(config: dict, dataset: str) -> tuple[dict, bool]:
    """The prepared data set's meta.json; where it is not prepared here, what its builder would write that the
    model's size depends on (second value True: assumed)."""
    from unrolled.atomic import load_meta
    from unrolled.data.prepare import expected_meta

    try:
        return load_meta(layout.prepared_dir(dataset)), False
    except FileNotFoundError:
        return expected_meta(config["datasets"][dataset]), True


def _run_cost(run: dict, meta: dict) -> tuple[int, float, int, float]:
    """Parameters, training FLOPs per item, items trained on, and evaluation FLOPs of an arm's run config,
    finished as the workflow finishes it (`finish`; a tuned arm's choice does not change its cost)."""
    import torch

    from unrolled.models import Transformer

    mcfg, tcfg = built(finish(run, meta))
    with torch.device("meta"):  # the count, without allocating the weights
        model = Transformer(mcfg)
    per_item = (mcfg.block_size if mcfg.task == "lm" else 1)
    evaluations = -(-tcfg.max_iters // tcfg.eval_interval)  # every eval_interval steps, and at the end
    if tcfg.eval_iters is not None:
        eval_items = tcfg.eval_iters * tcfg.batch_size * per_item
    elif mcfg.task == "vit":  # the whole validation split
        eval_items = meta.get("counts", {}).get("val", 0)
    else:  # regression: the fixed validation prompts
        eval_items = meta.get("eval_prompts", 0)
    eval_flops = evaluations * eval_items * model.flops_per_item() / 3
    return (model.num_params(), model.flops_per_item(), tcfg.max_iters * tcfg.batch_size * tcfg.grad_accum * per_item,
            eval_flops)


def job_cost(config: dict, name: str, arm: str, seeds_per_job: int) -> dict:
    """One training job of an experiment's arm: its FLOPs (training and evaluation of every seed), the
    model's size and the items each run trains on."""
    spec = config["experiments"][name]
    meta, assumed = _meta(config, spec["dataset"])
    params, flops_item, items, eval_flops = _run_cost(run_config(spec, arm), meta)
    return {"params": params, "assumed_data": assumed, "tokens_per_run": items,
            "flops_per_job": (items * flops_item + eval_flops) * seeds_per_job}


def plan(config: dict, mfu: float = ASSUMED_MFU, peak_flops: float = H100_BF16_FLOPS) -> list[dict]:
    """One row per experiment and arm: size, FLOPs and expected wall time of its training jobs."""
    rows = []
    for name, spec in config["experiments"].items():
        resources = registry.resources(spec, {**config, "train_gpus": 1})  # a plan is for GPUs: at least one a job
        gpus, runtime = max(1, resources["gpu"]), resources["runtime"]
        usable_hours = max(1, runtime - ALLOCATION_OVERHEAD_MINUTES) / 60
        groups = registry.seed_groups(spec)
        per_job = max(len(g) for g in groups)
        for arm in spec["arms"]:
            cost = job_cost(config, name, arm, per_job)
            hours = cost["flops_per_job"] / (gpus * peak_flops * mfu) / 3600
            rows.append({
                "experiment": name, "arm": arm, **cost, "jobs": len(groups),
                "seeds_per_job": per_job, "gpus_per_job": gpus, "runtime_minutes": runtime,
                "hours_per_job": hours, "allocations": math.ceil(hours / usable_hours),
                "gpu_hours": hours * gpus * len(groups),
            })
    return rows


def markdown(rows: list[dict], mfu: float, peak_flops: float) -> str:
    lines = [f"Expected training time at MFU {mfu:.2f} of {peak_flops / 1e12:.0f} TFLOP/s per GPU "
             f"(`python -m unrolled plan`; * = data set not prepared here, its size assumed).", "",
             "| experiment | arm | params | tokens or items per run | PFLOP per job | jobs x GPUs | hours per job "
             "| allocations (runtime) | GPU-hours |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(
            f"| {r['experiment']}{'*' if r['assumed_data'] else ''} | {r['arm']} | {r['params'] / 1e6:.1f}M "
            f"| {r['tokens_per_run']:.3g} | {r['flops_per_job'] / 1e15:,.0f} | {r['jobs']} x {r['gpus_per_job']} "
            f"| {r['hours_per_job']:.2f} | {r['allocations']} ({r['runtime_minutes'] / 60:g} h) "
            f"| {r['gpu_hours']:,.1f} |")
    total = sum(r["gpu_hours"] for r in rows)
    lines += ["", f"Total: {total:,.0f} GPU-hours; the longest job needs {max(r['allocations'] for r in rows)} "
                  f"allocation(s), i.e. that many attempts within Snakemake's `retries` + 1."]
    return "\n".join(lines) + "\n"


def report(configfiles: list[str] | None, experiments: list[str], mfu: float | None = None,
           peak_tflops: float | None = None) -> str:
    """`python -m unrolled plan`: the table for the config's experiments (all, or those named)."""
    config = registry.load_config(configfiles)
    if experiments:
        config["experiments"] = {name: config["experiments"][name] for name in experiments}
    mfu, peak = mfu or ASSUMED_MFU, peak_tflops * 1e12 if peak_tflops else H100_BF16_FLOPS
    return markdown(plan(config, mfu, peak), mfu, peak)
