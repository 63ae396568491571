"""Synthetic in-context linear regression prompts (Garg et al. 2022), dense or sparse.

A prompt is n_points pairs (x_i, y_i) with x_i ~ N(0, I_d) and y_i = w.x_i + noise_std * e_i, one
w per prompt: w ~ N(0, I_d), or for sparse tasks N(0, 1) on `sparsity` coordinates chosen uniformly
and 0 elsewhere. Training prompts are drawn fresh from the run's seeded generator (no epochs); the
validation and test prompts are fixed files of the prepared data set, the same for every run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from unrolled.atomic import atomic_path
from unrolled.data.batches import Sampler

SPLITS = ("val", "test")


def sample(n: int, n_dims: int, n_points: int, sparsity: int | None, noise_std: float,
           generator: torch.Generator) -> dict[str, torch.Tensor]:
    """n prompts: xs (n, n_points, n_dims), ys (n, n_points), ws (n, n_dims), on the generator's device."""
    device = generator.device
    xs = torch.randn(n, n_points, n_dims, generator=generator, device=device)
    ws = torch.randn(n, n_dims, generator=generator, device=device)
    if sparsity is not None:
        support = torch.rand(n, n_dims, generator=generator, device=device).argsort(dim=1)[:, :sparsity]
        ws = ws * torch.zeros(n, n_dims, device=device).scatter_(1, support, 1.0)
    noise = torch.randn(n, n_points, generator=generator, device=device) * noise_std
    ys = torch.einsum("npd,nd->np", xs, ws) + noise
    return {"xs": xs, "ys": ys, "ws": ws}


def signal_variance(meta: dict) -> float:
    """E[(w.x)^2] = E|w|^2: n_dims, or sparsity for sparse w. Errors are reported divided by it."""
    return float(meta["sparsity"] or meta["n_dims"])


def build(out: Path, n_dims: int, n_points: int, sparsity: int | None, noise_std: float,
          eval_prompts: int, split_seed: int) -> dict:
    if sparsity is not None and not 1 <= sparsity <= n_dims:
        raise ValueError(f"sparsity must be between 1 and n_dims ({n_dims}), got {sparsity}")
    g = torch.Generator().manual_seed(split_seed)
    for split in SPLITS:
        prompts = sample(eval_prompts, n_dims, n_points, sparsity, noise_std, g)
        with atomic_path(out / f"{split}.npz") as tmp, open(tmp, "wb") as handle:
            np.savez(handle, **{k: v.numpy() for k, v in prompts.items()})
    return {"kind": "regression", "n_dims": n_dims, "n_points": n_points, "sparsity": sparsity,
            "noise_std": noise_std, "eval_prompts": eval_prompts, "split_seed": split_seed}


def load_prompts(folder: str | Path, split: str) -> dict[str, torch.Tensor]:
    path = Path(folder) / f"{split}.npz"
    if not path.exists():
        raise FileNotFoundError(f"{path}: missing; prepare the regression data set first")
    with np.load(path) as f:
        return {k: torch.from_numpy(f[k]) for k in ("xs", "ys", "ws")}


class RegressionBatches(Sampler):
    """Fresh training prompts, drawn on the run's device from a generator the checkpoint carries;
    fixed validation prompts."""

    def __init__(self, folder: str | Path, meta: dict, batch_size: int, seed: int, device: str = "cpu"):
        self.folder, self.meta, self.batch_size = Path(folder), meta, batch_size
        self._seed(seed, torch.device(device))
        self.tokens_per_batch = batch_size  # prompts per step

    def next_train(self):
        m = self.meta
        p = sample(self.batch_size, m["n_dims"], m["n_points"], m["sparsity"], m["noise_std"], self.generator)
        return p["xs"], p["ys"]

    def val_batches(self, n_batches: int | None, val_seed: int) -> list:
        p = load_prompts(self.folder, "val")
        device = self.generator.device
        xs, ys = p["xs"].to(device).split(self.batch_size), p["ys"].to(device).split(self.batch_size)
        return list(zip(xs, ys))[: n_batches or None]
