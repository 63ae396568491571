"""Zero-shot metric definitions against hand-computed values on toy models with known probabilities."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from unrolled import checkpoint, zeroshot
from unrolled.data.tokenizers import CharTokenizer
from unrolled.models import ModelConfig, Transformer

ALPHABET = " abc"
TOKENS = CharTokenizer(ALPHABET)
# The toy vocabulary has no end-of-text token: the lab-protocol tests let "c" (id 3) play it.
LAB_TOKENS = SimpleNamespace(encode=TOKENS.encode, decode=TOKENS.decode, eot=TOKENS.stoi["c"], vocab_size=4)
# P[previous char] -> distribution of the next char, over " abc" (rows sum to 1).
BIGRAM = np.array([[0.1, 0.6, 0.2, 0.1],
                   [0.5, 0.1, 0.3, 0.1],
                   [0.2, 0.2, 0.2, 0.4],
                   [0.7, 0.1, 0.1, 0.1]])


class Bigram(torch.nn.Module):
    """The next token depends on the current one only: log-probabilities straight from BIGRAM."""

    def __init__(self, block_size=8):
        super().__init__()
        self.cfg = SimpleNamespace(block_size=block_size)
        self.table = torch.tensor(np.log(BIGRAM), dtype=torch.float32)

    def forward(self, x, targets=None):
        assert x.size(1) <= self.cfg.block_size, "the scorer fed more tokens than the context holds"
        return self.table[x], None


class ContextCounter(torch.nn.Module):
    """Reveals how many tokens each prediction could see: logit of token 0 = its position + 1."""

    def __init__(self, block_size):
        super().__init__()
        self.cfg = SimpleNamespace(block_size=block_size)

    def forward(self, x, targets=None):
        B, T = x.shape
        logits = torch.full((B, T, 2), -1e4)
        logits[..., 0] = torch.arange(1, T + 1, dtype=torch.float32)
        logits[..., 1] = 0.0
        return logits, None


def lp(prev: str, nxt: str) -> float:
    return math.log(BIGRAM[TOKENS.stoi[prev], TOKENS.stoi[nxt]])


def test_token_logprobs_are_the_model_probabilities():
    ids = TOKENS.encode("abca")
    logp, greedy = zeroshot.token_logprobs(Bigram(), ids, 1, block_size=8)
    assert logp == pytest.approx([lp("a", "b"), lp("b", "c"), lp("c", "a")], abs=1e-6)
    # The argmax after "a" is " " (0.5), after "b" it is "c" (0.4), after "c" it is " " (0.7).
    assert greedy.tolist() == [False, True, False]


@pytest.mark.parametrize("block_size,stride", [(4, 2), (4, 4), (5, 3), (3, 1)])
def test_sliding_window_scores_each_token_once_with_enough_context(block_size, stride):
    n = 17
    logp, _ = zeroshot.token_logprobs(ContextCounter(block_size), [0] * n, 1, block_size, stride)
    assert len(logp) == n - 1
    # log p(token 0) = c - log(e^c + 1) with c the visible context; invert to recover c.
    visible = np.round(np.log(np.exp(logp) / (1 - np.exp(logp)))).astype(int)
    assert visible[:stride].tolist() == list(range(1, stride + 1))  # the first window grows from one token
    assert visible.max() <= block_size
    assert visible[block_size:].min() >= block_size - stride + 1


def test_scoring_starts_after_some_context():
    with pytest.raises(ValueError, match="context"):
        zeroshot.token_logprobs(Bigram(), [1, 2], 0, 8)


def test_lambada_loss_accuracy_and_word_nll_by_hand():
    examples = [{"text": "ab ab"}, {"text": "c ba"}]
    r = zeroshot.evaluate_lambada(Bigram(), TOKENS.encode, examples, block_size=8, stride=8)
    first = [lp("b", " "), lp(" ", "a"), lp("a", "b")]
    second = [lp("c", " "), lp(" ", "b"), lp("b", "a")]
    assert r["loss"] == pytest.approx(-(sum(first) + sum(second)) / 6, abs=1e-6)
    assert r["word_nll"] == pytest.approx(-(sum(first) + sum(second)) / 2, abs=1e-6)
    # " ab" after "b": the argmax after "b" is "c", so greedy decoding fails at once; " ba" after "c"
    # gets " " right, then "a" is likelier than "b" after " ".
    assert (r["accuracy"], r["correct"], r["n"], r["tokens"]) == (0.0, 0, 2, 6)


def test_lambada_accuracy_needs_every_token_of_the_word():
    # After "c" the argmax is " " (0.7), after " " it is "a" (0.6), after "a" it is " " (0.5): " a" is greedy.
    r = zeroshot.evaluate_lambada(Bigram(), TOKENS.encode, [{"text": "bc a"}, {"text": "bc ab"}], 8, 8)
    assert r["correct"] == 1 and r["accuracy"] == 0.5
    assert r["accuracy_ci95"][0] < 0.5 < r["accuracy_ci95"][1]


def test_perplexity_loss_and_bits_per_byte_by_hand():
    text = "abcab a"
    r = zeroshot.evaluate_perplexity(Bigram(), TOKENS.encode, [{"text": text}], block_size=3, stride=2)
    nll = -sum(lp(a, b) for a, b in zip(text, text[1:]))
    assert r["tokens"] == len(text) - 1
    assert r["loss"] == pytest.approx(nll / (len(text) - 1), abs=1e-6)
    assert r["perplexity"] == pytest.approx(math.exp(nll / (len(text) - 1)), rel=1e-6)
    assert r["bits_per_byte"] == pytest.approx(nll / math.log(2) / len(text), rel=1e-6)


def test_cloze_texts_split_at_the_blank():
    ex = {"context": "a b.", "query": "c XXXXX ab", "candidates": []}
    assert zeroshot.cloze_texts(ex, "ba") == ("a b. c", " ba ab")
    assert zeroshot.cloze_texts({**ex, "query": "XXXXX ab"}, "c") == ("a b.", " c ab")
    assert zeroshot.cloze_texts({**ex, "query": "c (XXXXX) b"}, "a") == ("a b. c (", "a) b")


def test_cloze_scores_choice_chance_and_the_shortest_rule_by_hand():
    ex = {"context": "ab", "query": "c XXXXX", "answer": "ba", "candidates": ["ba", "a", "cc"]}
    scores, lengths = zeroshot.cloze_scores(Bigram(), TOKENS.encode, ex, 8, 8)
    assert scores == pytest.approx([lp("c", " ") + lp(" ", "b") + lp("b", "a"),
                                    lp("c", " ") + lp(" ", "a"),
                                    lp("c", " ") + lp(" ", "c") + lp("c", "c")], abs=1e-6)
    assert lengths == [3, 2, 3]
    r = zeroshot.evaluate_cloze(Bigram(), TOKENS.encode, [ex, {**ex, "answer": "a"}], 8, 8)
    # "a" scores highest (one token fewer, likely after " "): right once; the shortest rule agrees.
    assert (r["correct"], r["chance"], r["shortest_accuracy"]) == (1, pytest.approx(1 / 3), 0.5)
    assert r["p_above_shortest"] == 1.0  # they never disagree


def test_a_char_model_refuses_text_outside_its_alphabet():
    from unrolled.data.tokenizers import tokenizer_for

    encode = tokenizer_for({"name": "toy", "tokenizer": "char", "itos": list(ALPHABET)}).encode
    assert encode("ab c") == TOKENS.encode("ab c")
    with pytest.raises(ValueError, match=r"\['z'\].*toy"):
        encode("abz")


def test_evaluate_runs_a_real_transformer_on_every_task():
    torch.manual_seed(0)
    model = Transformer(ModelConfig(vocab_size=4, block_size=6, n_layer=1, n_head=1, n_embd=8)).eval()
    # the lab's protocol needs a newline and an end-of-text id; a vocabulary padded past the tokenizer's
    padded = Transformer(ModelConfig(vocab_size=SCRIPT_CHARS.vocab_size + 2, block_size=6, n_layer=1, n_head=1,
                                     n_embd=8)).eval()
    cloze = [{"context": "ab ca", "query": "b XXXXX c", "answer": "ab", "candidates": ["ab", "cab"]}]
    for task, examples in (("lambada", [{"text": "abc ab cab"}]), ("perplexity", [{"text": "abc ab cab" * 3}]),
                           ("cloze", cloze)):
        r = zeroshot.evaluate(model, TOKENS, task, examples)
        assert r["block_size"] == 6 and r["stride"] == 3 and r["protocol"] == "sliding"
        assert all(np.isfinite(v) for v in r.values() if isinstance(v, float)), r
        lab = zeroshot.evaluate(padded, SCRIPT_TOKENS, task, examples, protocol="lab", loss_examples=examples)
        assert lab["protocol"] == "lab" and ("loss" in lab) == (task != "cloze")
        assert ("accuracy" in lab) == (task != "perplexity")
        assert all(np.isfinite(v) for v in lab.values() if isinstance(v, float)), lab
    with pytest.raises(Exception, match="unknown zero-shot task"):
        zeroshot.evaluate(model, TOKENS, "squad", [])
    with pytest.raises(Exception, match="unknown zero-shot protocol 'nanogpt'"):
        zeroshot.evaluate(model, TOKENS, "cloze", cloze, protocol="nanogpt")


def test_load_model_names_a_missing_checkpoint(tmp_path):
    with pytest.raises(FileNotFoundError, match="metrics.json"):
        checkpoint.load_model(tmp_path)
    (tmp_path / "metrics.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match=r"ckpt.pt.*retrain"):
        checkpoint.load_model(tmp_path)


# -- the lab's protocol (paper 2's most likely one; docs/papers.md) --------------------------------


def test_lab_stream_ends_every_line_with_end_of_text():
    assert zeroshot.lab_stream(LAB_TOKENS, ["ab", "", "b"]) == [1, 2, 3, 3, 2, 3]


def test_lab_window_loss_of_a_short_stream_is_its_one_window_by_hand():
    ids = TOKENS.encode("ab a b")  # 6 tokens: with block_size 8 the only window is all of it
    r = zeroshot.lab_window_loss(Bigram(), ids, block_size=8, batch=3, iters=2)
    text = "ab a b"
    assert r["loss"] == pytest.approx(-np.mean([lp(a, b) for a, b in zip(text, text[1:])]), abs=1e-6)
    assert (r["window"], r["windows"]) == (5, 6)


def test_lab_window_loss_is_the_mean_over_random_windows():
    """Random windows (nanoGPT's estimate_loss): with many draws the mean approaches the average over
    every window start; and the same seed draws the same windows."""
    text = "ab cab bca a cb ba"
    ids = TOKENS.encode(text)
    T = 4
    every = [-np.mean([lp(a, b) for a, b in zip(text[i:i + T + 1], text[i + 1:i + T + 1])])
             for i in range(len(ids) - T)]
    r = zeroshot.lab_window_loss(Bigram(), ids, block_size=T, batch=16, iters=400, seed=1)
    assert r["loss"] == pytest.approx(np.mean(every), abs=0.02)
    assert min(every) < r["loss"] - 0.05 and max(every) > r["loss"] + 0.05  # windows do differ
    assert zeroshot.lab_window_loss(Bigram(), ids, T, 16, 400, seed=1) == r
    assert zeroshot.lab_window_loss(Bigram(), ids, T, 16, 400, seed=2)["loss"] != r["loss"]


# A toy for the lab's LAMBADA rules: its alphabet has a newline, quotes and capitals; its vocabulary has two
# ids past the tokenizer's (a padded GPT-2 vocabulary's), which it scores highest of all.
SCRIPT_CHARS = CharTokenizer("\n \"'ABCabc")
SCRIPT_TOKENS = SimpleNamespace(encode=SCRIPT_CHARS.encode, decode=SCRIPT_CHARS.decode, eot=SCRIPT_CHARS.stoi["c"],
                                vocab_size=SCRIPT_CHARS.vocab_size)


class Scripted(torch.nn.Module):
    """Greedy decoding after any prompt writes `script`, among the real ids; every context it saw is kept."""

    def __init__(self, script: str, block_size=64):
        super().__init__()
        self.cfg = SimpleNamespace(block_size=block_size)
        self.script, self.seen, self.prompt = SCRIPT_CHARS.encode(script), [], None

    def forward(self, x, targets=None):
        ids = x[0].tolist()
        if self.prompt is None or ids[: len(self.prompt)] != self.prompt:
            self.prompt = ids  # a new prompt: the script starts again
            self.seen.append(SCRIPT_CHARS.decode(ids))
        logits = torch.zeros(1, x.size(1), SCRIPT_CHARS.vocab_size + 2)
        logits[..., SCRIPT_CHARS.vocab_size:] = 10.0  # padded ids: never real tokens
        logits[0, -1, self.script[x.size(1) - len(self.prompt)]] = 5.0
        return logits, None


def test_lab_generation_never_emits_a_padded_id():
    model = Scripted("Abc")
    assert zeroshot.lab_generate(model, SCRIPT_CHARS.encode("a"), 3, 64, vocab_size=SCRIPT_CHARS.vocab_size) \
        == SCRIPT_CHARS.encode("Abc")
    padded = zeroshot.lab_generate(Scripted("Abc"), SCRIPT_CHARS.encode("a"), 3, 64)  # the fault, unrestricted
    assert max(padded) >= SCRIPT_CHARS.vocab_size


def test_lab_passage_straightens_curly_double_quotes_only_strips_and_starts_a_line():
    """ToST's eval_lambada.py replaces only \u201c and \u201d; a \u2018single\u2019 quote stays as it is."""
    assert zeroshot.lab_passage("  \u201cHi,\u201d she said, \u2018bye\u2019 \n") == \
        "\n\"Hi,\" she said, \u2018bye\u2019"


def test_document_records_are_what_the_lab_s_loaders_give():
    """Salesforce/wikitext keeps each row's trailing newline and makes a blank row (" " in wiki.test.raw)
    empty; PTB's rows have no newline, and no empty record follows the last one."""
    wiki = " \n = Title = \n \n Text , here . \n"
    assert zeroshot.document_records(wiki, "wikitext") == ["", " = Title = \n", "", " Text , here . \n"]
    ptb = " a b <unk> \n c d \n"
    assert zeroshot.document_records(ptb, "lines") == [" a b <unk> ", " c d "]
    assert zeroshot.lab_texts("perplexity", [{"text": ptb}], "lines") == [" a b <unk> ", " c d "]
    with pytest.raises(ValueError, match="unknown records rule"):
        zeroshot.document_records(ptb, "paragraphs")


def test_the_lab_loss_stream_follows_the_records_rule():
    """Each record, then end-of-text ("c" here): a WikiText blank row is end-of-text alone, a text row keeps
    its newline."""
    texts = zeroshot.lab_texts("perplexity", [{"text": "ab\n \nba\n"}], "wikitext")
    ids, enc, eot = zeroshot.lab_stream(SCRIPT_TOKENS, texts), SCRIPT_TOKENS.encode, SCRIPT_TOKENS.eot
    assert ids == enc("ab\n") + [eot] + [eot] + enc("ba\n") + [eot]
    ptb = zeroshot.lab_stream(SCRIPT_TOKENS, zeroshot.lab_texts("perplexity", [{"text": "ab\nba\n"}], "lines"))
    assert ptb == enc("ab") + [eot] + enc("ba") + [eot]  # no stray end-of-text after the last line


def test_lab_lambada_lower_cases_both_sides_and_feeds_the_lab_passage():
    """A capitalised target generated correctly is a hit (the lab lower-cases target and generation); the
    model is given the straightened passage after a newline, up to its last space."""
    model = Scripted(" Abc a")
    r = zeroshot.lab_lambada(model, SCRIPT_TOKENS, [{"text": "\u201cab\u201d Abc"}], block_size=64, tokens=6)
    assert (r["correct"], r["n"]) == (1, 1)
    assert model.seen == ['\n"ab"']
    miss = zeroshot.lab_lambada(Scripted(" aBa"), SCRIPT_TOKENS, [{"text": "ab Abc"}], block_size=64, tokens=4)
    assert miss["correct"] == 0  # "abc" is not in " aba"


def test_lab_cloze_scores_the_passage_but_not_its_closing_end_of_text():
    ex = {"context": "ab", "query": "XXXXX b", "answer": "a", "candidates": ["a", "b"]}
    scores = zeroshot.lab_cloze_scores(Bigram(), LAB_TOKENS, ex, block_size=8)
    # end-of-text ("c" here) + passage; the closing end-of-text is not scored (logits[:l-2] vs tokens[1:l-1])
    by_hand = [sum(lp(x, y) for x, y in zip(s, s[1:])) for s in ("c" + "ab a b", "c" + "ab b b")]
    assert scores == pytest.approx(by_hand, abs=1e-6)
    with_closing = sum(lp(x, y) for x, y in zip("cab a bc", "ab a bc"))
    assert scores[0] != pytest.approx(with_closing)
    r = zeroshot.lab_cloze(Bigram(), LAB_TOKENS, [ex, {**ex, "answer": "b"}], block_size=8)
    assert (r["correct"], r["n"], r["chance"]) == (1, 2, 0.5)


def test_lab_lambada_loss_runs_over_the_original_text():
    examples, original = [{"text": "ab a"}], [{"text": "ba"}, {"text": "b"}]
    no_newline = SimpleNamespace(**{**vars(LAB_TOKENS), "encode": lambda t: TOKENS.encode(t.replace("\n", ""))})
    r = zeroshot.evaluate(Bigram(), no_newline, "lambada", examples, protocol="lab", loss_examples=original)
    stream = "bacbc"  # each original passage followed by end-of-text ("c" here)
    assert r["loss"] == pytest.approx(-np.mean([lp(a, b) for a, b in zip(stream, stream[1:])]), abs=1e-6)
    with pytest.raises(ValueError, match="original release"):
        zeroshot.evaluate(Bigram(), LAB_TOKENS, "lambada", examples, protocol="lab")


def test_lab_protocol_needs_an_end_of_text_token():
    from unrolled.data.tokenizers import tokenizer_for

    char = tokenizer_for({"name": "toy", "tokenizer": "char", "itos": list(ALPHABET)})
    with pytest.raises(ValueError, match="end-of-text"):
        zeroshot.evaluate(Bigram(), char, "perplexity", [{"text": "ab"}], protocol="lab")
