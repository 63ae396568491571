"""End to end: the smoke config's data stage through Snakemake, then a DVC push/pull round trip."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import REPO as REPO_ROOT
from conftest import SMOKE, VENV_BIN, copy_workflow, run

from unrolled.atomic import read_history, sha256_file
from unrolled.data.prepare import expected_meta
from unrolled.registry import load_config

pytestmark = pytest.mark.slow


def _tree_hashes(folder):
    return {p.relative_to(folder).as_posix(): sha256_file(p) for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != ".snakemake_timestamp"}


def _git(wf, *args):
    return run(["git", "-c", "user.email=t@example.org", "-c", "user.name=test", *args], cwd=wf)


def test_smoke_data_stage_outputs(smoke_run):
    wf, proc = smoke_run
    prepared = wf / "data" / "prepared"
    # The smoke data targets, and what its experiments need besides: the ICL prompts and the cloze set.
    assert sorted(p.name for p in prepared.iterdir()) == ["icl_smoke", "mnist5k", "shakespeare_char",
                                                          "shakespeare_char_slice", "shakespeare_cloze"]
    part = json.loads((prepared / "shakespeare_char_slice" / "meta.json").read_text())
    assert part["train_tokens"] == part["train_chars"] == 2000 and part["vocab_size"] == 84
    assert (prepared / "shakespeare_char_slice" / "val.bin").read_bytes() == \
        (prepared / "shakespeare_char" / "val.bin").read_bytes()  # the whole corpus's held-out text
    meta = json.loads((prepared / "shakespeare_char" / "meta.json").read_text())
    texts = sorted((wf / "data" / "raw" / "shakespeare").glob("*_gut.txt"))
    assert len(texts) == len(meta["documents"]) == 42
    assert sum(p.stat().st_size for p in texts) == 5_057_198
    assert meta["vocab_size"] == 84
    assert meta["characters"] == sum(len(p.read_text().strip("\n")) for p in texts) + 2 * 41  # "\n\n" joins
    train = np.fromfile(prepared / "shakespeare_char" / "train.bin", dtype=np.uint16)
    assert len(train) == meta["train_tokens"] == int(meta["characters"] * 0.9)
    assert "".join(meta["itos"][i] for i in train[:6]) == "ALL'S "  # alls_well_that_ends_well comes first
    assert meta["sources"]["text"]["archive_sha256"].startswith("f393d09d")

    mnist = json.loads((prepared / "mnist5k" / "meta.json").read_text())
    assert mnist["counts"] == {"train": 4500, "val": 500} and mnist["shape"] == [1, 28, 28]
    # what a plan assumes before a data set is built is what its builder writes
    datasets = load_config([REPO_ROOT / "config" / "smoke.yaml"])["datasets"]
    for name in ("mnist5k", "icl_smoke"):
        built, expected = json.loads((prepared / name / "meta.json").read_text()), expected_meta(datasets[name])
        assert {k: built[k] for k in expected} == expected, name
    y = np.load(prepared / "mnist5k" / "train_y.npy")
    assert np.bincount(np.concatenate([y, np.load(prepared / "mnist5k" / "val_y.npy")])).tolist() == [500] * 10
    for name in ("fetch_shakespeare", "fetch_mnist5k", "prepare_shakespeare_char", "prepare_mnist5k"):
        assert (wf / "logs" / "data" / f"{name}.log").stat().st_size > 0
        assert (wf / "logs" / "benchmarks" / "data" / f"{name}.tsv").exists()  # not a result: DVC stays clean


def test_second_run_does_nothing(smoke_run):
    wf, _ = smoke_run
    proc = run(["snakemake", "--cores", "2", "--configfile", "config/smoke.yaml"], cwd=wf)
    assert "Nothing to be done" in proc.stdout + proc.stderr


def test_smoke_runs_every_stage(smoke_run):
    wf, _ = smoke_run
    results = wf / SMOKE
    summary = json.loads((results / "lm_char" / "summary.json").read_text())
    block = summary["metrics"]["best_val_loss"]
    assert set(block["arms"]) == {"vanilla", "a_minus_i", "aot_mhsa", "aot_mhsa_a_minus_i", "aot_mssa", "xsa"}
    assert all(a["n"] == 2 for a in block["arms"].values())
    refs = {(c["arm"], c["reference"]) for c in block["comparisons"]}
    assert ("a_minus_i", "vanilla") in refs and ("aot_mhsa_a_minus_i", "aot_mhsa") in refs
    for arm, d in block["arms"].items():  # the summary holds exactly what the runs recorded
        finished = yaml.safe_load((results / "runs" / "lm_char" / arm / "run.yaml").read_text())
        for seed, value in d["values"].items():
            metrics = json.loads((results / "runs" / "lm_char" / arm / f"seed{seed}" / "metrics.json").read_text())
            assert metrics["best_val_loss"] == value and metrics["seed"] == int(seed)
            # each run trained its arm's run.yaml, the workflow's finished run config
            assert metrics["config"] == {"model": finished["model"], "train": finished["train"]}
    assert "paired_difference" in (results / "lm_char" / "summary.csv").read_text()
    # across training: the paired difference at every evaluation step, from the runs' history.csv
    across = {(c["arm"], c["reference"]): c for c in summary["across_training"]["comparisons"]}
    assert set(across) == refs
    xsa = across["xsa", "a_minus_i"]
    assert [r["step"] for r in xsa["steps"]] == [4, 8] and xsa["end"]["step"] == 8
    history = {arm: {s: {int(float(r["step"])): float(r["val_loss"]) for r in read_history(
        results / "runs" / "lm_char" / arm / f"seed{s}" / "history.csv")} for s in (0, 1)}
        for arm in ("xsa", "a_minus_i")}
    assert xsa["steps"][0]["mean"] == pytest.approx(np.mean([history["xsa"][s][4] - history["a_minus_i"][s][4]
                                                             for s in (0, 1)]))
    vit = json.loads((results / "vit_mnist" / "summary.json").read_text())
    assert vit["primary"] == "best_val_acc" and vit["higher_is_better"]
    _check_regimes(results)

    _check_figures(wf)
    theory = json.loads((results / "theory" / "probdr.json").read_text())
    assert theory["block_max_abs_diff"]["authors"] < 1e-3 * theory["latent_scale"]
    snr = json.loads((results / "theory" / "snr.json").read_text())
    assert set(snr["deltas"]) == {"0.2", "0.5"}

    table = (results / "tables" / "paper_vs_reproduced.md").read_text()
    assert "Generated by the workflow from `config/smoke.yaml`." in table  # relative: the same in every clone
    every_arm = table.split("## Every arm against its baseline")[1]
    assert "| aot_mhsa_a_minus_i − vanilla |" in every_arm  # an arm no paper claim names
    assert "| aot_mhsa_a_minus_i − aot_mhsa |" in every_arm  # an extra pair
    assert "| xsa − vanilla |" in every_arm and "| xsa − a_minus_i |" in every_arm
    assert "| at the end (step) | most favourable step |" in every_arm
    for heading in ("Paper 1, char-level Shakespeare LM", "Paper 1, ViT", "Paper 2, GPT-2-style LM",
                    "Paper 2, SNR", "Paper 1, unrolled Laplacian Eigenmaps", "GPT-2 on OpenWebText"):
        assert heading in table, heading
    assert "| a_minus_i − vanilla | -0.0135 |" in table
    assert "Not run in this configuration" in table  # the GPT-2/OWT claim is paper scale only
    assert "## Zero-shot scores of this configuration's runs" in table and "`shakespeare_cloze`" in table
    assert "in-context linear and sparse linear regression" in table and "*least squares*" in table
    for stage in ("train", "evaluate", "theory"):
        assert list((results / "benchmarks" / stage).rglob("*.tsv")), stage
    assert list((wf / "logs" / "benchmarks" / "figures").rglob("*.tsv"))  # redrawing them changes no result


def _check_regimes(results):
    """The regime gate in every summary (judged where the experiment states a regime), the table's regime line,
    the size-matched experiment's sizes, and the regime map made from its sizes' summaries."""
    from unrolled.regime import regime_map

    summaries = {name: json.loads((results / name / "summary.json").read_text())
                 for name in ("lm_char", "lm_char_slice", "p2_matched")}
    assert summaries["lm_char"]["regime"]["stated"] is None and summaries["lm_char"]["regime"]["in_regime"] is None
    part = summaries["lm_char_slice"]["regime"]
    assert part["stated"] == "over-fitting" and part["in_regime"] in (True, False) and part["steps"] == 8
    metrics = json.loads((results / "runs" / "lm_char_slice" / "vanilla" / "seed0" / "metrics.json").read_text())
    assert metrics["data"]["train_items"] == 2000
    assert part["epochs_at_baseline_best"] == pytest.approx(part["baseline_best_step"] * 4 * 16 / 2000)
    sizes = summaries["p2_matched"]["params"]
    assert set(sizes) == {"gpt", "aot_mhsa"} and max(sizes.values()) <= 1.02 * min(sizes.values())
    made = json.loads((results / "p1_regime_map.json").read_text())
    expected = regime_map({"name": "p1_regime_map", "arm": "a_minus_i", "metric": "best_val_loss"},
                          [summaries["lm_char_slice"], summaries["lm_char"]])
    assert made == json.loads(json.dumps(expected)) and len(made["points"]) == 2 and made["reference"] is None
    table = (results / "tables" / "paper_vs_reproduced.md").read_text()
    assert "*Regime:* over-fitting (stated); vanilla's median best at" in table
    assert "*Regime:* under-fitting (stated); every arm's median final - best at most 0.01 nats" in table \
        or "median final - best above 0.01 nats" in table


def _check_figures(wf):
    """Every configured figure, and every experiment's across-training figure, is a real, non-blank image of
    its figure size; the curves figure holds the mean of exactly the configured runs' histories, and the
    across-training figure the summary's per-step differences."""
    import matplotlib.image
    import yaml

    from unrolled.figures import draw, histories
    from unrolled.layout import across_figure, figure_file
    from unrolled.registry import figure_inputs, seeds

    config = yaml.safe_load((wf / "config" / "smoke.yaml").read_text())
    assert set(config["figures"]) == {"p1_lm_violin", "p1_vit_violin", "p2_lm_curves", "grid_mlp_identity",
                                      "p2_snr", "p1_mnist_unrolled", "p2_icl", "p1_regime_map"}
    figures = config["figures"] | {across_figure(name): {"kind": "across", "experiment": name,
                                                          "claims": spec.get("claims", {})}
                                   for name, spec in config["experiments"].items()}
    for name, spec in figures.items():
        png = wf / figure_file(name, "png", SMOKE)
        image = matplotlib.image.imread(png)[..., :3]
        inputs = [wf / p for p in figure_inputs(spec, config["experiments"], SMOKE)]
        fig = draw(spec, inputs, wf / "redrawn" / f"{name}.png")
        width, height = fig.get_size_inches() * 150
        assert image.shape[:2] == (round(height), round(width)), name
        assert image.std() > 0.05 and (image < 0.5).mean() > 0.001, f"{name} looks blank"
        assert png.with_suffix(".pdf").read_bytes().startswith(b"%PDF"), name
        if spec["kind"] == "curves":
            drawn = {line.get_label().split(" (")[0]: line.get_ydata() for line in fig.axes[0].lines}
            for arm, runs in histories(inputs).items():
                assert len(runs) == len(seeds(config["experiments"][spec["experiment"]]))
                np.testing.assert_allclose(drawn[arm], np.mean([r["val_loss"] for r in runs], axis=0))
        if spec["kind"] == "across":
            summary = json.loads(inputs[0].read_text())["across_training"]
            drawn = {line.get_label(): line.get_ydata() for ax in fig.axes for line in ax.lines}
            for c in summary["comparisons"]:
                np.testing.assert_allclose(drawn[f"{c['arm']} − {c['reference']} ({c['n']} seeds)"],
                                           [r["mean"] for r in c["steps"]])


def test_smoke_scores_every_run_zero_shot_and_in_context(smoke_run):
    wf, _ = smoke_run
    results = wf / SMOKE
    zs = json.loads((results / "lm_char" / "zeroshot.json").read_text())
    cloze = zs["benchmarks"]["shakespeare_cloze"]
    assert cloze["task"] == "cloze" and set(cloze["runs"]) == {"vanilla", "a_minus_i", "aot_mhsa",
                                                               "aot_mhsa_a_minus_i", "aot_mssa", "xsa"}
    for arm, by_seed in cloze["runs"].items():
        for seed, result in by_seed.items():
            own = json.loads((results / "runs" / "lm_char" / arm / f"seed{seed}" / "zeroshot"
                              / "shakespeare_cloze.json").read_text())
            assert own["metrics"] == result and result["n"] == 6 and result["chance"] == pytest.approx(0.1)
            assert own["git_sha"] and own["environment"]["torch"]
            trained = json.loads((results / "runs" / "lm_char" / arm / f"seed{seed}" / "metrics.json").read_text())
            assert own["run_config_hash"] == trained["config_hash"]
    assert cloze["metrics"]["accuracy"]["arms"]["vanilla"]["n"] == 2
    icl = json.loads((results / "icl_dense" / "icl.json").read_text())
    assert icl["n_examples"] == list(range(5)) and set(icl["arms"]) == {"vanilla", "aot_mssa_a_minus_i"}
    assert set(icl["baselines"]) == {"least_squares", "optimal", "lasso", "lasso_alpha"}
    run = json.loads((results / "runs" / "icl_dense" / "vanilla" / "seed1" / "icl.json").read_text())
    assert run["prompts"] == 16 and len(run["error"]) == 5 and run["git_sha"] and run["run_config_hash"]
    assert json.loads((results / "runs" / "icl_dense" / "vanilla" / "seed1" / "metrics.json").read_text())["task"] \
        == "regression"


def test_report_builds_with_every_figure(smoke_run):
    wf, _ = smoke_run
    run(["snakemake", "--configfile", "config/smoke.yaml", "--report", f"{SMOKE}/report.html"], cwd=wf)
    html = (wf / SMOKE / "report.html").read_text(errors="replace")
    for name in ("p1_lm_violin", "p2_snr", "p1_mnist_unrolled", "p2_icl", "paper_vs_reproduced", "Across training"):
        assert name in html, name


def test_dvc_round_trip_pulls_data_and_results_without_retraining(smoke_run, tmp_path):
    """`make share` in one clone; a fresh clone's `make pull` gets data and results (the figures among them, byte
    for byte) and Snakemake plans nothing. `make figures` redrawing them from pulled summaries byte for byte:
    tests/test_reference.py, on the published reference."""
    wf, _ = smoke_run
    make = ["make", "-s", "-o", f"{VENV_BIN.parent}/.installed", f"VENV={VENV_BIN.parent}"]
    smoke = "SNAKEMAKE_ARGS=--configfile config/smoke.yaml"
    _git(wf, "init", "-q")
    run([VENV_BIN / "dvc", "remote", "add", "-f", "-d", "local", str(tmp_path / "remote")], cwd=wf)
    run([*make, "share"], cwd=wf)
    _git(wf, "add", "-A")
    _git(wf, "commit", "-qm", "smoke results")
    data_before = _tree_hashes(wf / "data" / "prepared")
    results_before = _tree_hashes(wf / "results")
    figures = f"{Path(SMOKE).relative_to('results')}/figures/"  # the smoke run's own results folder
    figures_before = {k: v for k, v in results_before.items() if k.startswith(figures)}
    assert len(figures_before) == 26  # 8 configured figures and 5 across-training ones, PNG and PDF

    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(wf), str(clone)], cwd=tmp_path)
    assert not (clone / "results").exists()
    # Raw sources fetched *after* the pull look newer than the pulled outputs: the case that would
    # make Snakemake rerun every job by modification time.
    shutil.copytree(wf / "data" / "raw", clone / "data" / "raw")
    run([VENV_BIN / "dvc", "pull"], cwd=clone)
    for p in (clone / "data" / "raw").rglob("*"):
        p.touch()
    dry = run(["snakemake", "-n", "--configfile", "config/smoke.yaml"], cwd=clone)
    assert "prepare_dataset" in dry.stdout  # without re-stamping, the mtimes alone trigger reruns

    run([*make, "pull", smoke], cwd=clone)
    dry = run(["snakemake", "-n", "--configfile", "config/smoke.yaml"], cwd=clone)
    assert "Nothing to be done" in dry.stdout + dry.stderr  # no training, no summaries, nothing
    assert _tree_hashes(clone / "data" / "prepared") == data_before
    pulled = _tree_hashes(clone / "results")
    # Checkpoints and the HTML report (it embeds its build time) are not shared (.dvcignore).
    assert {k: v for k, v in results_before.items() if not k.endswith(("ckpt.pt", "report.html"))} == pulled
    assert not any(k.endswith(("ckpt.pt", "report.html")) for k in pulled)

    shown = run([VENV_BIN / "dvc", "metrics", "show", "--json", f"{SMOKE}/metrics"], cwd=clone).stdout
    assert "lm_char/a_minus_i-vanilla.json" in shown and '"mean"' in shown


def test_every_variant_trains_through_the_cli_on_packaged_data(smoke_run, tmp_path):
    from test_model import VARIANTS

    from unrolled.cli import main as cli_main

    wf, _ = smoke_run
    data = {"lm": (wf / "data/prepared/shakespeare_char", {"block_size": 16}),
            "vit": (wf / "data/prepared/mnist5k", {"patch_size": 7})}
    for task, (folder, extra) in data.items():
        for i, variant in enumerate(VARIANTS):
            run = {"data": str(folder), "model": {"n_layer": 1, "n_head": 2, "n_embd": 16, **extra, **variant},
                   "train": {"batch_size": 4, "max_iters": 2, "eval_interval": 2, "eval_iters": 1}}
            out = tmp_path / task / str(i)
            assert cli_main(["-q", "train", "--config", json.dumps(run), "--seeds", "0", "--out", str(out),
                             "--no-progress"]) == 0, (task, variant)
            metrics = json.loads((out / "seed0" / "metrics.json").read_text())
            assert metrics["task"] == task and metrics["steps"] == 2
            assert metrics["config"]["model"]["identity"] == variant["identity"]


def test_a_char_model_trained_on_packaged_shakespeare_beats_chance_on_held_out_cloze(smoke_run, tmp_path):
    """The zero-shot sanity check on a real tiny model: trained for a few hundred steps on the packaged
    corpus, it picks the blanked word of held-out lines more often than chance, and more often than
    the same model untrained (which shows the check can fail)."""
    import torch
    import yaml

    from unrolled import checkpoint, zeroshot
    from unrolled.atomic import load_meta
    from unrolled.data.benchmarks import load_examples
    from unrolled.data.prepare import prepare
    from unrolled.data.tokenizers import tokenizer_for
    from unrolled.models import Transformer
    from unrolled.train import train

    wf, _ = smoke_run
    spec = yaml.safe_load((wf / "config" / "sources.yaml").read_text())["datasets"]["shakespeare_cloze"]
    prepare("cloze", spec | {"questions": 150}, {"text": wf / "data/raw/shakespeare"}, tmp_path / "cloze")
    examples = load_examples(tmp_path / "cloze")
    data = wf / "data/prepared/shakespeare_char"
    run = {"data": str(data), "model": {"n_layer": 2, "n_head": 4, "n_embd": 64, "block_size": 64, "dropout": 0.0},
           "train": {"batch_size": 32, "max_iters": 300, "lr": 3e-3, "min_lr": 3e-4, "warmup_iters": 30,
                     "eval_interval": 300, "eval_iters": 5}}
    train(run, [0], tmp_path / "run", progress=False)
    tokenizer = tokenizer_for(load_meta(data))
    trained = checkpoint.load_model(tmp_path / "run" / "seed0")
    torch.manual_seed(0)
    untrained = Transformer(trained.cfg).eval()
    ours = zeroshot.evaluate(trained, tokenizer, "cloze", examples)
    floor = zeroshot.evaluate(untrained, tokenizer, "cloze", examples)
    assert ours["chance"] == pytest.approx(0.1)
    assert ours["p_above_chance"] < 0.05, ours
    assert ours["accuracy"] > floor["accuracy"], (ours, floor)


def test_a_benchmark_spec_chooses_the_zero_shot_protocol(smoke_run, tmp_path):
    """`protocol:` of a benchmark's spec reaches its meta.json and every result scored on it; the lab's
    protocol refuses a character model (no end-of-text token) with a clear error."""
    import yaml

    from unrolled import zeroshot
    from unrolled.data.prepare import prepare

    wf, _ = smoke_run
    spec = yaml.safe_load((wf / "config" / "sources.yaml").read_text())["datasets"]["shakespeare_cloze"]
    sources = {"text": wf / "data/raw/shakespeare"}
    run, data = wf / SMOKE / "runs/lm_char/vanilla/seed0", wf / "data/prepared/shakespeare_char"
    assert prepare("sliding", spec | {"questions": 5}, sources, tmp_path / "sliding")["protocol"] == "sliding"
    assert prepare("lab", spec | {"questions": 5, "protocol": "lab"}, sources, tmp_path / "lab")["protocol"] == "lab"
    result = zeroshot.evaluate_run(run, tmp_path / "sliding", data, device="cpu")
    assert result["protocol"] == result["metrics"]["protocol"] == "sliding"
    with pytest.raises(ValueError, match="protocol 'lab' needs a tokenizer with an end-of-text token"):
        zeroshot.evaluate_run(run, tmp_path / "lab", data, device="cpu")


def test_smoke_ensemble_job_writes_what_single_runs_write(smoke_run, tmp_path, monkeypatch):
    """vit_mnist trains its two seeds in one ensemble job, the train rule's job `ensemble-seed0-1`, which ends
    with its record naming them; each seed's files equal a single run's (dropout 0)."""
    import csv

    import yaml

    from unrolled.config import run_config
    from unrolled.train import train

    wf, proc = smoke_run
    assert "wildcards: experiment=vit_mnist, arm=vanilla, job=ensemble-seed0-1" in proc.stdout + proc.stderr
    monkeypatch.chdir(wf)  # run configs name the data relative to the workflow, as the rules do

    spec = yaml.safe_load((wf / "config" / "smoke.yaml").read_text())["experiments"]["vit_mnist"]
    assert spec["ensemble"] == 2
    runs = wf / SMOKE / "runs" / "vit_mnist"
    for arm in spec["arms"]:
        config = run_config(spec, arm)
        assert json.loads((runs / arm / "ensemble-seed0-1" / "metrics.json").read_text()) == {"seeds": [0, 1]}
        assert not (runs / arm / "ensemble-seed0-1" / "ckpt.pt").exists()
        for seed in (0, 1):
            member = json.loads((runs / arm / f"seed{seed}" / "metrics.json").read_text())
            assert member["ensemble"]["seeds"] == [0, 1] and member["seed"] == seed
            (single,) = train(config, [seed], tmp_path / arm, progress=False)
            assert member["best_val_acc"] == pytest.approx(single["best_val_acc"], abs=1e-9)
            assert member["best_val_loss"] == pytest.approx(single["best_val_loss"], abs=1e-4)
            rows = list(csv.DictReader(open(runs / arm / f"seed{seed}" / "history.csv")))
            assert [r["step"] for r in rows] == ["3", "6"]
            assert (runs / arm / f"seed{seed}" / "ckpt.pt").exists()
    summary = json.loads((wf / SMOKE / "vit_mnist" / "summary.json").read_text())
    assert all(a["n"] == 2 for a in summary["metrics"]["best_val_acc"]["arms"].values())


def test_config_readme_commands_run_as_written(smoke_run, tmp_path):
    """config/README.md's example file and its commands, taken from the file and run as a user would (the
    target before --configfile, which would swallow it)."""
    import re

    wf, _ = smoke_run
    readme = (REPO_ROOT / "config" / "README.md").read_text()
    blocks = re.findall(r"```(yaml|bash)\n(.*?)```", readme, re.S)
    mine = next(body for kind, body in blocks if kind == "yaml" and body.startswith("# mine.yaml"))
    commands = [line for kind, body in blocks if kind == "bash" for line in body.splitlines() if "mine.yaml" in line]
    assert len(commands) == 2
    user = copy_workflow(tmp_path / "user")
    shutil.copytree(wf / "data" / "raw", user / "data" / "raw")  # the packaged sources, already fetched
    (user / "mine.yaml").write_text(mine)
    for command in commands:
        proc = run(["bash", "-c", command], cwd=user)
    summary = json.loads((user / "results" / "my_experiment" / "summary.json").read_text())
    assert set(summary["metrics"]["best_val_loss"]["arms"]) == {"vanilla", "a_minus_i"}
    assert proc.stdout.splitlines()[0] == "my_experiment: 4 done (of 4)"
    assert not (user / "results" / "lm_char").exists()  # only the target ran
    (user / "tweak.yaml").write_text("experiments:\n  lm_char:\n    seeds: 5\n")
    alone = run(["snakemake", "-n", "--configfile", "tweak.yaml"], cwd=user, check=False)
    assert alone.returncode != 0 and "--configfile config/config.yaml yours.yaml" in alone.stdout + alone.stderr


def test_dvc_params_diff_relates_a_run_to_the_config(workflow_copy):
    """dvc.yaml names the configs as params: `dvc params diff` shows which setting changed between commits."""
    wf = workflow_copy
    _git(wf, "init", "-q")
    _git(wf, "add", "-A")
    _git(wf, "commit", "-qm", "the default config")
    config = (wf / "config" / "config.yaml").read_text()
    (wf / "config" / "config.yaml").write_text(config.replace("max_iters: 600,", "max_iters: 700,", 1))
    diff = json.loads(run([VENV_BIN / "dvc", "params", "diff", "--json"], cwd=wf).stdout)
    assert diff["config/config.yaml"] == {"experiments.lm_char.train.max_iters": {"old": 600, "new": 700, "diff": 100}}
