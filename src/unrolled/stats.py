"""Statistics over seeds: per-arm summaries and paired comparisons between arms (scipy throughout).

Seeds pair runs: arms that share a seed share the data order, the initialisation where shapes agree,
and the validation batches, so the per-seed difference is the quantity to test.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
RESAMPLES = 10_000
BOOTSTRAP_SEED = 0


def bootstrap_ci(values, statistic=np.mean) -> tuple[float, float] | tuple[None, None]:
    """Percentile bootstrap CI (BCa is unstable at the handful of seeds a CPU run has)."""
    values = np.asarray(values, dtype=float)
    if len(values) < 2:
        return None, None
    if np.all(values == values[0]):
        return float(values[0]), float(values[0])
    res = stats.bootstrap((values,), statistic, confidence_level=CONFIDENCE, n_resamples=RESAMPLES,
                          method="percentile", random_state=BOOTSTRAP_SEED)
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def describe(values) -> dict:
    values = np.asarray(values, dtype=float)
    low, high = bootstrap_ci(values)
    return {
        "n": int(len(values)),
        "mean": float(values.mean()),
        "median": float(np.median(values)),
        "std": float(values.std(ddof=1)) if len(values) > 1 else None,
        "min": float(values.min()),
        "max": float(values.max()),
        "ci95": [low, high],
    }


def paired(arm: dict[int, float], baseline: dict[int, float]) -> dict:
    """arm - baseline over the seeds both have: mean, bootstrap CI, Wilcoxon signed-rank, effect size."""
    seeds = sorted(set(arm) & set(baseline))
    diff = np.array([arm[s] - baseline[s] for s in seeds], dtype=float)
    out = {"seeds": seeds, "n": len(seeds), "differences": diff.tolist()}
    if not len(diff):
        return out
    low, high = bootstrap_ci(diff)
    out |= {"mean": float(diff.mean()), "median": float(np.median(diff)), "ci95": [low, high],
            "wins": int((diff < 0).sum()), "losses": int((diff > 0).sum())}
    if len(diff) > 1 and diff.std(ddof=1) > 0:
        out["cohens_dz"] = float(diff.mean() / diff.std(ddof=1))
    nonzero = diff[diff != 0]
    if len(nonzero):
        # Exact null distribution at small n: the smallest attainable two-sided p is 2 / 2**n.
        res = stats.wilcoxon(diff, zero_method="wilcox", alternative="two-sided",
                             method="exact" if len(nonzero) <= 50 else "auto")
        out["wilcoxon_p"] = float(res.pvalue)
        out["min_attainable_p"] = 2.0 / 2 ** len(nonzero)
    return out


def summarize_experiment(values: dict[str, dict[int, float]], baseline: str, higher_is_better: bool,
                         pairs: list[tuple[str, str]] = ()) -> dict:
    """values[arm][seed] -> per-arm descriptions and paired comparisons against the baseline (and `pairs`)."""
    if baseline not in values:
        raise ValueError(f"baseline arm {baseline!r} has no runs; arms: {sorted(values)}")
    comparisons = [(arm, baseline) for arm in values if arm != baseline] + [tuple(p) for p in pairs]
    result = {"arms": {arm: describe(list(v.values())) | {"values": {str(s): x for s, x in sorted(v.items())}}
                       for arm, v in values.items()},
              "comparisons": []}
    for arm, ref in comparisons:
        comp = paired(values[arm], values[ref])
        if "wins" in comp and higher_is_better:  # a win is an improvement in the metric's direction
            comp["wins"], comp["losses"] = comp["losses"], comp["wins"]
        result["comparisons"].append({"arm": arm, "reference": ref, **comp})
    return result

