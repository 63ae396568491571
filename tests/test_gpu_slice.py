"""The GPU slice path: the slicer (stages, measured times, packing), what a partial summary publishes, the
tuned arm's choice, pooling, the wheel closure against the node's packages, and tools/gpu-slice.sh itself:
its deadline, its archive after a SIGKILL, an empty selection; then the whole rehearsal on a stand-in node
(make rehearse-gpu)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import tarfile
import time
import zipfile

import gpu_wheels
import pytest
import rehearse_gpu
from conftest import REPO, VENV_BIN, run

from unrolled import config as run_configs
from unrolled import here, layout, registry, slices, summaries
from unrolled.errors import UnrolledError

SETTINGS = {"minutes": 10, "mfu": 0.5, "peak_tflops": 1.0, "job_overhead_minutes": 1, "evaluation_minutes": 0.5,
            "evaluations_at_once": 1}


def _config(tmp_path, order=(), **experiment) -> dict:
    spec = {"dataset": "d", "metric": "val_loss", "baseline": "a", "seeds": 4, "ensemble": 2,
            "arms": {"a": {}, "b": {"identity": "subtract"}, "c": {"identity": "learned"}}, **experiment}
    return {"results": str(tmp_path / "results"), "experiments": {"e": spec}, "datasets": {"d": {"builder": "x"}},
            "slices": {**SETTINGS, "order": list(order)}}


@pytest.fixture
def flops(monkeypatch):
    """Each job's FLOPs, made up: 60e12 per seed for arm a, 120e12 for b and c (at 0.5 of 1 TFLOP/s: 2 and 4
    minutes per seed)."""
    per_seed = {"a": 60e12, "b": 120e12, "c": 120e12}
    monkeypatch.setattr(slices.plan, "job_cost",
                        lambda config, name, arm, size: {"flops_per_job": per_seed[arm] * size})
    return per_seed


def test_stages_pair_the_arms_of_a_comparison_in_one_slice(tmp_path, flops):
    config = _config(tmp_path, order=[{"experiment": "e", "arms": ["a", "b"]}])
    assert slices.stages(config) == [("e", ["a", "b"]), ("e", ["c"])]
    packed = slices.slices(config)
    # a: 1 + 4 minutes, b: 1 + 8 (2 seeds): a stage of 14 minutes is longer than a slice, so split
    names = [[(j["arm"], j["seeds"]) for j in s] for s in packed]
    assert names[0] == [("a", [0, 1])] and names[1] == [("b", [0, 1])]
    config["slices"]["minutes"] = 14  # an exact fit shares a slice
    packed = slices.slices(config)
    assert [[(j["arm"], j["seeds"]) for j in s] for s in packed] == [
        [("a", [0, 1]), ("b", [0, 1])], [("a", [2, 3]), ("b", [2, 3])], [("c", [0, 1])], [("c", [2, 3])]]
    assert slices.unpaired(config, packed) == []
    config["slices"]["minutes"] = 13.99
    assert len(slices.slices(config)[0]) == 1
    # Two stages that fill a slice exactly share it: a's two seed groups, 5 minutes each, in 10.
    config["slices"] |= {"minutes": 10, "order": [{"experiment": "e", "arms": ["a"]}]}
    assert [[(j["arm"], j["seeds"]) for j in s] for s in slices.slices(config)][0] == [("a", [0, 1]), ("a", [2, 3])]


def test_job_minutes_come_from_measured_jobs_where_there_are_some(tmp_path, flops):
    config = _config(tmp_path, order=[{"experiment": "e", "arms": ["a", "b"]}], zeroshot=["z"])
    runs, results = layout.runs_root(config["results"]), config["results"]
    assumed = slices.job_minutes(config, "e", "b", 2, slices.measured(config))
    assert assumed == {"minutes": 1 + 8 + 2 * 0.5, "measured": []}
    # A finished job of arm a, seeds 0-1: its loop took 510 s, 30 of them its first step (the compile), so
    # 480 s for 120e12 FLOPs (measured MFU 0.25 of 1 TFLOP/s); the whole job 540 s, so 30 s of process start
    # and data, 60 s of start-up in all; each zero-shot job 30 s.
    for seed in (0, 1):
        path = layout.run_file("e", "a", seed, layout.METRICS, runs)
        os.makedirs(os.path.dirname(path))
        json.dump({"wall_seconds": 510.0, "first_step_seconds": 30.0, "ensemble": {"size": 2}}, open(path, "w"))
        bench = layout.benchmark_file("zeroshot", f"e/a/seed{seed}/z", results)
        os.makedirs(os.path.dirname(bench))
        open(bench, "w").write("s\th:m:s\n30.0\t0:00:30\n")
    bench = layout.benchmark_file("train", f"e/a/{layout.job_name([0, 1])}", results)
    os.makedirs(os.path.dirname(bench))
    open(bench, "w").write("s\th:m:s\n540.0\t0:09:00\n")
    got = slices.measured(config)
    assert got == {"e": {"mfu": pytest.approx(0.25), "startup_minutes": pytest.approx(1.0),
                         "evaluation_minutes": pytest.approx(0.5)}}
    # arm b, 2 seeds: 240e12 FLOPs at the measured 0.25 = 16 minutes, 1 of start-up, 2 zero-shot jobs
    assert slices.job_minutes(config, "e", "b", 2, got) == {
        "minutes": pytest.approx(1 + 16 + 1), "measured": ["evaluation_minutes", "mfu", "startup_minutes"]}


def test_a_slice_publishes_the_comparisons_that_reach_six_paired_seeds_with_it(tmp_path, flops):
    config = _config(tmp_path, order=[{"experiment": "e", "arms": ["a", "b"]}], seeds=7, ensemble=5,
                     pairs=[["c", "b"]])
    # a job a slice: a and b (seeds 0-4: 5 paired, no verdict yet), a and b (5-6), c (0-4), c (5-6)
    packed = [[job] for stage in slices.jobs(config) for job in stage]
    assert slices.verdicts(config, packed) == [[], [], [], ["e: b - a (7)"], [], ["e: c - a (7), c - b (7)"]]


def test_cpu_evaluations_run_side_by_side_and_zero_shot_ones_one_at_a_time():
    assert slices._evaluation_waves(["icl"], 6, 4) == 2
    assert slices._evaluation_waves(["icl"], 6, 1) == 6
    assert slices._evaluation_waves(["zeroshot", "zeroshot"], 3, 4) == 6
    assert slices._evaluation_waves([], 6, 4) == 0


def test_a_slice_needs_the_sources_of_its_data_carried_by_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = {"experiments": {"e": {"dataset": "d", "zeroshot": ["z"]}, "f": {"dataset": "t"}},
              "datasets": {"d": {"sources": {"images": "pkg"}}, "z": {"sources": {"text": "web"}},
                           "t": {"sources": {"text": "tinyshakespeare"}}},
              "sources": {"pkg": {"kind": "pypi"}, "web": {"kind": "url", "url": "https://x/web.txt"},
                          "tinyshakespeare": {"kind": "url", "url": "https://x/input.txt"}}}
    job = {"experiment": "e", "arm": "a", "seeds": [0]}
    assert slices.needs(config, [job]) == ([], ["pkg", "web"])
    os.makedirs("data/prepared/d")  # a data set prepared here needs no source here
    open("data/prepared/d/" + layout.META, "w").write("{}")
    assert slices.needs(config, [job]) == ([], ["web"])
    shutil.rmtree("data/prepared")
    os.makedirs("data/raw/pkg")
    open("data/raw/pkg/" + layout.PROVENANCE, "w").write("{}")
    os.makedirs("data/external/web")
    open("data/external/web/web.txt", "w").write("x")
    assert slices.needs(config, [job]) == (["data/external/web", "data/raw/pkg"], [])
    # tiny-shakespeare: the repository's copy is placed on the node, nothing to carry
    assert slices.needs(config, [{**job, "experiment": "f"}]) == ([], ["tinyshakespeare"])
    os.makedirs("tests/fixtures/tinyshakespeare")
    open(layout.repository_copy("tinyshakespeare"), "w").write("x")
    assert slices.needs(config, [{**job, "experiment": "f"}]) == ([], [])


def test_a_slice_returns_the_folders_its_runs_timings_and_choices_are_written_to():
    returned = layout.slice_returns("results/gpu")
    assert returned == ["results/gpu/runs", "results/gpu/benchmarks", "results/gpu/tuned"]
    made = [layout.run_file("e", "a", 0, layout.METRICS, layout.runs_root("results/gpu")),
            layout.benchmark_file("train", "e/a/seed0", "results/gpu"), layout.tuned_file("e", "a", "results/gpu")]
    assert all(any(path.startswith(folder + "/") for folder in returned) for path in made)


def test_a_partial_summary_shows_every_arm_that_pairs_with_the_baseline():
    spec = {"baseline": "a", "arms": {"a": {}, "b": {}, "c": {}}}
    assert here.published_arms(spec, {"a": [0, 1, 2, 3], "b": [0, 1, 2, 3], "c": [0, 1]}) == {
        "a": [0, 1, 2, 3], "b": [0, 1, 2, 3], "c": [0, 1]}
    assert here.published_arms(spec, {"a": [0, 1], "b": [], "c": [2]}) == {}
    assert here.published_arms(spec, {"a": [], "b": [0], "c": [0]}) == {}


def test_the_gpu_tier_slices_each_publish_paired_seeds_within_the_slice_minutes():
    cwd = os.getcwd()
    os.chdir(REPO)
    try:
        config = registry.load_config(["config/gpu.yaml"])
    finally:
        os.chdir(cwd)
    packed = slices.slices(config)
    assert slices.unpaired(config, packed) == []
    assert all(sum(j["minutes"] for j in s) <= config["slices"]["minutes"] for s in packed)
    # The whole tier in at most 12 allocations, each publishing a verdict (a comparison reaching 6 paired
    # seeds), but the sweep's, which only chooses each arm's dropout
    assert len(packed) <= 12
    for chosen, published in zip(packed, slices.verdicts(config, packed)):
        assert published or {j["experiment"] for j in chosen} == {"p1_char_dropout_sweep"}, chosen
    # Paper 2's GPT and both attention-only models in one slice, on the same seeds
    (p2,) = [s for s in packed if {j["arm"] for j in s if j["experiment"] == "p2_lm_shakespeare"} >= {
        "gpt", "aot_mhsa", "aot_mssa"}]
    assert len({tuple(j["seeds"]) for j in p2 if j["experiment"] == "p2_lm_shakespeare"}) == 1
    table = slices.markdown(config)
    assert "The tier needs 12 allocations" in table
    assert "| no verdict: a sweep, which chooses the tuned arms' values | to do |" in table
    # In order of scientific value: the char LM's claim first, the ViT's second, learned a third.
    assert [(j["experiment"], j["arm"]) for j in packed[0]] == [("p1_tinyshakespeare", "vanilla"),
                                                               ("p1_tinyshakespeare", "a_minus_i")]
    first = [next(i for i, s in enumerate(packed) if any(j["arm"] == arm and j["experiment"].startswith(e) for j in s))
             for e, arm in (("p1_vit", "a_minus_i"), ("p1_tinyshakespeare", "learned_a"),
                            ("p1_char_dropout_sweep", "a_minus_i_0p2"), ("p2_lm", "gpt"), ("p2_icl", "vanilla"))]
    assert first == sorted(first)


def test_pooling_refuses_seeds_of_one_arm_trained_with_different_configs():
    runs = {"vanilla": {0: {"config": {"model": {"dropout": 0.2}, "train": {"lr": 1e-3}}},
                        1: {"config": {"model": {"dropout": 0.3}, "train": {"lr": 1e-3}}}},
            "a_minus_i": {0: {"config": {"model": {"dropout": 0.2}}}, 1: {"config": {"model": {"dropout": 0.2}}}}}
    with pytest.raises(UnrolledError, match=r"x/vanilla: seeds 0 and 1 .*model.dropout: 0.2 vs 0.3"):
        summaries.check_pooled_configs("x", runs)
    runs["vanilla"][1]["config"]["model"]["dropout"] = 0.2
    summaries.check_pooled_configs("x", runs)


def test_the_tuned_choice_is_the_best_of_its_own_arms_and_flags_the_grid_edge(tmp_path):
    summary = {"experiment": "sweep", "primary": "best_val_loss", "higher_is_better": False, "seeds": [100, 101],
               "metrics": {"best_val_loss": {"arms": {"v1": {"mean": 1.5}, "v2": {"mean": 1.4}, "v3": {"mean": 1.45},
                                                       "a1": {"mean": 1.2}}}}}
    choice = run_configs.choose(summary, "dropout", {"v1": 0.1, "v2": 0.2, "v3": 0.3})
    assert (choice["arm"], choice["value"], choice["edge"], choice["grid"]) == ("v2", 0.2, False, [0.1, 0.2, 0.3])
    summary["metrics"]["best_val_loss"]["arms"]["v3"]["mean"] = 1.3
    choice = run_configs.choose(summary, "dropout", {"v1": 0.1, "v2": 0.2, "v3": 0.3})
    assert (choice["value"], choice["edge"]) == (0.3, True)
    with pytest.raises(ValueError, match=r"no results for \['v4'\]"):
        run_configs.choose(summary, "dropout", {"v1": 0.1, "v4": 0.4})
    run, meta = {"data": "d", "model": {"dropout": 0.2}, "train": {}}, {"tokenizer": "char", "vocab_size": 65}
    finished = run_configs.finish(run, meta, choice)
    assert finished["model"]["dropout"] == 0.3 and finished["tuned"] == choice
    assert run_configs.finish(run, meta)["model"]["dropout"] == 0.2 and "tuned" not in run_configs.finish(run, meta)


def _wheel(folder, name, requires=(), version="1.0", tag="py3-none-any", requires_python=None):
    path = folder / f"{name}-{version}-{tag}.whl"
    with zipfile.ZipFile(path, "w") as zf:
        body = "".join(f"Requires-Dist: {r}\n" for r in requires)
        body += f"Requires-Python: {requires_python}\n" if requires_python else ""
        zf.writestr(f"{name}-{version}.dist-info/METADATA",
                    f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n{body}")
    return path


def test_the_wheel_closure_check_names_what_neither_the_wheels_nor_the_node_have(tmp_path):
    _wheel(tmp_path, "snakemake", ["platformdirs", "numpy>=1", "tomli; python_version < '3.11'",
                                   "pytest; extra == 'tests'"])
    platformdirs = _wheel(tmp_path, "platformdirs")
    node = gpu_wheels.node_packages()
    assert "numpy" in node and "platformdirs" not in node and "python" not in node
    assert gpu_wheels.check(tmp_path, "3.12", node) == []
    assert gpu_wheels.check(tmp_path, "3.10", node) == ["snakemake-1.0-py3-none-any.whl needs tomli"]
    platformdirs.unlink()
    assert gpu_wheels.check(tmp_path, "3.12", node) == ["snakemake-1.0-py3-none-any.whl needs platformdirs"]


def test_the_wheel_check_names_a_wheel_the_nodes_python_would_refuse(tmp_path):
    """Tags and Requires-Python checked as pip on the node's CPython 3.12 (x86_64 Linux) would, without it."""
    node = gpu_wheels.node_packages()
    _wheel(tmp_path, "snakemake")
    _wheel(tmp_path, "rpds_py", tag="cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64")
    _wheel(tmp_path, "greenlet", tag="cp312-cp312-manylinux_2_24_x86_64.manylinux_2_28_x86_64")
    assert gpu_wheels.check(tmp_path, "3.12", node) == []
    _wheel(tmp_path, "pydantic_core", tag="cp311-cp311-manylinux_2_17_x86_64")
    _wheel(tmp_path, "yte", requires_python=">=3.13")
    _wheel(tmp_path, "sqlalchemy", tag="cp312-cp312-macosx_11_0_arm64")
    assert gpu_wheels.check(tmp_path, "3.12", node) == [
        "pydantic_core-1.0-cp311-cp311-manylinux_2_17_x86_64.whl: no tag for CPython 3.12 on x86_64 Linux",
        "sqlalchemy-1.0-cp312-cp312-macosx_11_0_arm64.whl: no tag for CPython 3.12 on x86_64 Linux",
        "yte-1.0-py3-none-any.whl: Requires-Python >=3.13 excludes 3.12"]
    # The pinned set for the node: every file's tags install on 3.12 (the rehearsal checks their metadata)
    tags = gpu_wheels.node_tags("3.12")
    from packaging.utils import parse_wheel_filename

    for row in gpu_wheels.read_lock("3.12"):
        if row["file"].endswith(".whl"):
            assert set(parse_wheel_filename(row["file"])[3]) & tags, row["file"]


def test_the_node_wheels_are_pinned_to_the_tested_snakemake():
    """Each lock names every file with its sha256, and pins the Snakemake that requirements.txt pins."""
    pinned = re.search(r"^snakemake==(\S+)$", (REPO / "requirements.txt").read_text(), re.M).group(1)
    for python in ("3.11", "3.12"):
        rows = gpu_wheels.read_lock(python)
        assert {r["name"]: r["version"] for r in rows}["snakemake"] == pinned
        assert all(re.fullmatch(r"[0-9a-f]{64}", r["sha256"]) for r in rows)
        assert not {r["name"] for r in rows} & gpu_wheels.node_packages()  # the node has those already


@pytest.mark.slow
def test_a_wheel_whose_hash_changed_stops_the_fetch(tmp_path, monkeypatch):
    """pip downloads in hash-checking mode: a file that differs from its pin is refused, naming the hash."""
    (row,) = [r for r in gpu_wheels.read_lock("3.12") if r["name"] == "throttler"]  # a small pure-Python wheel
    node = tmp_path / "gpu-node"
    node.mkdir()
    shutil.copy(gpu_wheels.NODE_PACKAGES, node / "packages.txt")
    monkeypatch.setattr(gpu_wheels, "NODE_PACKAGES", node / "packages.txt")
    (node / "wheels-3.12.lock").write_text(f"{row['file']} {row['sha256']}\n")
    assert gpu_wheels.fetch(tmp_path / "good", "3.12") == ["throttler"]
    assert gpu_wheels.sha256(tmp_path / "good" / row["file"]) == row["sha256"]
    (node / "wheels-3.12.lock").write_text(f"{row['file']} {'0' * 64}\n")
    with pytest.raises(SystemExit, match="(?i)hash"):
        gpu_wheels.fetch(tmp_path / "bad", "3.12")
    assert not list((tmp_path / "bad").glob("*.whl"))


def test_an_empty_or_unknown_slice_selection_is_an_error_and_trains_nothing(tmp_path):
    proc = run([VENV_BIN / "python", "-m", "unrolled", "slices", "--configfile", "config/gpu.yaml", "--jobs", "99"],
               cwd=REPO, check=False)
    assert proc.returncode == 2 and "no slice '99'" in proc.stderr
    proc = subprocess.run(["make", "--no-print-directory", "reproduce-gpu", "SLICE=99", f"SLICE_OUT={tmp_path}"],
                          cwd=REPO, capture_output=True, text=True, env={**os.environ, "DEADLINE": "60"})
    assert proc.returncode == 2 and "no slice '99'" in proc.stdout
    assert "Building DAG" not in (tmp_path / "slice.log").read_text()


# -- the slice command on a node copy, with this venv's Python (snakemake installed: no wheels) ------------


@pytest.fixture
def node(tmp_path):
    tree = rehearse_gpu.copy_checkout(tmp_path / "node")  # no data/external/: the slice places tiny-shakespeare
    rehearse_gpu.write_smoke(tree, slow="p1_tinyshakespeare", slow_steps=3000)
    return tree


def _slice(node, out, deadline: int, **popen):
    env = {**os.environ, "DEADLINE": str(deadline), "GPU_CONFIG": rehearse_gpu.SMOKE,
           "PYTHON": str(VENV_BIN / "python")}
    return subprocess.Popen(["bash", "tools/gpu-slice.sh", "next", str(out)], cwd=node, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **popen)


def _archived(out) -> list[str]:
    try:
        with tarfile.open(out / "slice-results.tar.gz") as archive:
            return archive.getnames()
    except (OSError, tarfile.TarError):
        return []


@pytest.mark.slow
def test_a_killed_slice_still_returns_every_seed_that_finished(node, tmp_path):
    out = tmp_path / "out"
    proc = _slice(node, out, 500, start_new_session=True)
    first = [f"results/gpu/runs/p1_tinyshakespeare/vanilla/seed{s}/metrics.json" for s in (0, 1)]
    deadline = time.time() + 300
    while not set(first) <= set(_archived(out)) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert proc.poll() is None, "the slice ended before it could be killed"  # the second job is training
    os.killpg(proc.pid, signal.SIGKILL)  # the node's own limit: no trap runs
    proc.wait()
    names = _archived(out)
    assert set(first) <= set(names), (out / "slice.log").read_text()[-3000:]
    # ... packed when the first job finished: the kill came while the second one trained
    said = [line for line in (out / "slice.log").read_text().splitlines() if line.startswith("[gpu-slice")]
    assert "p1_tinyshakespeare/a_minus_i/ensemble-seed0-1: estimated" in said[-1], said[-3:]
    assert not any(n.endswith("ckpt.pt") for n in names)
    # OUT holds what comes back and nothing else (its start stamp lives in TMPDIR); tiny-shakespeare was placed
    # from the repository's copy, as on a node with no internet
    assert sorted(p.name for p in out.iterdir()) == ["slice-results.tar.gz", "slice.log"]
    assert "placed data/external/tinyshakespeare/input.txt from tests/fixtures/" in (out / "slice.log").read_text()
    assert "results/gpu/benchmarks/train/p1_tinyshakespeare/vanilla/ensemble-seed0-1.tsv" in names


@pytest.mark.slow
def test_make_rehearse_gpu_publishes_paired_seeds_from_a_stand_in_node(tmp_path):
    """`make rehearse-gpu` as CI runs it: the stand-in has neither snakemake nor platformdirs, the wheels close
    over the node's list, the slice runs under its deadline, the archive unpacked with freshly prepared data
    trains nothing again, and `make figures-gpu` summarizes paired seeds; the speed goals' check runs there too."""
    proc = subprocess.run(["make", "--no-print-directory", "rehearse-gpu", f"REHEARSAL={tmp_path / 'rehearsal'}"],
                          cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "published p1_tinyshakespeare: a_minus_i - vanilla (n = 2)" in proc.stdout
    # Before any job: a path SLICE_NEEDS lists and a source not carried (exit 2, each named), a stage that
    # does not fit although its first job would (exit 3); the refusals' archives hold no run (rehearse_gpu)
    # (SLICE_NEEDS within the script's first seconds: before the install, which takes several)
    assert re.search(r"\(SLICE_NEEDS, exit 2\): \[gpu-slice [0-2] s\] SLICE_NEEDS lists data/raw/mnist5k", proc.stdout)
    for refused in ("(source, exit 2)", "carry data/raw/mnist5k", "(stage, exit 3)",
                    "and the rest of its stage need about 120 s"):
        assert refused in proc.stdout
    assert "placed data/external/tinyshakespeare/input.txt from tests/fixtures/" in proc.stdout + (
        tmp_path / "rehearsal" / "out-SLICE_NEEDS" / "slice.log").read_text()
    # the CUDA tests ran after the slice, into its log under OUT (skipped without CUDA)
    log = (tmp_path / "rehearsal" / "out" / "slice.log").read_text()
    assert re.search(r"tests/test_cuda.py: exit 0 \(\d+ skipped", log)
    assert rehearse_gpu.published(tmp_path / "rehearsal" / "here") == {
        "p1_tinyshakespeare": ["a_minus_i - vanilla (n = 2)"]}
    here = tmp_path / "rehearsal" / "here"
    table = (here / "results" / "gpu" / "tables" / "paper_vs_reproduced.md").read_text()
    assert "experiment `p1_tinyshakespeare`" in table
    # the speed goals' check ran on the stand-in after the slice, within the 4 minutes its step limits add to
    results = tmp_path / "rehearsal" / "out" / "benchmarks" / "results"
    script = (REPO / "benchmarks" / "gpu_checks.sh").read_text().split("  goals)")[1].split(";;")[0]
    assert sum(int(n) for n in re.findall(r"LIMIT=(\d+)", script)) <= 240
    gpt2 = {r["variant"]: r for r in json.loads((results / "goals_gpt2.json").read_text())["rows"]}
    assert set(gpt2) == {"baseline", "cudnn_sdpa", "micro32"} and gpt2["baseline"]["per_token_ratio"] == 1.0
    ensembles = {r["variant"] for r in json.loads((results / "goals_ensemble_gpu.json").read_text())["rows"]}
    assert ensembles == {"baseline", "a_minus_i", "xsa", "flat_buffers"}
    assert (results / "goals_gpt2.log").stat().st_size and (results / "goals_ensemble_gpu.log").stat().st_size


def test_the_node_wheels_are_rebuilt_whole(tmp_path, monkeypatch):
    """A wheel of an earlier lock left in .whl/ would stand beside the new one and stop the node's pip: the
    fetch replaces the folder whole, and its SHA256SUMS names only the new set."""
    out = tmp_path / ".whl"
    out.mkdir()
    _wheel(out, "snakemake")  # snakemake-1.0: an older lock's
    node = tmp_path / "gpu-node"
    node.mkdir()
    shutil.copy(gpu_wheels.NODE_PACKAGES, node / "packages.txt")
    monkeypatch.setattr(gpu_wheels, "NODE_PACKAGES", node / "packages.txt")
    (node / "wheels-3.12.lock").write_text("snakemake-2.0-py3-none-any.whl " + "0" * 64 + "\n")
    monkeypatch.setattr(gpu_wheels, "_download", lambda folder, python, pins, binary: binary and _wheel(
        folder, "snakemake", version="2.0"))
    assert gpu_wheels.fetch(out, "3.12") == ["snakemake"]
    assert sorted(p.name for p in out.iterdir()) == ["SHA256SUMS", "snakemake-2.0-py3-none-any.whl"]
    assert "snakemake-1.0" not in (out / "SHA256SUMS").read_text()


def test_a_copy_without_git_records_the_commit_make_gpu_wheels_wrote(tmp_path):
    """A GPU node's tree has no .git: runs record the commit from COMMIT (make gpu-wheels writes it), not
    'unknown'."""
    copy = rehearse_gpu.copy_checkout(tmp_path / "node")
    code = "from unrolled.provenance import git_sha; print(git_sha())"
    env = {**os.environ, "PYTHONPATH": str(copy / "src")}
    ask = lambda: subprocess.run([str(VENV_BIN / "python"), "-c", code], cwd=tmp_path, env=env,  # noqa: E731
                                 capture_output=True, text=True, check=True).stdout.strip()
    assert ask() == "unknown"
    here = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    (copy / "COMMIT").write_text(here + "\n")
    assert ask() == here


def test_data_external_is_never_sent_with_the_tree():
    """What a user places by hand (CIFAR-10, ImageNet 16x16) is git-ignored, so a copy of the working tree
    (the device tool's) leaves it behind unless named."""
    ignored = subprocess.run(["git", "check-ignore", "-q", "data/external/imagenet16/train_data_batch_1.npz"],
                             cwd=REPO)
    assert ignored.returncode == 0
