"""Extract chosen members of tar, zip and .deb archives, refusing anything that could escape.

Members are matched by glob and written flat into the destination folder. The extractor never creates
links on disk, and it refuses an archive outright if *any* member's path or link target leaves the
archive root: a hostile archive is not worth salvaging members from.
"""

from __future__ import annotations

import fnmatch
import posixpath
import shutil
import subprocess
import tarfile
import zipfile
from pathlib import Path

from unrolled.errors import SourceError, UnsafeArchiveError


def _inside(path: str) -> bool:
    norm = posixpath.normpath(path)
    return not (path.startswith("/") or norm == ".." or norm.startswith("../"))


def _check_member(archive: str, name: str, link: str | None = None, symlink: bool = False) -> None:
    if not _inside(name):
        raise UnsafeArchiveError(f"{archive}: member {name!r} points outside the extraction folder")
    if link is not None:
        # A symlink's target is relative to its own folder; a hard link's to the archive root.
        target = posixpath.join(posixpath.dirname(name), link) if symlink else link
        if link.startswith("/") or not _inside(target):
            raise UnsafeArchiveError(
                f"{archive}: link {name!r} -> {link!r} points outside the extraction folder"
            )


def _wanted(name: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


def _write_flat(dest: Path, name: str, source, archive: str, written: dict) -> None:
    base = posixpath.basename(name)
    if base in written:
        raise SourceError(f"{archive}: members {written[base]!r} and {name!r} share the name {base!r}")
    written[base] = name
    with open(dest / base, "wb") as out:
        shutil.copyfileobj(source, out)


def _extract_tar(tar: tarfile.TarFile, archive: str, dest: Path, patterns: list[str], written) -> None:
    for member in tar:  # one pass, so it also works on a stream
        link = member.linkname if (member.issym() or member.islnk()) else None
        _check_member(archive, member.name, link, symlink=member.issym())
        if not _wanted(member.name, patterns):
            continue
        if not member.isfile():
            raise SourceError(f"{archive}: member {member.name!r} is not a regular file")
        _write_flat(dest, member.name, tar.extractfile(member), archive, written)


def _extract_zip(archive: Path, dest: Path, patterns: list[str], written) -> None:
    with zipfile.ZipFile(archive) as zf:
        infos = zf.infolist()
        for info in infos:
            _check_member(str(archive), info.filename)
        for info in infos:
            if _wanted(info.filename, patterns) and not info.is_dir():
                with zf.open(info) as src:
                    _write_flat(dest, info.filename, src, str(archive), written)


def _extract_deb(archive: Path, dest: Path, patterns: list[str], written) -> None:
    # dpkg-deb streams the data tarball; extracting it ourselves (rather than `dpkg -x`) lets the same
    # traversal checks apply before anything touches the disk.
    proc = subprocess.Popen(
        ["dpkg-deb", "--fsys-tarfile", str(archive)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        with tarfile.open(fileobj=proc.stdout, mode="r|*") as tar:
            _extract_tar(tar, str(archive), dest, patterns, written)
    finally:
        proc.stdout.close()
        err = proc.stderr.read().decode(errors="replace")
        if proc.wait() != 0:
            raise SourceError(f"{archive}: dpkg-deb could not read the package: {err.strip()}")


def extract(archive: str | Path, dest: str | Path, patterns: list[str]) -> list[str]:
    """Extract members matching `patterns` flat into `dest`; return the archive names written."""
    archive, dest = Path(archive), Path(dest)
    written: dict[str, str] = {}
    name = archive.name
    try:
        if name.endswith(".deb"):
            _extract_deb(archive, dest, patterns, written)
        elif name.endswith((".whl", ".zip")):
            _extract_zip(archive, dest, patterns, written)
        else:
            with tarfile.open(archive, mode="r:*") as tar:
                _extract_tar(tar, str(archive), dest, patterns, written)
    except (tarfile.TarError, zipfile.BadZipFile, EOFError) as exc:
        raise SourceError(f"{archive}: not a readable archive ({exc})") from exc
    missing = [p for p in patterns if not any(fnmatch.fnmatchcase(n, p) for n in written.values())]
    if missing:
        raise SourceError(f"{archive}: no member matches {missing}")
    return sorted(written.values())
