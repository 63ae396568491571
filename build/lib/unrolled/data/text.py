"""Text data sets in nanoGPT's format: uint16 train.bin / val.bin plus meta.json."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from unrolled.atomic import atomic_path
from unrolled.data.tokenizers import CharTokenizer, gpt2_encoding

DOC_SEPARATOR = "\n\n"


def read_corpus(folder: Path, patterns: list[str]) -> tuple[str, list[str]]:
    """The text files of a fetched source that match `patterns`: one file exactly as it is (nanoGPT reads
    tiny-shakespeare's 1,115,394 characters whole, final newline included); several joined in sorted name
    order, each stripped of its leading and trailing newlines and separated by a blank line."""
    files = sorted({f for pattern in patterns for f in folder.glob(pattern)})
    if not files:
        raise FileNotFoundError(f"{folder}: no files match {patterns}")
    texts = [f.read_text(encoding="utf-8") for f in files]
    if len(texts) == 1:
        return texts[0], [files[0].name]
    return DOC_SEPARATOR.join(t.strip("\n") for t in texts), [f.name for f in files]


def split_text(text: str, val_fraction: float) -> tuple[str, str]:
    """First (1 - val_fraction) of the characters for training, the rest for validation (nanoGPT).

    Splitting characters, not tokens, gives the char and BPE versions of a corpus the same val text.
    """
    cut = int(len(text) * (1 - val_fraction))
    return text[:cut], text[cut:]


def write_tokens(path: Path, ids) -> int:
    arr = np.asarray(ids, dtype=np.int64)
    if arr.size and (arr.min() < 0 or arr.max() >= 2**16):
        raise ValueError(f"{path}: token ids do not fit uint16")
    with atomic_path(path) as tmp:
        arr.astype(np.uint16).tofile(tmp)
    return int(arr.size)


def build_char(text: str, out: Path, val_fraction: float, train_chars: int | None = None) -> dict:
    """The char data set; with `train_chars`, training keeps only the first that many characters of the train
    split, while the vocabulary (so the model) and the validation text stay the whole corpus's: every size of
    a corpus-size sweep is scored on the same held-out text by models of one size."""
    tokenizer = CharTokenizer(text)
    train, val = split_text(text, val_fraction)
    train = train[:train_chars]
    return {
        "tokenizer": "char",
        "vocab_size": tokenizer.vocab_size,
        "itos": tokenizer.itos,
        "stoi": tokenizer.stoi,
        "train_tokens": write_tokens(out / "train.bin", tokenizer.encode(train)),
        "val_tokens": write_tokens(out / "val.bin", tokenizer.encode(val)),
        "characters": len(text),
        **({"train_chars": len(train)} if train_chars else {}),
    }


def build_gpt2(text: str, out: Path, val_fraction: float, ranks_file: Path, ranks_sha256: str) -> dict:
    enc = gpt2_encoding(ranks_file, ranks_sha256)
    train, val = split_text(text, val_fraction)
    return {
        "tokenizer": "gpt2",
        "vocab_size": enc.n_vocab,
        "eot_token": enc.eot_token,
        "train_tokens": write_tokens(out / "train.bin", enc.encode_ordinary(train)),
        "val_tokens": write_tokens(out / "val.bin", enc.encode_ordinary(val)),
        "characters": len(text),
    }


def load_tokens(path: str | Path) -> np.memmap:
    return np.memmap(path, dtype=np.uint16, mode="r")
