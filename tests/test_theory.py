"""Theory checks: the hand-set block equals its explicit update; the SNR rate matches 1 + eta*tau."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from unrolled.theory import probdr, snr


@pytest.fixture
def latent():
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (300, 784)).astype(np.uint8)
    return probdr.initial_latent(pixels, q=16, seed=0)


def test_hand_set_block_computes_ln_x_plus_2_eta_ax_not_the_laplacian_step(latent):
    """The authors' block: LN(X + 2ηÃX) to float precision; the −I of the derivation is lost."""
    block = probdr.hand_set_block(q=16, n=300, kappa=30.0, eta=0.4)
    out = probdr.apply_block(block, latent)
    authors = probdr.step(latent, 30.0, 0.4, subtract_identity=False)
    laplacian = probdr.step(latent, 30.0, 0.4, subtract_identity=True)
    scale = latent.abs().mean().item()
    assert (out - authors).abs().max().item() < 1e-6 * scale * 100  # LN eps (1e-10) is the only difference
    assert (out - laplacian).abs().max().item() > 0.1 * scale


def test_latent_and_adjacency_properties(latent):
    n, q = latent.shape
    assert torch.allclose(latent.pow(2).sum(1), torch.full((n,), q / n, dtype=latent.dtype), rtol=1e-6)
    A = probdr.adjacency(latent, 30.0)
    assert torch.allclose(A.sum(1), torch.ones(n, dtype=A.dtype)) and torch.all(A.diagonal() == 0)


def test_scores_separate_clustered_points():
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(3, 784)) * 60 + 128
    labels = np.repeat(np.arange(3), 40)
    pixels = np.clip(centres[labels] + rng.normal(size=(120, 784)) * 10, 0, 255)
    s = probdr.score(probdr.initial_latent(pixels, 16, 0), labels)
    assert s["knn_acc"] > 0.95 and s["silhouette"] > 0.3


def test_snr_grows_at_exactly_one_plus_eta_tau_in_the_theorems_regime():
    N, K, p, eta, tau = 512, 4, 32, 0.1, 0.75
    assert 0.5 < tau <= 1 / (1 + N * np.exp(-9 * p / 32))  # the theorem's interval for tau
    values = snr.trajectory(N, K, p, delta=0.2, eta=eta, tau=tau, layers=5, seed=0)
    ratios = np.array(values[1:]) / np.array(values[:-1])
    np.testing.assert_allclose(ratios, 1 + eta * tau, rtol=1e-9)
    assert snr.fitted_rate(values) == pytest.approx(1 + eta * tau, rel=1e-9)


def test_snr_growth_stops_with_a_large_step():
    values = snr.trajectory(512, 4, 32, delta=0.2, eta=1.0, tau=0.75, layers=10, seed=0)
    stall = snr.stall_layer(values, 1.75)
    assert stall is not None and stall <= 5
    assert max(values) < values[0] * 1.75 ** 10 / 100


def test_molrg_sample_statistics():
    Z, bases, labels = snr.sample(2000, 4, 8, delta=0.5, seed=0)
    B = np.hstack(bases)
    np.testing.assert_allclose(B.T @ B, np.eye(32), atol=1e-10)  # mutually orthogonal, orthonormal bases
    k = 0
    Zk = Z[:, labels == k]
    own = bases[k].T @ Zk
    other = bases[1].T @ Zk
    assert own.var() == pytest.approx(1.0, rel=0.05)  # a ~ N(0, I_p)
    assert other.var() == pytest.approx(0.25, rel=0.05)  # e_j ~ N(0, delta^2 I_p)
    expected = 1 / (0.5 * np.sqrt(3))  # ||signal|| / ||noise|| = sqrt(p) / (delta sqrt((K-1) p))
    assert snr.snr(Z, bases, labels) == pytest.approx(expected, rel=0.05)
