"""Wheels of Snakemake and what it needs that a GPU node's Python lacks, into a folder the node's
`pip install --no-index` takes (tools/gpu-slice.sh). The node has no internet.

    python tools/gpu_wheels.py .whl [--python 3.12] [--all]
    python tools/gpu_wheels.py --check .whl [--python 3.12]

The closure is read from this venv's installed metadata (requirements.txt pins Snakemake), so the versions
are the tested ones. Packages the node's image has (tools/gpu-node/packages.txt, its package list) are left
out, and so is PuLP (16 MB of solver binaries): the gpu profile schedules greedily, and Snakemake imports
PuLP only for its ILP scheduler. A package with a wheel for the node is downloaded; one published only as an
sdist (pure Python) is built into a wheel here. Each wheel's sha256 goes to SHA256SUMS beside them, which
the node checks before it installs. `--check` reads every carried wheel's own requirements (markers
evaluated for `--python`) and fails, naming them, where one is neither carried nor on the node's list.
`--python` with this Python's version fetches the same set for it (make rehearse-gpu: a stand-in node here).
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
import zipfile
from email.parser import Parser
from importlib import metadata
from pathlib import Path

NODE_PACKAGES = Path(__file__).resolve().parent / "gpu-node" / "packages.txt"
NOT_NEEDED = {"pulp"}
PLATFORMS = ["manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64"]
ROOTS = ["snakemake"]


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _name(requirement: str) -> str:
    return normalize(re.split(r"[\s;<>=!~\[(]", requirement.strip(), maxsplit=1)[0])


def node_packages(path: Path = NODE_PACKAGES) -> set[str]:
    """The node image's package names (its list: a name a line, `==version` where known, # comments)."""
    names = {_name(line) for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")}
    return names - {"python"}


def _wanted(requirement: str, python: str) -> bool:
    """A requirement that applies on `python` (extras left out)."""
    if ";" not in requirement:
        return True
    from packaging.markers import Marker

    return Marker(requirement.split(";", 1)[1]).evaluate({"python_version": python, "extra": ""})


def closure(roots=ROOTS, python: str = "3.12") -> dict[str, str]:
    """{package: installed version} of the roots and everything they require here (extras left out)."""
    seen, todo = {}, list(roots)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        dist = metadata.distribution(name)
        seen[name] = dist.version
        todo += [_name(req) for req in dist.requires or [] if _wanted(req, python)]
    return seen


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fetch(out: Path, python: str = "3.12", everything: bool = False) -> list[str]:
    out.mkdir(parents=True, exist_ok=True)
    on_node = node_packages()
    wanted = {n: v for n, v in closure(python=python).items() if everything or n not in on_node | NOT_NEEDED}
    pip = [sys.executable, "-m", "pip"]
    for name, version in sorted(wanted.items()):
        binary = [*pip, "download", "--quiet", "--no-deps", "--only-binary=:all:", "--python-version", python,
                  "--implementation", "cp", *(a for p in PLATFORMS for a in ("--platform", p)), "-d", str(out),
                  f"{name}=={version}"]
        if subprocess.run(binary, capture_output=True).returncode != 0:  # an sdist only: build it here
            subprocess.run([*pip, "wheel", "--quiet", "--no-deps", "-w", str(out), f"{name}=={version}"], check=True)
    (out / "SHA256SUMS").write_text("".join(f"{sha256(w)}  {w.name}\n" for w in sorted(out.glob("*.whl"))))
    return sorted(wanted)


def wheel_requirements(wheel: Path) -> tuple[str, list[str]]:
    """A wheel's project name and its Requires-Dist lines, from its METADATA."""
    with zipfile.ZipFile(wheel) as zf:
        name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        meta = Parser().parsestr(zf.read(name).decode())
    return normalize(meta["Name"]), meta.get_all("Requires-Dist") or []


def check(folder: Path, python: str = "3.12", on_node: set[str] | None = None) -> list[str]:
    """What the carried wheels need that is neither carried nor on the node: 'wheel needs name' lines."""
    on_node = node_packages() if on_node is None else on_node
    wheels = {w: wheel_requirements(w) for w in sorted(folder.glob("*.whl"))}
    carried = {name for name, _ in wheels.values()}
    missing = []
    for wheel, (_, requires) in wheels.items():
        for req in requires:
            if _wanted(req, python) and _name(req) not in carried | on_node | NOT_NEEDED:
                missing.append(f"{wheel.name} needs {_name(req)}")
    if not any(name == "snakemake" for name in carried):
        missing.append("snakemake itself is not carried")
    return missing


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", default=".whl", type=Path)
    parser.add_argument("--python", default="3.12", help="the node's Python version")
    parser.add_argument("--all", action="store_true", help="keep the packages the node's image has, and PuLP")
    parser.add_argument("--check", action="store_true", help="only check the folder's closure against the node")
    args = parser.parse_args()
    if not args.check:
        names = fetch(args.out, args.python, args.all)
        size = sum(f.stat().st_size for f in args.out.glob("*.whl"))
        print(f"{len(names)} packages, {size / 2**20:.1f} MiB of wheels in {args.out}: {', '.join(names)}")
    gaps = check(args.out, args.python)
    if gaps:
        sys.exit("the wheels do not close over the node's packages:\n  " + "\n  ".join(gaps))
    print(f"closure checked for Python {args.python}: every requirement is carried or on the node")
