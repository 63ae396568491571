"""Zero-shot evaluation of a trained language model (paper 2's LAMBADA, PTB, WikiText and CBT).

Every metric is built on one primitive, `token_logprobs`: log p(ids[t] | the preceding tokens) for
the scored tokens, each conditioned on up to `block_size` tokens before it. Windows advance by
`stride` tokens and score only their last `stride` targets, so each token is scored once and, past
the first window, with at least block_size - stride tokens of context (the usual sliding window).

    lambada     context = the passage up to its last space; continuation = " " + the last word.
                accuracy: every continuation token is the model's argmax given the true tokens before
                it, i.e. greedy decoding reproduces the whole word. loss: mean nats per continuation
                token; word_nll: mean over passages of the word's summed nats.
    perplexity  loss: nats per token over the document (all tokens but the first); also perplexity
                and bits per byte, which is comparable across tokenizers.
    cloze       (CBT-CN, CBT-NE, and our Shakespeare set) for each candidate c, the query with
                XXXXX -> c is split at the blank: context = the context lines + the query before the
                blank; continuation = c and the rest of the query. The score is the continuation's
                summed log-probability (GPT-2's rule: the choice and the rest of the sentence given the
                choice; the shared prefix cannot change the ranking). The highest score is chosen;
                ties go to the earliest candidate. Chance accuracy is 1 / number of candidates; a
                summed score also favours short candidates, so the rule "pick the candidate with
                the fewest tokens" is reported beside it as a second floor.

A benchmark's spec may choose `protocol: lab` instead (paper 2's lab's nanoGPT-based protocol, below), which
needs an end-of-text token (GPT-2 BPE). The protocol is recorded in the prepared benchmark and every result.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from scipy import stats

from unrolled import checkpoint, distributed, provenance
from unrolled import stats as seed_stats
from unrolled.atomic import load_meta
from unrolled.data.benchmarks import BLANK, LOSS_TEXTS, load_examples
from unrolled.data.tokenizers import tokenizer_for
from unrolled.errors import UnrolledError
from unrolled.layout import runs_named, zeroshot_name
from unrolled.registry import seeds
from unrolled.summaries import load_runs


@torch.no_grad()
def token_logprobs(model, ids: list[int], first: int, block_size: int, stride: int | None = None,
                   device: str = "cpu") -> tuple[np.ndarray, np.ndarray]:
    """log p(ids[t] | context) and whether ids[t] is the argmax, for t in [first, len(ids))."""
    stride = min(stride or block_size, block_size)
    if first < 1:
        raise ValueError("the first scored token needs at least one token of context")
    seq = torch.tensor(ids, dtype=torch.long)
    logps, greedy = [], []
    start = first
    while start < len(ids):
        end = min(start + stride, len(ids))
        begin = max(0, end - 1 - block_size)
        logits, _ = model(seq[begin: end - 1][None].to(device))
        logp = F.log_softmax(logits[0, -(end - start):].float(), dim=-1)
        target = seq[start:end].to(device)
        logps.append(logp.gather(1, target[:, None])[:, 0].cpu())
        greedy.append((logp.argmax(-1) == target).cpu())
        start = end
    return torch.cat(logps).double().numpy(), torch.cat(greedy).numpy()


def split_last_word(passage: str) -> tuple[str, str]:
    context, _, word = passage.rstrip().rpartition(" ")
    return context, " " + word


def cloze_texts(example: dict, candidate: str) -> tuple[str, str]:
    """(context, continuation) for one candidate: the split is at the blank, and the space before
    the blank goes with the continuation, as BPE attaches a word's leading space to the word."""
    before, _, after = example["query"].partition(BLANK)
    context = (example["context"] + " " + before).rstrip(" ")
    gap = " " if before.endswith(" ") or not before else ""
    return context, gap + candidate + after


def _proportion(hits: int, n: int, chance: float | None = None) -> dict:
    test = stats.binomtest(hits, n, chance if chance is not None else 0.5)
    ci = test.proportion_ci(confidence_level=0.95, method="wilson")
    out = {"accuracy": hits / n, "accuracy_ci95": [float(ci.low), float(ci.high)], "correct": hits, "n": n}
    if chance is not None:  # one-sided: is the model better than guessing?
        above = stats.binomtest(hits, n, chance, alternative="greater")
        out |= {"chance": chance, "p_above_chance": float(above.pvalue)}
    return out


def _score(model, ctx: list[int], cont: list[int], block_size: int, stride: int, device: str):
    if not ctx or not cont:
        raise ValueError(f"empty context ({len(ctx)} tokens) or continuation ({len(cont)} tokens)")
    return token_logprobs(model, ctx + cont, len(ctx), block_size, stride, device)


def evaluate_lambada(model, encode, examples, block_size, stride, device="cpu") -> dict:
    hits, nll, tokens, word_nll = 0, 0.0, 0, []
    for example in examples:
        context, word = split_last_word(example["text"])
        logp, greedy = _score(model, encode(context), encode(word), block_size, stride, device)
        hits += bool(greedy.all())
        nll -= logp.sum()
        tokens += len(logp)
        word_nll.append(-logp.sum())
    return _proportion(hits, len(examples)) | {"loss": nll / tokens, "word_nll": float(np.mean(word_nll)),
                                               "tokens": tokens}


def evaluate_perplexity(model, encode, examples, block_size, stride, device="cpu") -> dict:
    nll, tokens, nbytes = 0.0, 0, 0
    for example in examples:
        ids = encode(example["text"])
        logp, _ = token_logprobs(model, ids, 1, block_size, stride, device)
        nll -= logp.sum()
        tokens += len(logp)
        nbytes += len(example["text"].encode("utf-8"))
    loss = nll / tokens
    return {"loss": loss, "perplexity": math.exp(loss), "bits_per_byte": nll / math.log(2) / nbytes,
            "tokens": tokens, "bytes": nbytes}


def cloze_scores(model, encode, example, block_size, stride, device="cpu") -> tuple[list[float], list[int]]:
    """Each candidate's summed log-probability, and its continuation's length in tokens."""
    texts = [cloze_texts(example, c) for c in example["candidates"]]
    ctx = encode(texts[0][0])  # the context is the same for every candidate
    scored = [_score(model, ctx, encode(cont), block_size, stride, device)[0] for _, cont in texts]
    return [float(s.sum()) for s in scored], [len(s) for s in scored]


def evaluate_cloze(model, encode, examples, block_size, stride, device="cpu") -> dict:
    """Accuracy, against chance and against the length prior: a summed log-probability favours short
    continuations, so an untrained model already beats chance by picking the shortest candidate. The
    model must beat that rule too (exact McNemar test on the questions where the two disagree)."""
    hits, shortest_hits, only_model, only_shortest = 0, 0, 0, 0
    for example in examples:
        scores, lengths = cloze_scores(model, encode, example, block_size, stride, device)
        right = example["candidates"][int(np.argmax(scores))] == example["answer"]
        short = example["candidates"][int(np.argmin(lengths))] == example["answer"]
        hits, shortest_hits = hits + right, shortest_hits + short
        only_model, only_shortest = only_model + (right and not short), only_shortest + (short and not right)
    chance = float(np.mean([1 / len(e["candidates"]) for e in examples]))
    discordant = only_model + only_shortest
    p_shortest = (float(stats.binomtest(only_model, discordant, 0.5, alternative="greater").pvalue) if discordant
                  else 1.0)
    return _proportion(hits, len(examples), chance) | {"shortest_accuracy": shortest_hits / len(examples),
                                                       "p_above_shortest": p_shortest}


# -- the lab's protocol ---------------------------------------------------------------------------------
# Paper 2's zero-shot numbers were most likely made with its lab's nanoGPT-based code (the ToST repository's
# language branch: its GPT-2 numbers equal paper 2's GPT-2 row). That is an inference, not a fact. Its rules,
# as its code has them (docs/papers.md names it):
#   loss (LAMBADA, PTB, WikiText)  every line (PTB, WikiText: the file's lines, blank ones included) or
#       passage, each followed by end-of-text, joined into one stream; nanoGPT's estimate_loss over it: `iters`
#       batches of `batch` random windows of block_size + 1 tokens, the mean of the batch losses. LAMBADA's
#       loss runs over the original release's test passages (the benchmark's loss_texts), not OpenAI's.
#   LAMBADA accuracy  on OpenAI's passages, curly quotes straightened, stripped and prefixed with "\n"; the
#       target is the last space-separated word, the context everything before it; the model generates
#       `tokens` tokens greedily (real vocabulary ids only: a padded GPT-2 vocabulary has logits past 50256);
#       a hit when the lower-cased target is a substring of the lower-cased generated text.
#   cloze (CBT, validation split)  each candidate fills the blank; the whole passage (context + " " + query)
#       wrapped in end-of-text is scored by the summed log-probability of its tokens after the opening
#       end-of-text, the closing one left out (logits[:l-2] against tokens[1:l-1]); the argmax wins.
#   records  a document's lines as the Hugging Face builders the lab loads give them: WikiText
#       (Salesforce/wikitext) keeps each row's trailing "\n" and turns a blank row (" " in wiki.test.raw) into
#       ""; PTB gives each line without its "\n" (no empty record after the last line).
# The lab evaluates under bf16 autocast; this module scores in the model's float32 (a small difference in
# the losses' last digits, not in the protocol).
LAB_BATCH, LAB_ITERS, LAB_TOKENS, LAB_SEED = 16, 1000, 10, 0
STRAIGHT_QUOTES = str.maketrans({"\u201c": '"', "\u201d": '"'})  # eval_lambada.py: only the double quotes
RECORDS = ("lines", "wikitext")


def lab_passage(text: str) -> str:
    """A LAMBADA passage as the lab feeds it: curly double quotes straightened (single ones left as they are),
    stripped, after a newline."""
    return "\n" + text.translate(STRAIGHT_QUOTES).strip()


def lab_stream(tokenizer, texts: list[str]) -> list[int]:
    """The texts as one token stream, each followed by the end-of-text token."""
    ids = []
    for text in texts:
        ids += tokenizer.encode(text) + [tokenizer.eot]
    return ids


@torch.no_grad()
def lab_window_loss(model, ids: list[int], block_size: int, batch: int = LAB_BATCH, iters: int = LAB_ITERS,
                    seed: int = LAB_SEED, device: str = "cpu") -> dict:
    """nanoGPT's estimate_loss on a token stream: random windows from a seeded generator (a stream shorter
    than the context gives windows of its own length - 1)."""
    data = torch.tensor(ids, dtype=torch.long)
    window = min(block_size, len(ids) - 1)
    if window < 1:
        raise ValueError(f"a stream of {len(ids)} token(s) has no window to score")
    generator = torch.Generator().manual_seed(seed)
    losses = []
    for _ in range(iters):
        starts = torch.randint(len(data) - window, (batch,), generator=generator).tolist()
        x = torch.stack([data[i:i + window] for i in starts]).to(device)
        y = torch.stack([data[i + 1:i + 1 + window] for i in starts]).to(device)
        logits, _ = model(x)
        losses.append(F.cross_entropy(logits.float().flatten(0, 1), y.flatten()).item())
    return {"loss": float(np.mean(losses)), "window": window, "windows": batch * iters}


@torch.no_grad()
def lab_generate(model, ids: list[int], tokens: int, block_size: int, device: str = "cpu",
                 vocab_size: int | None = None) -> list[int]:
    """Greedy decoding of `tokens` tokens after `ids`, each step seeing the last block_size tokens, over the
    first `vocab_size` ids only (a GPT-2 model's vocabulary is padded past the tokenizer's 50257)."""
    seq = list(ids)
    for _ in range(tokens):
        logits, _ = model(torch.tensor(seq[-block_size:], dtype=torch.long, device=device)[None])
        seq.append(int(logits[0, -1, :vocab_size].argmax()))
    return seq[len(ids):]


def lab_lambada(model, tokenizer, examples, block_size, tokens: int = LAB_TOKENS, device="cpu") -> dict:
    hits = 0
    for example in examples:
        context, _, target = lab_passage(example["text"]).rpartition(" ")
        generated = lab_generate(model, tokenizer.encode(context), tokens, block_size, device, tokenizer.vocab_size)
        hits += target.lower() in tokenizer.decode(generated).lower()
    return _proportion(hits, len(examples)) | {"generated_tokens": tokens}


def lab_cloze_scores(model, tokenizer, example, block_size, device="cpu") -> list[float]:
    """Each candidate's passage, end-of-text + passage (+ end-of-text, not scored), by the summed
    log-probability of the passage's tokens."""
    scores = []
    for candidate in example["candidates"]:
        passage = (example["context"] + " " + example["query"].replace(BLANK, candidate)).strip()
        logp, _ = token_logprobs(model, [tokenizer.eot] + tokenizer.encode(passage), 1, block_size, block_size,
                                 device)
        scores.append(float(logp.sum()))
    return scores


def lab_cloze(model, tokenizer, examples, block_size, device="cpu") -> dict:
    hits = sum(example["candidates"][int(np.argmax(lab_cloze_scores(model, tokenizer, example, block_size,
                                                                     device)))] == example["answer"]
               for example in examples)
    chance = float(np.mean([1 / len(e["candidates"]) for e in examples]))
    return _proportion(int(hits), len(examples), chance)


def document_records(document: str, records: str = "lines") -> list[str]:
    """A document's records as the lab's loader gives them (`records`: "wikitext" or "lines", as PTB)."""
    if records == "wikitext":
        return [row if row.strip() else "" for row in document.splitlines(keepends=True)]
    if records == "lines":
        return document.splitlines()
    raise ValueError(f"unknown records rule {records!r}; expected one of {RECORDS}")


def lab_texts(task: str, examples: list[dict], records: str = "lines") -> list[str]:
    """The records the lab's loss runs over: LAMBADA's passages, or a document's records."""
    if task == "lambada":
        return [e["text"] for e in examples]
    return [record for e in examples for record in document_records(e["text"], records)]


def evaluate_lab(model, tokenizer, task: str, examples: list[dict], device="cpu", batch: int = LAB_BATCH,
                 iters: int = LAB_ITERS, loss_examples: list[dict] | None = None, records: str = "lines") -> dict:
    """The lab's protocol; LAMBADA's loss runs over `loss_examples` (the original release's passages)."""
    if tokenizer.eot is None:
        raise ValueError("protocol 'lab' needs a tokenizer with an end-of-text token (GPT-2 BPE's "
                         "<|endoftext|>); a character vocabulary has none: use protocol 'sliding'")
    block_size = model.cfg.block_size
    if task == "cloze":
        return lab_cloze(model, tokenizer, examples, block_size, device)
    if task == "lambada" and not loss_examples:
        raise ValueError("the lab's LAMBADA loss runs over the original release's test text: give the benchmark "
                         "a `loss_text` source (config/sources.yaml: lambada_lab)")
    texts = lab_texts(task, loss_examples if task == "lambada" else examples, records)
    out = lab_window_loss(model, lab_stream(tokenizer, texts), block_size, batch, iters, device=device)
    if task == "lambada":
        out |= lab_lambada(model, tokenizer, examples, block_size, device=device)
    return out


TASKS = {"lambada": evaluate_lambada, "perplexity": evaluate_perplexity, "cloze": evaluate_cloze}
PROTOCOLS = ("sliding", "lab")


def evaluate(model, tokenizer, task: str, examples: list[dict], stride: int | None = None, device="cpu",
             protocol: str = "sliding", loss_examples: list[dict] | None = None, records: str = "lines") -> dict:
    """Score `model` on a benchmark's examples; `tokenizer` has encode, decode, eot and vocab_size
    (tokenizer_for). The lab's LAMBADA loss runs over `loss_examples`; its document loss over the document's
    `records`."""
    if task not in TASKS:
        raise UnrolledError(f"unknown zero-shot task {task!r}; expected one of {sorted(TASKS)}")
    if protocol not in PROTOCOLS:
        raise UnrolledError(f"unknown zero-shot protocol {protocol!r}; expected one of {PROTOCOLS}")
    block_size = model.cfg.block_size
    if protocol == "lab":
        return evaluate_lab(model, tokenizer, task, examples, device, loss_examples=loss_examples, records=records) | {
            "protocol": protocol, "block_size": block_size}
    stride = min(stride or block_size // 2, block_size)
    return TASKS[task](model, tokenizer.encode, examples, block_size, stride, device) | {
        "protocol": protocol, "block_size": block_size, "stride": stride}


def evaluate_run(run_dir: str | Path, benchmark: str | Path, data: str | Path, bpe: str | Path | None = None,
                 device: str = "auto") -> dict:
    """One finished run (its folder) scored on one prepared benchmark, by the benchmark's protocol (a sliding
    window advances half the model's context), with the run's tokenizer (from its training data, and the
    fetched BPE folder for BPE models), on a GPU no other job holds if there is one."""
    bench_meta = load_meta(benchmark)
    if bench_meta.get("kind") != "zeroshot":
        raise ValueError(f"{benchmark}: not a zero-shot benchmark (its meta.json kind is {bench_meta.get('kind')!r})")
    device = distributed.setup(device).device
    model = checkpoint.load_model(run_dir, device)
    loss_examples = load_examples(benchmark, LOSS_TEXTS) if (Path(benchmark) / LOSS_TEXTS).exists() else None
    result = evaluate(model, tokenizer_for(load_meta(data), bpe), bench_meta["task"], load_examples(benchmark),
                      None, device, bench_meta.get("protocol", "sliding"), loss_examples,
                      bench_meta.get("records", "lines"))
    logging.getLogger(__name__).info("%s on %s: %s", run_dir, bench_meta["name"],
                                     {k: v for k, v in result.items() if k in ("loss", "accuracy")})
    return ({"benchmark": bench_meta["name"], "task": bench_meta["task"], "protocol": result["protocol"],
             "metrics": result, "benchmark_sources": bench_meta.get("sources")}
            | provenance.evaluation(run_dir, device))


SUMMARY_METRICS = {"loss": False, "accuracy": True}  # metric -> higher is better


def summarize(experiment: str, spec: dict, files: list[str | Path]) -> dict:
    """Per benchmark: each arm's zero-shot loss / accuracy over seeds and paired differences to the
    baseline (the same statistics as the training metrics), plus every run's own result. `files`: every
    run's result on every benchmark the experiment lists."""
    out = {"experiment": experiment, "baseline": spec["baseline"], "seeds": seeds(spec), "benchmarks": {}}
    for bench in spec.get("zeroshot", []):
        name = zeroshot_name(bench)
        runs = load_runs(runs_named(files, name), spec, name)
        task = next(iter(runs[spec["baseline"]].values()))["task"]
        metrics = {}
        for metric, higher in SUMMARY_METRICS.items():
            values = {arm: {s: r["metrics"][metric] for s, r in by_seed.items() if metric in r["metrics"]}
                      for arm, by_seed in runs.items()}
            if all(values.values()):
                metrics[metric] = seed_stats.summarize_experiment(values, spec["baseline"], higher,
                                                                  spec.get("pairs", []))
        protocol = next(iter(runs[spec["baseline"]].values())).get("protocol", "sliding")
        out["benchmarks"][bench] = {"task": task, "protocol": protocol, "metrics": metrics,
                                    "runs": {arm: {str(s): r["metrics"] for s, r in by_seed.items()}
                                             for arm, by_seed in runs.items()}}
    return out
