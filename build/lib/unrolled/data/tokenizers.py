"""Character and GPT-2 BPE tokenizers. The BPE ranks come from a pinned local file, never a hub."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

GPT2_EOT = 50256
# tiktoken's gpt2 / r50k_base pre-tokenisation pattern.
GPT2_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""


class CharTokenizer:
    """Maps each distinct character of a corpus to an id, in sorted order (as nanoGPT does)."""

    eot = None  # a character vocabulary has no end-of-text token

    def __init__(self, chars: str | list[str]):
        self.itos = sorted(set(chars))
        self.stoi = {ch: i for i, ch in enumerate(self.itos)}

    @property
    def vocab_size(self) -> int:
        return len(self.itos)

    def encode(self, text: str) -> list[int]:
        try:
            return [self.stoi[ch] for ch in text]
        except KeyError as exc:
            raise ValueError(f"character {exc.args[0]!r} is not in the vocabulary") from None

    def decode(self, ids) -> str:
        return "".join(self.itos[i] for i in ids)


def gpt2_encoding(ranks_file: str | Path, expected_sha256: str | None = None):
    """GPT-2's BPE as a tiktoken Encoding, built offline from a `.tiktoken` ranks file."""
    import tiktoken
    from tiktoken.load import load_tiktoken_bpe

    ranks = load_tiktoken_bpe(str(ranks_file), expected_hash=expected_sha256)
    return tiktoken.Encoding(
        name="gpt2-local",
        pat_str=GPT2_PATTERN,
        mergeable_ranks=ranks,
        special_tokens={"<|endoftext|>": GPT2_EOT},
        explicit_n_vocab=GPT2_EOT + 1,
    )


def tokenizer_for(meta: dict, bpe_folder: str | Path | None = None) -> SimpleNamespace:
    """The tokenizer a prepared LM data set was built with: encode (text -> ids), decode, eot (the
    end-of-text id, None for characters) and vocab_size (its real ids; a model's may be padded past it).

    For GPT-2 BPE the ranks file must hash to what the data set was built from, so a model is never
    scored with a tokenizer other than the one it was trained on."""
    if meta.get("tokenizer") == "char":
        tokenizer = CharTokenizer(meta["itos"])

        def encode(text: str) -> list[int]:
            missing = sorted(set(text) - set(tokenizer.stoi))
            if missing:
                raise ValueError(f"characters {missing[:10]} are not in the model's vocabulary "
                                 f"(data set {meta.get('name')}); a char model can only score text in its alphabet")
            return tokenizer.encode(text)

        return SimpleNamespace(encode=encode, decode=tokenizer.decode, eot=None, vocab_size=tokenizer.vocab_size)
    if meta.get("tokenizer") == "gpt2":
        if bpe_folder is None:
            raise ValueError(f"data set {meta.get('name')} uses GPT-2 BPE: pass the folder of its ranks file")
        expected = meta["sources"]["bpe"]["files"]["gpt2.tiktoken"]
        encoding = gpt2_encoding(Path(bpe_folder) / "gpt2.tiktoken", expected)
        return SimpleNamespace(encode=encoding.encode_ordinary, decode=encoding.decode, eot=GPT2_EOT,
                               vocab_size=encoding.n_vocab)
    raise ValueError(f"data set {meta.get('name')}: tokenizer {meta.get('tokenizer')!r} is not char or gpt2")
