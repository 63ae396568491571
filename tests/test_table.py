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
    # validation curves: the arm's best value at step 20, then every arm drifts by its own amount
    curves = {a: {s: {10: v + 0.5, 20: v, 30: v + 0.1 * (i + 1)} for s, v in by_seed.items()}
              for i, (a, by_seed) in enumerate(values.items())}
    summary = {"experiment": "lm", "primary": "best_val_loss", "baseline": "vanilla", "seeds": [0, 1, 2, 3],
               "higher_is_better": False, "metrics": {"best_val_loss": stats.summarize_experiment(
                   values, "vanilla", False, [("mystery", "a_minus_i")])},
               "across_training": stats.across_training(curves, "vanilla", False, [("mystery", "a_minus_i")])}
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
    # at the end (step 30) a_minus_i drifted 0.1 more than vanilla; most favourable: its -0.1 at steps 10
    # and 20 (a tie goes to the earliest)
    assert rows[0].endswith("| 0.0000 [0.0000, 0.0000] (30) | -0.1000 [-0.1000, -0.1000] (10) |")
    assert rows[2].endswith("| 0.7000 [0.7000, 0.7000] (30) | 0.6000 [0.6000, 0.6000] (10) |")


def test_zeroshot_claim_shows_the_paper_beside_both_protocols(tmp_path):
    """Each cell: the paper's number, ours with the sliding window, ours with the lab's protocol."""
    import json

    from unrolled import stats
    from unrolled.paper import reported
    from unrolled.registry import experiment_file
    from unrolled.table import _zeroshot_claim_section

    def block(loss):
        return {"loss": stats.summarize_experiment({"gpt2": {0: loss, 1: loss + 0.02}}, "gpt2", False)}

    summary = {"seeds": [0, 1], "benchmarks": {"lambada": {"task": "lambada", "metrics": block(4.5)},
                                               "lambada_lab": {"task": "lambada", "metrics": block(4.25)}}}
    path = tmp_path / experiment_file("owt", "zeroshot.json", "results")
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(summary))
    experiments = {"owt": {"zeroshot": ["lambada", "lambada_lab"], "claims": {"p2_zeroshot": {"gpt2": "gpt2"}}}}
    lines = _zeroshot_claim_section(reported()["p2_zeroshot"], experiments, tmp_path / "results")
    header = next(line for line in lines if line.startswith("| arm (paper's name)"))
    row = next(line for line in lines if line.startswith("| gpt2 (gpt2)"))
    cells = dict(zip(header.split(" | ")[1:], row.split(" | ")[1:]))
    assert cells["LAMBADA loss"] == "4.32 / 4.510 [4.500, 4.520] / 4.260 [4.250, 4.270]"
    assert cells["PTB loss"] == "5.75 / not run / not run"
