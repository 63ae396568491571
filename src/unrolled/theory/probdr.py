"""Paper 1's unrolled inference on MNIST: a hand-set attention block as a Laplacian Eigenmaps step.

The latent X (n points, q dims) starts as a Gaussian random projection of the pixels, LayerNormed.
Ã = softmax(κ·n/q·X Xᵀ with the diagonal masked) is a row-stochastic adjacency (κ × cosine similarity,
since LN with weight 1/√n gives ‖x‖² = q/n). Two updates:

    authors  X ← LN(X + 2η Ã X)          what the authors' hand-set TransformerEncoderLayer computes
    a_minus_i  X ← LN(X + 2η (Ã − I) X)  the derivation's step

The hand-set block's feed-forward (−2η·x) is undone by its post-LN, so it does not apply the −I; the
tests check the block equals the first update. Both are unrolled to `depth` and scored at every depth
by kNN accuracy and silhouette of the digit classes, numbers the paper's figure lacks.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from unrolled.atomic import atomic_path, write_json

LN_EPS = 1e-10


def layer_norm(X: torch.Tensor, n: int) -> torch.Tensor:
    weight = torch.full((X.shape[-1],), 1 / math.sqrt(n), dtype=X.dtype)
    return F.layer_norm(X, (X.shape[-1],), weight=weight, eps=LN_EPS)


def initial_latent(pixels: np.ndarray, q: int, seed: int, dtype=torch.float64) -> torch.Tensor:
    """LN(x P) with P ~ N(0, 1/784): a random linear projection of the flattened images."""
    x = torch.as_tensor(pixels.reshape(len(pixels), -1), dtype=dtype) / 255.0
    g = torch.Generator().manual_seed(seed)
    P = torch.randn(x.shape[1], q, generator=g, dtype=dtype) / math.sqrt(x.shape[1])
    return layer_norm(x @ P, len(x))


def adjacency(X: torch.Tensor, kappa: float) -> torch.Tensor:
    n, q = X.shape
    scores = kappa * n / q * (X @ X.T)
    scores.fill_diagonal_(float("-inf"))  # no self-edges
    return torch.softmax(scores, dim=-1)


def step(X: torch.Tensor, kappa: float, eta: float, subtract_identity: bool) -> torch.Tensor:
    AX = adjacency(X, kappa) @ X
    return layer_norm(X + 2 * eta * (AX - X if subtract_identity else AX), len(X))


def hand_set_block(q: int, n: int, kappa: float, eta: float, dtype=torch.float64) -> nn.TransformerEncoderLayer:
    """The authors' single-head post-LN block with hand-set weights (their code's construction)."""
    block = nn.TransformerEncoderLayer(d_model=q, nhead=1, dim_feedforward=q, dropout=0.0,
                                       activation=lambda t: t, layer_norm_eps=LN_EPS, batch_first=True,
                                       norm_first=False, dtype=dtype)
    eye = torch.eye(q, dtype=dtype)
    with torch.no_grad():
        attn = block.self_attn
        attn.in_proj_weight.copy_(torch.cat([math.sqrt(kappa * n) * eye, math.sqrt(kappa * n / q) * eye,
                                             2 * eta * eye]))
        attn.in_proj_bias.zero_()
        attn.out_proj.weight.copy_(eye)
        attn.out_proj.bias.zero_()
        block.linear1.weight.copy_(eye)
        block.linear2.weight.copy_(-2 * eta * eye)  # meant to apply the "−I" ...
        block.linear1.bias.zero_()
        block.linear2.bias.zero_()
        for norm in (block.norm1, block.norm2):  # ... but norm2 removes the (1 − 2η) scale it creates
            norm.weight.fill_(1 / math.sqrt(n))
            norm.bias.zero_()
    return block.eval()


@torch.no_grad()
def apply_block(block: nn.TransformerEncoderLayer, X: torch.Tensor) -> torch.Tensor:
    n = len(X)
    mask = torch.zeros(n, n, dtype=X.dtype)
    mask.fill_diagonal_(float("-inf"))
    return block(X[None], src_mask=mask)[0]


def score(X: torch.Tensor, labels: np.ndarray, k: int = 10, seed: int = 0) -> dict:
    """5-fold kNN accuracy and silhouette (Euclidean) of the digit classes in the latent."""
    from sklearn.metrics import silhouette_score
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.neighbors import KNeighborsClassifier

    Z = X.float().numpy()
    folds = StratifiedKFold(5, shuffle=True, random_state=seed)
    knn = cross_val_score(KNeighborsClassifier(n_neighbors=k), Z, labels, cv=folds).mean()
    return {"knn_acc": float(knn), "silhouette": float(silhouette_score(Z, labels))}


def load_points(data: str, n: int | None, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`n` images (all if None) drawn with `seed` from a prepared image data set's train and val splits."""
    from unrolled.data.images import load_split

    parts = [load_split(data, split) for split in ("train", "val")]
    x, y = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    n = n or len(x)
    if n > len(x):
        raise ValueError(f"theory.probdr.n = {n} but {data} holds only {len(x)} images")
    order = np.random.default_rng(seed).permutation(len(x))[:n]
    return x[order], y[order]


def run(pixels: np.ndarray, labels: np.ndarray, q: int, kappa: float, eta: float, depth: int,
        block_depth: int, seed: int) -> tuple[dict, dict]:
    """Unroll both updates to `depth`; check the hand-set block for `block_depth` steps.

    Returns (results for JSON, latents to save: the first two dims at depths 0 and block_depth).
    """
    X0 = initial_latent(pixels, q, seed)
    n = len(X0)
    block = hand_set_block(q, n, kappa, eta)
    results = {"n": n, "q": q, "kappa": kappa, "eta": eta, "seed": seed, "depth": depth,
               "block_depth": block_depth, "updates": {}}
    latents = {"labels": labels, "depth0": X0[:, :2].float().numpy()}
    Xb = X0
    block_vs = {"authors": 0.0, "a_minus_i": 0.0}
    for _ in range(block_depth):  # the block against both explicit updates, from the same input
        Yb = apply_block(block, Xb)
        block_vs["authors"] = max(block_vs["authors"], (Yb - step(Xb, kappa, eta, False)).abs().max().item())
        block_vs["a_minus_i"] = max(block_vs["a_minus_i"], (Yb - step(Xb, kappa, eta, True)).abs().max().item())
        Xb = Yb
    results["block_max_abs_diff"] = block_vs
    results["latent_scale"] = X0.abs().mean().item()
    for name, subtract in (("authors", False), ("a_minus_i", True)):
        X, per_depth = X0, []
        for d in range(depth + 1):
            per_depth.append({"depth": d, **score(X, labels, seed=seed)})
            if d == block_depth:
                latents[f"{name}_depth{d}"] = X[:, :2].float().numpy()
            X = step(X, kappa, eta, subtract)
        results["updates"][name] = per_depth
    return results, latents


def experiment(spec: dict, data: str, out_json: str, out_latents: str) -> dict:
    """The config's `theory.probdr` entry on `data` (its prepared `dataset`): probdr.json and the
    latents the figure scatters (.npz), each written whole or not at all."""
    pixels, labels = load_points(data, spec.get("n"), spec["seed"])
    results, latents = run(pixels, labels, **{k: v for k, v in spec.items() if k not in ("dataset", "n")})
    with atomic_path(out_latents) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, **latents)
    write_json(out_json, results)
    return results
