"""Training and validation batches for prepared data sets.

Training batches come from a torch.Generator owned by the sampler, so its state can be checkpointed
and a resumed run draws exactly the batches an uninterrupted one would. Validation batches are fixed
by `val_seed` alone, never by the run's seed: every arm and seed is scored on the same batches, which
makes comparisons paired.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from unrolled.data.images import load_split
from unrolled.data.text import load_tokens


def load_meta(folder: str | Path) -> dict:
    path = Path(folder) / "meta.json"
    if not path.exists():
        raise FileNotFoundError(f"{path}: not a prepared data set (run the data stage first)")
    return json.loads(path.read_text())


class TokenBatches:
    """Random windows of `block_size + 1` tokens from train.bin / val.bin (nanoGPT's sampler)."""

    def __init__(self, folder: str | Path, block_size: int, batch_size: int, seed: int):
        folder = Path(folder)
        self.train, self.val = load_tokens(folder / "train.bin"), load_tokens(folder / "val.bin")
        self.block_size, self.batch_size = block_size, batch_size
        for name, arr in (("train.bin", self.train), ("val.bin", self.val)):
            if len(arr) <= block_size + 1:
                raise ValueError(f"{folder / name}: {len(arr)} tokens, fewer than one block of {block_size + 1}")
        self.generator = torch.Generator().manual_seed(seed)
        self.tokens_per_batch = batch_size * block_size

    def _windows(self, data: np.ndarray, starts: torch.Tensor):
        rows = np.stack([data[s: s + self.block_size + 1] for s in starts.tolist()]).astype(np.int64)
        rows = torch.from_numpy(rows)
        return rows[:, :-1], rows[:, 1:]

    def next_train(self):
        starts = torch.randint(len(self.train) - self.block_size - 1, (self.batch_size,), generator=self.generator)
        return self._windows(self.train, starts)

    def val_batches(self, n_batches: int, val_seed: int) -> list:
        g = torch.Generator().manual_seed(val_seed)
        return [self._windows(self.val, torch.randint(len(self.val) - self.block_size - 1, (self.batch_size,),
                                                      generator=g)) for _ in range(n_batches)]


class ImageBatches:
    """Shuffled epochs over the train split; the val split in order, whole (or its first batches)."""

    def __init__(self, folder: str | Path, batch_size: int, seed: int):
        meta = load_meta(folder)
        mean = torch.tensor(meta["mean"]).view(1, -1, 1, 1)
        std = torch.tensor(meta["std"]).view(1, -1, 1, 1)
        # np.array copies: memory-mapped slices are read-only, which torch warns about.
        self._normalise = lambda x: (torch.from_numpy(np.array(x)).float() / 255.0 - mean) / std  # noqa: E731
        self.train_x, self.train_y = load_split(folder, "train")
        self.val_x, self.val_y = load_split(folder, "val")
        self.batch_size = batch_size
        self.generator = torch.Generator().manual_seed(seed)
        self.order = torch.empty(0, dtype=torch.long)
        self.cursor = 0
        self.tokens_per_batch = batch_size  # images per step; the trainer reports it as throughput

    def next_train(self):
        if self.cursor + self.batch_size > len(self.order):  # new epoch; the last partial batch is dropped
            self.order = torch.randperm(len(self.train_y), generator=self.generator)
            self.cursor = 0
        idx = np.sort(self.order[self.cursor: self.cursor + self.batch_size].numpy())
        self.cursor += self.batch_size
        return self._normalise(self.train_x[idx]), torch.from_numpy(self.train_y[idx])

    def val_batches(self, n_batches: int | None, val_seed: int) -> list:
        batches = []
        for start in range(0, len(self.val_y), self.batch_size):
            if n_batches and len(batches) == n_batches:
                break
            sl = slice(start, start + self.batch_size)
            batches.append((self._normalise(self.val_x[sl]), torch.from_numpy(self.val_y[sl])))
        return batches

    def state_dict(self) -> dict:
        return {"order": self.order, "cursor": self.cursor}

    def load_state_dict(self, state: dict) -> None:
        self.order, self.cursor = state["order"], state["cursor"]


def sampler_state(batches) -> dict:
    state = {"generator": batches.generator.get_state()}
    if hasattr(batches, "state_dict"):
        state["extra"] = batches.state_dict()
    return state


def load_sampler_state(batches, state: dict) -> None:
    batches.generator.set_state(state["generator"])
    if "extra" in state:
        batches.load_state_dict(state["extra"])
