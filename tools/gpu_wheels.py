"""Wheels of Snakemake and what it needs that a GPU node's Python lacks, for Python 3.12 on x86-64, into a
folder the node's `pip install --no-index` takes (tools/gpu-slice.sh). The node has no internet.

    python tools/gpu_wheels.py .whl [--python 3.12] [--all]

The closure is read from this venv's installed metadata (requirements.txt pins Snakemake), so the versions
are the tested ones. Packages the node's image already has (ON_IMAGE, from the device tool's package list
of 2026-11-17) are left out, and so is PuLP (16 MB of solver binaries): the gpu profile schedules greedily,
and Snakemake imports PuLP only for its ILP scheduler. A package with a wheel for the node is downloaded;
one published only as an sdist (pure Python) is built into a wheel here. `--all` keeps every package (to
try the closure on a bare Python here, with `--python` this one's version).
"""

from __future__ import annotations

import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

# The GPU image's packages that Snakemake needs (the device tool's KINDS.md, "Python packages already there").
ON_IMAGE = {"attrs", "certifi", "charset-normalizer", "idna", "jinja2", "markupsafe", "numpy", "packaging",
            "platformdirs", "psutil", "pyyaml", "requests", "tabulate", "typing-extensions", "urllib3", "wrapt",
            "pip", "setuptools", "pyparsing", "tqdm"}
NOT_NEEDED = {"pulp"}
PLATFORMS = ["manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64"]
ROOTS = ["snakemake"]


def _name(requirement: str) -> str:
    return re.split(r"[\s;<>=!~\[(]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def closure(roots=ROOTS, python: str = "3.12") -> dict[str, str]:
    """{package: installed version} of the roots and everything they require here (extras left out)."""
    seen, todo = {}, list(roots)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        dist = metadata.distribution(name)
        seen[name] = dist.version
        for req in dist.requires or []:
            if "extra ==" in req:
                continue
            marker = req.split(";", 1)[1] if ";" in req else None
            if marker:
                from packaging.markers import Marker

                if not Marker(marker).evaluate({"python_version": python, "extra": ""}):
                    continue
            todo.append(_name(req))
    return seen


def fetch(out: Path, python: str = "3.12", everything: bool = False) -> list[str]:
    out.mkdir(parents=True, exist_ok=True)
    wanted = {n: v for n, v in closure(python=python).items()
              if everything or n not in ON_IMAGE | NOT_NEEDED}
    pip = [sys.executable, "-m", "pip"]
    for name, version in sorted(wanted.items()):
        binary = [*pip, "download", "--quiet", "--no-deps", "--only-binary=:all:", "--python-version", python,
                  "--implementation", "cp", *(a for p in PLATFORMS for a in ("--platform", p)), "-d", str(out),
                  f"{name}=={version}"]
        if subprocess.run(binary, capture_output=True).returncode != 0:  # an sdist only: build it here
            subprocess.run([*pip, "wheel", "--quiet", "--no-deps", "-w", str(out), f"{name}=={version}"], check=True)
    return sorted(wanted)


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", default=".whl", type=Path)
    parser.add_argument("--python", default="3.12", help="the node's Python version")
    parser.add_argument("--all", action="store_true", help="keep the packages the node's image has, and PuLP")
    args = parser.parse_args()
    target = args.out
    names = fetch(target, args.python, args.all)
    size = sum(f.stat().st_size for f in target.glob("*.whl"))
    print(f"{len(names)} packages, {size / 2**20:.1f} MiB of wheels in {target}: {', '.join(names)}")
