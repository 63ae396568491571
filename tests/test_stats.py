"""Statistics against known inputs."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from unrolled import stats


def test_describe_known_values():
    d = stats.describe([1.0, 2.0, 3.0, 4.0])
    assert (d["n"], d["mean"], d["median"], d["min"], d["max"]) == (4, 2.5, 2.5, 1.0, 4.0)
    assert d["std"] == pytest.approx(np.std([1, 2, 3, 4], ddof=1))
    # t-interval by hand: sd = 1.29099, t(0.975, 3) = 3.18245, half-width 3.18245 * 1.29099 / 2 = 2.05426
    assert d["ci95"] == pytest.approx([2.5 - 2.05426, 2.5 + 2.05426], abs=1e-5) and d["ci_method"] == "t"
    assert "bootstrap_ci95" not in d  # too few values for the bootstrap to mean anything


def test_t_interval_on_known_data_and_the_bootstrap_from_ten_seeds():
    assert stats.t_ci([1.0, 3.0]) == pytest.approx([2 - 12.7062, 2 + 12.7062], abs=1e-3)  # sd / sqrt(2) = 1
    assert stats.t_ci([5.0]) == (None, None)
    ten = np.arange(10.0)
    d = stats.describe(ten)  # sd 3.02765, t(0.975, 9) = 2.26216: half-width 2.16585
    assert d["ci95"] == pytest.approx([4.5 - 2.16585, 4.5 + 2.16585], abs=1e-5)
    assert d["bootstrap_ci95"] == list(stats.bootstrap_ci(ten))


def test_the_t_interval_has_its_coverage_at_three_seeds_and_the_bootstrap_does_not():
    """At n = 3 the percentile bootstrap of the mean is [min, max]: about 75% coverage. The t-interval's
    is 95% (normal data, 2,000 simulated experiments)."""
    rng = np.random.default_rng(0)
    samples = rng.normal(0.0, 1.0, (2000, 3))
    t_cover = np.mean([lo <= 0 <= hi for lo, hi in map(stats.t_ci, samples)])
    minmax_cover = np.mean([(s.min() <= 0 <= s.max()) for s in samples])
    assert 0.93 < t_cover < 0.97 and 0.70 < minmax_cover < 0.80

def test_bootstrap_ci_covers_the_mean_and_shrinks_with_n():
    rng = np.random.default_rng(0)
    small = stats.bootstrap_ci(rng.normal(5, 1, 10))
    large = stats.bootstrap_ci(rng.normal(5, 1, 1000))
    assert small[0] < 5 < small[1] and large[0] < 5 < large[1]
    assert large[1] - large[0] < (small[1] - small[0]) / 3


def test_degenerate_inputs():
    assert stats.bootstrap_ci([1.0]) == (None, None)
    assert stats.bootstrap_ci([2.0, 2.0, 2.0]) == (2.0, 2.0)


def test_paired_difference_matches_scipy():
    base = {0: 1.50, 1: 1.52, 2: 1.49, 3: 1.51, 4: 1.53, 5: 1.50}
    arm = {0: 1.48, 1: 1.50, 2: 1.49, 3: 1.47, 4: 1.52, 5: 1.46}
    p = stats.paired(arm, base)
    diff = np.array([arm[s] - base[s] for s in range(6)])
    assert p["mean"] == pytest.approx(diff.mean())
    assert p["wilcoxon_p"] == pytest.approx(sps.wilcoxon(diff).pvalue)
    assert p["wins"] == 5 and p["losses"] == 0
    assert p["ci95"] == pytest.approx(list(stats.t_ci(diff))) and p["ci95"][1] < 0
    assert p["verdict_allowed"]  # 6 paired seeds
    assert p["cohens_dz"] == pytest.approx(diff.mean() / diff.std(ddof=1))


def test_paired_uses_common_seeds_only_and_reports_min_p():
    p = stats.paired({0: 1.0, 1: 2.0, 2: 3.0, 7: 9.0}, {0: 2.0, 1: 3.0, 2: 4.0})
    assert p["seeds"] == [0, 1, 2] and p["differences"] == [-1.0, -1.0, -1.0]
    assert p["wilcoxon_p"] == pytest.approx(0.25) and p["min_attainable_p"] == pytest.approx(0.25)
    assert not p["verdict_allowed"]  # 3 of 3 signs is not a verdict


def test_summarize_direction_for_accuracy():
    values = {"vanilla": {0: 0.50, 1: 0.52}, "a_minus_i": {0: 0.55, 1: 0.56}}
    s = stats.summarize_experiment(values, "vanilla", higher_is_better=True)
    comp = s["comparisons"][0]
    assert comp["arm"] == "a_minus_i" and comp["mean"] == pytest.approx(0.045)
    assert comp["wins"] == 2 and comp["losses"] == 0
    assert s["arms"]["vanilla"]["values"] == {"0": 0.50, "1": 0.52}
    with pytest.raises(ValueError, match="baseline arm 'gpt'"):
        stats.summarize_experiment(values, "gpt", higher_is_better=True)


def _curves(rng, arms=("base", "arm", "other"), seeds=(0, 1, 2, 3), steps=(10, 20, 30, 40)):
    return {a: {s: {t: float(rng.normal(2.0 - 0.01 * t * i, 0.05)) for t in steps} for s in seeds}
            for i, a in enumerate(arms)}


@pytest.mark.parametrize("higher", [False, True])
def test_across_training_is_the_per_step_paired_difference(higher):
    rng = np.random.default_rng(0)
    curves = _curves(rng)
    del curves["arm"][3][40]  # one seed missed the last evaluation: that step is not comparable
    out = stats.across_training(curves, "base", higher, [("other", "arm")])
    assert [(c["arm"], c["reference"]) for c in out["comparisons"]] == [("arm", "base"), ("other", "base"),
                                                                       ("other", "arm")]
    comp = out["comparisons"][0]
    assert [r["step"] for r in comp["steps"]] == [10, 20, 30]
    for row in comp["steps"]:
        diff = np.array([curves["arm"][s][row["step"]] - curves["base"][s][row["step"]] for s in range(4)])
        assert row["mean"] == pytest.approx(diff.mean())
        assert row["ci95"] == pytest.approx(list(stats.t_ci(diff)))
    assert comp["end"] == comp["steps"][-1]
    pick = np.argmax if higher else np.argmin
    assert comp["most_favourable"] == comp["steps"][int(pick([r["mean"] for r in comp["steps"]]))]
    assert [r["step"] for r in out["comparisons"][1]["steps"]] == [10, 20, 30, 40]
    for arm, by_seed in curves.items():
        best = {s: (max if higher else min)(c, key=c.get) for s, c in by_seed.items()}
        assert out["arms"][arm]["best_step"] == {str(s): t for s, t in best.items()}
        assert out["arms"][arm]["best_step_median"] == np.median(list(best.values()))


def test_wilcoxon_with_ties_and_zeros_is_the_exact_sign_flip_distribution():
    """Accuracy differences are discrete: ties and zeros happen, and the tabled exact distribution assumes
    neither. By hand: nonzero differences 0.01, 0.01, 0.02, -0.02 have midranks 1.5, 1.5, 3.5, 3.5; the
    statistic (sum of positive ranks) is 6.5 against a centre of 5; of the 16 sign flips, those at least 1.5
    from the centre number 12."""
    from unrolled.stats import paired, signed_rank_permutation_p

    diff = [0.01, 0.01, 0.02, -0.02]
    ranks, count = np.array([1.5, 1.5, 3.5, 3.5]), 0
    for bits in range(16):
        total = sum(r for i, r in enumerate(ranks) if bits >> i & 1)
        count += abs(total - 5) >= 1.5
    assert count == 12
    assert signed_rank_permutation_p(np.array(diff)) == pytest.approx(12 / 16)
    out = paired({s: v for s, v in enumerate(diff + [0.0])}, {s: 0.0 for s in range(5)})
    assert out["wilcoxon_p"] == pytest.approx(12 / 16) and out["wilcoxon_method"] == "exact, ties (sign flips)"
    untied = paired({0: 0.01, 1: 0.02, 2: -0.03, 3: 0.04}, {s: 0.0 for s in range(4)})
    assert "wilcoxon_method" not in untied  # scipy's exact table, as before
    assert signed_rank_permutation_p(np.array([0.01, 0.02, -0.03, 0.04])) == pytest.approx(untied["wilcoxon_p"])
