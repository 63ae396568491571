"""Each source kind against a real server on 127.0.0.1: a good file, a truncated file, a wrong hash."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import make_deb, make_wheel, sha256

from unrolled.data.sources import PROVENANCE, fetch
from unrolled.errors import ChecksumError, SourceError

WRONG = "0" * 64


def _assert_nothing_left(out):
    assert not out.exists(), f"{out} exists after a failed fetch"
    assert not [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}")], "temp folder left behind"


# --- url -------------------------------------------------------------------------------------------

def test_url_good_file(http_root, tmp_path):
    root, base, _ = http_root
    (root / "input.txt").write_text("To be, or not to be\n")
    out = tmp_path / "raw" / "tiny"
    prov = fetch("tiny", {"kind": "url", "url": f"{base}/input.txt", "sha256": sha256(root / "input.txt")}, out)
    assert (out / "input.txt").read_text() == "To be, or not to be\n"
    assert prov["files"]["input.txt"] == sha256(root / "input.txt")
    assert json.loads((out / PROVENANCE).read_text())["name"] == "tiny"


def test_url_truncated_download_leaves_nothing(http_root, tmp_path):
    root, base, truncate = http_root
    (root / "big.bin").write_bytes(bytes(range(256)) * 400)
    truncate.add("big.bin")
    out = tmp_path / "raw" / "big"
    with pytest.raises(SourceError, match=r"big.bin.*(truncated|download failed)"):
        fetch("big", {"kind": "url", "url": f"{base}/big.bin", "sha256": sha256(root / "big.bin")}, out)
    _assert_nothing_left(out)


def test_url_wrong_hash_names_file_and_both_hashes(http_root, tmp_path):
    root, base, _ = http_root
    (root / "input.txt").write_text("replaced upstream\n")
    out = tmp_path / "raw" / "tiny"
    with pytest.raises(ChecksumError) as err:
        fetch("tiny", {"kind": "url", "url": f"{base}/input.txt", "sha256": WRONG}, out)
    message = str(err.value)
    assert "input.txt" in message and WRONG in message and sha256(root / "input.txt") in message
    _assert_nothing_left(out)


def test_failed_refetch_keeps_the_good_copy(http_root, tmp_path):
    root, base, _ = http_root
    (root / "input.txt").write_text("good\n")
    out = tmp_path / "raw" / "tiny"
    fetch("tiny", {"kind": "url", "url": f"{base}/input.txt", "sha256": sha256(root / "input.txt")}, out)
    with pytest.raises(ChecksumError):
        fetch("tiny", {"kind": "url", "url": f"{base}/input.txt", "sha256": WRONG}, out)
    assert (out / "input.txt").read_text() == "good\n"


def test_url_several_files_and_archive_members(http_root, tmp_path):
    root, base, _ = http_root
    for name in ("a.gz", "b.gz"):
        (root / name).write_bytes(name.encode() * 10)
    pins = {name: sha256(root / name) for name in ("a.gz", "b.gz")}
    out = tmp_path / "raw" / "pair"
    fetch("pair", {"kind": "url", "base_url": base, "files": pins}, out)
    assert sorted(p.name for p in out.iterdir()) == [PROVENANCE, "a.gz", "b.gz"]

    bad = dict(pins, **{"b.gz": WRONG})
    with pytest.raises(ChecksumError, match="b.gz"):
        fetch("pair2", {"kind": "url", "base_url": base, "files": bad}, tmp_path / "raw" / "pair2")
    _assert_nothing_left(tmp_path / "raw" / "pair2")


# --- pypi ------------------------------------------------------------------------------------------

def _pypi_index(root, wheel):
    """A PEP 503 simple index on the test server serving one wheel."""
    project = root / "simple" / "unrolledfixture"
    project.mkdir(parents=True)
    shutil.copy2(wheel, project / wheel.name)
    (project / "index.html").write_text(f'<html><body><a href="{wheel.name}">{wheel.name}</a></body></html>')


def _pypi_spec(base, sha):
    return {"kind": "pypi", "package": "unrolledfixture", "version": "1.0", "dist": "wheel", "sha256": sha,
            "index_url": f"{base}/simple", "members": ["unrolledfixture/data/*.txt"]}


def test_pypi_good_wheel(http_root, tmp_path):
    root, base, _ = http_root
    wheel = make_wheel(tmp_path / "build")
    _pypi_index(root, wheel)
    out = tmp_path / "raw" / "fx"
    prov = fetch("fx", _pypi_spec(base, sha256(wheel)), out)
    assert (out / "payload.txt").read_bytes() == b"fixture payload\n"
    assert prov["archive_sha256"] == sha256(wheel)


def test_pypi_wrong_hash_is_caught_before_use(http_root, tmp_path):
    root, base, _ = http_root
    wheel = make_wheel(tmp_path / "build")
    _pypi_index(root, wheel)
    out = tmp_path / "raw" / "fx"
    with pytest.raises(ChecksumError) as err:
        fetch("fx", _pypi_spec(base, WRONG), out)
    assert "unrolledfixture==1.0" in str(err.value) and sha256(wheel) in str(err.value)
    _assert_nothing_left(out)


def test_pypi_truncated_archive(http_root, tmp_path):
    root, base, _ = http_root
    wheel = make_wheel(tmp_path / "build")
    pinned = sha256(wheel)
    wheel.write_bytes(wheel.read_bytes()[:-100])  # the index now serves a cut-off file
    _pypi_index(root, wheel)
    out = tmp_path / "raw" / "fx"
    with pytest.raises(ChecksumError, match=pinned):
        fetch("fx", _pypi_spec(base, pinned), out)
    _assert_nothing_left(out)


# --- debian ----------------------------------------------------------------------------------------

def _deb_spec(base, sha):
    return {"kind": "debian", "package": "unrolled-fixture", "version": "1.0-1", "sha256": sha,
            "apt_sources": f"deb [trusted=yes] {base}/ ./", "members": ["./usr/share/fixture/*.txt"],
            "files": {"a.txt": sha256_bytes(b"alpha\n")}}


def sha256_bytes(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def test_debian_good_package(http_root, tmp_path):
    root, base, _ = http_root
    deb = make_deb(root, {"usr/share/fixture/a.txt": b"alpha\n", "usr/share/doc/x": b"doc"})
    out = tmp_path / "raw" / "deb"
    fetch("deb", _deb_spec(base, sha256(deb)), out)
    assert sorted(p.name for p in out.iterdir()) == [PROVENANCE, "a.txt"]


def test_debian_wrong_hash(http_root, tmp_path):
    root, base, _ = http_root
    make_deb(root, {"usr/share/fixture/a.txt": b"alpha\n"})
    out = tmp_path / "raw" / "deb"
    with pytest.raises(ChecksumError, match=WRONG):
        fetch("deb", _deb_spec(base, WRONG), out)
    _assert_nothing_left(out)


def test_debian_truncated_package(http_root, tmp_path):
    root, base, truncate = http_root
    deb = make_deb(root, {"usr/share/fixture/a.txt": b"alpha\n"})
    truncate.add(deb.name)
    out = tmp_path / "raw" / "deb"
    with pytest.raises(SourceError, match="apt-get download"):
        fetch("deb", _deb_spec(base, sha256(deb)), out)
    _assert_nothing_left(out)


def test_debian_member_pin_mismatch(http_root, tmp_path):
    root, base, _ = http_root
    deb = make_deb(root, {"usr/share/fixture/a.txt": b"not alpha\n"})
    out = tmp_path / "raw" / "deb"
    with pytest.raises(ChecksumError, match="a.txt"):
        fetch("deb", _deb_spec(base, sha256(deb)), out)
    _assert_nothing_left(out)


@pytest.mark.parametrize("compression", ["gzip", "xz"])  # xz: the real dataset-fashion-mnist's data.tar
def test_debian_package_from_the_pool_url_without_apt_get(http_root, tmp_path, monkeypatch, compression):
    """On a system without apt-get (macOS, RHEL) the catalogue's Fashion-MNIST source downloads the same pinned
    .deb from the Debian archive's pool and reads it in Python (no dpkg-deb): the same four IDX files."""
    import yaml
    from conftest import REPO

    root, base, truncate = http_root
    catalogue = yaml.safe_load((REPO / "config" / "sources.yaml").read_text())["sources"]["fashion_mnist"]
    idx = {f"usr/share/datasets/fashion-mnist/{name}": f"idx {name}".encode() for name in catalogue["files"]}
    deb = make_deb(root / "pool", {**idx, "usr/share/doc/dataset-fashion-mnist/copyright": b"MIT"},
                   name="dataset-fashion-mnist", version="0.0~git20200523.55506a9-1", compression=compression)
    spec = catalogue | {"sha256": sha256(deb), "pool_url": f"{base}/pool/{deb.name.replace('~', '%7e')}",
                        "files": {Path(k).name: sha256_bytes(v) for k, v in idx.items()}}
    bare = tmp_path / "bin"  # a PATH without apt-get or dpkg-deb
    bare.mkdir()
    monkeypatch.setenv("PATH", str(bare))
    out = tmp_path / "raw" / "fashion_mnist"
    provenance = fetch("fashion_mnist", spec, out)
    assert sorted(p.name for p in out.iterdir()) == sorted([PROVENANCE, *catalogue["files"]])
    assert provenance["archive_sha256"] == sha256(deb)
    (root / "pool" / "cut.deb").write_bytes(deb.read_bytes())
    truncate.add("pool/cut.deb")  # a cut-off download is refused and leaves nothing
    spec["pool_url"] = f"{base}/pool/cut.deb"
    with pytest.raises(SourceError, match="truncated"):
        fetch("fashion_mnist", spec, tmp_path / "raw" / "again")
    _assert_nothing_left(tmp_path / "raw" / "again")


# --- local -----------------------------------------------------------------------------------------

def test_local_folder_good_and_bad(tmp_path):
    src = tmp_path / "external" / "imagenet16"
    src.mkdir(parents=True)
    (src / "train_data_batch_1.npz").write_bytes(b"batch")
    (src / "notes.md").write_text("ignored")
    out = tmp_path / "raw" / "inet"
    prov = fetch("inet", {"kind": "local", "path": str(src), "members": ["*.npz"]}, out)
    assert sorted(prov["files"]) == ["train_data_batch_1.npz"]

    spec = {"kind": "local", "path": str(src), "members": ["*.npz"], "files": {"train_data_batch_1.npz": WRONG}}
    with pytest.raises(ChecksumError, match="train_data_batch_1.npz"):
        fetch("inet2", spec, tmp_path / "raw" / "inet2")
    _assert_nothing_left(tmp_path / "raw" / "inet2")


def test_local_missing_path_says_where_to_put_files(tmp_path):
    missing = tmp_path / "external" / "owt"
    with pytest.raises(SourceError, match=f"{missing} does not exist.*Place the files there"):
        fetch("owt", {"kind": "local", "path": str(missing)}, tmp_path / "raw" / "owt")


def test_local_single_file_truncated(tmp_path):
    good = b"x" * 1000
    f = tmp_path / "corpus.txt"
    f.write_bytes(good[:500])
    with pytest.raises(ChecksumError, match="500 bytes"):
        fetch("c", {"kind": "local", "path": str(f), "sha256": sha256_bytes(good)}, tmp_path / "raw" / "c")
