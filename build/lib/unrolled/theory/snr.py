"""Paper 2's denoising on a mixture of low-rank Gaussians (MoLRG): the SNR of MSSA layers.

Tokens (columns of Z) come from K groups with mutually orthogonal bases U_k (d × p, d = K p):
z = U_k a + Σ_{j≠k} U_j e_j with a ~ N(0, I_p), e_j ~ N(0, δ² I_p). One MSSA layer:

    Z ← Z + η Σ_k U_k U_kᵀ Z φ(Zᵀ U_k U_kᵀ Z),  φ = column-wise softmax, then h(x) = τ·1{x > τ}

Theorem (Wang et al.): for p ≳ log N, δ ≲ √(log N)/√p and τ ∈ (1/2, 1/(1 + N e^{−9p/32})], with high
probability SNR(ℓ+1) = (1 + ητ)·SNR(ℓ). Growth stops once the signals are large enough that a token's
softmax over another group's projection puts more than τ on one token: it then gains a foreign signal.
"""

from __future__ import annotations

import numpy as np
from scipy.special import softmax


def sample(n_tokens: int, groups: int, p: int, delta: float, seed: int):
    """Z (d × N), the bases U (K of d × p) and each token's group."""
    rng = np.random.default_rng(seed)
    d = groups * p
    Q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    bases = [Q[:, k * p:(k + 1) * p] for k in range(groups)]
    labels = np.arange(n_tokens) % groups
    Z = np.zeros((d, n_tokens))
    for k in range(groups):
        cols = labels == k
        Z[:, cols] += bases[k] @ rng.standard_normal((p, cols.sum()))
        for j in range(groups):
            if j != k:
                Z[:, cols] += bases[j] @ (delta * rng.standard_normal((p, cols.sum())))
    return Z, bases, labels


def mssa_layer(Z: np.ndarray, bases, eta: float, tau: float) -> np.ndarray:
    update = np.zeros_like(Z)
    for U in bases:
        proj = U.T @ Z  # p × N
        weights = softmax(proj.T @ proj, axis=0)  # column-wise softmax
        update += U @ (proj @ (tau * (weights > tau)))
    return Z + eta * update


def snr(Z: np.ndarray, bases, labels) -> float:
    """Mean over groups of ‖U_k U_kᵀ Z_k‖_F / ‖(I − U_k U_kᵀ) Z_k‖_F."""
    ratios = []
    for k, U in enumerate(bases):
        Zk = Z[:, labels == k]
        signal = U @ (U.T @ Zk)
        ratios.append(np.linalg.norm(signal) / np.linalg.norm(Zk - signal))
    return float(np.mean(ratios))


def trajectory(n_tokens, groups, p, delta, eta, tau, layers, seed) -> list[float]:
    Z, bases, labels = sample(n_tokens, groups, p, delta, seed)
    out = [snr(Z, bases, labels)]
    for _ in range(layers):
        Z = mssa_layer(Z, bases, eta, tau)
        out.append(snr(Z, bases, labels))
    return out


def fitted_rate(values: list[float]) -> float:
    """exp(slope) of a least-squares line through log SNR against layer."""
    layers = np.arange(len(values))
    slope, _ = np.polyfit(layers, np.log(values), 1)
    return float(np.exp(slope))


def stall_layer(values: list[float], rate: float, tolerance: float = 0.01) -> int | None:
    """First layer whose step ratio falls more than `tolerance` below the theoretical rate."""
    for layer, (a, b) in enumerate(zip(values, values[1:]), start=1):
        if b / a < rate * (1 - tolerance):
            return layer
    return None


def run(n_tokens: int, groups: int, p: int, deltas: list[float], eta: float, tau: float, layers: int,
        long_layers: int, etas: list[float], seed: int) -> dict:
    theory = 1 + eta * tau
    tau_max = 1 / (1 + n_tokens * np.exp(-9 * p / 32))
    out = {"n_tokens": n_tokens, "groups": groups, "p": p, "d": groups * p, "eta": eta, "tau": tau,
           "layers": layers, "seed": seed, "theory_rate": theory,
           "conditions": {"log_N": float(np.log(n_tokens)), "tau_interval": [0.5, float(tau_max)],
                          "delta_bound": float(np.sqrt(np.log(n_tokens) / p)),
                          "tau_in_interval": bool(0.5 < tau <= tau_max)},
           "deltas": {}, "long_run": {}}
    for delta in deltas:
        values = trajectory(n_tokens, groups, p, delta, eta, tau, layers, seed)
        stall = stall_layer(values, theory)
        linear = values[:stall] if stall and stall >= 2 else values  # fit the rate where it holds
        out["deltas"][str(delta)] = {"snr": values, "stall_layer": stall, "fit_layers": len(linear),
                                     "fitted_rate": fitted_rate(linear),
                                     "step_ratios": [b / a for a, b in zip(values, values[1:])]}
    for e in etas:  # many layers, several step sizes: where the linear rate stops holding
        values = trajectory(n_tokens, groups, p, deltas[0], e, tau, long_layers, seed)
        out["long_run"][str(e)] = {"snr": values, "theory_rate": 1 + e * tau,
                                   "stall_layer": stall_layer(values, 1 + e * tau)}
    return out


def from_spec(spec: dict) -> dict:
    """The config's theory.snr entry, run."""
    return run(**spec)
