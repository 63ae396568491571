"""The table's verdicts: every branch of the rule that compares our paired CI with the paper's sign."""

from __future__ import annotations

import pytest

from unrolled.table import verdict


@pytest.mark.parametrize("paper, ci, expected", [
    (-0.01, [None, None], "not resolved (no interval)"),
    (-0.01, [], "not resolved (no interval)"),
    (-0.01, None, "not resolved (no interval)"),
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
    assert verdict(paper, ci, n=6) == expected


@pytest.mark.parametrize("n", [1, 3, 5])
def test_no_verdict_below_six_paired_seeds(n):
    # 3 of 3 seeds in the paper's direction, a CI far from 0: still no verdict (a sign test gives p = 0.25)
    assert verdict(-0.01, [-0.03, -0.02], n) == f"too few seeds for a verdict (n = {n} < 6)"


CLAIM = {"arms": {"vanilla": {"median": 1.4685}, "a_minus_i": {"median": 1.455}, "gpt2": {"value": 2.85},
                  "aot": {"value": 2.94}}, "difference": {"learned_a": -0.0031}}


@pytest.mark.parametrize("mapping, arm, reference, expected", [
    ({"vanilla": "vanilla", "a_minus_i": "a_minus_i"}, "a_minus_i", "vanilla", 1.455 - 1.4685),  # medians
    ({"gpt": "gpt2", "aot_mhsa": "aot"}, "aot_mhsa", "gpt", 2.94 - 2.85),  # single values
    ({"vanilla": "vanilla", "la": "learned_a"}, "la", "vanilla", -0.0031),  # the `difference` fallback
    ({"vanilla": "vanilla", "la": "learned_a"}, "vanilla", "la", None),  # the fallback is against the baseline only
    ({"vanilla": "vanilla", "xsa": "xsa", "la": "learned_a"}, "xsa", "la", None),  # an extra pair the paper lacks
])
def test_paper_difference_is_derived_from_what_the_paper_reports(mapping, arm, reference, expected):
    from unrolled.paper import difference

    got = difference(CLAIM, mapping, arm, reference, baseline="vanilla" if "vanilla" in mapping else "gpt")
    assert got == (pytest.approx(expected) if expected is not None else None)


def test_a_claim_whose_metric_is_missing_is_an_error_naming_the_claim():
    from unrolled.table import claim_block

    summary = {"experiment": "lm", "primary": "best_val_loss", "metrics": {"best_val_loss": {}}}
    with pytest.raises(ValueError, match="claim p2_lm: its metric 'final_val_loss' is not in lm's summary"):
        claim_block("p2_lm", {"metric": "final_val_loss"}, summary)
    assert claim_block("p1", {}, summary) == {}  # no metric named: the primary


def test_claim_rows_show_spread_verdicts_and_the_bootstrap_from_ten_seeds(tmp_path):
    """The paper's median [IQR] beside ours, the t-interval with the bootstrap beside it at 10 seeds, and a
    verdict at 6 seeds or more only."""
    import json

    from unrolled import stats
    from unrolled.layout import experiment_file
    from unrolled.table import write

    def table_for(n):
        values = {"vanilla": {s: 1.48 + 0.001 * s for s in range(n)},
                  "a_minus_i": {s: 1.46 + 0.001 * s for s in range(n)}}
        summary = {"experiment": "lm", "primary": "best_val_loss", "baseline": "vanilla", "seeds": list(range(n)),
                   "higher_is_better": False,
                   "metrics": {"best_val_loss": stats.summarize_experiment(values, "vanilla", False)},
                   "across_training": {"comparisons": [{"arm": "a_minus_i", "reference": "vanilla"}]}}
        path = tmp_path / str(n) / experiment_file("lm", "summary.json", "results")
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(summary))
        experiments = {"lm": {"dataset": "tinyshakespeare_char", "arms": {a: {} for a in values}, "baseline": "vanilla",
                              "claims": {"p1_char_lm": {"vanilla": "vanilla", "a_minus_i": "a_minus_i"}}}}
        write(experiments, {"summaries": [path]}, tmp_path / f"{n}.md", "config/gpu.yaml")
        return (tmp_path / f"{n}.md").read_text().split("## Paper 1, ViT")[0]

    three, six, ten = table_for(3), table_for(6), table_for(10)
    assert "| vanilla (vanilla) | 1.4685 [IQR 1.4645–1.471]; range 1.457–1.4775 | 1.4810 [IQR 1.4805–1.4815]; " \
           "range 1.4800–1.4820 |" in three
    assert "too few seeds for a verdict (n = 3 < 6)" in three and "bootstrap" not in three.split("| paired")[1]
    assert "**same direction** as the paper (CI excludes 0)" in six and "3 / 0" not in six
    assert "| -0.0135 | -0.0200 [-0.0200, -0.0200]; bootstrap [-0.0200, -0.0200] |" in ten
    assert "nanoGPT's published best val loss for train_shakespeare_char (seed 1337): **1.4697**" in ten


def test_every_arm_appears_against_its_baseline_even_without_a_paper_claim(tmp_path):
    import json

    from unrolled import stats
    from unrolled.layout import experiment_file
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
    write(experiments, {"summaries": [path]}, tmp_path / "table.md", "config/mine.yaml")
    table = (tmp_path / "table.md").read_text()
    section = table.split("## Every arm against its baseline")[1]
    assert "**`lm`** on `shakespeare_char`: `best_val_loss` (lower is better), 4 seeds per arm" in section
    rows = [line for line in section.splitlines()
            if line.startswith("| ") and " − " in line and "reference" not in line]
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
    from unrolled.layout import experiment_file
    from unrolled.paper import reported
    from unrolled.table import _zeroshot_claim_section, read_inputs

    def block(loss):
        return {"loss": stats.summarize_experiment({"gpt2": {0: loss, 1: loss + 0.02}}, "gpt2", False)}

    summary = {"experiment": "owt", "seeds": [0, 1],
               "benchmarks": {"lambada": {"task": "lambada", "metrics": block(4.5)},
                                               "lambada_lab": {"task": "lambada", "metrics": block(4.25)}}}
    path = tmp_path / experiment_file("owt", "zeroshot.json", "results")
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(summary))
    experiments = {"owt": {"zeroshot": ["lambada", "lambada_lab"], "claims": {"p2_zeroshot": {"gpt2": "gpt2"}}}}
    lines = _zeroshot_claim_section(reported()["p2_zeroshot"], experiments, read_inputs({"zeroshot": [path]}))
    header = next(line for line in lines if line.startswith("| arm (paper's name)"))
    row = next(line for line in lines if line.startswith("| gpt2 (gpt2)"))
    cells = dict(zip(header.split(" | ")[1:], row.split(" | ")[1:]))
    assert cells["LAMBADA loss"] == "4.32 / 4.510 [4.383, 4.637] / 4.260 [4.133, 4.387]"
    assert cells["PTB loss"] == "5.75 / not run / not run"


def test_the_figures_get_paper_1s_gpt2_difference_against_the_baseline():
    """Paper 1 reports only learned a's improvement on GPT-2 (-0.0031), a difference against its baseline:
    the across-training figure draws it for that comparison, and for no other pair."""
    from unrolled.paper import difference_in_claims

    claims = {"p1_gpt2_owt": {"vanilla": "vanilla", "learned_a": "learned_a", "a_minus_i": "a_minus_i"}}
    assert difference_in_claims(claims, "learned_a", "vanilla", "vanilla") == (pytest.approx(-0.0031),
                                                                              "Ravuri & Lawrence 2025")
    assert difference_in_claims(claims, "learned_a", "a_minus_i", "vanilla") is None
