"""XSA's projection with its gradient written out (models/xsa.py) against autograd's composite form."""

from __future__ import annotations

import pytest
import torch
from torch.func import vmap

from unrolled.models import ModelConfig, Transformer, stack, xsa


def _pair(shape, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(shape, generator=g, dtype=dtype, requires_grad=True) for _ in range(2)]


def _grads(out, inputs, upstream):
    return torch.autograd.grad(out, inputs, upstream, retain_graph=True)


def test_exclusive_is_the_composite_projection_with_its_exact_gradient():
    y, v = _pair((2, 3, 5, 8))
    composite, fused = xsa.composite(y, v), xsa.exclusive(y, v)
    torch.testing.assert_close(fused, composite, rtol=1e-12, atol=1e-14)
    upstream = torch.randn_like(composite)
    for a, b in zip(_grads(composite, (y, v), upstream), _grads(fused, (y, v), upstream)):
        torch.testing.assert_close(b, a, rtol=1e-12, atol=1e-13)
    assert torch.autograd.gradcheck(xsa.exclusive, (y, v))  # and against finite differences
    assert (fused * v).sum(-1).abs().max() < 1e-12  # orthogonal to the token's own value


def test_exclusive_under_vmap_and_compile_as_a_seed_ensemble_runs_it():
    """vmap, compile, and vmap inside compile (a compiled seed ensemble). In the last, torch.compile inlines the
    Function's forward and differentiates it instead of calling the written-out backward (pytorch#129845:
    vmap's batched tensors report no grad): the gradient must still be the projection's."""
    y, v = _pair((3, 2, 4, 8), dtype=torch.float32)
    reference = vmap(xsa.composite)(y, v)
    upstream = torch.randn_like(reference)
    for fn in (vmap(xsa.exclusive), torch.compile(xsa.exclusive), torch.compile(vmap(xsa.exclusive))):
        out = fn(y, v)
        torch.testing.assert_close(out, reference, rtol=1e-5, atol=1e-6)
        for a, b in zip(_grads(reference, (y, v), upstream), _grads(out, (y, v), upstream)):
            torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6)


def test_a_zero_value_gives_the_composite_s_output_not_nan():
    y, v = _pair((1, 1, 2, 4))
    with torch.no_grad():
        v[..., 0, :] = 0.0
    assert torch.equal(xsa.exclusive(y, v), xsa.composite(y, v))


@pytest.mark.parametrize("members", [1, 2])
def test_models_train_alike_with_either_form_and_the_cpu_keeps_the_composite(members, monkeypatch):
    cfg = ModelConfig(n_layer=2, n_head=2, n_embd=16, block_size=8, vocab_size=30, identity="exclusive")
    models = []
    for fused in (False, True):
        torch.manual_seed(0)
        model = stack([Transformer(cfg) for _ in range(members)])
        for module in model.modules():
            if hasattr(module, "fused_xsa"):
                module.fused_xsa = fused
        models.append(model)
    x, y = torch.randint(0, 30, (2, members, 4, 8)) if members > 1 else torch.randint(0, 30, (2, 4, 8))
    losses, calls, real = [], [], xsa.exclusive
    monkeypatch.setattr(xsa, "exclusive", lambda *a: calls.append(1) or real(*a))  # a spy on the fused form
    for fused, model in zip((False, True), models):
        calls.clear()
        _, loss = model(x, y)
        loss.sum().backward()
        losses.append(loss.detach())
        assert len(calls) == (cfg.n_layer if fused else 0), fused  # the fused form runs exactly when asked for
    torch.testing.assert_close(losses[1], losses[0], rtol=1e-6, atol=1e-6)
    for p, q in zip(models[0].parameters(), models[1].parameters()):
        torch.testing.assert_close(q.grad, p.grad, rtol=1e-4, atol=1e-6)
    # by default (fused_xsa None) a CPU model never calls the fused form: its results stay byte-identical
    monkeypatch.setattr(xsa, "exclusive", lambda *a: pytest.fail("the fused XSA ran on the CPU"))
    torch.manual_seed(0)
    default = stack([Transformer(cfg) for _ in range(members)])
    assert torch.equal(default(x, y)[1], losses[0])
