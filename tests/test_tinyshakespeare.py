"""Paper 1's corpus exactly as nanoGPT builds it: tiny-shakespeare through the pinned `url` source (served
from 127.0.0.1, so the sha256 check runs) and the char builder, split 1,003,854 / 111,540 characters."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from unrolled.data.prepare import prepare
from unrolled.data.sources import fetch
from unrolled.errors import ChecksumError, SourceError
from unrolled.registry import load_config

FIXTURE = Path(__file__).parent / "fixtures" / "tinyshakespeare" / "input.txt.gz"  # the exact file, gzipped
CATALOGUE = load_config([], resolved=False, checkout=Path(__file__).parents[1])


@pytest.fixture(scope="module")
def corpus() -> bytes:
    return gzip.decompress(FIXTURE.read_bytes())


def _nanogpt_split(text: str) -> tuple[str, str]:
    """nanoGPT's data/shakespeare_char/prepare.py, independently: n = len(data); data[:int(n*0.9)]."""
    n = len(text)
    return text[: int(n * 0.9)], text[int(n * 0.9):]


def test_tinyshakespeare_from_the_pinned_url_splits_as_nanogpt(http_root, tmp_path, corpus):
    root, base, _ = http_root
    (root / "input.txt").write_bytes(corpus)
    spec = CATALOGUE["sources"]["tinyshakespeare"] | {"url": f"{base}/input.txt"}
    fetch("tinyshakespeare", spec, tmp_path / "raw")  # raises unless the bytes hash to the pinned sha256
    meta = prepare("tinyshakespeare_char", CATALOGUE["datasets"]["tinyshakespeare_char"],
                   {"text": tmp_path / "raw"}, tmp_path / "prepared")

    text = corpus.decode("utf-8")
    train, val = _nanogpt_split(text)
    assert (meta["characters"], meta["train_tokens"], meta["val_tokens"]) == (1_115_394, 1_003_854, 111_540)
    assert (len(train), len(val)) == (1_003_854, 111_540)
    assert meta["vocab_size"] == 65 and "".join(meta["itos"]) == "".join(sorted(set(text)))
    decode = lambda ids: "".join(meta["itos"][i] for i in ids)  # noqa: E731
    assert decode(np.fromfile(tmp_path / "prepared" / "train.bin", dtype=np.uint16)) == train
    assert decode(np.fromfile(tmp_path / "prepared" / "val.bin", dtype=np.uint16)) == val
    assert json.loads((tmp_path / "prepared" / "meta.json").read_text())["sources"]["text"]["archive_sha256"] \
        == spec["sha256"]


def test_tinyshakespeare_offline_from_data_external(tmp_path, corpus):
    """No internet: the user's copy in data/external/tinyshakespeare/ is used, after the same hash check."""
    spec = CATALOGUE["sources"]["tinyshakespeare"] | {"url": "http://127.0.0.1:9/input.txt", "timeout": 2}
    external = tmp_path / "external"
    with pytest.raises(SourceError, match="external/tinyshakespeare/input.txt"):
        fetch("tinyshakespeare", spec, tmp_path / "raw", external=external)
    assert not (tmp_path / "raw").exists()
    (external / "tinyshakespeare").mkdir(parents=True)
    (external / "tinyshakespeare" / "input.txt").write_bytes(corpus[:-1])  # one byte short: refused
    with pytest.raises(ChecksumError, match="1115393 bytes"):
        fetch("tinyshakespeare", spec, tmp_path / "raw", external=external)
    assert not (tmp_path / "raw").exists()
    (external / "tinyshakespeare" / "input.txt").write_bytes(corpus)
    provenance = fetch("tinyshakespeare", spec, tmp_path / "raw", external=external)
    assert provenance["archive_sha256"] == spec["sha256"]
