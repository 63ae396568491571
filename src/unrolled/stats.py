"""Statistics over seeds: per-arm summaries and paired comparisons between arms (scipy throughout).

Seeds pair runs: arms that share a seed share the data order, the initialisation where shapes agree,
and the validation batches, so the per-seed difference is the quantity to test.

Intervals that mean what they say at a handful of seeds. Every `ci95` is Student's t-interval of the mean
(exact coverage for normal differences; close to it otherwise): at 3 seeds the percentile bootstrap of the
mean is just [min, max] of the values, which covers about 75%, not 95%. The bootstrap is given beside it
(`bootstrap_ci95`) from BOOTSTRAP_MIN_N seeds on, where it starts to mean something. Below VERDICT_MIN_N
paired seeds no verdict is drawn (`verdict_allowed`): 3 of 3 signs is a sign-test p of 0.25.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
RESAMPLES = 10_000
BOOTSTRAP_SEED = 0
BOOTSTRAP_MIN_N = 10  # the percentile bootstrap is reported beside the t-interval from this many seeds on
VERDICT_MIN_N = 6  # fewer paired seeds: no verdict, only the numbers


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


def t_ci(values) -> tuple[float, float] | tuple[None, None]:
    """Student's t-interval of the mean: mean +- t(0.975, n - 1) * sd / sqrt(n)."""
    values = np.asarray(values, dtype=float)
    if len(values) < 2:
        return None, None
    half = stats.t.ppf(0.5 + CONFIDENCE / 2, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
    return float(values.mean() - half), float(values.mean() + half)


def intervals(values) -> dict:
    """The t-interval as `ci95`, and from BOOTSTRAP_MIN_N values on the percentile bootstrap beside it."""
    out = {"ci95": list(t_ci(values)), "ci_method": "t"}
    if len(values) >= BOOTSTRAP_MIN_N:
        out["bootstrap_ci95"] = list(bootstrap_ci(values))
    return out


def describe(values) -> dict:
    values = np.asarray(values, dtype=float)
    return {
        "n": int(len(values)),
        "mean": float(values.mean()),
        "median": float(np.median(values)),
        "std": float(values.std(ddof=1)) if len(values) > 1 else None,
        "min": float(values.min()),
        "max": float(values.max()),
        **intervals(values),
    }


def paired(arm: dict[int, float], baseline: dict[int, float]) -> dict:
    """arm - baseline over the seeds both have: mean, t-interval (and bootstrap from 10 seeds), the signs,
    the exact Wilcoxon signed-rank p, effect size, and whether there are enough seeds for a verdict."""
    seeds = sorted(set(arm) & set(baseline))
    diff = np.array([arm[s] - baseline[s] for s in seeds], dtype=float)
    out = {"seeds": seeds, "n": len(seeds), "differences": diff.tolist(),
           "verdict_allowed": len(seeds) >= VERDICT_MIN_N}
    if not len(diff):
        return out
    out |= {"mean": float(diff.mean()), "median": float(np.median(diff)), **intervals(diff),
            "wins": int((diff < 0).sum()), "losses": int((diff > 0).sum())}
    if len(diff) > 1 and diff.std(ddof=1) > 0:
        out["cohens_dz"] = float(diff.mean() / diff.std(ddof=1))
    nonzero = diff[diff != 0]
    if len(nonzero):
        # Exact null distribution at small n: the smallest attainable two-sided p is 2 / 2**n.
        tied = len(nonzero) < len(diff) or len(np.unique(np.abs(nonzero))) < len(nonzero)
        if tied and len(nonzero) <= SIGN_FLIP_MAX:
            # scipy's exact table assumes no ties and no zeros: accuracy differences often have both. The
            # exact conditional distribution instead: every sign flip of the nonzero differences, midranks.
            out["wilcoxon_p"], out["wilcoxon_method"] = signed_rank_permutation_p(nonzero), "exact, ties (sign flips)"
        else:
            res = stats.wilcoxon(diff, zero_method="wilcox", alternative="two-sided",
                                 method="exact" if len(nonzero) <= 50 and not tied else "auto")
            out["wilcoxon_p"] = float(res.pvalue)
            if tied:
                out["wilcoxon_method"] = "normal approximation, ties"
        out["min_attainable_p"] = 2.0 / 2 ** len(nonzero)
    return out


SIGN_FLIP_MAX = 20  # nonzero differences up to which every sign flip is enumerated (2**20 of them)


def signed_rank_permutation_p(nonzero: np.ndarray) -> float:
    """The two-sided p of Wilcoxon's signed-rank statistic under every sign flip of `nonzero` (no zeros),
    with midranks for tied magnitudes: exact with ties, where the tabled distribution is not."""
    ranks = stats.rankdata(np.abs(nonzero))
    observed = ranks[nonzero > 0].sum()
    flips = (np.arange(2 ** len(ranks))[:, None] >> np.arange(len(ranks))) & 1
    null = flips @ ranks
    centre = ranks.sum() / 2
    return float(np.mean(np.abs(null - centre) >= abs(observed - centre) - 1e-9))


def comparisons(arms, baseline: str, pairs: list[tuple[str, str]] = ()) -> list[tuple[str, str]]:
    """(arm, reference) pairs: every arm against the baseline, then the experiment's extra `pairs`."""
    if baseline not in arms:
        raise ValueError(f"baseline arm {baseline!r} has no runs; arms: {sorted(arms)}")
    return [(arm, baseline) for arm in arms if arm != baseline] + [tuple(p) for p in pairs]


def summarize_experiment(values: dict[str, dict[int, float]], baseline: str, higher_is_better: bool,
                         pairs: list[tuple[str, str]] = ()) -> dict:
    """values[arm][seed] -> per-arm descriptions and paired comparisons against the baseline (and `pairs`)."""
    result = {"arms": {arm: describe(list(v.values())) | {"values": {str(s): x for s, x in sorted(v.items())}}
                       for arm, v in values.items()},
              "comparisons": []}
    for arm, ref in comparisons(values, baseline, pairs):
        comp = paired(values[arm], values[ref])
        if "wins" in comp and higher_is_better:  # a win is an improvement in the metric's direction
            comp["wins"], comp["losses"] = comp["losses"], comp["wins"]
        result["comparisons"].append({"arm": arm, "reference": ref, **comp})
    return result



def across_training(curves: dict[str, dict[int, dict[int, float]]], baseline: str, higher_is_better: bool,
                    pairs: list[tuple[str, str]] = ()) -> dict:
    """curves[arm][seed][step] -> the paired difference arm - reference at every evaluation step.

    Per comparison and step: the mean over seeds of the per-seed difference with its t-interval, at the
    steps every seed of both arms evaluated; the value at the last such step ("end") and at the step whose
    mean difference is best for the arm ("most_favourable": chosen after looking, so its CI is optimistic).
    Per arm: the step of each seed's best value and their median, where its own best checkpoint lies.
    """
    best = max if higher_is_better else min
    arms = {}
    for arm, by_seed in curves.items():
        steps = {s: best(curve, key=curve.get) for s, curve in by_seed.items()}
        arms[arm] = {"best_step": {str(s): step for s, step in sorted(steps.items())},
                     "best_step_median": float(np.median(list(steps.values())))}
    out = {"arms": arms, "comparisons": []}
    for arm, ref in comparisons(curves, baseline, pairs):
        seeds = sorted(set(curves[arm]) & set(curves[ref]))
        steps = sorted(set.intersection(*(set(curves[a][s]) for a in (arm, ref) for s in seeds)))
        rows = []
        for step in steps:
            diff = [curves[arm][s][step] - curves[ref][s][step] for s in seeds]
            rows.append({"step": step, "mean": float(np.mean(diff)), "ci95": list(t_ci(diff))})
        comp = {"arm": arm, "reference": ref, "n": len(seeds), "steps": rows}
        if rows:
            comp |= {"end": rows[-1], "most_favourable": best(rows, key=lambda r: r["mean"])}
        out["comparisons"].append(comp)
    return out
