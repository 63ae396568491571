"""Extraction refuses path traversal and links that point outside, before writing anything."""

from __future__ import annotations

import io
import tarfile
import zipfile

import pytest

from unrolled.data.archive import extract
from unrolled.errors import SourceError, UnsafeArchiveError


def _tar(path, members):
    """members: (name, bytes) for files, (name, ('sym'|'hard', target)) for links."""
    with tarfile.open(path, "w:gz") as tar:
        for name, content in members:
            info = tarfile.TarInfo(name)
            if isinstance(content, tuple):
                info.type = tarfile.SYMTYPE if content[0] == "sym" else tarfile.LNKTYPE
                info.linkname = content[1]
                tar.addfile(info)
            else:
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
    return path


def test_extracts_matching_members_flat(tmp_path):
    archive = _tar(tmp_path / "a.tar.gz", [("pkg/texts/a_gut.txt", b"A"), ("pkg/texts/b_gut.txt", b"B"),
                                            ("pkg/setup.py", b"x")])
    out = tmp_path / "out"
    out.mkdir()
    names = extract(archive, out, ["pkg/texts/*_gut.txt"])
    assert names == ["pkg/texts/a_gut.txt", "pkg/texts/b_gut.txt"]
    assert sorted(p.name for p in out.iterdir()) == ["a_gut.txt", "b_gut.txt"]


@pytest.mark.parametrize("members", [
    [("../evil.txt", b"x")],
    [("pkg/../../evil.txt", b"x")],
    [("/etc/evil.txt", b"x")],
    [("pkg/link", ("sym", "../../outside")), ("pkg/a.txt", b"x")],
    [("pkg/link", ("sym", "/etc/passwd"))],
    [("pkg/hard", ("hard", "../outside"))],
])
def test_tar_traversal_is_refused(tmp_path, members):
    archive = _tar(tmp_path / "bad.tar.gz", members + [("pkg/ok.txt", b"ok")])
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(UnsafeArchiveError, match="outside the extraction folder"):
        extract(archive, out, ["pkg/*"])
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "outside").exists()


def test_zip_traversal_is_refused(tmp_path):
    archive = tmp_path / "bad.whl"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("pkg/ok.txt", "ok")
        zf.writestr("../../evil.txt", "x")
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(UnsafeArchiveError, match="evil.txt"):
        extract(archive, out, ["pkg/*"])
    assert list(out.iterdir()) == []


def test_link_inside_is_allowed_but_not_extracted_as_a_file(tmp_path):
    archive = _tar(tmp_path / "a.tar.gz", [("pkg/a.txt", b"A"), ("pkg/alias", ("sym", "a.txt"))])
    out = tmp_path / "out"
    out.mkdir()
    assert extract(archive, out, ["pkg/a.txt"]) == ["pkg/a.txt"]
    with pytest.raises(SourceError, match="not a regular file"):
        extract(archive, tmp_path, ["pkg/alias"])


def test_missing_member_and_corrupt_archive(tmp_path):
    archive = _tar(tmp_path / "a.tar.gz", [("pkg/a.txt", b"A")])
    with pytest.raises(SourceError, match=r"no member matches \['pkg/b.txt'\]"):
        extract(archive, tmp_path, ["pkg/b.txt"])
    broken = tmp_path / "broken.tar.gz"
    broken.write_bytes(archive.read_bytes()[:20])
    with pytest.raises(SourceError, match="broken.tar.gz"):
        extract(broken, tmp_path, ["pkg/a.txt"])


def test_name_collision_when_flattening(tmp_path):
    archive = _tar(tmp_path / "a.tar.gz", [("x/a.txt", b"1"), ("y/a.txt", b"2")])
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(SourceError, match="share the name 'a.txt'"):
        extract(archive, out, ["*/a.txt"])
