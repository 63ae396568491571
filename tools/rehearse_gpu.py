"""`make rehearse-gpu`: the GPU slice path end to end on the CPU, on a stand-in for the GPU node, before a GPU
ever sees it.

1. A stand-in node Python: a fresh venv holding only the node image's packages (tools/gpu-node/packages.txt)
   that this machine has, linked from this venv, with this machine's CPU PyTorch (and what it needs)
   standing in for the node's. It has no snakemake and no platformdirs, as the node.
2. The wheels of `make gpu-wheels`, fetched for the node's Python 3.12 and for this one, each set's closure
   checked against the node's list; this Python's set is what the stand-in installs.
3. A copy of the checkout as the node gets it (tracked files, the wheels, tiny-shakespeare in
   data/external/), with the tier at smoke size (`smoke_copy` of config/gpu.yaml: every experiment, arm and
   stage, only the sizes shrunk). tools/gpu-slice.sh first refuses, before any job, a path SLICE_NEEDS lists
   that was not carried, a slice whose source was not carried, and a stage that does not fit its deadline
   (`refusals`); then runs its next slice with the stand-in Python, with no venv on the PATH, under a
   deadline, and the CUDA tests after it (all skipped here); then `benchmarks/gpu_checks.sh goals` at tiny
   sizes (SMOKE=1), what an allocation runs in the time its slice leaves.
4. A second copy as here: the returned archive unpacked, the data prepared afresh, a dry run that must train
   nothing finished, then `make figures-gpu`.

It exits 0 only if a summary with paired seeds came out.

    python tools/rehearse_gpu.py [WORKDIR] [--deadline SECONDS]
"""

from __future__ import annotations

import copy
import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from importlib import metadata
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "tools"), str(REPO / "src")]
import gpu_wheels  # noqa: E402

from unrolled import layout  # noqa: E402

SMOKE = "config/gpu_smoke.yaml"
TINY = {"n_layer": 1, "n_head": 2, "n_embd": 16, "block_size": 16}
TINYSHAKESPEARE = REPO / "tests" / "fixtures" / "tinyshakespeare" / "input.txt.gz"  # the real file, gzipped


def smoke_copy(tier: dict, slow: str | None = None, slow_steps: int = 400) -> dict:
    """config/gpu.yaml at smoke size: tiny models, a few steps, 2 seeds in groups of 2; the packaged MNIST
    digits for the Fashion-MNIST stand-in; small ICL prompts; 3.5-minute slices of 1-minute jobs (6-second
    evaluations). The experiment `slow` trains `slow_steps` steps, long enough to be cut off mid-run."""
    tier = copy.deepcopy(tier)
    for name, spec in tier["experiments"].items():
        spec["model"] = {**spec.get("model", {}), **TINY}
        if "patch_size" in spec["model"]:  # ViT: 28 x 28 digits, 7 x 7 patches, 17 tokens as the tier
            spec["model"] = {**spec["model"], "patch_size": 7}
        if spec.get("recipe") == "p1_vit":
            spec["train"] = {"batch_size": 256, "epochs": 1, "eval_epochs": 0.5, "compile": False}
        else:
            spec["train"] = {"batch_size": 4, "max_iters": slow_steps if name == slow else 6,
                             "eval_interval": 100 if name == slow else 3, "eval_iters": 2,
                             "log_interval": 5, "warmup_iters": 1, "compile": False}
        for arm, switches in spec.get("arms", {}).items():  # (an arm set's arms keep the tier's depth)
            if switches and "n_layer" in switches:  # keep the depth ratios of the matched sizes (1 : 3 : 6)
                switches["n_layer"] = max(1, switches["n_layer"] // 6)
        spec["seeds"] = [100, 101] if isinstance(spec["seeds"], list) else 2
        spec["ensemble"] = 2 if spec.get("ensemble", 1) > 1 else 1
        if spec["dataset"].startswith("fashion_mnist"):
            spec["dataset"] = "mnist5k"
    tier["datasets"] = {
        "icl_garg_dense": {"n_dims": 3, "n_points": 5, "eval_prompts": 16},
        "icl_garg_sparse": {"n_dims": 3, "n_points": 5, "sparsity": 1, "eval_prompts": 16},
        "shakespeare_cloze": {"questions": 6}}
    tier["slices"] = {**tier.get("slices", {}), "minutes": 3.5, "job_overhead_minutes": 1, "evaluation_minutes": 0.1}
    tier["train_threads"] = 1
    return tier


def write_smoke(tree: Path, slow: str | None = None, slow_steps: int = 400) -> None:
    tier = yaml.safe_load((REPO / "config" / "gpu.yaml").read_text())
    (tree / SMOKE).write_text(yaml.safe_dump(smoke_copy(tier, slow, slow_steps), sort_keys=False))


def place_tinyshakespeare(tree: Path) -> None:
    """tiny-shakespeare where a user without internet puts it (data/external/), hash-checked when fetched."""
    external = tree / "data" / "external" / "tinyshakespeare"
    external.mkdir(parents=True, exist_ok=True)
    (external / "input.txt").write_bytes(gzip.decompress(TINYSHAKESPEARE.read_bytes()))


def copy_checkout(tree: Path) -> Path:
    """The checkout's tracked files (modification times kept), as a clone or the device tool lays them, in a
    new folder."""
    shutil.rmtree(tree, ignore_errors=True)
    files = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout.split(b"\0")
    for name in filter(None, files):
        src, dst = REPO / name.decode(), tree / name.decode()
        if src.is_file():
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst, follow_symlinks=False)
    return tree


def _requires(name: str) -> set[str]:
    """A distribution and everything it requires here (torch: its CUDA libraries, triton, sympy ...)."""
    seen, todo = set(), [name]
    while todo:
        n = todo.pop()
        if n in seen:
            continue
        try:
            dist = metadata.distribution(n)
        except metadata.PackageNotFoundError:
            continue
        seen.add(gpu_wheels.normalize(dist.metadata["Name"]))
        todo += [gpu_wheels._name(r) for r in dist.requires or [] if gpu_wheels._wanted(r, _python_version())]
    return seen


def _python_version() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def standin_python(folder: Path) -> Path:
    """A venv holding only the node's packages that this venv has (linked), PyTorch's CPU build for the
    node's CUDA one. Returns its python."""
    return linked_venv(folder, gpu_wheels.node_packages() | _requires("torch"))


def linked_venv(folder: Path, names: set[str]) -> Path:
    """A new venv holding only the distributions `names` (normalized) of this venv, linked, not copied
    (pip and setuptools aside). Returns its python."""
    if folder.exists():
        shutil.rmtree(folder)
    subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)
    site = Path(_purelib(folder / "bin" / "python"))
    here = Path(_purelib(sys.executable))
    wanted = set(names) - {"pip", "setuptools"}
    for dist in metadata.distributions(path=[str(here)]):
        name = gpu_wheels.normalize(dist.metadata["Name"])
        if name not in wanted:
            continue
        tops = {Path(str(f)).parts[0] for f in dist.files or [] if not str(f).startswith("..")}
        for top in tops:
            if top.endswith(".pth") or top == "__pycache__" or not (here / top).exists():
                continue
            if not (site / top).exists():
                (site / top).symlink_to(here / top)
    return folder / "bin" / "python"


def _purelib(python) -> str:
    """A Python's site-packages folder."""
    return subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()


def run(cmd, cwd: Path, env: dict | None = None, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True)
    if check and proc.returncode != 0:
        sys.exit(f"rehearse-gpu: {' '.join(map(str, cmd))} failed ({proc.returncode}):\n{proc.stdout[-3000:]}"
                 f"\n{proc.stderr[-3000:]}")
    return proc


def node_env(standin: Path, tmp: Path, deadline: int) -> dict:
    """The node's environment: the stand-in Python first on a bare PATH, no venv, no PYTHONPATH."""
    tmp.mkdir(parents=True, exist_ok=True)
    return {"PATH": f"{standin.parent}:/usr/local/bin:/usr/bin:/bin", "HOME": str(tmp), "TMPDIR": str(tmp),
            "LANG": "C.UTF-8", "DEADLINE": str(deadline), "GPU_CONFIG": SMOKE, "PYTHON": "python3"}


def prepare_node(work: Path, wheels: Path, slow: str | None = None) -> Path:
    node = copy_checkout(work / "node")  # as a clone: no data/external/ (git-ignored): the slice places it
    shutil.copytree(wheels, node / ".whl")
    write_smoke(node, slow)
    return node


NODE_PYTHON = "3.12"


def wheels_for_here(work: Path) -> Path:
    """The wheel set of `make gpu-wheels` fetched for the node's Python (checked statically: the node runs it)
    and for this one (installed on the stand-in), each kept between rehearsals and closure-checked."""
    for python in dict.fromkeys((NODE_PYTHON, _python_version())):
        folder = work / f"wheels-{python}"
        if not (folder / "SHA256SUMS").exists():
            gpu_wheels.fetch(folder, python)
        gaps = gpu_wheels.check(folder, python)
        if gaps:
            sys.exit(f"rehearse-gpu: the wheels for Python {python} do not close over the node's packages: {gaps}")
    return work / f"wheels-{_python_version()}"


def published(here: Path) -> dict[str, list]:
    """{experiment: its comparisons with paired seeds} from the summaries under here/results/gpu/."""
    out = {}
    for path in sorted((here / "results" / "gpu").glob("*/summary.json")):
        summary = json.loads(path.read_text())
        pairs = [f"{c['arm']} - {c['reference']} (n = {c['n']})"
                 for c in summary["metrics"][summary["primary"]]["comparisons"] if c["n"] >= 1]
        if pairs:
            out[summary["experiment"]] = pairs
    return out


def slice_of(node: Path, experiment: str) -> str:
    """The number of the node's first slice that trains `experiment` (from the slices table)."""
    table = run([REPO / ".venv" / "bin" / "python", "-m", "unrolled", "-q", "slices", "--configfile", SMOKE], node)
    return next(line.split("|")[1].strip() for line in table.stdout.splitlines()
                if line.startswith("| ") and f"{experiment}/" in line)


def refusals(node: Path, standin: Path, work: Path) -> None:
    """What the node refuses before any job starts, each with its exit status and the path or stage named:
    a path SLICE_NEEDS lists that was not carried (before the install); a slice whose source was not carried
    (the packaged digits of the ViT stand-in: no data/raw/ travels); a stage that does not fit what is left
    of the deadline (the first job alone would)."""
    env = node_env(standin, work / "tmp", 300)
    vit = slice_of(node, "p1_vit_fashion")
    cases = [("SLICE_NEEDS", "next", 300, 2, "SLICE_NEEDS lists data/raw/mnist5k, which is not here"),
             ("source", vit, 300, 2, "builds its data from mnist5k, not here: carry data/raw/mnist5k"),
             ("stage", "next", 115, 3, "and the rest of its stage need about")]
    for case, which, deadline, status, said in cases:
        if case == "SLICE_NEEDS":
            (node / "SLICE_NEEDS").write_text("# slice 2\ndata/raw/mnist5k\n")
        out = work / f"out-{case}"
        shutil.rmtree(out, ignore_errors=True)
        proc = run(["bash", "tools/gpu-slice.sh", which, out], node, {**env, "DEADLINE": str(deadline)}, check=False)
        (node / "SLICE_NEEDS").unlink(missing_ok=True)
        log = (out / "slice.log").read_text()
        if proc.returncode != status or said not in log:
            sys.exit(f"rehearse-gpu: refusing ({case}) gave exit {proc.returncode}, not {status}, or its log does "
                     f"not say {said!r}:\n{log}")
        with tarfile.open(out / "slice-results.tar.gz") as archive:
            if any(name.endswith("metrics.json") for name in archive.getnames()):
                sys.exit(f"rehearse-gpu: refusing ({case}) still trained: {archive.getnames()}")
        print(f"refused ({case}, exit {status}): {next(line for line in log.splitlines() if said in line)}")


def rehearse(work: Path, deadline: int = 300) -> dict[str, list]:
    work.mkdir(parents=True, exist_ok=True)
    standin = standin_python(work / "node-python")
    for missing in ("snakemake", "platformdirs"):  # as on the node: the wheels must bring them
        if run([standin, "-c", f"import {missing}"], work, check=False).returncode == 0:
            sys.exit(f"rehearse-gpu: the stand-in has {missing}, which the node lacks")
    node = prepare_node(work, wheels_for_here(work))
    refusals(node, standin, work)
    out = work / "out"
    shutil.rmtree(out, ignore_errors=True)
    proc = run(["bash", "tools/gpu-slice.sh", "next", out], node, node_env(standin, work / "tmp", deadline),
               check=False)
    print((out / "slice.log").read_text() if (out / "slice.log").exists() else proc.stdout + proc.stderr)
    if proc.returncode != 0:
        sys.exit(f"rehearse-gpu: the slice failed ({proc.returncode}); its log: {out / 'slice.log'}")
    # OUT holds the archive and the log (the CUDA tests' output in it), and torch.compile's cache where it
    # was small enough to come back
    if {p.name for p in out.iterdir()} - {"compile-cache.tar.gz"} != {"slice-results.tar.gz", "slice.log"}:
        sys.exit(f"rehearse-gpu: the slice left other files in OUT than its archive, log and compile cache: "
                 f"{sorted(out.iterdir())}")
    if not re.search(r"tests/test_cuda.py: exit 0 \(\d+ skipped", (out / "slice.log").read_text()):
        sys.exit(f"rehearse-gpu: tests/test_cuda.py did not run after the slice (no CUDA here: it skips): "
                 f"{out / 'slice.log'}")
    # What an allocation runs in the time its slice leaves: the speed goals' check, at tiny sizes, on the node
    goals = run(["bash", "benchmarks/gpu_checks.sh", "goals", out], node,
                {**node_env(standin, work / "tmp", deadline), "SMOKE": "1"}, check=False)
    if goals.returncode != 0:
        sys.exit(f"rehearse-gpu: benchmarks/gpu_checks.sh goals failed on the stand-in ({goals.returncode}):\n"
                 f"{goals.stdout[-3000:]}")

    here = copy_checkout(work / "here")
    (here / ".venv").symlink_to(REPO / ".venv")
    with tarfile.open(out / "slice-results.tar.gz") as archive:
        archive.extractall(here, filter="data")
    place_tinyshakespeare(here)
    write_smoke(here)
    venv = REPO / ".venv" / "bin"
    env = {**os.environ, "PATH": f"{venv}:{os.environ['PATH']}"}
    # The returned training jobs' records (layout.job_record): a run's metrics.json, or a seed ensemble's record
    # that stands for its members'.
    metrics = {p.relative_to(here): json.loads(p.read_text())
               for p in (here / "results" / "gpu" / "runs").rglob("metrics.json")}
    members = {Path(layout.member_dir(p.parent.parent, s)) / layout.METRICS  # an ensemble's: not a run's folder
               for p, m in metrics.items() if layout.member_seed(p.parent.name) is None for s in m["seeds"]}
    returned = sorted(str(p) for p in metrics if p not in members)
    datasets = sorted({m["data"]["path"] for p, m in metrics.items() if layout.member_seed(p.parent.name) is not None})
    smk = ["--cores", "1", "--configfile", SMOKE]
    # The data prepared afresh, so newer than the returned runs: they must still count as finished.
    run([venv / "snakemake", *datasets, *smk], here, env)
    dry = run([venv / "snakemake", "-n", *returned, *smk], here, env)
    if "Nothing to be done" not in dry.stdout + dry.stderr:
        sys.exit(f"rehearse-gpu: the returned runs would be retrained here:\n{dry.stdout[-3000:]}")
    run(["make", "--no-print-directory", "figures-gpu", f"GPU_CONFIG={SMOKE}"], here, env)
    return published(here)


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("work", nargs="?", default=".rehearsal", type=Path)
    parser.add_argument("--deadline", type=int, default=300, help="the slice command's deadline in seconds")
    args = parser.parse_args()
    summaries = rehearse(args.work.resolve(), args.deadline)
    if not summaries:
        sys.exit("rehearse-gpu: no summary with paired seeds came out")
    for experiment, pairs in summaries.items():
        print(f"published {experiment}: {'; '.join(pairs)}")
