"""Extract chosen members of tar, zip and .deb archives, refusing anything that could escape.

Members are matched by glob and written flat into the destination folder. The extractor never creates
links on disk, and it refuses an archive outright if *any* member's path or link target leaves the
archive root: a hostile archive is not worth salvaging members from.
"""

from __future__ import annotations

import fnmatch
import posixpath
import shutil
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


def _ar_members(handle):
    """(name, size) of each member of a Unix ar archive (a .deb's outer format), leaving `handle` at its data."""
    if handle.read(8) != b"!<arch>\n":
        raise SourceError(f"{handle.name}: not an ar archive (a .deb starts with '!<arch>')")
    while header := handle.read(60):
        if len(header) < 60 or header[58:60] != b"`\n":
            raise SourceError(f"{handle.name}: truncated or corrupt ar member header")
        name, size = header[:16].decode().strip().rstrip("/"), int(header[48:58].decode().strip())
        start = handle.tell()
        yield name, size
        handle.seek(start + size + size % 2)  # members are padded to an even offset


def _extract_deb(archive: Path, dest: Path, patterns: list[str], written) -> None:
    """A Debian package is an ar archive whose data.tar.{gz,xz,bz2} holds the files: read in Python, so it
    works where dpkg-deb does not (macOS, RHEL), and the same traversal checks apply."""
    with open(archive, "rb") as handle:
        for name, size in _ar_members(handle):
            if name.startswith("data.tar"):
                with tarfile.open(fileobj=_Window(handle, size), mode="r|*") as tar:
                    _extract_tar(tar, str(archive), dest, patterns, written)
                return
    raise SourceError(f"{archive}: no data.tar member (not a Debian package?)")


class _Window:
    """The next `size` bytes of a file, as a readable stream (one ar member)."""

    def __init__(self, handle, size: int):
        self.handle, self.left = handle, size

    def read(self, n: int = -1) -> bytes:
        n = self.left if n < 0 else min(n, self.left)
        data = self.handle.read(n)
        self.left -= len(data)
        return data


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
