"""The fused, chunked LM head + cross-entropy (model.loss_chunk) against the unfused path it replaces."""

from __future__ import annotations

import copy
import dataclasses

import pytest
import torch
import torch.nn.functional as F

from unrolled.models import Ensemble, ModelConfig, Transformer
from unrolled.models.chunked_loss import linear_cross_entropy


@pytest.mark.parametrize("chunk", [1, 8, 37, 100])  # one row; a non-divisor; exactly N; more than N
def test_loss_and_gradients_equal_cross_entropy_of_the_full_logits(chunk):
    torch.manual_seed(0)
    h = torch.randn(37, 16, dtype=torch.float64, requires_grad=True)
    w = torch.randn(50, 16, dtype=torch.float64, requires_grad=True)
    t = torch.randint(0, 50, (37,))
    full = F.cross_entropy(h @ w.t(), t)
    chunked = linear_cross_entropy(h, w, t, chunk)
    assert chunked.item() == pytest.approx(full.item(), rel=1e-12)
    # an upstream gradient other than 1 (the trainer divides by grad_accum) scales both gradients
    for a, b in zip(torch.autograd.grad(2.5 * full, (h, w)), torch.autograd.grad(2.5 * chunked, (h, w))):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)
    if chunk == 8:  # and against finite differences
        assert torch.autograd.gradcheck(lambda h, w: linear_cross_entropy(h, w, t, chunk), (h, w))


def test_under_bf16_autocast_it_is_the_unfused_autocast_loss():
    torch.manual_seed(0)
    h, w, t = torch.randn(64, 32), torch.randn(97, 32), torch.randint(0, 97, (64,))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        full, chunked = F.cross_entropy(h @ w.t(), t), linear_cross_entropy(h, w, t, 16)
    assert chunked.dtype == full.dtype == torch.float32
    assert chunked.item() == pytest.approx(full.item(), rel=1e-3)
    assert chunked.item() != pytest.approx(F.cross_entropy(h @ w.t(), t).item(), rel=1e-6)  # bf16 matmuls ran


def _pair(chunk=24, **cfg):
    torch.manual_seed(0)
    cfg = ModelConfig(n_layer=2, n_head=2, n_embd=32, block_size=16, vocab_size=1000, **cfg)
    plain = Transformer(cfg)
    fused = copy.deepcopy(plain)
    fused.cfg = dataclasses.replace(cfg, loss_chunk=chunk)
    x, y = torch.randint(0, 1000, (2, 4, 16))
    return plain, fused, x, y


def _saved_bytes(model, x, y):
    """Bytes autograd keeps for the backward pass of one forward."""
    saved = []

    def pack(t):
        saved.append(t.numel() * t.element_size())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        _, loss = model(x, y)
    return sum(saved), loss


def test_a_model_with_loss_chunk_trains_as_one_without_and_keeps_no_logits():
    plain, fused, x, y = _pair()
    full_bytes, full = _saved_bytes(plain, x, y)
    chunk_bytes, chunked = _saved_bytes(fused, x, y)
    full.backward()
    chunked.backward()
    assert chunked.item() == pytest.approx(full.item(), rel=1e-6)
    for (name, p), q in zip(plain.named_parameters(), fused.parameters()):
        torch.testing.assert_close(q.grad, p.grad, rtol=1e-5, atol=1e-7, msg=name)
    # the unfused path keeps the (N, V) logits' softmax for its backward; the fused one only dL/dh and dL/dW
    logits_bytes = x.numel() * 1000 * 4
    assert full_bytes - chunk_bytes >= logits_bytes - 1000 * 32 * 4
    assert fused(x, y)[0] is None  # training's logits are never built whole
    with torch.no_grad():  # evaluation: the same loss, no gradients computed
        assert fused.eval()(x, y)[1].item() == pytest.approx(plain.eval()(x, y)[1].item(), rel=1e-6)
    assert fused(x)[0].shape == (4, 16, 1000)  # without targets (generation, zero-shot): the logits


def test_compiled_model_with_loss_chunk_matches_eager():
    plain, fused, x, y = _pair(chunk=20)
    _, full = plain(x, y)
    full.backward()
    _, chunked = torch.compile(fused)(x, y)
    chunked.backward()
    assert chunked.item() == pytest.approx(full.item(), rel=1e-5)
    for p, q in zip(plain.parameters(), fused.parameters()):
        torch.testing.assert_close(q.grad, p.grad, rtol=1e-4, atol=1e-6)


def test_loss_chunk_is_refused_where_it_cannot_act():
    with pytest.raises(ValueError, match="model.loss_chunk"):
        ModelConfig(loss_chunk=-1)
    with pytest.raises(ValueError, match="model.loss_chunk"):
        ModelConfig(task="vit", loss_chunk=64)
    cfg = ModelConfig(n_layer=1, n_head=2, n_embd=16, block_size=8, vocab_size=20, loss_chunk=8)
    with pytest.raises(ValueError, match="a seed group of more than one"):
        Ensemble([Transformer(cfg), Transformer(cfg)])
