"""`python -m unrolled check` (`make check`): does a finished run reproduce the published reference?

Byte-identical results hold only on the same hardware and library versions: another CPU's kernels change the
7th digit of the first evaluation, and training amplifies it. So the check is statistical, over every paired
difference of every experiment of the reference, on its primary metric:

- **the same effect size**: Welch's test of "our mean difference = the reference's", from both runs'
  per-seed differences (both standard deviations); the family of all comparisons is held at 5% by Holm's
  step-down, so a correct reproduction fails about 5% of the time or less, however many comparisons there
  are. Each row shows its Holm-adjusted p and the largest gap its Holm level allows (its bound);
- **the same direction**: wherever the reference's own effect is significant (its one-sample t-test, Holm
  over the same family), our mean must have the same sign, whatever the bound (losing or reversing a
  significant effect is a disagreement). Family-wise, not per comparison: a per-comparison interval excludes
  a near-zero effect by chance, and reproductions of the published 27 comparisons then failed 17% of the
  time on sign alone (simulated; tests/test_check.py);
- **nothing missing**: a comparison the reference has and this run lacks is a failure, named; `--only
  EXPERIMENT` checks part of a run on purpose.

With fewer than 6 reference seeds the check is weak: it says so, and what true shift it would detect (its
power at 1, 2 and 3 standard deviations of the reference's per-seed differences).

The reference's summaries are read straight from the DVC remote in the repository (reference/dvc-store, the
object results.dvc names), so a user's own results/ stay untouched.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import stats as sps

from unrolled.atomic import read_json
from unrolled.layout import REFERENCE_STORE, RESULTS, RESULTS_DVC, SUMMARY, experiment_file
from unrolled.published import manifest, store_object

ALPHA = 0.05  # the family-wise error over all comparisons
WEAK_BELOW = 6  # reference seeds: below this, the check's power is low, and it says so


def reference_summaries(dvc_file: str | Path = RESULTS_DVC, store: str | Path = REFERENCE_STORE,
                        results: str | Path = RESULTS) -> dict:
    """{experiment: summary} of the reference results named by `dvc_file`, read from the DVC store: those of
    the config whose results folder is `results` (results/regime's are under regime/ in the store)."""
    prefix = Path(results).relative_to(RESULTS).parts
    files = manifest(dvc_file, store)
    if not files:
        raise FileNotFoundError(f"the reference's file list (named by {dvc_file}) is not in {store}; pull the "
                                f"repository again")
    summaries = {}
    for relpath, md5 in files.items():
        parts = Path(relpath).parts
        if len(parts) == len(prefix) + 2 and parts[:len(prefix)] == prefix and parts[-1] == SUMMARY:
            summaries[parts[-2]] = read_json(store_object(store, md5))
    return summaries


def welch(ours: list[float], reference: list[float]) -> tuple[float, float, float]:
    """(mean gap, its standard error, Welch-Satterthwaite degrees of freedom) of two samples' means."""
    a, b = np.asarray(ours, float), np.asarray(reference, float)
    va = a.var(ddof=1) / len(a) if len(a) > 1 else 0.0
    vb = b.var(ddof=1) / len(b) if len(b) > 1 else 0.0
    se = float(np.sqrt(va + vb))
    terms = [v**2 / (len(x) - 1) for v, x in ((va, a), (vb, b)) if len(x) > 1]
    df = (va + vb) ** 2 / sum(terms) if se > 0 and sum(terms) > 0 else 1.0
    return float(a.mean() - b.mean()), se, float(df)


def holm(p: list[float]) -> tuple[list[float], list[float]]:
    """Holm's step-down: each p's adjusted value and the level it is tested at (ALPHA / (m - rank))."""
    m, order = len(p), np.argsort(p, kind="stable")
    adjusted, levels, running = [0.0] * m, [0.0] * m, 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adjusted[i], levels[i] = running, ALPHA / (m - rank)
    return adjusted, levels


def power(n_reference: int, n_ours: int, shifts=(1, 2, 3), level: float = ALPHA) -> list[float]:
    """The probability that a true shift of k standard deviations of the per-seed difference fails the check
    at `level`, for each k in `shifts` (equal spreads, the pooled t-test's noncentral distribution)."""
    df = n_reference + n_ours - 2
    critical = sps.t.ppf(1 - level / 2, df)
    return [float(sps.nct.sf(critical, df, k / np.sqrt(1 / n_reference + 1 / n_ours))
                  + sps.nct.cdf(-critical, df, k / np.sqrt(1 / n_reference + 1 / n_ours))) for k in shifts]


def _comparisons(summary: dict, key: str) -> dict:
    return {(c["arm"], c["reference"]): c for c in summary["metrics"][key]["comparisons"] if "mean" in c}


def compare(ours: dict[str, dict], references: dict[str, dict]) -> list[dict]:
    """One row per paired comparison of the reference (every experiment of `references`), with `ours` the
    summaries of the run checked ({experiment: summary}; missing ones are missing rows)."""
    rows = []
    for name, ref in references.items():
        key = ref["primary"]
        mine = _comparisons(ours[name], key) if name in ours else {}
        for pair, r in _comparisons(ref, key).items():
            d = np.asarray(r["differences"], float)
            sd = d.std(ddof=1) if len(d) > 1 else 0.0
            p_ref = (float(2 * sps.t.sf(abs(d.mean()) / (sd / np.sqrt(len(d))), len(d) - 1)) if sd > 0
                     else float(d.mean() == 0))
            row = {"experiment": name, "comparison": f"{pair[0]} − {pair[1]}", "metric": key, "reference": r["mean"],
                   "n_reference": r["n"], "reference_p": p_ref, "reference_side": int(np.sign(r["mean"]))}
            c = mine.get(pair)
            if c is None:
                rows.append(row | {"missing": True, "ours": None})
                continue
            gap, se, df = welch(c["differences"], r["differences"])
            p = float(2 * sps.t.sf(abs(gap) / se, df)) if se > 0 else float(gap != 0)
            rows.append(row | {"missing": False, "ours": c["mean"], "n": c["n"], "gap": gap, "se": se, "df": df,
                               "p": p})
    # The reference's significant effects: its own one-sample t-tests, Holm over the same family.
    for r, p_adj in zip(rows, holm([r["reference_p"] for r in rows])[0] if rows else []):
        r["reference_significant"] = p_adj < ALPHA
        r["sign_lost"] = (not r["missing"] and r["reference_significant"]
                          and np.sign(r["ours"]) != r["reference_side"])
    tested = [r for r in rows if not r["missing"]]
    adjusted, levels = holm([r["p"] for r in tested]) if tested else ([], [])
    for r, p_adj, level in zip(tested, adjusted, levels):
        bound = sps.t.ppf(1 - level / 2, r["df"]) * r["se"]
        r |= {"p_holm": p_adj, "level": level, "bound": bound, "within": p_adj >= ALPHA}
        r["ok"] = r["within"] and not r["sign_lost"]
    for r in rows:
        if r["missing"]:
            r["ok"] = False
    return rows


def check(results: str | Path = RESULTS, dvc_file: str | Path = RESULTS_DVC, store: str | Path = REFERENCE_STORE,
          only: list[str] | None = None, published: str | Path = RESULTS) -> list[dict]:
    """Every comparison of the reference (of the experiments `only`, where given) against the run in `results`;
    the reference is the published results folder `published` of the same config."""
    references = reference_summaries(dvc_file, store, published)
    if only:
        unknown = sorted(set(only) - set(references))
        if unknown:
            raise ValueError(f"--only {unknown}: not in the reference; it has {sorted(references)}")
        references = {name: s for name, s in references.items() if name in only}
    ours = {}
    for name in references:
        path = Path(experiment_file(name, SUMMARY, results))
        if path.exists():
            ours[name] = read_json(path)
    return compare(ours, references)


def _verdict(r: dict) -> str:
    if r["missing"]:
        return "**missing**"
    if r["sign_lost"]:
        return "**sign lost**"
    return "ok" if r["ok"] else "**disagrees**"


def markdown(rows: list[dict]) -> str:
    lines = ["| experiment | paired difference | ours | reference | gap | bound (Holm) | Holm p | verdict |",
             "|---|---|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        if r["missing"]:
            lines.append(f"| {r['experiment']} | {r['comparison']} | – | {r['reference']:.4f} | – | – | – | "
                         f"{_verdict(r)} |")
            continue
        lines.append(f"| {r['experiment']} | {r['comparison']} | {r['ours']:.4f} | {r['reference']:.4f} | "
                     f"{r['gap']:+.4f} | {r['bound']:.4f} | {r['p_holm']:.3f} | {_verdict(r)} |")
    bad = [r for r in rows if not r["ok"]]
    lines += ["", f"{len(rows) - len(bad)} of {len(rows)} comparisons of the reference agree (Welch's test of each "
              f"gap, Holm over all {len(rows)} at {ALPHA:g}; the same sign wherever the reference's effect is "
              f"significant, Holm over the same family)" + (f"; {len(bad)} do not." if bad else ".")]
    missing = [f"{r['experiment']}: {r['comparison']}" for r in rows if r["missing"]]
    if missing:
        lines.append(f"Missing from this run: {'; '.join(missing)} (use --only EXPERIMENT to check part of a run).")
    few = sorted({r["n_reference"] for r in rows if r["n_reference"] < WEAK_BELOW})
    if few:
        n = few[0]
        p = power(n, n, level=ALPHA / max(len(rows), 1))
        lines.append(f"**A weak check:** the reference has {n} seeds per comparison (fewer than {WEAK_BELOW}). A "
                     f"true shift of 1, 2 or 3 standard deviations of the per-seed difference fails it with "
                     f"probability {p[0]:.2f}, {p[1]:.2f}, {p[2]:.2f} (at {n} seeds here, Holm's first level); "
                     f"passing says little more than that no effect reversed.")
    return "\n".join(lines) + "\n"


def command(results: str | Path | None, dvc_file: str | Path, store: str | Path, only: list[str] | None = None,
            configfiles: list[str] | None = None) -> str:
    """`make check`: the table; an error (exit 2) on a disagreement, a missing comparison or nothing to compare.
    The reference: the published results of `configfiles` (a registry: config/regime.yaml's are under
    results/regime), else the default's; the run checked: `results`, else that same folder."""
    from unrolled.errors import UnrolledError

    published = RESULTS
    if configfiles:
        from unrolled.registry import load_config

        published = load_config(configfiles, resolved=False).get("results", RESULTS)
    results = results or published
    rows = check(results, dvc_file, store, only, published)
    text = markdown(rows)
    bad = sum(not r["ok"] for r in rows)
    if bad or not rows:
        print(text, end="")
        raise UnrolledError(f"nothing to compare: {results} holds none of the reference's comparisons"
                            if all(r["missing"] for r in rows) else
                            f"{bad} comparison(s) of the reference do not agree or are missing")
    return text
