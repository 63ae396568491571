"""What the benchmarks share: their presets (paper 1's char LM, the CPU default's, the smallest, GPT-2), a
synthetic data set of tiny-shakespeare's size to time them on, and a step timer. Imported by the benchmark
scripts beside it."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from unrolled.atomic import write_json
from unrolled.data.text import write_tokens
from unrolled.layout import META

# Every benchmark's model sizes, once: the char LMs train on `synthetic_char_data` (vocabulary 65) as the
# trainer runs them, single or as seed ensembles; GPT-2 124M (nanoGPT's, vocabulary 50304 for the matmuls) times
# a single model's step only (`SINGLE_ONLY`).
PRESETS = {
    # the smallest that exercises every path: benchmarks/gpu_checks.sh's SMOKE runs, which try the plumbing
    "tiny": dict(model=dict(n_layer=1, n_head=2, n_embd=32, block_size=32, vocab_size=65, dropout=0.2),
                 train=dict(batch_size=8, max_iters=100, eval_interval=50, eval_iters=2, compile=False)),
    # config/config.yaml's lm_char (600 steps, eval every 50 over 20 batches)
    "cpu": dict(model=dict(n_layer=4, n_head=4, n_embd=128, block_size=64, vocab_size=65, dropout=0.2),
                train=dict(batch_size=32, max_iters=600, eval_interval=50, eval_iters=20, compile=False)),
    # paper 1's char LM (nanoGPT's train_shakespeare_char): 5000 steps, eval every 250 over 200 batches
    "paper": dict(model=dict(n_layer=6, n_head=6, n_embd=384, block_size=256, vocab_size=65, dropout=0.2),
                  train=dict(batch_size=64, max_iters=5000, eval_interval=250, eval_iters=200, compile=True)),
    "gpt2": dict(model=dict(n_layer=12, n_head=12, n_embd=768, block_size=1024, vocab_size=50304, dropout=0.0),
                 train=dict(batch_size=16, compile=True)),
}
SINGLE_ONLY = ("gpt2",)
CHAR_LMS = tuple(name for name in PRESETS if name not in SINGLE_ONLY)


def synthetic_char_data(folder: Path, tokens: int = 1_115_394, vocab: int = 65) -> Path:
    """A prepared char data set of tiny-shakespeare's size and vocabulary (throughput ignores the text)."""
    rng = np.random.default_rng(0)
    write_tokens(folder / "train.bin", rng.integers(0, vocab, int(tokens * 0.9)))
    write_tokens(folder / "val.bin", rng.integers(0, vocab, tokens - int(tokens * 0.9)))
    write_json(folder / META, {"name": "synthetic_char", "tokenizer": "char", "vocab_size": vocab})
    return folder


class Timer:
    """Seconds per step of each timed stretch: CUDA events on a GPU (read once, at the end), else the clock."""

    def __init__(self, device: str):
        self.cuda, self.spans = device == "cuda", []

    def start(self):
        if self.cuda:
            event = torch.cuda.Event(enable_timing=True)
            event.record()
            return event
        return time.perf_counter()

    def stop(self, started, steps: int, into: list) -> None:
        ended = self.start()
        self.spans.append((started, ended, steps, into))

    def collect(self) -> None:
        if self.cuda:
            torch.cuda.synchronize()
        for started, ended, steps, into in self.spans:
            seconds = started.elapsed_time(ended) / 1e3 if self.cuda else ended - started
            into.append(seconds / steps)
