"""Shared fixtures: a real HTTP server on 127.0.0.1, fixture packages, and a temp copy of the workflow."""

from __future__ import annotations

import hashlib
import http.server
import os
import posixpath
import shutil
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
sys.path.insert(0, str(REPO / "tools"))  # the tools' modules (rehearse_gpu, gpu_wheels) are tested as they are


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


class _Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep test output quiet
        pass

    def do_GET(self):
        name = posixpath.normpath(self.path.split("?")[0]).lstrip("/")
        if name in self.server.truncate:
            # Promise the whole file, send half, hang up: a download cut off mid-way.
            body = (Path(self.directory) / name).read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        super().do_GET()


@pytest.fixture
def http_root(tmp_path):
    """(root folder, base URL, set of names to truncate) for a server on 127.0.0.1."""
    root = tmp_path / "www"
    root.mkdir()

    def handler(*args, **kwargs):
        return _Handler(*args, directory=str(root), **kwargs)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.truncate = set()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}", server.truncate
    finally:
        server.shutdown()
        server.server_close()


def make_wheel(folder: Path, name: str = "unrolledfixture", version: str = "1.0",
               payload: bytes = b"fixture payload\n") -> Path:
    """A minimal valid wheel holding `{name}/data/payload.txt`."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}-{version}-py3-none-any.whl"
    dist = f"{name}-{version}.dist-info"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(f"{name}/__init__.py", "")
        zf.writestr(f"{name}/data/payload.txt", payload)
        zf.writestr(f"{dist}/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        zf.writestr(f"{dist}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        zf.writestr(f"{dist}/RECORD", "")
    return path


def make_deb(folder: Path, files: dict[str, bytes], name: str = "unrolled-fixture", version: str = "1.0-1",
             compression: str = "gzip") -> Path:
    """Build a real .deb with dpkg-deb and publish it in a flat apt repository in `folder`."""
    tree = folder.parent / f"{name}-tree"
    (tree / "DEBIAN").mkdir(parents=True)
    (tree / "DEBIAN" / "control").write_text(
        f"Package: {name}\nVersion: {version}\nArchitecture: all\nMaintainer: t <t@example.org>\n"
        "Description: fixture\n")
    for rel, data in files.items():
        target = tree / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    folder.mkdir(parents=True, exist_ok=True)
    deb = folder / f"{name}_{version}_all.deb"
    subprocess.run(["dpkg-deb", f"-Z{compression}", "--build", str(tree), str(deb)], check=True, capture_output=True)
    (folder / "Packages").write_text(
        f"Package: {name}\nVersion: {version}\nArchitecture: all\nMaintainer: t <t@example.org>\n"
        f"Filename: ./{deb.name}\nSize: {deb.stat().st_size}\nSHA256: {sha256(deb)}\nDescription: fixture\n\n")
    return deb


def run(cmd, cwd, check=True, env_extra=None, **kwargs):
    env = {**os.environ, "PATH": f"{VENV_BIN}:{os.environ['PATH']}", **(env_extra or {})}
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, **kwargs)
    if check and proc.returncode != 0:
        raise AssertionError(f"{cmd} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


SMOKE = "results/smoke"  # config/smoke.yaml's results folder (tests/test_config.py holds it to the file)
WORKFLOW_FILES = ("workflow", "config", ".gitignore", ".dvc", ".dvcignore", "dvc.yaml", "Makefile",
                  "requirements.txt", "pyproject.toml")


def copy_workflow(dest: Path) -> Path:
    """The workflow's files (no data, results, .snakemake state or DVC cache) in `dest`."""
    dest.mkdir(parents=True)
    for item in WORKFLOW_FILES:
        src = REPO / item
        if src.is_dir():
            shutil.copytree(src, dest / item, ignore=shutil.ignore_patterns("tmp", "cache"))
        else:
            shutil.copy2(src, dest / item)
    return dest


@pytest.fixture
def workflow_copy(tmp_path):
    return copy_workflow(tmp_path / "wf")


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory):
    """config/smoke.yaml run once, whole, in a temp copy of the workflow."""
    wf = copy_workflow(tmp_path_factory.mktemp("e2e") / "wf")
    proc = run(["snakemake", "--cores", "2", "--configfile", "config/smoke.yaml"], cwd=wf)
    return wf, proc


@pytest.fixture(scope="session")
def tiny_text_data(tmp_path_factory):
    """A prepared char data set built by the real builder from a small Shakespeare-like text."""
    from unrolled.atomic import write_json
    from unrolled.data import text

    out = tmp_path_factory.mktemp("prepared") / "tiny_char"
    out.mkdir()
    corpus = ("First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n\n"
              "First Citizen:\nYou are all resolved rather to die than to famish?\n\n") * 60
    write_json(out / "meta.json", {"name": "tiny_char", **text.build_char(corpus, out, 0.1)})
    return out


@pytest.fixture(scope="session")
def tiny_image_data(tmp_path_factory):
    """A prepared image data set (2 classes told apart by brightness) in the on-disk image format."""
    import numpy as np

    from unrolled.atomic import write_json
    from unrolled.data import images

    out = tmp_path_factory.mktemp("prepared") / "tiny_images"
    out.mkdir()
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 240)
    x = (rng.integers(0, 120, (240, 1, 8, 8)) + 120 * y[:, None, None, None]).astype(np.uint8)
    write_json(out / "meta.json", {"name": "tiny_images", **images.build_images((x, y), None, out, 0.25, 0, 2)})
    return out
