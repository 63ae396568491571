"""The OpenWebText recipe on a small local sample in the corpus's own format."""

from __future__ import annotations

import io
import tarfile

import numpy as np
import pytest
from test_tokenizers import gpt2_ranks  # noqa: F401  (session fixture)

from unrolled.data.owt import build_owt, is_val, iter_documents
from unrolled.data.tokenizers import gpt2_encoding
from unrolled.errors import UnsafeArchiveError

DOCS = {f"doc{i:03d}.txt": f"Document {i}. " + "The quick brown fox jumps over the lazy dog. " * (i % 7 + 1)
        for i in range(60)}


def _subset(path, names):
    with tarfile.open(path, "w:xz") as tar:
        for name in names:
            data = DOCS[name].encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


@pytest.fixture
def owt_folder(tmp_path):
    folder = tmp_path / "openwebtext"
    folder.mkdir()
    names = sorted(DOCS)
    _subset(folder / "urlsf_subset00-1_data.xz", names[:25])
    _subset(folder / "urlsf_subset00-2_data.xz", names[25:50])
    for name in names[50:]:
        (folder / name).write_text(DOCS[name])
    return folder


def test_tokens_match_a_direct_encoding(owt_folder, gpt2_ranks, tmp_path):  # noqa: F811
    out = tmp_path / "out"
    out.mkdir()
    meta = build_owt(owt_folder, out, 0.2, *gpt2_ranks, workers=1)
    enc = gpt2_encoding(*gpt2_ranks)
    expected = {"train": [], "val": []}
    for path in sorted(owt_folder.iterdir()):
        for name, text in iter_documents(path):
            expected["val" if is_val(name, 0.2) else "train"] += enc.encode_ordinary(text) + [enc.eot_token]
    for split in ("train", "val"):
        got = np.fromfile(out / f"{split}.bin", dtype=np.uint16)
        assert got.tolist() == expected[split]
    assert meta["documents"] == 60 and 0 < meta["val_tokens"] < meta["train_tokens"]


def test_output_does_not_depend_on_worker_count(owt_folder, gpt2_ranks, tmp_path):  # noqa: F811
    outputs = []
    for workers in (1, 2):
        out = tmp_path / f"w{workers}"
        out.mkdir()
        build_owt(owt_folder, out, 0.2, *gpt2_ranks, workers=workers)
        outputs.append(((out / "train.bin").read_bytes(), (out / "val.bin").read_bytes()))
    assert outputs[0] == outputs[1]


def test_unsafe_member_is_refused(tmp_path):
    path = tmp_path / "evil.xz"
    with tarfile.open(path, "w:xz") as tar:
        info = tarfile.TarInfo("../evil.txt")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(UnsafeArchiveError):
        list(iter_documents(path))
