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
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from scipy import stats

from unrolled import checkpoint, distributed, provenance
from unrolled import stats as seed_stats
from unrolled.data.batches import load_meta
from unrolled.data.benchmarks import BLANK, load_examples
from unrolled.data.tokenizers import encoder_for
from unrolled.errors import UnrolledError
from unrolled.registry import load_runs, runs_named, seeds, zeroshot_name


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
        out |= {"chance": chance, "p_above_chance": float(stats.binomtest(hits, n, chance, alternative="greater").pvalue)}
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
    p_shortest = float(stats.binomtest(only_model, discordant, 0.5, alternative="greater").pvalue) if discordant else 1.0
    return _proportion(hits, len(examples), chance) | {"shortest_accuracy": shortest_hits / len(examples),
                                                       "p_above_shortest": p_shortest}


TASKS = {"lambada": evaluate_lambada, "perplexity": evaluate_perplexity, "cloze": evaluate_cloze}


def evaluate(model, encode, task: str, examples: list[dict], stride: int | None = None, device="cpu") -> dict:
    if task not in TASKS:
        raise UnrolledError(f"unknown zero-shot task {task!r}; expected one of {sorted(TASKS)}")
    block_size = model.cfg.block_size
    stride = min(stride or block_size // 2, block_size)
    return TASKS[task](model, encode, examples, block_size, stride, device) | {"block_size": block_size,
                                                                              "stride": stride}


def evaluate_run(run: str | Path, benchmark: str | Path, data: str | Path, bpe: str | Path | None = None,
                 stride: int | None = None, device: str = "auto") -> dict:
    """One finished run scored on one prepared benchmark, with the run's tokenizer (from its training
    data, and the fetched BPE folder for BPE models), on a GPU no other job holds if there is one."""
    bench_meta = load_meta(benchmark)
    if bench_meta.get("kind") != "zeroshot":
        raise ValueError(f"{benchmark}: not a zero-shot benchmark (its meta.json kind is {bench_meta.get('kind')!r})")
    device = distributed.setup(device).device
    model = checkpoint.load_model(run, device)
    result = evaluate(model, encoder_for(load_meta(data), bpe), bench_meta["task"], load_examples(benchmark),
                      stride, device)
    return ({"benchmark": bench_meta["name"], "task": bench_meta["task"], "metrics": result,
             "benchmark_sources": bench_meta.get("sources")} | provenance.evaluation(run, device))


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
        out["benchmarks"][bench] = {"task": task, "metrics": metrics,
                                    "runs": {arm: {str(s): r["metrics"] for s, r in by_seed.items()}
                                             for arm, by_seed in runs.items()}}
    return out
