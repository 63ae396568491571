"""OpenWebText (paper scale): streaming, multi-process GPT-2 BPE tokenisation into train.bin / val.bin.

Input is a local folder (the corpus is not on a package registry) holding any mix of
  - `*.xz` subset archives as the corpus is distributed (each a tar of .txt documents), and
  - plain `*.txt` documents.
Each document is encoded with `encode_ordinary` and followed by the end-of-text token, as in nanoGPT.
A document goes to validation when a hash of its name falls under `val_fraction`, so the split does
not depend on worker count or file order. Output is written in order through temp files.
"""

from __future__ import annotations

import hashlib
import tarfile
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from unrolled.atomic import atomic_path
from unrolled.data.archive import _check_member
from unrolled.data.tokenizers import gpt2_encoding

_ENCODER = None


def _init_worker(ranks_file: str, ranks_sha256: str | None) -> None:
    global _ENCODER
    _ENCODER = gpt2_encoding(ranks_file, ranks_sha256)


def iter_documents(path: Path):
    """Yield (name, text) for each document in one input file, refusing unsafe archive members."""
    if path.suffix == ".txt":
        yield path.name, path.read_text(encoding="utf-8", errors="replace")
        return
    with tarfile.open(path, mode="r|*") as tar:
        for member in tar:
            link = member.linkname if (member.issym() or member.islnk()) else None
            _check_member(str(path), member.name, link, symlink=member.issym())
            if member.isfile():
                yield f"{path.name}/{member.name}", tar.extractfile(member).read().decode("utf-8", "replace")


def is_val(name: str, val_fraction: float) -> bool:
    bucket = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big") / 2**64
    return bucket < val_fraction


def _tokenize_file(args) -> tuple[np.ndarray, np.ndarray, int]:
    path, val_fraction = args
    train, val, docs = [], [], 0
    for name, text in iter_documents(Path(path)):
        ids = _ENCODER.encode_ordinary(text)
        ids.append(_ENCODER.eot_token)
        (val if is_val(name, val_fraction) else train).extend(ids)
        docs += 1
    return np.asarray(train, dtype=np.uint16), np.asarray(val, dtype=np.uint16), docs


def input_files(folder: Path) -> list[Path]:
    files = sorted(p for p in folder.iterdir() if p.suffix in (".xz", ".txt") and p.is_file())
    if not files:
        raise FileNotFoundError(f"{folder}: no OpenWebText .xz archives or .txt documents")
    return files


def build_owt(folder: Path, out: Path, val_fraction: float, ranks_file: Path, ranks_sha256: str | None,
              workers: int = 1) -> dict:
    files = input_files(folder)
    counts = {"train": 0, "val": 0}
    docs = 0
    with atomic_path(out / "train.bin") as train_tmp, atomic_path(out / "val.bin") as val_tmp, \
            open(train_tmp, "wb") as train_f, open(val_tmp, "wb") as val_f:
        ctx = get_context("spawn")  # tiktoken is not fork-safe across threads
        with ctx.Pool(workers, initializer=_init_worker, initargs=(str(ranks_file), ranks_sha256)) as pool:
            # imap (not imap_unordered) keeps the output byte-identical for any worker count.
            for train_ids, val_ids, n in pool.imap(_tokenize_file, [(str(f), val_fraction) for f in files]):
                train_ids.tofile(train_f)
                val_ids.tofile(val_f)
                counts["train"] += len(train_ids)
                counts["val"] += len(val_ids)
                docs += n
    return {"tokenizer": "gpt2", "vocab_size": 50257, "eot_token": 50256, "documents": docs,
            "input_files": len(files), "train_tokens": counts["train"], "val_tokens": counts["val"]}
