"""`python -m unrolled slices`: a config's training jobs cut into slices that each fit one short GPU
allocation (the config's `slices.minutes`), in the config's order, so results accumulate slice by slice
across allocations and machines.

A job is one seed group of one arm (one process; a seed ensemble where `ensemble` > 1). Jobs are taken
experiment by experiment in the config's order, and within an experiment seed group by seed group, every
arm of a group before the next group: each finished group adds paired seeds to every comparison. A job's
minutes are its FLOPs (`plan.job_cost`: training and evaluation) at the config's assumed MFU and peak, plus
a fixed overhead (start, data, compile). Consecutive jobs fill a slice up to its minutes; a job longer than
that gets a slice of its own (marked "over").

A slice's targets are the files its jobs make: every seed's metrics.json and its evaluations (ICL errors,
zero-shot scores: they need the weights, which stay on the machine that trained them). Snakemake builds
the targets and what they need; a rerun skips what is finished.
"""

from __future__ import annotations

from pathlib import Path

from unrolled import plan, registry

def jobs(config: dict) -> list[dict]:
    """Every training job of the config, in slice order, with its estimated minutes and target files."""
    settings = config["slices"]  # the schema's defaults filled in (registry.load_config)
    runs = registry.runs_root(config.get("results", registry.RESULTS))
    out = []
    for name, spec in config["experiments"].items():
        groups = registry.seed_groups(spec)
        evaluations = ([registry.ICL] if registry.is_icl(spec, config) else []) + [
            registry.zeroshot_name(b) for b in spec.get("zeroshot", [])]
        minutes = {arm: plan.job_cost(config, name, arm, max(len(g) for g in groups))["flops_per_job"]
                   / (settings["peak_tflops"] * 1e12 * settings["mfu"]) / 60 + settings["job_overhead_minutes"]
                   for arm in spec["arms"]}
        for group in groups:
            for arm in spec["arms"]:
                targets = [registry.run_file(name, arm, s, f, runs) for s in group
                           for f in [registry.METRICS, *evaluations]]
                out.append({"experiment": name, "arm": arm, "seeds": group, "minutes": minutes[arm],
                            "targets": targets})
    return out


def slices(config: dict) -> list[list[dict]]:
    """The jobs packed in order into slices of at most `slices.minutes` each (a longer job alone)."""
    limit = config["slices"]["minutes"]
    packed, current = [], []
    for job in jobs(config):
        if current and sum(j["minutes"] for j in current) + job["minutes"] > limit:
            packed.append(current)
            current = []
        current.append(job)
    return packed + ([current] if current else [])


def done(slice_jobs: list[dict]) -> bool:
    return all(Path(t).exists() for job in slice_jobs for t in job["targets"])


def pick(config: dict, which: str) -> tuple[int, list[dict]]:
    """Slice `which`: its number (from 1), or "next", the first one not finished."""
    packed = slices(config)
    if which == "next":
        for number, s in enumerate(packed, 1):
            if not done(s):
                return number, s
        raise ValueError(f"every one of the {len(packed)} slices is finished")
    if not which.isdigit() or not 1 <= int(which) <= len(packed):
        raise ValueError(f"no slice {which!r}: the config has slices 1 to {len(packed)}, or say 'next'")
    return int(which), packed[int(which) - 1]


def _job_name(job: dict) -> str:
    seeds = job["seeds"]
    group = f"seed{seeds[0]}" if len(seeds) == 1 else f"seed{seeds[0]}-{seeds[-1]}"
    return f"{job['experiment']}/{job['arm']}/{group}"


def markdown(config: dict) -> str:
    settings = config["slices"]
    packed = slices(config)
    lines = [f"{len(packed)} slices of at most {settings['minutes']:g} minutes (estimated at MFU {settings['mfu']:g} "
             f"of {settings['peak_tflops']:g} TFLOP/s, plus {settings['job_overhead_minutes']:g} min a job); "
             "`make reproduce-gpu SLICE=n` runs one, `SLICE=next` the first not finished.", "",
             "| slice | minutes | jobs (experiment/arm/seeds) | state |", "|---:|---:|---|---|"]
    for number, s in enumerate(packed, 1):
        minutes = sum(j["minutes"] for j in s)
        over = " (over: one job longer than a slice)" if minutes > settings["minutes"] else ""
        lines.append(f"| {number} | {minutes:.1f}{over} | {', '.join(_job_name(j) for j in s)} | "
                     f"{'done' if done(s) else 'to do'} |")
    total = sum(j["minutes"] for s in packed for j in s)
    lines += ["", f"Total: {total:.0f} minutes ({total / 60:.1f} GPU-hours) estimated."]
    return "\n".join(lines) + "\n"


def command(configfiles: list[str] | None, targets: str | None = None) -> str:
    """`python -m unrolled slices`: the table, or slice `targets`'s target files (one a line)."""
    import logging

    config = registry.load_config(configfiles)
    if not targets:
        return markdown(config)
    number, chosen = pick(config, targets)
    logging.info("slice %d: %s", number, ", ".join(f"{j['experiment']}/{j['arm']}" for j in chosen))
    return "\n".join(t for job in chosen for t in job["targets"]) + "\n"
