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


def test_every_arm_appears_against_its_baseline_even_without_a_paper_claim(tmp_path):
    import json

    from unrolled import stats
    from unrolled.registry import experiment_file
    from unrolled.table import write

    values = {"vanilla": {0: 2.0, 1: 2.1, 2: 2.2, 3: 2.3}, "a_minus_i": {0: 1.9, 1: 2.0, 2: 2.1, 3: 2.2},
              "mystery": {0: 2.5, 1: 2.6, 2: 2.7, 3: 2.8}}
    summary = {"experiment": "lm", "primary": "best_val_loss", "baseline": "vanilla", "seeds": [0, 1, 2, 3],
               "higher_is_better": False, "metrics": {"best_val_loss": stats.summarize_experiment(
                   values, "vanilla", False, [("mystery", "a_minus_i")])}}
    path = tmp_path / experiment_file("lm", "summary.json", "results")
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(summary))
    experiments = {"lm": {"dataset": "shakespeare_char", "arms": {a: {} for a in values}, "baseline": "vanilla"}}
    write(experiments, tmp_path / "results", tmp_path / "table.md", "config/mine.yaml")
    table = (tmp_path / "table.md").read_text()
    section = table.split("## Every arm against its baseline")[1]
    assert "**`lm`** on `shakespeare_char`: `best_val_loss` (lower is better), 4 seeds per arm" in section
    rows = [line for line in section.splitlines() if line.startswith("| ") and " − " in line and "reference" not in line]
    assert [r.split(" | ")[0] for r in rows] == ["| a_minus_i − vanilla", "| mystery − vanilla",
                                                  "| mystery − a_minus_i"]
    assert "| mystery − vanilla | 2.6500 [" in section and "| 0.5000 [0.5000, 0.5000] |" in section
    assert "| 0 / 4 |" in section  # mystery is worse on every seed
