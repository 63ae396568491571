"""DVC as its users expect it: `dvc pull` in a fresh clone restores the published results, `dvc metrics
show` is a headline a person can read, and `dvc plots show` draws every experiment's curves offline."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import REPO, VENV_BIN, run

DVC = str(VENV_BIN / "dvc")


def test_dvc_yaml_lists_the_published_configs_curves_and_headlines_and_every_config_as_params():
    """dvc.yaml names each experiment's curves file with the experiment's own metric as y (the ViT's accuracy,
    the LMs' loss) and the headline folder, of every shipped config whose results are published in the
    reference store (the default and the regime config; the GPU tier's once it has some): nothing it lists
    is missing after `dvc pull`. Every config is a params file."""
    from unrolled import layout, registry

    dvc = yaml.safe_load((REPO / "dvc.yaml").read_text())
    plots = {path: spec for entry in dvc["plots"] for path, spec in entry.items()}
    wanted, metrics, params, published = {}, [], [], []
    for name, root in _published_configs():
        config = registry.load_config([REPO / name], resolved=False, checkout=REPO)
        published.append(Path(name).name)
        metrics.append(layout.metrics_files(root)[0])
        params.append(layout.metrics_files(root)[2])
        wanted |= {layout.curves_file(exp, root): spec["metric"] for exp, spec in config["experiments"].items()}
    assert published[0] == "config.yaml" and "gpu.yaml" not in published
    assert {path: spec["y"] for path, spec in plots.items()} == wanted
    assert wanted["results/curves/vit_fashion.csv"] == "val_acc"
    assert all(spec == {"x": "step", "y": spec["y"], "template": "runs"} for spec in plots.values())
    assert dvc["metrics"] == metrics
    assert set(dvc["params"]) == set(params) | {f"config/{name}" for name in (
        "config.yaml", "recipes.yaml", "sources.yaml", "regime.yaml", "gpu.yaml")}


@pytest.fixture(scope="module")
def pulled(tmp_path_factory):
    """A fresh clone of the committed repository after a bare `dvc pull`."""
    clone = tmp_path_factory.mktemp("dvc") / "clone"
    run(["git", "clone", "-q", str(REPO), str(clone)], cwd=clone.parent)
    run([DVC, "pull"], cwd=clone)
    return clone


def _published_configs() -> list[tuple[str, str]]:
    """(config file, its results folder) of each shipped config whose results are in the reference store."""
    from unrolled import layout, registry
    from unrolled.check import reference_summaries

    out = []
    for name in ("config.yaml", "regime.yaml", "gpu.yaml"):
        root = registry.load_config([REPO / "config" / name], resolved=False, checkout=REPO).get("results",
                                                                                                layout.RESULTS)
        if reference_summaries(REPO / "results.dvc", REPO / "reference" / "dvc-store", root):
            out.append((f"config/{name}", root))
    return out


@pytest.mark.parametrize("config", [c for c, _ in _published_configs()])
def test_after_a_plain_dvc_pull_snakemake_plans_nothing(pulled, config):
    """No other command: no data set is prepared for finished runs, and the order in which DVC wrote the
    files makes no summary, figure or table look out of date (rules.Lookups.published)."""
    dry = run(["snakemake", "-n", "--configfile", config], cwd=pulled)
    assert "Nothing to be done" in dry.stdout + dry.stderr, dry.stdout[-3000:]
    assert not (pulled / "data" / "prepared").exists()


def test_dvc_pull_in_a_fresh_clone_restores_the_published_results(pulled):
    """The results' remote is the reference store in git (results.dvc), so plain `dvc pull` works."""
    assert json.loads(run([DVC, "data", "status", "--granular", "--json"], cwd=pulled).stdout) == {}
    committed = yaml.safe_load((pulled / "results.dvc").read_text())["outs"][0]
    assert committed["remote"] == "reference"
    files = [p for p in (pulled / "results").rglob("*") if p.is_file()]
    assert len(files) == committed["nfiles"]
    assert (pulled / "results" / "figures" / "p1_lm_violin.png").stat().st_size > 10_000


def test_dvc_metrics_show_is_a_row_per_comparison_without_warnings_and_the_rest_is_beside_it(pulled):
    """A row per paired comparison (the arm minus its reference: mean, interval, n, signs), a terminal wide,
    and no warning about a missing file; every metric with its interval and signs in metrics_all.json."""
    shown = subprocess.run([DVC, "metrics", "show"], cwd=pulled, capture_output=True, text=True, check=True)
    assert not shown.stderr.strip() and "failed to load" not in shown.stdout
    lines = shown.stdout.splitlines()
    assert lines[0].split() == ["Path", "better", "ci95_high", "ci95_low", "mean", "n", "worse"]
    assert max(map(len, lines)) <= 132  # a wide terminal's 132 columns, the regime sweep's longest paths included
    row = next(line for line in lines if line.startswith("results/metrics/lm_char/a_minus_i-vanilla.json"))
    summary = json.loads((pulled / "results" / "lm_char" / "summary.json").read_text())
    (c,) = [c for c in summary["metrics"]["best_val_loss"]["comparisons"] if c["arm"] == "a_minus_i"]
    better, high, low, mean, n, worse = row.split()[1:]
    assert (int(n), int(better), int(worse)) == (3, c["wins"], c["losses"])
    assert (float(mean), float(low)) == pytest.approx((c["mean"], c["ci95"][0]), abs=1e-5)  # shown to 5 digits
    assert float(mean) > 0  # the CPU analogue: A - I worse (README)
    everything = json.loads((pulled / "results" / "metrics_all.json").read_text())
    assert everything["lm_char"]["best_val_loss"]["differences"]["a_minus_i-vanilla"]["mean"] == round(c["mean"], 6)
    assert "final_val_loss" in everything["lm_char"]


def test_the_metrics_step_writes_what_was_published(pulled, tmp_path):
    """The code that writes the headline and the full set, run on the published summaries, gives the
    published files: a file per comparison of each experiment's primary metric."""
    from unrolled.summaries import flat_metrics

    for root in (pulled / results for _, results in _published_configs()):
        summaries = sorted(root.glob("*/summary.json"))
        flat_metrics(summaries, tmp_path / root.name / "metrics", tmp_path / root.name / "all.json",
                     tmp_path / root.name / "params.yaml")
        assert (tmp_path / root.name / "params.yaml").read_text() == (root / "params.yaml").read_text()
        made = {p.relative_to(tmp_path / root.name / "metrics"): p.read_text()
                for p in (tmp_path / root.name / "metrics").rglob("*.json")}
        published = {p.relative_to(root / "metrics"): p.read_text() for p in (root / "metrics").rglob("*.json")}
        assert made == published and len(made) >= 8
        assert (tmp_path / root.name / "all.json").read_text() == (root / "metrics_all.json").read_text()


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("CI installs Debian's chromium (.ci/run); it is missing")
        pytest.skip("needs Chromium (Debian: apt-get install chromium); CI installs it")
    return found


def test_dvc_params_show_what_every_arm_trained_with(pulled):
    """results/params.yaml: each arm's runs' complete config, as their metrics.json recorded it, which `dvc params
    diff` compares between commits (what trained differently, not how the config is written)."""
    shown = json.loads(run([DVC, "params", "diff", "--all", "--json"], cwd=pulled).stdout)["results/params.yaml"]
    run_config = json.loads((pulled / "results" / "runs" / "lm_char" / "a_minus_i" / "seed2" / "metrics.json")
                            .read_text())["config"]
    for part in ("model", "train"):
        for key, value in run_config[part].items():
            assert {k: shown[f"lm_char.a_minus_i.{part}.{key}"][k] for k in ("old", "new")} == \
                {"old": value, "new": value}, key
    assert shown["lm_char.a_minus_i.model.identity"]["new"] == "subtract"
    assert {key.split(".")[0] for key in shown} == {"lm_char", "vit_fashion", "icl_dense", "icl_sparse"}


def test_dvc_plots_show_works_in_a_fresh_clone_before_any_make(tmp_path):
    """No page to write first: plain `dvc plots show` uses DVC's own template (`make plots` passes the
    offline one)."""
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(REPO), str(clone)], cwd=tmp_path)
    run([DVC, "pull", "-q"], cwd=clone)
    shown = subprocess.run([DVC, "plots", "show"], cwd=clone, capture_output=True, text=True)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert "HTML template" not in shown.stdout + shown.stderr
    assert "results_curves_lm_char_csv" in (clone / "dvc_plots" / "index.html").read_text()


def test_a_regime_map_made_again_is_not_planned_again(pulled):
    """The map's reference summary (reference/p1_gpu/) is passed by the checkout's own path: made once here,
    the job's params are the same at the next plan (through Snakemake's source cache the path got a new name
    each run, and every `snakemake -n` planned the map again). This checkout's workflow, on the pulled results."""
    regime = ["--snakefile", str(REPO / "workflow" / "Snakefile"), "--configfile", "config/regime.yaml"]
    run(["snakemake", "results/regime/p1_regime_map.json", "--cores", "1", "--forcerun", "regime_map", *regime],
        cwd=pulled)
    dry = run(["snakemake", "-n", *regime], cwd=pulled)
    assert "Nothing to be done" in dry.stdout + dry.stderr, dry.stdout[-3000:]


def test_dvc_plots_show_has_every_runs_curve_coloured_by_arm(pulled):
    """`dvc plots show` reads every run's validation curve from the pulled files, a line per run coloured by arm,
    with the values of its history.csv; of dvc.yaml's files, only the GPU tier's (not published yet) are missing."""
    import csv

    plots = json.loads(run([DVC, "plots", "show", "--json"], cwd=pulled).stdout)
    assert all(e["type"] == "FileNotFoundError" and e["name"].startswith("results/gpu/")
               for e in plots.get("errors", []))
    (lm,) = plots["data"]["results/curves/lm_char.csv"]
    assert lm["content"]["encoding"]["color"]["field"] == "arm"
    values = lm["content"]["data"]["values"]
    assert len({(v["arm"], v["seed"]) for v in values}) == 18  # 6 arms x 3 seeds
    with open(pulled / "results" / "runs" / "lm_char" / "a_minus_i" / "seed1" / "history.csv", newline="") as handle:
        history = [row["val_loss"] for row in csv.DictReader(handle)]
    assert [v["val_loss"] for v in values if (v["arm"], v["seed"]) == ("a_minus_i", "1")] == history


def test_dvc_plots_show_draws_every_chart_offline_in_headless_chromium(pulled, tmp_path):
    """`make plots`' page (Vega inlined from vl-convert-python) opened with no network at all: every
    published experiment's chart is drawn, the regime config's too, a line per run, the ViTs' on accuracy."""
    chromium = _chromium()
    run([sys.executable, str(REPO / "tools" / "dvc_plots_page.py"), str(pulled / ".dvc" / "plots" / "offline.html")],
        cwd=pulled)
    run([DVC, "plots", "show", "--html-template", ".dvc/plots/offline.html"], cwd=pulled)
    page = (pulled / "dvc_plots" / "index.html").read_text()
    assert not re.search(r"<script[^>]+src=", page)  # nothing to load from anywhere
    offline = ["unshare", "--net"] if subprocess.run(["unshare", "--net", "true"]).returncode == 0 else []
    dom = subprocess.run([*offline, chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                          "--disable-background-networking", "--disable-component-update", "--disable-sync",
                          f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=20000", "--dump-dom",
                          (pulled / "dvc_plots" / "index.html").as_uri()],
                         capture_output=True, text=True, timeout=120).stdout
    charts = dict(re.findall(r'<div id="(results_\w+_csv)"(.*?)(?=<div id="results_|\Z)', dom, re.S))
    listed = [path for entry in yaml.safe_load((pulled / "dvc.yaml").read_text())["plots"] for path in entry]
    published = [p for p in listed if (pulled / p).exists()]  # the GPU tier's join once it has published
    assert set(charts) == {re.sub(r"\W", "_", p) for p in published}
    assert {"results_curves_lm_char_csv", "results_regime_curves_p1_char_overfit_csv"} <= set(charts)
    for name, chart in charts.items():
        width = re.search(r'<svg[^>]*class="marks"[^>]*width="(\d+)"', chart)
        assert width and int(width.group(1)) > 100, name
        lines = [d for d in re.findall(r'<path[^>]* d="(M[^"]+)"', chart) if d.count("L") >= 2]  # 3 evaluations or more
        assert len(lines) >= 6, (name, len(lines))  # a line per run: every arm and seed
    assert re.search(r">val_acc</text>", charts["results_curves_vit_fashion_csv"])
    assert re.search(r">val_loss</text>", charts["results_curves_lm_char_csv"])
    assert re.search(r">val_acc</text>", charts["results_regime_curves_p1_vit_overfit_csv"])
