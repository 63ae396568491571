"""`python -m unrolled slices`: a config's training jobs cut into slices that each fit one short GPU
allocation (the config's `slices.minutes`), so every allocation returns paired seeds, and results accumulate
slice by slice across allocations and machines.

A job is one seed group of one arm (one process; a seed ensemble where `ensemble` > 1). Jobs come in
stages (`slices.order`, in the order of scientific value; arms it does not name follow in the config's
order): a stage is a seed group of the arms of one comparison, and its jobs go into one slice together, so
the slice returns the same seeds in both arms. A stage of one arm pairs with the baseline's seeds an
earlier stage made (`here.published_arms` says what a partial summary shows; `unpaired` checks it).

A job's minutes are its start-up, its training and evaluation FLOPs (`plan.job_cost`) at an MFU, and its
evaluation jobs (ICL errors, zero-shot scores). Each is measured where the experiment has finished jobs
(their metrics.json and Snakemake's timing files, copied back from wherever they ran) and assumed from
`slices` until then. Stages fill a slice up to its minutes; a stage longer than that is split into its jobs,
each a slice of its own (marked "over").

A slice's targets are the files its jobs make: each training job's record (layout.job_record) and every
seed's evaluations (they need the weights, which stay on the machine that trained them). Snakemake builds
the targets and what they need; a rerun skips what is finished.

A slice publishes the comparisons that reach VERDICT_MIN_N paired seeds with it (`verdicts`: the table's rows
it first gives a verdict on); the tier sizes its seed groups so that each comparison's stage is one. What a
machine without the internet must be carried to build a slice's data is `needs` (`--needs`), and the
folders its archive returns are layout's (the first line of `--jobs`).
"""

from __future__ import annotations

import statistics
from pathlib import Path

from unrolled import atomic, here, layout, plan, registry
from unrolled.stats import VERDICT_MIN_N


def stages(config: dict) -> list[tuple[str, list[str]]]:
    """(experiment, arms) in slice order: `slices.order`'s stages of experiments that run here, then every arm
    not named there, an experiment's at a time, in the config's order."""
    experiments, staged, out = config["experiments"], set(), []
    for stage in config["slices"]["order"]:
        spec = experiments.get(stage["experiment"])
        arms = [a for a in stage["arms"] if spec and a in spec["arms"]]
        if arms:
            out.append((stage["experiment"], arms))
            staged |= {(stage["experiment"], a) for a in arms}
    for name, spec in experiments.items():
        rest = [a for a in spec["arms"] if (name, a) not in staged]
        if rest:
            out.append((name, rest))
    return out


def _benchmark_seconds(path: str) -> float | None:
    """The wall seconds of a Snakemake timing file (its first column), or None if there is none."""
    try:
        lines = Path(path).read_text().splitlines()
        return float(lines[1].split("\t")[0])
    except (OSError, IndexError, ValueError):
        return None


def measured(config: dict) -> dict[str, dict]:
    """Per experiment, what its finished jobs measured: the MFU of their training loops (FLOPs over the loop's
    wall seconds after its first step), the start-up of a job (Snakemake's timing of the whole job less the
    loop's wall time, plus the first step: process start, data, compile; jobs that resumed are left out) and
    of an evaluation job, in minutes. Only what was measured is there."""
    results = config.get("results", layout.RESULTS)
    runs, peak = layout.runs_root(results), _settings(config)["peak_tflops"] * 1e12
    out, cost = {}, {}
    for name, spec in config["experiments"].items():
        mfus, startups, evaluations = [], [], []
        for arm in spec["arms"]:
            for group in registry.seed_groups(spec):
                path = Path(layout.run_file(name, arm, group[0], layout.METRICS, runs))
                if not path.exists():
                    continue
                m = atomic.read_json(path)
                size = m.get("ensemble", {}).get("size", 1)
                if (name, arm, size) not in cost:
                    cost[name, arm, size] = plan.job_cost(config, name, arm, size)["flops_per_job"]
                flops = cost[name, arm, size]
                first = m.get("first_step_seconds") or 0.0  # the compile, where there is one: a fixed cost
                mfus.append(flops / (max(m["wall_seconds"] - first, 1e-9) * peak))
                job = _benchmark_seconds(layout.benchmark_file("train", f"{name}/{arm}/{layout.job_name(group)}",
                                                                 results))
                if job is not None and not m.get("resumed_from_step"):
                    startups.append((max(0.0, job - m["wall_seconds"]) + first) / 60)
                for kind, file in _evaluations(name, spec, config, arm, group[0]):
                    seconds = _benchmark_seconds(layout.benchmark_file(kind, file, results))
                    if seconds is not None:
                        evaluations.append(seconds / 60)
        found = {"mfu": mfus, "startup_minutes": startups, "evaluation_minutes": evaluations}
        if any(found.values()):
            out[name] = {key: statistics.median(v) for key, v in found.items() if v}
    return out


def _evaluations(name: str, spec: dict, config: dict, arm: str, seed: int) -> list[tuple[str, str]]:
    """A run's evaluation jobs as (kind, timing-file name): the ICL errors, each zero-shot benchmark."""
    icl = [("icl", f"{name}/{arm}/seed{seed}")] if registry.is_icl(spec, config) else []
    return icl + [("zeroshot", f"{name}/{arm}/seed{seed}/{b}") for b in spec.get("zeroshot", [])]


def _evaluation_waves(kinds: list[str], size: int, at_once: int) -> int:
    """How many evaluation jobs' times a job of `size` seeds waits for: ICL errors run on the CPU,
    `at_once` side by side (workflow/rules/icl.smk); a zero-shot job holds the GPU, one at a time."""
    icl = -(-size // at_once) if "icl" in kinds else 0
    return icl + size * sum(kind == "zeroshot" for kind in kinds)


def _settings(config: dict) -> dict:
    """The config's `slices` settings, with the MFU and peak FLOP/s assumed where it sets none (plan.py's)."""
    return {"mfu": plan.SLICE_MFU, "peak_tflops": plan.H100_BF16_FLOPS / 1e12, **config["slices"]}


def job_minutes(config: dict, name: str, arm: str, size: int, measure: dict) -> dict:
    """A job's estimated minutes (start-up, training, evaluation jobs) and whether each part was measured."""
    settings, spec = _settings(config), config["experiments"][name]
    got = measure.get(name, {})
    mfu = got.get("mfu", settings["mfu"])
    training = plan.job_cost(config, name, arm, size)["flops_per_job"] / (settings["peak_tflops"] * 1e12 * mfu) / 60
    startup = got.get("startup_minutes", settings["job_overhead_minutes"])
    kinds = [kind for kind, _ in _evaluations(name, spec, config, arm, 0)]
    evaluation = _evaluation_waves(kinds, size, settings["evaluations_at_once"]) * got.get(
        "evaluation_minutes", settings["evaluation_minutes"])
    return {"minutes": startup + training + evaluation, "measured": sorted(got)}


def jobs(config: dict) -> list[list[dict]]:
    """Every training job of the config, as stages (each a seed group of one comparison's arms), in slice
    order, with each job's estimated minutes and target files."""
    runs = layout.runs_root(config.get("results", layout.RESULTS))
    measure = measured(config)
    cost = {}
    out = []
    for name, arms in stages(config):
        spec = config["experiments"][name]
        evaluations = ([layout.ICL] if registry.is_icl(spec, config) else []) + [
            layout.zeroshot_name(b) for b in spec.get("zeroshot", [])]
        for group in registry.seed_groups(spec):
            stage = []
            for arm in arms:
                key = (name, arm, len(group))
                if key not in cost:
                    cost[key] = job_minutes(config, name, arm, len(group), measure)
                targets = [layout.job_record(layout.arm_dir(name, arm, runs), layout.job_name(group))] + [
                    layout.run_file(name, arm, s, f, runs) for s in group for f in evaluations]
                stage.append({"experiment": name, "arm": arm, "seeds": group, **cost[key], "targets": targets})
            for i, job in enumerate(stage):  # what must fit before the job starts: it and the stage's rest
                job["stage_minutes"] = sum(j["minutes"] for j in stage[i:])
            out.append(stage)
    return out


def slices(config: dict) -> list[list[dict]]:
    """The stages packed in order into slices of at most `slices.minutes` each; a stage longer than that is
    split into its jobs, each a slice of its own."""
    limit = config["slices"]["minutes"]
    packed, current = [], []
    for stage in jobs(config):
        minutes = sum(j["minutes"] for j in stage)
        if minutes > limit:
            packed += ([current] if current else []) + [[job] for job in stage]
            current = []
            continue
        if current and sum(j["minutes"] for j in current) + minutes > limit:
            packed.append(current)
            current = []
        current += stage
    return packed + ([current] if current else [])


def _finished_after(config: dict, packed: list[list[dict]]):
    """Each slice (its number, its jobs) with every arm's seeds finished once it and every slice before it
    have: {experiment: {arm: seeds}}, one dict updated as the slices go."""
    finished = {name: {arm: set() for arm in spec["arms"]} for name, spec in config["experiments"].items()}
    for number, chosen in enumerate(packed, 1):
        for job in chosen:
            finished[job["experiment"]][job["arm"]] |= set(job["seeds"])
        yield number, chosen, finished


def unpaired(config: dict, packed: list[list[dict]] | None = None) -> list[str]:
    """The jobs whose seeds no partial summary shows paired once their slice and every slice before it have
    finished (`here.published_arms`): what a slice would return unpublished."""
    packed = slices(config) if packed is None else packed
    out = []
    for number, chosen, finished in _finished_after(config, packed):
        for job in chosen:
            spec = config["experiments"][job["experiment"]]
            shown = here.published_arms(spec, {a: sorted(s) for a, s in finished[job["experiment"]].items()})
            if job["arm"] not in shown:
                out.append(f"slice {number}: {_job_name(job)}")
    return out


def comparisons(spec: dict) -> list[tuple[str, str]]:
    """An experiment's comparisons, the table's rows: each arm against the baseline, then its pairs."""
    base = spec["baseline"]
    return [(arm, base) for arm in spec["arms"] if arm != base] + [tuple(pair) for pair in spec.get("pairs", [])]


def verdicts(config: dict, packed: list[list[dict]] | None = None) -> list[list[str]]:
    """Per slice, the comparisons that reach VERDICT_MIN_N paired seeds once it and every slice before it
    have finished: the verdicts that slice publishes."""
    packed = slices(config) if packed is None else packed
    published, out = set(), []
    for _, chosen, finished in _finished_after(config, packed):
        new = []
        for name in dict.fromkeys(job["experiment"] for job in chosen):
            rows = []
            for arm, other in comparisons(config["experiments"][name]):
                paired = len(finished[name][arm] & finished[name][other])
                if paired >= VERDICT_MIN_N and (name, arm, other) not in published:
                    published.add((name, arm, other))
                    rows.append(f"{arm} - {other} ({paired})")
            if rows:
                new.append(f"{name}: {', '.join(rows)}")
        out.append(new)
    return out


def needs(config: dict, chosen: list[dict]) -> tuple[list[str], list[str]]:
    """What a machine without the internet needs to build the slice's data (its experiments' data sets and
    zero-shot benchmarks): (the paths here that hold their sources, to carry; the sources that are nowhere
    here, of data sets not prepared here). A source the repository holds a copy of
    (layout.REPOSITORY_COPIES: tools/gpu-slice.sh places it) is needed from nowhere."""
    specs = [config["experiments"][job["experiment"]] for job in chosen]
    datasets = sorted({spec["dataset"] for spec in specs} | {b for spec in specs for b in spec.get("zeroshot", [])})
    carry, missing = [], []
    for ds in datasets:
        prepared = Path(layout.prepared_dir(ds), layout.META).exists()
        for src in config["datasets"][ds]["sources"].values():
            path, copy = here.offline_copy(config, src), layout.repository_copy(src)
            if path:
                carry.append(path)
            elif not (prepared or (copy and Path(copy).exists())):
                missing.append(src)
    return sorted(set(carry)), sorted(set(missing))


def offline_check(config: dict, number: int, chosen: list[dict]) -> str:
    """`slices --needs`: the paths to carry for slice `number` (`chosen`, its jobs; one a line, after a comment
    naming the slice), or a ValueError naming each source that is not here (it must be fetched first)."""
    carry, missing = needs(config, chosen)
    if missing:
        raise ValueError(f"slice {number} builds its data from {', '.join(missing)}, not here: carry "
                         f"{' '.join(layout.raw_dir(m) for m in missing)}, fetched where there is internet "
                         f"(snakemake {' '.join(layout.raw_dir(m) + '/' + layout.PROVENANCE for m in missing)})")
    return f"# slice {number}: {', '.join(_job_name(j) for j in chosen)}\n" + "".join(f"{p}\n" for p in carry)


def done(slice_jobs: list[dict]) -> bool:
    return all(Path(t).exists() for job in slice_jobs for t in job["targets"])


def pick(config: dict, which: str) -> tuple[int, list[dict]]:
    """Slice `which`: its number (from 1), or "next", the first one not finished."""
    packed = slices(config)
    if which == "next":
        for number, s in enumerate(packed, 1):
            if not done(s):
                return number, s
        raise ValueError(f"every one of the {len(packed)} slices is finished (here: the finished runs are the "
                         f"ones under {config['results']}/runs/)")
    if not which.isdigit() or not 1 <= int(which) <= len(packed):
        raise ValueError(f"no slice {which!r}: the config has slices 1 to {len(packed)}, or say 'next'")
    return int(which), packed[int(which) - 1]


def _job_name(job: dict) -> str:
    return f"{job['experiment']}/{job['arm']}/{layout.job_name(job['seeds'])}"


def markdown(config: dict) -> str:
    settings = _settings(config)
    packed = slices(config)
    measured_in = sorted({j["experiment"] for s in packed for j in s if j["measured"]})
    lines = [f"The tier needs {len(packed)} allocations: {len(packed)} slices of at most {settings['minutes']:g} "
             "minutes, one an allocation; `make reproduce-gpu SLICE=n` runs one, `SLICE=next` the first not "
             "finished. Each job's minutes: start-up, training and evaluation at an MFU, measured from finished "
             f"jobs ({', '.join(measured_in) or 'none yet'}), else assumed (MFU {settings['mfu']:g} of "
             f"{settings['peak_tflops']:g} TFLOP/s, {settings['job_overhead_minutes']:g} min start-up a job, "
             f"{settings['evaluation_minutes']:g} min an evaluation, {settings['evaluations_at_once']} ICL "
             f"evaluations at once). A slice publishes the comparisons that reach {VERDICT_MIN_N} paired seeds "
             "with it (paired seeds in brackets).", "",
             "| slice | minutes | jobs (experiment/arm/seeds) | publishes | state |", "|---:|---:|---|---|---|"]
    sweeps = {(switches or {})["tune"]["experiment"] for spec in config["experiments"].values()
              for switches in spec["arms"].values() if "tune" in (switches or {})}
    for number, (s, new) in enumerate(zip(packed, verdicts(config, packed)), 1):
        minutes = sum(j["minutes"] for j in s)
        over = " (over: one job longer than a slice)" if minutes > settings["minutes"] else ""
        none = "no verdict" + (": a sweep, which chooses the tuned arms' values" if {
            j["experiment"] for j in s} <= sweeps else "")
        lines.append(f"| {number} | {minutes:.1f}{over} | {', '.join(_job_name(j) for j in s)} | "
                     f"{'; '.join(new) or none} | {'done' if done(s) else 'to do'} |")
    total = sum(j["minutes"] for s in packed for j in s)
    lines += ["", f"Total: {total:.0f} minutes ({total / 60:.1f} GPU-hours) estimated."]
    unpublished = unpaired(config, packed)
    if unpublished:
        lines += ["", "Not paired by their slice (a comparison's arms did not fit one slice): "
                  + "; ".join(unpublished)]
    return "\n".join(lines) + "\n"


def command(configfiles: list[str] | None, targets: str | None = None, jobs_of: str | None = None,
            needs_of: str | None = None) -> str:
    """`python -m unrolled slices`: the table; the paths to carry for slice `needs_of` (`offline_check`);
    slice `targets`'s target files (one a line); or, once its sources are found here (`offline_check`), a
    line "# returns: " and the folders a slice returns, then `jobs_of`'s
    jobs, a line each, tab-separated (tools/gpu-slice.sh): the job's estimated minutes, those of it and the
    rest of its stage (a stage starts only if all of it fits), its name, then its target files."""
    import logging

    config = registry.load_config(configfiles)
    if not (targets or jobs_of or needs_of):
        return markdown(config)
    number, chosen = pick(config, targets or jobs_of or needs_of)
    if needs_of:
        return offline_check(config, number, chosen)
    if not chosen or not any(job["targets"] for job in chosen):
        raise ValueError(f"slice {number} has no targets")
    logging.info("slice %d: %s", number, ", ".join(_job_name(j) for j in chosen))
    if jobs_of:
        offline_check(config, number, chosen)  # a source not here stops the slice before its first job
        return f"# returns: {' '.join(layout.slice_returns(config['results']))}\n" + "".join(
            f"{job['minutes']:.2f}\t{job['stage_minutes']:.2f}\t{_job_name(job)}\t{' '.join(job['targets'])}\n"
            for job in chosen)
    return "\n".join(t for job in chosen for t in job["targets"]) + "\n"
