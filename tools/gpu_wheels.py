"""Wheels of Snakemake and what it needs that a GPU node's Python lacks, into a folder the node's
`pip install --no-index` takes (tools/gpu-slice.sh). The node has no internet.

    python tools/gpu_wheels.py .whl [--python 3.12]
    python tools/gpu_wheels.py --check .whl [--python 3.12]
    python tools/gpu_wheels.py --lock [--python 3.12]

What is fetched is pinned: tools/gpu-node/wheels-{python}.lock names each file, its version and its sha256,
and pip downloads in hash-checking mode, so a file that changed upstream stops the fetch. `--lock` writes
that file anew from this venv's installed metadata (requirements.txt pins Snakemake, so the versions are the
tested ones): packages the node's image has (tools/gpu-node/packages.txt, its package list) are left out,
and so is PuLP (16 MB of solver binaries: the gpu profile schedules greedily, and Snakemake imports PuLP
only for its ILP scheduler). A package with a wheel for the node is pinned by that wheel; one published only
as an sdist (pure Python) by its sdist, built into a wheel here after its hash is checked. Each wheel's
sha256 goes to SHA256SUMS beside them, which the node checks before it installs. `--check` stands in for
installing them into the node's Python 3.12, which no package registry this project reaches offers: it
fails, naming them, on a wheel whose tags or Requires-Python that Python would refuse, and on a wheel's own
requirement (markers evaluated for `--python`) that is neither carried nor on the node's list. A Python
with no lock file (only a stand-in node here can ask for one) is fetched unpinned, from the same closure,
with a warning.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from email.parser import Parser
from importlib import metadata
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from unrolled.atomic import atomic_dir, atomic_path  # noqa: E402

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


def lock_file(python: str) -> Path:
    return NODE_PACKAGES.parent / f"wheels-{python}.lock"


def _download(out: Path, python: str, pins: list[str], binary: bool) -> None:
    """pip download of `pins` ("name==version --hash=sha256:..." lines, or bare "name==version") for the
    node's platform (wheels) or as sdists; with hashes, in pip's hash-checking mode."""
    if not pins:
        return
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as req:
        req.write("\n".join(pins) + "\n")
    where = (["--only-binary=:all:", "--python-version", python, "--implementation", "cp",
              *(a for p in PLATFORMS for a in ("--platform", p))] if binary else ["--no-binary=:all:"])
    try:
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", *where, "-d", str(out),
                        "-r", req.name], check=True, capture_output=True, text=True)
    except subprocess.CalledProcessError as exc:
        raise SystemExit(f"gpu_wheels: pip download failed:\n{exc.stderr[-2000:]}") from None
    finally:
        os.unlink(req.name)


def _build_sdists(out: Path) -> None:
    for sdist in sorted(out.glob("*.tar.gz")):
        subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                        "-w", str(out), str(sdist)], check=True, capture_output=True)
        sdist.unlink()


def read_lock(python: str) -> list[dict]:
    """The pinned files: [{name, version, file, sha256}], one a line of the lock ("file sha256")."""
    rows = []
    for line in lock_file(python).read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            file, digest = line.split()
            name, version = re.match(r"(.+?)-(\d[^-]*?)(?:-py|-cp|\.tar\.gz)", file).groups()
            rows.append({"name": normalize(name), "version": version, "file": file, "sha256": digest})
    return rows


def fetch(out: Path, python: str = "3.12") -> list[str]:
    """The node's wheel set for `python` in `out`, as its lock pins it (unpinned, with a warning, for a
    Python that has no lock), replacing the folder whole: no wheel of an earlier lock stays beside the new
    one (two versions of a package stop the node's pip). Returns the package names."""
    with atomic_dir(out) as tmp:
        return _fetch(Path(tmp), python)


def _fetch(out: Path, python: str) -> list[str]:
    if lock_file(python).exists():
        rows = read_lock(python)
        for binary in (True, False):
            _download(out, python, [f"{r['name']}=={r['version']} --hash=sha256:{r['sha256']}" for r in rows
                                    if r["file"].endswith(".whl") == binary], binary)
        names = [r["name"] for r in rows]
    else:
        print(f"gpu_wheels: no {lock_file(python).name}: fetching Python {python}'s set unpinned", file=sys.stderr)
        names = sorted(_unpinned(out, python))
    _build_sdists(out)
    with atomic_path(out / "SHA256SUMS") as tmp:
        tmp.write_text("".join(f"{sha256(w)}  {w.name}\n" for w in sorted(out.glob("*.whl"))))
    return sorted(names)


def _unpinned(out: Path, python: str) -> dict[str, str]:
    """The closure less the node's packages, as this venv has it: a wheel where PyPI has one for the node,
    else the sdist (left for _build_sdists). Returns {name: version}."""
    on_node = node_packages()
    wanted = {n: v for n, v in closure(python=python).items() if n not in on_node | NOT_NEEDED}
    for name, version in sorted(wanted.items()):
        try:
            _download(out, python, [f"{name}=={version}"], binary=True)
        except SystemExit:  # published as an sdist only
            _download(out, python, [f"{name}=={version}"], binary=False)
    return wanted


def lock(python: str = "3.12") -> Path:
    """Pin the set `_unpinned` fetches now: each downloaded file's name and sha256, in the lock file."""
    with tempfile.TemporaryDirectory() as tmp:
        _unpinned(Path(tmp), python)
        files = sorted(Path(tmp).glob("*.whl")) + sorted(Path(tmp).glob("*.tar.gz"))
        with atomic_path(lock_file(python)) as out:
            out.write_text(f"# tools/gpu_wheels.py --lock --python {python}: the node's wheel set, pinned\n"
                           + "".join(f"{f.name} {sha256(f)}\n" for f in files))
    return lock_file(python)


def wheel_requirements(wheel: Path) -> tuple[str, list[str]]:
    """A wheel's project name and its Requires-Dist lines, from its METADATA."""
    with zipfile.ZipFile(wheel) as zf:
        name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        meta = Parser().parsestr(zf.read(name).decode())
    return normalize(meta["Name"]), meta.get_all("Requires-Dist") or []


def node_tags(python: str) -> set:
    """The wheel tags a node's CPython `python` on x86_64 Linux installs, up to the newest manylinux the fetch
    asks for (PLATFORMS)."""
    from packaging import tags

    version = tuple(int(n) for n in python.split(".")[:2])
    newest = max(int(p.split("_")[2]) for p in PLATFORMS if p.startswith("manylinux_2_"))
    platforms = [f"manylinux_2_{m}_x86_64" for m in range(newest, 4, -1)] + [
        "manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64", "linux_x86_64"]
    interpreter = f"cp{version[0]}{version[1]}"
    return set(tags.cpython_tags(version, abis=[interpreter, "abi3", "none"], platforms=platforms)) | set(
        tags.compatible_tags(version, interpreter, platforms))


def installable(wheel: Path, python: str, tags: set | None = None) -> list[str]:
    """Why the node's Python `python` would refuse a wheel (its tags, its Requires-Python), or nothing: what
    pip checks before it installs, checked without that Python."""
    from packaging.specifiers import SpecifierSet
    from packaging.utils import parse_wheel_filename

    tags = node_tags(python) if tags is None else tags
    problems = []
    if not set(parse_wheel_filename(wheel.name)[3]) & tags:
        problems.append(f"{wheel.name}: no tag for CPython {python} on x86_64 Linux")
    with zipfile.ZipFile(wheel) as zf:
        name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        requires_python = Parser().parsestr(zf.read(name).decode()).get("Requires-Python")
    if requires_python and python not in SpecifierSet(requires_python):
        problems.append(f"{wheel.name}: Requires-Python {requires_python} excludes {python}")
    return problems


def check(folder: Path, python: str = "3.12", on_node: set[str] | None = None) -> list[str]:
    """What keeps the carried wheels from installing and running on the node's Python: a wheel it would refuse
    (`installable`), and what a wheel needs that is neither carried nor on the node ('wheel needs name')."""
    on_node = node_packages() if on_node is None else on_node
    wheels = {w: wheel_requirements(w) for w in sorted(folder.glob("*.whl"))}
    carried = {name for name, _ in wheels.values()}
    tags = node_tags(python)
    missing = [problem for wheel in wheels for problem in installable(wheel, python, tags)]
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
    parser.add_argument("--check", action="store_true", help="only check the folder's closure against the node")
    parser.add_argument("--lock", action="store_true", help="pin the set this venv would fetch now, and stop")
    args = parser.parse_args()
    if args.lock:
        path = lock(args.python)
        print(f"pinned {len(read_lock(args.python))} files in {path}")
        sys.exit(0)
    if not args.check:
        names = fetch(args.out, args.python)
        size = sum(f.stat().st_size for f in args.out.glob("*.whl"))
        print(f"{len(names)} packages, {size / 2**20:.1f} MiB of wheels in {args.out}: {', '.join(names)}")
    gaps = check(args.out, args.python)
    if gaps:
        sys.exit("the wheels do not close over the node's packages:\n  " + "\n  ".join(gaps))
    print(f"closure checked for Python {args.python}: every requirement is carried or on the node")
