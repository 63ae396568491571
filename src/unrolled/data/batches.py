"""Training and validation batches for prepared data sets, drawn where the model runs.

Training batches come from a torch.Generator owned by the sampler, so its state can be checkpointed
and a resumed run draws exactly the batches an uninterrupted one would. Validation batches are fixed
by `val_seed` alone, never by the run's seed, and are always drawn on the CPU: every arm, seed and
device is scored on the same batches, which makes comparisons paired.

Where the data live. A data set of at most RESIDENT_BYTES is copied once to the run's device, and
its batches are sampled there by a generator on that device: no host work and no copy per step
(images are normalised on the device too). A larger one (OpenWebText) stays memory-mapped on the
host; its batches are gathered there into pinned memory and copied asynchronously one step ahead.
On the CPU both paths draw exactly the batches they drew before the device path existed.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import torch

from unrolled.atomic import load_meta
from unrolled.data.images import load_split
from unrolled.data.text import load_tokens
from unrolled.errors import UnrolledError

RESIDENT_BYTES = 4 * 2**30  # "a few GB": char text, ICL prompts, ImageNet 16x16 (1 GB) live on the device


class Sampler:
    """What every sampler shares: its device, its generator, and a copy of itself for another seed."""

    def _seed(self, seed: int, device: torch.device) -> None:
        self.generator = torch.Generator(device=device).manual_seed(seed)

    def with_seed(self, seed: int):
        """The same data (not copied) with its own generator: what a run with `seed` would draw."""
        other = copy.copy(self)
        other._seed(seed, self.generator.device)
        other.reset()
        return other

    def reset(self) -> None:
        """Forget position state drawn from the old generator (nothing, for samplers without any)."""

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state(), "device": self.generator.device.type}

    def load_state_dict(self, state: dict, source: str = "checkpoint") -> None:
        if state.get("device", "cpu") != self.generator.device.type:
            raise UnrolledError(f"{source}: its data order was drawn on {state.get('device', 'cpu')}, this run is "
                                f"on {self.generator.device.type}; resume on the same kind of device, or delete it")
        self.generator.set_state(state["generator"])


class TokenBatches(Sampler):
    """Random windows of `block_size + 1` tokens from train.bin / val.bin (nanoGPT's sampler)."""

    def __init__(self, folder: str | Path, block_size: int, batch_size: int, seed: int,
                 device: str | torch.device = "cpu"):
        folder, self.device = Path(folder), torch.device(device)
        train, val = load_tokens(folder / "train.bin"), load_tokens(folder / "val.bin")
        self.block_size, self.batch_size = block_size, batch_size
        for name, arr in (("train.bin", train), ("val.bin", val)):
            if len(arr) <= block_size + 1:
                raise ValueError(f"{folder / name}: {len(arr)} tokens, fewer than one block of {block_size + 1}")
        self.resident = train.nbytes <= RESIDENT_BYTES
        self.prefetch = not self.resident and self.device.type != "cpu"
        # int32 on the device (uint16 cannot index); a host copy of a memory map is int64 per batch.
        self.train = torch.from_numpy(train.astype(np.int32)).to(self.device) if self.resident else train
        self.val = val
        self.offsets = torch.arange(block_size + 1, device=self.device if self.resident else "cpu")
        self._seed(seed, self.device if self.resident else torch.device("cpu"))
        self.tokens_per_batch = batch_size * block_size
        self.reset()

    def reset(self) -> None:
        self._ahead = None  # host path: the next batch, already on its way to the device

    def _starts(self, n_tokens: int, generator: torch.Generator) -> torch.Tensor:
        return torch.randint(n_tokens - self.block_size - 1, (self.batch_size,), generator=generator,
                             device=generator.device)

    def _host_windows(self, data: np.ndarray, starts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        rows = torch.from_numpy(np.stack([data[s: s + self.block_size + 1] for s in starts.tolist()]).astype(np.int64))
        return rows[:, :-1], rows[:, 1:]

    def next_train(self):
        if self.resident:
            rows = self.train[self._starts(len(self.train), self.generator)[:, None] + self.offsets].long()
            return rows[:, :-1], rows[:, 1:]
        if not self.prefetch:
            return self._host_windows(self.train, self._starts(len(self.train), self.generator))
        # Host path to a GPU: hand out the batch copied last step and start the copy of the next one.
        if self._ahead is None:
            self._ahead = self._copy_ahead()
        batch, self._ahead = self._ahead, None
        self._ahead = self._copy_ahead()
        return batch[0]

    def _copy_ahead(self):
        state = self.generator.get_state()  # a checkpoint rewinds to here: this batch is not used yet
        batch = self._host_windows(self.train, self._starts(len(self.train), self.generator))
        if self.device.type == "cuda":  # from pinned memory the copy is asynchronous
            batch = tuple(t.pin_memory().to(self.device, non_blocking=True) for t in batch)
        return batch, state

    def state_dict(self) -> dict:
        state = super().state_dict()
        if self._ahead is not None:
            state["generator"] = self._ahead[1]
        return state

    def load_state_dict(self, state: dict, source: str = "checkpoint") -> None:
        super().load_state_dict(state, source)
        self.reset()

    def val_batches(self, n_batches: int, val_seed: int) -> list:
        g = torch.Generator().manual_seed(val_seed)
        return [tuple(t.to(self.device) for t in self._host_windows(self.val, self._starts(len(self.val), g)))
                for _ in range(n_batches)]


class ImageBatches(Sampler):
    """Shuffled epochs over the train split; the val split in order, whole (or its first batches)."""

    def __init__(self, folder: str | Path, batch_size: int, seed: int, device: str | torch.device = "cpu"):
        meta = load_meta(folder)
        train_x, self.train_y = load_split(folder, "train")
        self.val_x, self.val_y = load_split(folder, "val")
        self.device = torch.device(device)
        where = self.device if train_x.nbytes <= RESIDENT_BYTES else torch.device("cpu")
        # np.array copies: memory-mapped slices are read-only, which torch warns about.
        self.train_x = torch.from_numpy(np.array(train_x)).to(where)
        self.train_labels = torch.from_numpy(np.array(self.train_y)).to(where)
        self.mean = torch.tensor(meta["mean"], device=self.device).view(1, -1, 1, 1)
        self.std = torch.tensor(meta["std"], device=self.device).view(1, -1, 1, 1)
        self.batch_size = batch_size
        self._seed(seed, where)
        self.tokens_per_batch = batch_size  # images per step; the trainer reports it as throughput
        self.reset()

    def reset(self) -> None:
        self.order = torch.empty(0, dtype=torch.long, device=self.generator.device)
        self.cursor = 0

    def _normalise(self, x: torch.Tensor) -> torch.Tensor:
        """uint8 images to the training split's per-channel standard scores, on the run's device."""
        return (x.to(self.device, non_blocking=True).float() / 255.0 - self.mean) / self.std

    def next_train(self):
        if self.cursor + self.batch_size > len(self.order):  # new epoch; the last partial batch is dropped
            self.order = torch.randperm(len(self.train_labels), generator=self.generator, device=self.generator.device)
            self.cursor = 0
        idx = self.order[self.cursor: self.cursor + self.batch_size].sort().values
        self.cursor += self.batch_size
        return self._normalise(self.train_x[idx]), self.train_labels[idx].to(self.device, non_blocking=True)

    def val_batches(self, n_batches: int | None, val_seed: int) -> list:
        batches = []
        for start in range(0, len(self.val_y), self.batch_size):
            if n_batches and len(batches) == n_batches:
                break
            sl = slice(start, start + self.batch_size)
            batches.append((self._normalise(torch.from_numpy(np.array(self.val_x[sl]))),
                            torch.from_numpy(np.array(self.val_y[sl])).to(self.device)))
        return batches

    def state_dict(self) -> dict:
        return {**super().state_dict(), "order": self.order.cpu(), "cursor": self.cursor}

    def load_state_dict(self, state: dict, source: str = "checkpoint") -> None:
        super().load_state_dict(state, source)
        self.order, self.cursor = state["order"].to(self.generator.device), state["cursor"]


class MemberBatches:
    """One sampler per ensemble member over one copy of the data; batches stacked as (members, ...).

    Member k draws exactly the batches a single run with seed k draws.
    """

    def __init__(self, sampler, seeds: list[int]):
        self.members = [sampler.with_seed(s) for s in seeds]
        self.tokens_per_batch = sampler.tokens_per_batch
        self.sampler = sampler

    @staticmethod
    def of(sampler, seeds: list[int]):
        """The batches of a job of these seeds: the sampler itself for one (it was built with that seed)."""
        return sampler if len(seeds) == 1 else MemberBatches(sampler, seeds)

    def val_batches(self, n_batches: int | None, val_seed: int) -> list:
        """Every member scores the same batches: each expanded (a view) to (members, ...)."""
        E = len(self.members)
        return [(x.expand(E, *x.shape), y.expand(E, *y.shape))
                for x, y in self.sampler.val_batches(n_batches, val_seed)]

    def next_train(self):
        xs, ys = zip(*(m.next_train() for m in self.members))
        return torch.stack(xs), torch.stack(ys)

    def state_dict(self) -> list[dict]:
        return [m.state_dict() for m in self.members]

    def load_state_dict(self, states: list[dict], source: str = "checkpoint") -> None:
        for member, state in zip(self.members, states, strict=True):
            member.load_state_dict(state, source)
