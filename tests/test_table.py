"""The table's verdicts: every branch of the rule that compares our paired CI with the paper's sign."""

from __future__ import annotations

import pytest

from unrolled.table import verdict


@pytest.mark.parametrize("paper, ci, expected", [
    (-0.01, [None, None], "not resolved (too few seeds for a CI)"),
    (-0.01, [], "not resolved (too few seeds for a CI)"),
    (-0.01, None, "not resolved (too few seeds for a CI)"),
    (-0.01, [-0.02, 0.01], "**not resolved** (CI includes 0)"),
    (-0.01, [0.0, 0.01], "**not resolved** (CI includes 0)"),  # a bound on 0 does not exclude it
    (-0.01, [-0.02, 0.0], "**not resolved** (CI includes 0)"),
    (-0.01, [-0.03, -0.01], "**same direction** as the paper (CI excludes 0)"),
    (0.02, [0.01, 0.03], "**same direction** as the paper (CI excludes 0)"),
    (-0.01, [0.01, 0.03], "**opposite direction** to the paper (CI excludes 0)"),
    (0.02, [-0.03, -0.01], "**opposite direction** to the paper (CI excludes 0)"),
    (None, [-0.03, -0.01], "ours lower (CI excludes 0); no paper difference to compare"),
    (None, [0.01, 0.03], "ours higher (CI excludes 0); no paper difference to compare"),
    (None, [-0.01, 0.01], "**not resolved** (CI includes 0)"),
])
def test_verdict(paper, ci, expected):
    assert verdict(paper, ci) == expected
