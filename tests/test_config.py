"""A wrong config stops Snakemake before any job runs, with an error that names the key."""

from __future__ import annotations

import json
import re
import sys

import pytest
import yaml
from conftest import REPO, SMOKE, run


def _dry_run(wf, *args):
    return run(["snakemake", "-n", "--cores", "1", *args], cwd=wf, check=False)


def _place_local_data(wf):
    """What a user of config/paper.yaml places by hand: ImageNet 16x16 and OpenWebText (here, stand-ins)."""
    for folder, name in (("imagenet16", "train_data_batch_1.npz"), ("openwebtext", "urlsf_subset00.xz")):
        (wf / "data" / "external" / folder).mkdir(parents=True, exist_ok=True)
        (wf / "data" / "external" / folder / name).write_bytes(b"placeholder")


def test_a_missing_local_data_set_stops_the_dry_run_naming_where_it_goes(workflow_copy):
    _fails_naming(_dry_run(workflow_copy, "--configfile", "config/paper.yaml"),
                  "data set 'imagenet16'", "data/external/imagenet16", "missing or empty")
    _place_local_data(workflow_copy)
    assert _dry_run(workflow_copy, "--configfile", "config/paper.yaml").returncode == 0


def _fails_naming(proc, *needles):
    assert proc.returncode != 0, proc.stdout
    text = proc.stdout + proc.stderr
    for needle in needles:
        assert needle in text, f"{needle!r} not in:\n{text[-2000:]}"
    assert "Job stats" not in text  # nothing was scheduled
    assert len(text.splitlines()) < 20, f"a long error ({len(text.splitlines())} lines):\n{text[:3000]}"


def test_default_config_plans_the_data_jobs(workflow_copy):
    """The default run prepares the data sets its runs and theory need; `snakemake data` every data target."""
    proc = _dry_run(workflow_copy)
    assert proc.returncode == 0, proc.stderr
    for job in ("fetch_source", "prepare_dataset"):
        assert job in proc.stdout
    for name in ("shakespeare_char", "mnist5k", "fashion_mnist", "shakespeare_cloze", "icl_dense"):
        assert f"data/prepared/{name}" in proc.stdout
    assert "data/prepared/shakespeare_gpt2" not in proc.stdout  # no experiment of the default trains on it
    data = _dry_run(workflow_copy, "data")
    for name in ("shakespeare_char", "shakespeare_gpt2", "mnist5k", "fashion_mnist"):
        assert f"data/prepared/{name}" in data.stdout


def test_unknown_top_level_key(workflow_copy):
    _fails_naming(_dry_run(workflow_copy, "--config", "no_such_key=1"), "no_such_key")


def test_wrong_type(workflow_copy):
    _fails_naming(_dry_run(workflow_copy, "--config", "data_targets=5"),
                  "config: data_targets: 5 is not a list of strings")


def test_a_wrong_type_says_what_was_expected_in_one_line(workflow_copy):
    """`seeds: three`: the key, the value, what the schema accepts and what the key means; no traceback."""
    (workflow_copy / "bad.yaml").write_text(yaml.safe_dump({"experiments": {"lm_char": {"seeds": "three"}}}))
    proc = _dry_run(workflow_copy, "--configfile", "config/config.yaml", "bad.yaml")
    assert proc.returncode != 0
    errors = [line for line in (proc.stdout + proc.stderr).splitlines() if not line.startswith("Using workflow")]
    assert errors == ["config: experiments.lm_char.seeds: 'three' is not an integer >= 1; nor a list of integers "
                      ">= 0 (a count (seeds 0..n-1) or a list of seeds)"]


def test_unknown_dataset_target(workflow_copy):
    _fails_naming(_dry_run(workflow_copy, "--config", "data_targets=[shakespear_char]"),
                  "config: data_targets names 'shakespear_char', not defined in datasets")


@pytest.mark.parametrize("entry, needle", [
    ({"sources": {"shakespeare": {"sha265": "0" * 64}}}, "config: sources.shakespeare.sha265: unknown key 'sha265'"),
    ({"experiments": {"lm_char": {"model": {"n_layr": 3}}}},
     "config: experiments.lm_char.model.n_layr: unknown key 'n_layr'; expected one of ['attention',"),
    ({"sources": {"shakespeare": {"sha256": "not-a-hash"}}}, "'not-a-hash' does not match"),
    ({"sources": {"extra": {"kind": "ftp", "url": "x"}}}, "'ftp' is not one of"),
    ({"datasets": {"mnist5k": {"val_fraction": 1.5}}},
     "datasets.mnist5k.val_fraction: 1.5 is not a number > 0 and < 1"),
    ({"datasets": {"mnist5k": {"sources": {"images": "nowhere"}}}},
     "datasets.mnist5k.sources.images names 'nowhere', not defined in sources"),
    ({"experiments": {"lm_char": {"zeroshot": ["mnist5k"]}}},
     "experiments.lm_char.zeroshot: 'mnist5k' is not a zero-shot"),
    ({"experiments": {"lm_char": {"zeroshot": ["lambda"]}}},
     "config: experiments.lm_char.zeroshot names 'lambda', not defined in datasets"),
    ({"figures": {"p2_icl": {"experiments": ["lm_char"]}}}, "figures.p2_icl draws ICL curves, but experiments.lm_char"),
    ({"datasets": {"icl_dense": {"noise_std": -1}}}, "datasets.icl_dense.noise_std: -1 is not a number >= 0"),
    ({"datasets": {"icl_sparse": {"n_points": None}}}, "datasets.icl_sparse.n_points: None is not an integer"),
    # JSON Schema counts 1000.0 as an integer; the trainer would refuse it in a job, so the dry run does
    ({"experiments": {"lm_char": {"train": {"max_iters": 1000.0}}}},
     "experiments.lm_char.train.max_iters: 1000.0 is not an integer"),
])
def test_bad_nested_entries(workflow_copy, entry, needle):
    (workflow_copy / "bad.yaml").write_text(yaml.safe_dump(entry))
    _fails_naming(_dry_run(workflow_copy, "--configfile", "config/config.yaml", "bad.yaml"), needle)


def test_paper_config_plans_every_job_of_both_papers(workflow_copy):
    """Paper scale: every data set, and exactly arms x seeds training jobs per experiment."""
    from collections import Counter

    _place_local_data(workflow_copy)
    proc = _dry_run(workflow_copy, "--configfile", "config/paper.yaml")
    assert proc.returncode == 0, proc.stderr
    for name in ("tinyshakespeare_char", "mnist", "cifar10", "imagenet16", "openwebtext"):
        assert f"data/prepared/{name}" in proc.stdout
    # A training job per arm and seed group: `seed{n}` trains one run, `ensemble-seed{a}-{b}` the group's runs.
    jobs = re.findall(r"rule train:\n(?:    .*\n)*?    wildcards: experiment=(\w+), arm=\w+, job=(?:seed(\d+)|"
                      r"ensemble-seed(\d+)-(\d+))\n", proc.stdout)
    planned, ensemble_jobs = Counter(), Counter(exp for exp, _, first, _ in jobs if first)
    for exp, _, first, last in jobs:
        planned[exp] += int(last) - int(first) + 1 if first else 1
    paper = yaml.safe_load((workflow_copy / "config" / "paper.yaml").read_text())["experiments"]
    arm_sets = yaml.safe_load((workflow_copy / "config" / "recipes.yaml").read_text())["arm_sets"]
    expected = {name: len(spec.get("arms") or arm_sets[spec["arm_set"]]["arms"]) * spec["seeds"]
                for name, spec in paper.items()}
    assert expected["p2_icl_dense"] == 6 * 3  # the ICL arm set's six arms
    assert planned == expected  # every run of every experiment, once
    assert expected["p1_shakespeare_char"] == 300  # 100 seeds x 2 arms, as the paper, and the XSA arm
    assert ensemble_jobs["p1_shakespeare_char"] == 3 * 5  # as ensembles of 20: 5 jobs per arm
    zeroshot = re.findall(r"rule zeroshot:\n(?:    .*\n)*?    wildcards: experiment=p2_lm_owt, arm=\w+, seed=\d+, "
                          r"benchmark=(\w+)", proc.stdout)
    benchmarks = ("lambada", "ptb", "wikitext", "cbt_cn", "cbt_ne")  # each by our protocol and the lab's
    assert Counter(zeroshot) == {b: 4 for b in (*benchmarks, *(f"{b}_lab" for b in benchmarks), "shakespeare_cloze")}
    for source in ("lambada", "ptb", "wikitext2", "cbt"):
        assert f"data/raw/{source}" in proc.stdout


def test_gpu_profile_gives_every_training_job_one_gpu(workflow_copy):

    proc = _dry_run(workflow_copy, "--profile", "workflow/profiles/gpu", "--resources", "gpu=2",
                    "--configfile", "config/smoke.yaml")
    assert proc.returncode == 0, proc.stderr
    jobs = re.findall(r"rule ([\w-]+):\n(?:    .*\n)*?    resources: ([^\n]*)", proc.stdout)
    is_training = lambda rule: rule == "train" or rule.startswith("train_ensemble_")  # noqa: E731
    train = [res for rule, res in jobs if is_training(rule)]
    assert len(train) == 24 + 2 and all("gpu=1" in res for res in train)  # 24 single runs, 2 ensemble jobs
    zeroshot = [res for rule, res in jobs if rule == "zeroshot"]
    assert len(zeroshot) == 12 and all("gpu=1" in res for res in zeroshot)
    assert all("gpu=1" not in res for rule, res in jobs if not is_training(rule) and rule != "zeroshot")


def test_gpu_profile_keeps_each_experiments_gpu_count(workflow_copy):
    """The OpenWebText experiments' 8 GPUs reach Snakemake and the job (8 torchrun ranks), beside 1-GPU jobs."""

    _place_local_data(workflow_copy)
    proc = _dry_run(workflow_copy, "--profile", "workflow/profiles/gpu", "--resources", "gpu=8",
                    "--configfile", "config/paper.yaml")
    assert proc.returncode == 0, proc.stderr
    jobs = re.findall(r"rule (train[\w-]*):\n(?:    .*\n)*?    wildcards: experiment=(\w+)[^\n]*\n"
                      r"    resources: ([^\n]*)\nShell command: ([^\n]*)", proc.stdout)
    registry = yaml.safe_load((workflow_copy / "config" / "paper.yaml").read_text())
    paper = {name: {"resources": {**registry["train_resources"], **spec.get("resources", {})}}
             for name, spec in registry["experiments"].items()}  # an experiment's resources over the config's
    assert {exp for _, exp, _, _ in jobs} == set(paper)
    for rule, exp, resources, shell in jobs:
        gpus = paper[exp]["resources"]["gpu"]
        assert f"gpu={gpus}," in resources, (exp, resources)
        if rule == "train":
            assert f"--processes {gpus} " in shell, (exp, shell)
        assert "--compile-cache .cache/torch-compile" in shell  # one shared cache the profile names
    assert {exp for _, exp, _, _ in jobs if paper[exp]["resources"]["gpu"] == 8} == {"p1_gpt2_owt", "p2_lm_owt"}


def _snakemake_alone(folder) -> list[str]:
    """A Python holding only Snakemake and what it requires (linked from the venv), as the workflow catalog's
    lint job installs it: no numpy, no torch, no editable install of this package."""
    import sys

    sys.path.insert(0, str(REPO / "tools"))
    from rehearse_gpu import _requires, linked_venv

    return [str(linked_venv(folder, _requires("snakemake"))), "-m", "snakemake"]


def _bare_env(tmp_path) -> dict:
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(tmp_path), "LANG": "C.UTF-8"}


def test_the_workflow_lints_and_plans_with_snakemake_alone(tmp_path):
    """As the catalog's lint job or snakedeploy run it: plain `snakemake --lint` and a dry run in a copy of
    the repository, in a Python holding only Snakemake (the package is read from src/)."""
    import shutil
    import subprocess

    from conftest import copy_workflow

    wf = copy_workflow(tmp_path / "wf")
    shutil.copytree(REPO / "src", wf / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    snakemake = _snakemake_alone(tmp_path / "bare")
    numpy = subprocess.run([snakemake[0], "-c", "import numpy"], capture_output=True, text=True,
                           env=_bare_env(tmp_path))
    assert "No module named 'numpy'" in numpy.stderr  # Snakemake alone, truly
    lint = subprocess.run([*snakemake, "--lint"], cwd=wf, capture_output=True, text=True, env=_bare_env(tmp_path))
    assert lint.returncode == 0, lint.stdout + lint.stderr
    dry = subprocess.run([*snakemake, "-n"], cwd=wf, capture_output=True, text=True, env=_bare_env(tmp_path))
    assert dry.returncode == 0, dry.stdout + dry.stderr
    # plain snakemake finds workflow/Snakefile and the default profile beside it
    assert "Using workflow specific profile workflow/profiles/default" in dry.stdout + dry.stderr
    assert "fetch_source" in dry.stdout


MODULE_SNAKEFILE = """configfile: "config/config.yaml"


module unrolled:
    snakefile:
        "{snakefile}"
    config:
        config


use rule * from unrolled as unrolled_*
"""


def test_the_workflow_deploys_as_a_module_with_the_users_config(tmp_path):
    """snakedeploy's layout, from a local path: the user's folder holds workflow/Snakefile (a `module` with
    `config: config`) and config/config.yaml only. The catalogues come from the workflow itself; the dry
    run plans the whole default run under prefixed rule names, with no warning, and a job runs there."""
    import shutil

    deploy = tmp_path / "deploy"
    (deploy / "workflow").mkdir(parents=True)
    (deploy / "workflow" / "Snakefile").write_text(MODULE_SNAKEFILE.format(snakefile=REPO / "workflow" / "Snakefile"))
    (deploy / "config").mkdir()
    shutil.copy(REPO / "config" / "config.yaml", deploy / "config" / "config.yaml")
    dry = run(["snakemake", "-n", "--cores", "1"], cwd=deploy)
    out = dry.stdout + dry.stderr
    assert "unrolled_train " in out and "unrolled_fetch_source " in out and "unrolled_metrics " in out
    assert not re.search(r"(?i)warning|localrules", out), out[-2000:]
    default = run(["snakemake", "-n"], cwd=_empty_copy(tmp_path))
    assert re.search(r"total\s+(\d+)", out).group(1) == re.search(r"total\s+(\d+)", default.stdout).group(1)
    # A job, for real, in the user's folder: the package is found beside the module's Snakefile.
    shutil.copy(REPO / "config" / "smoke.yaml", deploy / "config" / "config.yaml")
    run(["snakemake", "--cores", "1", f"{SMOKE}/theory/snr.json"], cwd=deploy)
    assert json.loads((deploy / SMOKE / "theory" / "snr.json").read_text())["layers"]


def test_the_catalog_reads_the_report_flag_where_it_looks_and_claims_no_untested_stack():
    catalog = yaml.safe_load((REPO / ".snakemake-workflow-catalog.yml").read_text())
    assert catalog["usage"]["report"] is True
    assert "report" not in catalog["usage"]["software-stack-deployment"]
    # --sdm conda is not tested anywhere (no conda on these machines): neither the catalog nor the docs offer it
    assert not any(catalog["usage"]["software-stack-deployment"].values())
    pages = [REPO / "README.md", *(REPO / "docs").glob("*.md"), REPO / "config" / "README.md"]
    assert not any(re.search(r"--sdm conda`? (?!is not offered|is untested)", p.read_text()) for p in pages)


def test_every_training_job_takes_the_profiles_threads_and_resources_for_train(workflow_copy):
    """A profile's set-threads / set-resources for `train` reach every training job, single runs and seed
    ensembles alike: both are jobs of the one train rule."""
    proc = _dry_run(workflow_copy, "--cores", "8", "--configfile", "config/smoke.yaml", "--set-threads", "train=3",
                    "--set-resources", "train:mem_mb=1234")
    assert proc.returncode == 0, proc.stderr
    jobs = re.findall(r"^rule (train\w*)[^\n]*:\n(?:    .*\n)*?    wildcards: [^\n]*job=([\w-]+)\n    threads: (\d+)"
                      r"\n    resources: ([^\n]*)", proc.stdout, re.M)
    assert {rule for rule, _, _, _ in jobs} == {"train"}
    assert {job.startswith("ensemble-") for _, job, _, _ in jobs} == {True, False}  # both kinds planned
    for _, job, threads, resources in jobs:
        assert threads == "3" and "mem_mb=1234" in resources, (job, threads, resources)


def test_make_help_is_the_default_goal_and_lists_every_documented_target(tmp_path):
    import subprocess

    makefile = (REPO / "Makefile").read_text()
    documented = re.findall(r"(?:^## .*\n)+^([a-z][a-z-]*):", makefile, re.M)
    assert {"reproduce", "test", "pull-reference", "plots", "help"} <= set(documented)
    venv = tmp_path / "venv"
    proc = subprocess.run(["make", "--no-print-directory", f"VENV={venv}"], cwd=REPO, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    listed = [line for line in proc.stdout.splitlines() if line and not line.startswith(" ")]
    assert listed == documented
    assert "    Run the default reproduction" in proc.stdout
    assert not venv.exists()  # the default goal builds nothing


def test_smokes_results_folder_is_the_one_the_tests_read():
    assert yaml.safe_load((REPO / "config" / "smoke.yaml").read_text())["results"] == SMOKE


def test_no_two_shipped_configs_plan_the_same_result(tmp_path):
    """Every shipped config's dry run, from an empty copy of the workflow: the files each plans under results/
    (its runs, summaries, figures, table, metrics) are its own; only data/ and logs/ are shared by design."""
    from conftest import copy_workflow

    wf = copy_workflow(tmp_path / "wf")
    planned = {}
    for name in ("config.yaml", "regime.yaml", "smoke.yaml", "gpu.yaml", "paper.yaml"):
        proc = run(["snakemake", "-n", "--configfile", f"config/{name}", "--config", "missing_data=leave_out"], cwd=wf)
        outputs = {p.strip() for line in re.findall(r"^\s+output: (.*)$", proc.stdout, re.M) for p in line.split(",")}
        planned[name] = {p for p in outputs if p.startswith("results")}
        assert planned[name], name
    for a in planned:
        for b in planned:
            assert a == b or not planned[a] & planned[b], (a, b, sorted(planned[a] & planned[b])[:5])
    roots = {name: {p.split("/")[1] if p.count("/") > 1 else "" for p in paths} for name, paths in planned.items()}
    assert "smoke" in roots["smoke.yaml"] and "paper" in roots["paper.yaml"] and "regime" in roots["regime.yaml"]


GITHUB_MODULE = """configfile: "config/config.yaml"


module unrolled:
    snakefile:
        github("unrolled-project/unrolled", path="workflow/Snakefile", tag="{tag}")
    config:
        config


use rule * from unrolled as unrolled_*
"""


def test_the_workflow_deploys_from_its_git_host_as_snakedeploy_lays_it_out(tmp_path):
    """A module from `github(..., tag=...)`, offline: Snakemake's git source cache holds a bare clone of this
    repository with the tag (as a first online run leaves it), the user's folder holds workflow/Snakefile and
    config/ as snakedeploy writes them, and the package is the installed one (this suite's venv). The dry run
    plans the default run under prefixed names, and a job runs there."""
    import shutil

    cache = tmp_path / "xdg-cache"
    bare = cache / "snakemake" / "snakemake" / "source-cache" / "snakemake-git-cache" / "github.com" / \
        "unrolled-project" / "unrolled"
    run(["git", "clone", "-q", "--bare", str(REPO), str(bare)], cwd=tmp_path)
    run(["git", "tag", "v-test", "HEAD"], cwd=bare)
    deploy = tmp_path / "deploy"
    (deploy / "workflow").mkdir(parents=True)
    (deploy / "workflow" / "Snakefile").write_text(GITHUB_MODULE.format(tag="v-test"))
    shutil.copytree(REPO / "config", deploy / "config")  # snakedeploy copies the workflow's config/
    env = {"XDG_CACHE_HOME": str(cache), "GIT_TERMINAL_PROMPT": "0", "HTTPS_PROXY": "http://127.0.0.1:9"}
    dry = run(["snakemake", "-n", "--cores", "1"], cwd=deploy, env_extra=env)
    out = dry.stdout + dry.stderr
    assert "unrolled_train " in out and "unrolled_metrics " in out and "GithubFile" not in out
    assert re.search(r"total\s+(\d+)", out).group(1) == re.search(
        r"total\s+(\d+)", run(["snakemake", "-n"], cwd=_empty_copy(tmp_path)).stdout).group(1)
    shutil.copy(REPO / "config" / "smoke.yaml", deploy / "config" / "config.yaml")
    run(["snakemake", "--cores", "1", f"{SMOKE}/theory/snr.json"], cwd=deploy, env_extra=env)
    assert json.loads((deploy / SMOKE / "theory" / "snr.json").read_text())["layers"]


def _empty_copy(tmp_path):
    from conftest import copy_workflow

    return copy_workflow(tmp_path / "empty")


def test_the_package_built_from_the_repository_carries_the_catalogues_and_declares_its_requirements(tmp_path):
    """What `pip install` from the repository makes (a module deployed from a git host runs it): the
    catalogues and schema as files (not links), and requirements.txt's pins as the package's requirements."""
    import zipfile

    run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(tmp_path),
         str(REPO)], cwd=tmp_path)
    (wheel,) = tmp_path.glob("unrolled-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        for name in ("sources.yaml", "recipes.yaml", "config.schema.yaml"):
            packed = zf.read(f"unrolled/catalogue/{name}")
            real = (REPO / ("workflow/schemas" if name.endswith("schema.yaml") else "config") / name).read_bytes()
            assert packed == real, name
        metadata = zf.read(next(n for n in zf.namelist() if n.endswith("METADATA"))).decode()
    pins = [line.strip() for line in (REPO / "requirements.txt").read_text().splitlines()
            if line.strip() and not line.startswith("#")]
    assert all(f"Requires-Dist: {pin}" in metadata for pin in pins), metadata
