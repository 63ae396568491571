"""`python -m unrolled status`: where every run of the config stands, read from the run folders alone
(no Snakemake, no scheduler), so it works on a cluster's submit host while jobs run elsewhere.

A run is done (metrics.json), running (progress.json updated within `STALE_SECONDS`), stopped (a
checkpoint, history or stale progress, but no metrics: a rerun resumes it) or not started.
"""

from __future__ import annotations

import time
from pathlib import Path

from unrolled.atomic import read_history, read_json
from unrolled.layout import CHECKPOINT, HISTORY, METRICS, PROGRESS, RUNS, run_dir
from unrolled.registry import seeds

STALE_SECONDS = 15 * 60  # no progress for this long: the job is not running (killed, or queued again)


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s"


def _last_step(folder: Path) -> int | None:
    rows = read_history(folder / HISTORY) if (folder / HISTORY).exists() else []
    return int(rows[-1]["step"]) if rows else None


def run_status(folder: str | Path, now: float | None = None) -> dict:
    """{"state": done | running | stopped | not started, "detail": one line}."""
    folder, now = Path(folder), time.time() if now is None else now
    if (folder / METRICS).exists():
        m = read_json(folder / METRICS)
        acc = f", best val acc {m['best_val_acc']:.4f}" if m.get("best_val_acc") is not None else ""
        return {"state": "done", "detail": f"best val loss {m['best_val_loss']:.4f} at step {m['best_step']}{acc}, "
                                           f"{_duration(m['wall_seconds'])} of training"}
    if (folder / PROGRESS).exists():
        p = read_json(folder / PROGRESS)
        age = now - p["updated"]
        val = f", last val {p['last_val_loss']:.4f}" if p["last_val_loss"] is not None else ""
        where = f"step {p['step']}/{p['max_iters']}{val}"
        if age <= STALE_SECONDS:
            return {"state": "running", "detail": f"{where}, eta {_duration(p['eta_seconds'])}, "
                                                  f"{p['items_per_second']:,.0f} {p['unit']} "
                                                  f"(updated {_duration(age)} ago)"}
        return {"state": "stopped", "detail": f"{where}, no progress for {_duration(age)}; a rerun resumes it"}
    step = _last_step(folder)
    if step is not None or (folder / CHECKPOINT).exists():
        return {"state": "stopped", "detail": (f"at step {step}" if step is not None else "checkpointed")
                                              + "; a rerun resumes it"}
    return {"state": "not started", "detail": ""}


STATES = ("done", "running", "stopped", "not started")


def report(experiments: dict, names: list[str] | None = None, root: str | Path = RUNS,
           now: float | None = None) -> list[str]:
    """Lines for every run of the named experiments (all if none), and a count per state."""
    names = names or list(experiments)
    unknown = [n for n in names if n not in experiments]
    if unknown:
        raise ValueError(f"no experiment {unknown} in this config; experiments: {sorted(experiments)}")
    lines, total = [], dict.fromkeys(STATES, 0)
    for name in names:
        spec = experiments[name]
        rows = [(f"{arm}/seed{s}", run_status(run_dir(name, arm, s, root), now)) for arm in spec["arms"]
                for s in seeds(spec)]
        counts = {state: sum(r["state"] == state for _, r in rows) for state in STATES}
        lines.append(f"{name}: " + ", ".join(f"{n} {state}" for state, n in counts.items() if n) + f" (of {len(rows)})")
        width = max(len(run) for run, _ in rows)
        lines += [f"  {run:<{width}}  {r['state']:<11}  {r['detail']}".rstrip() for run, r in rows]
        total = {state: total[state] + counts[state] for state in STATES}
    lines.append("all: " + ", ".join(f"{n} {state}" for state, n in total.items())
                 + f" (of {sum(total.values())} runs)")
    return lines


def command(configfiles: list[str] | None, experiments: list[str]) -> str:
    """`python -m unrolled status`: the config's runs, in its results folder."""
    from unrolled.layout import runs_root
    from unrolled.registry import load_config

    config = load_config(configfiles)
    return "\n".join(report(config["experiments"], experiments, runs_root(config["results"]))) + "\n"
