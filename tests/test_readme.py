"""The README is short, links what exists, and every number it states is what the workflow's files and
commands say: jobs, runs, data sets, slices, GPU-hours, minutes and the headline table."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys

import pytest
from conftest import REPO, VENV_BIN, run

README = (REPO / "README.md").read_text()


def _number(pattern: str) -> str:
    found = re.search(pattern, README, re.S)
    assert found, f"the README no longer says {pattern!r}"
    return found.group(1)


def _cli(*args) -> str:
    return subprocess.run([sys.executable, "-m", "unrolled", *args], cwd=REPO, capture_output=True, text=True,
                          check=True, timeout=300).stdout


def test_the_readme_is_short_and_its_links_exist():
    assert len(README.splitlines()) <= 250
    for target in re.findall(r"\]\(([^)#]+)\)", README):
        assert (REPO / target).exists(), target
    for page in (REPO / "docs").glob("*.md"):  # the docs' own links, relative to docs/
        for target in re.findall(r"\]\(([^)#:]+)\)", page.read_text()):
            assert (page.parent / target).exists(), (page.name, target)


def test_the_job_run_and_data_set_counts_are_the_dry_runs(tmp_path):
    """What `make reproduce` plans from a fresh clone: the dry run of a copy of the workflow with no results."""
    from conftest import copy_workflow

    dry = run(["snakemake", "-n"], cwd=copy_workflow(tmp_path / "wf")).stdout
    assert _number(r"plans (\d+) jobs") == re.search(r"^total\s+(\d+)", dry, re.M).group(1)
    assert int(_number(r"trains (\d+) runs")) == len(re.findall(r"^rule train\b", dry, re.M))
    prepared = len(re.findall(r"^rule prepare_dataset:", dry, re.M))
    assert _number(r"prepares (\w+) data sets") == {6: "six", 7: "seven"}.get(prepared)


def test_the_gpu_tier_and_paper_scale_numbers_are_what_slices_and_plan_print():
    slices = _cli("slices", "--configfile", "config/gpu.yaml")
    last = [line for line in slices.splitlines() if re.match(r"\| \d+ \|", line)][-1]
    assert _number(r"in (\d+)\s+slices") == re.match(r"\| (\d+) \|", last).group(1)
    minutes, hours = re.search(r"Total: (\d+) minutes \(([\d.]+) GPU-hours\)", slices).groups()
    assert (_number(r"about (\d+) minutes"), _number(r"minutes \(([\d.]+) GPU-hours\) in all")) == (minutes, hours)
    plan = _cli("plan", "--configfile", "config/paper.yaml")
    assert _number(r"planned at ([\d,]+) GPU-hours") == re.search(r"Total: ([\d,]+) GPU-hours", plan).group(1)


def test_the_paper_dry_run_works_as_written_and_names_what_it_leaves_out():
    command = _number(r"`(snakemake -n --configfile config/paper.yaml[^`]*)`")
    proc = subprocess.run(command.split(), cwd=REPO, capture_output=True, text=True, timeout=300,
                          env={"PATH": f"{VENV_BIN}:/usr/bin:/bin", "HOME": str(REPO)})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert re.search(r"^left out: p2_lm_owt: data set openwebtext is not here", proc.stderr, re.M)
    assert re.search(r"^total\s+\d+", proc.stdout, re.M)


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """The published results, as `dvc pull` restores them in a fresh clone."""
    clone = tmp_path_factory.mktemp("readme") / "clone"
    run(["git", "clone", "-q", str(REPO), str(clone)], cwd=clone.parent)
    run([VENV_BIN / "dvc", "pull"], cwd=clone)
    return clone / "results"


def _headline_rows() -> list[list[str]]:
    """The headline table's rows as cells, the claim carried down from the row that names it."""
    headline = README.split("## Headline results")[1].split("\n## ")[0]
    rows, claim = [], ""
    for line in headline.splitlines():
        if line.startswith("| ") and not line.startswith(("| claim", "|---")):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            claim = cells[0] or claim
            rows.append([claim, *cells[1:]])
    return rows


def test_the_headline_table_is_the_published_tables_and_the_gpu_summarys(published):
    """Each row (claim, where it ran, paper, reproduced, better / worse, verdict) is a row of the table of the
    config it names, the default's or the regime config's, or the GPU reference's summary; under-fitting,
    over-fitting and the GPU appear in that order for paper 1's char LM."""
    from unrolled.table import verdict

    tables = {"default": (published / "tables" / "paper_vs_reproduced.md").read_text().replace("**", ""),
              "regime": (published / "regime" / "tables" / "paper_vs_reproduced.md").read_text().replace("**", "")}
    rows = _headline_rows()
    assert len(rows) >= 10 and all(len(r) == 6 for r in rows), rows
    summary = json.loads((REPO / "reference" / "p1_gpu" / "p1_shakespeare_char_offline" / "summary.json").read_text())
    (gpu,) = summary["metrics"]["best_val_loss"]["comparisons"]
    for claim, where, paper, reproduced, signs, said in rows:
        if where.startswith("H100"):
            assert reproduced == f"{gpu['mean']:.4f} [{gpu['ci95'][0]:.4f}, {gpu['ci95'][1]:.4f}]"
            assert signs == f"{gpu['wins']} / {gpu['losses']}" and f"{gpu['n']} seeds" in where
            assert said in verdict(float(paper), gpu["ci95"], gpu["n"]).replace("**", "")
            continue
        table = tables["default" if where.startswith("CPU default") else "regime"]
        if reproduced == "not in its regime":
            found = re.search(rf"\| {re.escape(paper)} \| not in its regime \(.*?\) \| – \| – \| no verdict \|", table)
        else:
            found = re.search(rf"\| {re.escape(paper)} \| {re.escape(reproduced)}(?:; bootstrap [^|]+)? \| [^|]+ \| "
                              rf"{re.escape(signs)} \| [^|]*{re.escape(said)}[^|]*\|", table)
        assert found, (claim, where)
        seeds = re.search(r"(\d+) seeds", where)
        assert not seeds or signs == "–" or sum(map(int, signs.split(" / "))) <= int(seeds.group(1)), (claim, where)
    char = [where for claim, where, *_ in rows if claim.startswith("char LM: A − I")]
    assert [w.split(":")[0] for w in char[:2]] == ["CPU default", "CPU"] and char[-1].startswith("H100"), char


def test_the_regime_maps_numbers_are_its_json(published):
    """The map's sizes, differences, sign flip and vanilla's rises as the README states them are the map's
    JSON (the order included: largest set first) and the H100 reference's."""
    m = json.loads((published / "regime" / "p1_regime_map.json").read_text())
    sizes = _number(r"steps on ([\d, and]+) training characters")
    assert re.findall(r"[\d,]+\d", sizes) == [f"{p['train_items']:,}" for p in m["points"]]
    means = re.findall(r"[-+][\d.]+", _number(r"A − I − vanilla is ([-+\d., and]+), worse"))
    assert means == [f"{p['mean']:+.3f}" for p in m["points"]]
    before, after = (next(p for p in m["points"] if p["experiment"] == e) for e in m["sign_flips"][0])
    assert m["sign_flips"] == [[before["experiment"], after["experiment"]]]
    flip = f"{before['train_items']:,} and {after['train_items']:,}"
    assert _number(r"sign flips\s+between ([\d,]+ and [\d,]*\d)") == flip
    rises = [p["regime"]["median_drop"][m["baseline"]] for p in (before, after, m["reference"])]
    assert _number(r"jumps from ([\d.]+ to [\d.]*\d)") == f"{rises[0]:.3f} to {rises[1]:.3f}"
    assert _number(r"vanilla's rise ([\d.]+)\)") == f"{rises[2]:.3f}"
    assert _number(r"A − I leads on (\d+ of \d+) seeds") == f"{after['better']} of {after['n']}"
    assert (after["mean"] < 0 < after["ci95"][1]) and "the interval includes zero" in README


def _job_minutes(folder) -> int:
    return round(sum(float(next(csv.DictReader(open(f), delimiter="\t"))["s"]) for f in folder.rglob("*.tsv")) / 60)


def test_the_published_runs_minutes_are_their_timing_files(published):
    assert int(_number(r"published run's\s+jobs took (\d+) minutes")) == _job_minutes(published / "benchmarks")
    assert int(_number(r"(\d+)\s+job-minutes")) == _job_minutes(published / "regime" / "benchmarks")
    runs = list((published / "regime" / "runs").glob("*/*/seed*/metrics.json"))
    assert int(_number(r"`make regime`\*\* runs `config/regime.yaml`[^:]*: (\d+) runs")) == len(runs)


def test_make_reproduces_measured_time_is_its_file_and_within_the_budget():
    """The fresh-clone wall-clock time the README states is benchmarks/reproduce_time.sh's record: the jobs
    the README's dry run counts, on 2 cores, within the 45 minutes config/config.yaml promises."""
    record = json.loads((REPO / "benchmarks" / "results" / "reproduce_cpu.json").read_text())
    assert _number(r"fresh clone on 2 cores it took ([\d.]+) minutes") == f"{record['wall_minutes']}"
    assert record["cores"] == 2 and record["jobs"] == int(_number(r"plans (\d+) jobs"))
    assert record["wall_minutes"] == round(record["wall_seconds"] / 60, 1) <= 45
    assert "45 minutes on 2 CPU cores" in (REPO / "config" / "config.yaml").read_text()
    disk = re.search(r"and ([\d,]+) MiB for `.venv`,\s+(\d+) MiB of downloads, (\d+) MiB of prepared data and (\d+) "
                     r"MiB of results", README)
    assert disk and [int(n.replace(",", "")) for n in disk.groups()] == [
        record["disk_mib"][k] for k in (".venv", "data/raw", "data/prepared", "results")]


def test_the_docs_figures_are_the_published_ones(published):
    """Every figure docs/ shows is a byte copy of one the workflow published (the default run's, the regime
    config's) or of reference/p1_gpu/'s: none is drawn by hand or left from an older run."""
    drawn = {f.read_bytes() for root in (published, REPO / "reference") for f in root.rglob("figures/**/*.png")}
    shown = sorted((REPO / "docs").glob("*.png"))
    assert any(f.name.startswith("regime_") for f in shown)
    assert [f.name for f in shown if f.read_bytes() not in drawn] == []


def test_the_speed_goals_measurements_are_their_files():
    """Each measured number of the speed-goals table is in the benchmark file named in its row."""
    results = REPO / "benchmarks" / "results"
    rows = lambda name: {r.get("variant", r.get("E")): r for r in json.loads((results / name).read_text())["rows"]}  # noqa: E731
    section = README.split("## Speed goals")[1].split("\n## ")[0]
    per_hour = rows("ensemble_gpu.json")[32]["seeds_per_hour"]
    gpt2_h100, gpt2_h200 = rows("step_time_gpt2.json"), rows("step_time_gpt2_candidates.json")
    ensemble = rows("step_time_ensemble_gpu.json")

    def ratio(row):
        low, high = row["ratio_ci95"].split("-")
        return f"{row['ratio']:.3f}× [{low}, {high}]"

    expected = [f"{per_hour:.1f} (E = 32", f"{100 * gpt2_h100['baseline']['mfu_h100']:.1f}% (H100)",
                f"{100 * gpt2_h200['baseline']['mfu_h100']:.1f}% (H200)", ratio(ensemble["a_minus_i"]) + " (E = 16",
                ratio(gpt2_h100["a_minus_i"]) + " (GPT-2", ratio(ensemble["xsa"]) + " (E = 16"]
    for text in expected:
        assert text in section, text
    for name in re.findall(r"`(\w+\.json)`", section):
        assert (results / name).exists(), name


def test_the_benchmark_docs_fusion_table_and_flat_buffer_ratio_are_their_files():
    """docs/benchmarks.md's CPU fusion table and the flat buffers' CPU ratio, against the committed JSON."""
    docs = (REPO / "docs" / "benchmarks.md").read_text()
    fusion = json.loads((REPO / "benchmarks" / "results" / "fusion_cpu.json").read_text())["rows"]
    names = {"baseline": "baseline", "a_minus_i": "A − I", "xsa": "XSA (fused)", "xsa_composite": "XSA (composite)"}
    for row in fusion:
        cells = [len(row["forward"]["kernels"]), len(row["backward"]["kernels"]), row["saved"],
                 f"{row['saved_mb']:.2f}"]
        assert f"| {names[row['variant']]} | " + " | ".join(map(str, cells)) + " |" in docs, row["variant"]
    ensemble = json.loads((REPO / "benchmarks" / "results" / "fusion_cpu_ensemble.json").read_text())["rows"]
    counts = {(len(r["forward"]["kernels"]), len(r["backward"]["kernels"]))
              for r in ensemble if r["variant"] != "xsa_composite"}
    assert counts == {(6, 9)} and "finds 6 forward and 9 backward kernels for the baseline, A − I" in docs
    assert any("clamp_min" in k for r in ensemble if r["variant"] == "xsa" for k in r["backward"]["kernels"])
    flat = {r["variant"]: r for r in json.loads((REPO / "benchmarks" / "results" / "step_time_flat_cpu.json")
                                                .read_text())["rows"]}["flat_buffers"]
    low, high = flat["ratio_ci95"].split("-")
    assert f"{flat['ratio']:.3f}× [{low}, {high}]" in docs


PATH_ROOTS = ("src/", "tests/", "tools/", "config/", "workflow/", "benchmarks/", "reference/", "docs/", "profiles/",
              ".ci/", ".dvc/")
TOP_FILES = ("Makefile", "Snakefile", "dvc.yaml", "results.dvc", "requirements.txt", "pyproject.toml",
             "environment.yml", "README.md", "LICENSE")


def _named_paths(text: str) -> set[str]:
    """Every repository path a page names in backticks: under a tracked top-level folder, or a top-level file
    (templates with {…}, * or <…> and the runs' own outputs are not files of the repository)."""
    names = set()
    for quoted in re.findall(r"`([^`\n]+)`", text):
        for token in quoted.split():
            token = token.strip("(),;:'\"").split(":")[0].split("::")[0]
            if any(c in token for c in "{}*<>$=") or token.endswith("/…"):
                continue
            if token.startswith(PATH_ROOTS) or token in TOP_FILES:
                names.add(token.rstrip("/"))
    return names


def test_the_readme_and_docs_name_only_files_that_exist():
    """A deleted or renamed file mentioned in the README, docs/ or config/README.md is an error here (the
    top-level Snakefile and profiles/ link were once)."""
    pages = [REPO / "README.md", REPO / "config" / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    elsewhere = {".dvc/config.local": "the user's own, kept out of git",
                 "config/train_shakespeare_char.py": "nanoGPT's",
                 ".dvc/plots/offline.html": "written by make plots"}
    missing = {f"{page.relative_to(REPO)}: {name}" for page in pages for name in _named_paths(page.read_text())
               if not (REPO / name).exists() and name not in elsewhere}
    assert not missing, sorted(missing)
    assert "Snakefile" in _named_paths("the old `Snakefile` and `profiles/default`")  # the check sees them


def test_the_deployment_lines_name_the_packages_release_tag():
    """The README's and docs/clusters.md's deployment commands name one tag: the package's version."""
    import tomllib

    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    for page in (REPO / "README.md", REPO / "docs" / "clusters.md"):
        tags = set(re.findall(r"--tag (v[\w.]+)|@(v\d[\w.]*)|tag=\"(v[\w.]+)\"", page.read_text()))
        named = {t for group in tags for t in group if t}
        assert named == {f"v{version}"}, (page.name, named)
