"""`python -m unrolled check` (`make check`): is a finished run a reproduction of the published reference?

Byte-identical results hold only on the same hardware and library versions: another CPU's kernels change the
7th digit of the first evaluation, and training amplifies it. So the check is statistical, comparison by
comparison (every paired difference of every experiment's summary, on its primary metric):

- the direction must agree: where one run's 95% interval excludes zero, the other's must not exclude it on
  the other side (a flipped verdict is a real disagreement);
- the difference must lie within what the reference's seed spread allows: |ours - reference| at most
  t(0.975, n - 1) x sd x sqrt(1/n + 1/m), the two-sample bound for means of n and m seeds with the reference's
  per-seed standard deviation of the difference (at least TOLERANCE_FLOOR, for differences with no spread).

The reference's summaries are read straight from the DVC remote in the repository (reference/dvc-store, the
object results.dvc names), so a user's own results/ stay untouched. It prints a table and returns the number
of disagreements.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import yaml
from scipy import stats as sps

from unrolled.registry import RESULTS, SUMMARY, experiment_file

TOLERANCE_FLOOR = 1e-6


def _object(store: Path, md5: str) -> Path:
    return store / "files" / "md5" / md5[:2] / md5[2:]


def reference_summaries(dvc_file: str | Path = "results.dvc", store: str | Path = "reference/dvc-store") -> dict:
    """{experiment: summary} of the reference results named by `dvc_file`, read from the DVC store."""
    out = yaml.safe_load(Path(dvc_file).read_text())["outs"][0]
    manifest = _object(Path(store), out["md5"])
    if not manifest.exists():
        raise FileNotFoundError(f"{manifest}: the reference's file list is not in {store} (results.dvc names "
                                f"{out['md5']}); pull the repository again")
    summaries = {}
    for entry in json.loads(manifest.read_text()):
        parts = Path(entry["relpath"]).parts
        if len(parts) == 2 and parts[1] == SUMMARY:
            summaries[parts[0]] = json.loads(_object(Path(store), entry["md5"]).read_text())
    return summaries


def _side(ci: list) -> int:
    """-1 or 1 where the interval excludes zero below or above; 0 where it includes it (or there is none)."""
    low, high = ci if ci and ci[0] is not None else (None, None)
    return 0 if low is None or low <= 0 <= high else (-1 if high < 0 else 1)


def compare(ours: dict, reference: dict) -> list[dict]:
    """One row per paired comparison both summaries have, on the reference's primary metric."""
    key = reference["primary"]
    theirs = {(c["arm"], c["reference"]): c for c in reference["metrics"][key]["comparisons"]}
    rows = []
    for c in ours["metrics"][key]["comparisons"]:
        r = theirs.get((c["arm"], c["reference"]))
        if r is None or "mean" not in c or "mean" not in r:
            continue
        n, m = r["n"], c["n"]
        sd = float(np.std(r["differences"], ddof=1)) if n > 1 else 0.0
        tolerance = max(TOLERANCE_FLOOR, sps.t.ppf(0.975, max(n - 1, 1)) * sd * np.sqrt(1 / n + 1 / m))
        flipped = _side(c["ci95"]) * _side(r["ci95"]) < 0
        within = abs(c["mean"] - r["mean"]) <= tolerance
        rows.append({"experiment": ours["experiment"], "comparison": f"{c['arm']} − {c['reference']}",
                     "metric": key, "ours": c["mean"], "reference": r["mean"], "tolerance": tolerance,
                     "direction": "flipped" if flipped else "agrees", "within": within, "ok": within and not flipped})
    return rows


def check(results: str | Path = RESULTS, dvc_file="results.dvc", store="reference/dvc-store") -> tuple[list[dict], list[str]]:
    """Every comparison of every experiment both have; and the reference's experiments missing here."""
    references = reference_summaries(dvc_file, store)
    rows, missing = [], []
    for name, ref in references.items():
        path = Path(experiment_file(name, SUMMARY, results))
        if not path.exists():
            missing.append(name)
            continue
        rows += compare(json.loads(path.read_text()), ref)
    return rows, missing


def markdown(rows: list[dict], missing: list[str]) -> str:
    lines = ["| experiment | paired difference | ours | reference | allowed ± | direction | verdict |",
             "|---|---|---:|---:|---:|---|---|"]
    for r in rows:
        lines.append(f"| {r['experiment']} | {r['comparison']} | {r['ours']:.4f} | {r['reference']:.4f} | "
                     f"{r['tolerance']:.4f} | {r['direction']} | {'ok' if r['ok'] else '**disagrees**'} |")
    bad = sum(not r["ok"] for r in rows)
    lines += ["", f"{len(rows) - bad} of {len(rows)} comparisons agree with the reference within its seed spread"
              + (f"; {bad} disagree" if bad else "") + "."]
    if missing:
        lines.append(f"Not in this run (not compared): {', '.join(missing)}.")
    return "\n".join(lines) + "\n"


def command(results: str | Path, dvc_file: str | Path, store: str | Path) -> str:
    """`make check`: the table; an error (exit 2) on a real disagreement or with nothing to compare."""
    from unrolled.errors import UnrolledError

    rows, missing = check(results, dvc_file, store)
    text = markdown(rows, missing)
    bad = sum(not r["ok"] for r in rows)
    if bad or not rows:
        print(text, end="")
        raise UnrolledError(f"{bad} comparison(s) disagree with the reference" if rows else
                            f"nothing to compare: {results} holds none of the reference's experiments")
    return text
