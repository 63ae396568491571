"""The model against explicit reference computations, for every combination of the switches."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
import torch.nn.functional as F

from unrolled.models import ModelConfig, Transformer

VARIANTS = [dict(attention=a, identity=i, mlp=m, mssa_output=o)
            for a, i, m, o in itertools.product(("mhsa", "mssa"), ("none", "subtract", "learned", "exclusive"),
                                                ("gelu", "none"), ("learned", "tied"))
            if not (a == "mhsa" and o == "tied")]
TASKS = {
    "lm": dict(task="lm", vocab_size=17, block_size=12),
    "vit": dict(task="vit", image_size=8, patch_size=4, channels=3, num_classes=5),
    "regression": dict(task="regression", n_dims=3, block_size=12),
}


def _ids(v):
    return "-".join(f"{k}={val}" for k, val in v.items())


def _model(task, variant, **extra):
    torch.manual_seed(0)
    cfg = ModelConfig(**TASKS[task], **variant, **{"n_layer": 2, "n_head": 2, "n_embd": 16, **extra})
    return Transformer(cfg)


def _inputs(task, batch=3):
    g = torch.Generator().manual_seed(1)
    if task == "lm":
        return torch.randint(0, 17, (batch, 12), generator=g), torch.randint(0, 17, (batch, 12), generator=g)
    if task == "regression":
        return torch.randn(batch, 6, 3, generator=g), torch.randn(batch, 6, generator=g)
    return torch.randn(batch, 3, 8, 8, generator=g), torch.randint(0, 5, (batch,), generator=g)


def explicit_attention(attn, x, identity_scale):
    """(softmax(Q K^T / sqrt(d) + mask) - a I) V with the T x T matrix built by hand; for XSA, A V minus
    its projection <A V, v> / <v, v> v on each token's own value, head by head."""
    q, k, v = attn.heads(x)
    T, hd = x.size(1), q.size(-1)
    scores = q @ k.transpose(-2, -1) / math.sqrt(hd)
    if attn.causal:
        scores = scores.masked_fill(torch.triu(torch.ones(T, T, dtype=torch.bool), 1), float("-inf"))
    A = torch.softmax(scores, dim=-1)
    if attn.identity == "exclusive":
        y = A @ v
        y = y - (y * v).sum(-1, keepdim=True) / (v * v).sum(-1, keepdim=True) * v
    else:
        a = {"none": 0.0, "subtract": 1.0}.get(attn.identity, identity_scale)
        y = (A - a * torch.eye(T)) @ v
    y = y.transpose(1, 2).reshape(x.shape)
    return y @ attn.proj.weight if attn.tied_output else attn.out(y)


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("variant", VARIANTS, ids=_ids)
def test_fused_attention_equals_explicit(task, variant):
    model = _model(task, variant).eval()
    x, y = _inputs(task)
    h = model.embed(x, y if task == "regression" else None)
    with torch.no_grad():
        for block in model.blocks:
            inp = block.ln_attn(h)
            fused = block.attn(inp, model.identity_scale)
            ref = explicit_attention(block.attn, inp, model.identity_scale)
            torch.testing.assert_close(fused, ref, atol=1e-5, rtol=0)
            h = block(h, model.identity_scale)


@pytest.mark.parametrize("output", ["learned", "tied"])
def test_mssa_shares_one_projection_for_q_k_v(output):
    attn = _model("lm", dict(attention="mssa", mssa_output=output)).blocks[0].attn
    assert not hasattr(attn, "qkv")
    q, k, v = attn.heads(torch.randn(2, 5, 16))
    assert q is k is v
    projections = [n for n, _ in attn.named_parameters()]
    assert projections == (["proj.weight", "out.weight"] if output == "learned" else ["proj.weight"])


@pytest.mark.parametrize("task", ["lm", "vit"])  # causal and bidirectional
@pytest.mark.parametrize("attention", ["mhsa", "mssa"])
@pytest.mark.parametrize("fused", [False, True])  # models/xsa.py's two forms (the GPU's is the fused one)
def test_exclusive_output_is_orthogonal_to_own_value_per_head(task, attention, fused):
    """XSA: every head's output (before the output projection) has no component along the token's v."""
    attn = _model(task, dict(attention=attention, identity="exclusive")).blocks[0].attn.eval()
    attn.fused_xsa = fused
    x = torch.randn(3, 9, 16)
    seen = {}
    attn.out.register_forward_pre_hook(lambda _, args: seen.setdefault("y", args[0]))
    with torch.no_grad():
        attn(x)
        _, _, v = attn.heads(x)
    y = seen["y"].view(3, 9, 2, 8).transpose(1, 2)  # back to (B, head, T, head_dim)
    along_v = lambda out: (out * F.normalize(v, dim=-1)).sum(-1)  # noqa: E731  (component along v)
    assert along_v(y).abs().max() < 1e-5
    # Causal token 0 sees only itself, so A v = v and XSA leaves exactly nothing, as A - I does;
    # every later token keeps an output, so it is not orthogonal by being zero.
    first = 1 if task == "lm" else 0
    assert y[:, :, first:].norm(dim=-1).min() > 1e-3
    # without the update the same heads have a large component along v: the check can fail
    plain = F.scaled_dot_product_attention(*attn.heads(x), is_causal=task == "lm")
    assert along_v(plain).abs().max() > 1e-2  # 1000x the bound above


def test_causal_laplacian_first_token_output_is_exactly_zero():
    attn = _model("lm", dict(identity="subtract")).blocks[0].attn.eval()
    x = torch.randn(4, 12, 16)
    out = attn(x)
    assert torch.equal(out[:, 0], torch.zeros_like(out[:, 0]))
    assert out[:, 1:].abs().min() > 0


def test_learned_identity_is_one_shared_scalar_between_attention_and_laplacian():
    """a = sigmoid(theta), one parameter for every layer: theta -> +inf is the A - I model, -inf the A
    model (same weights), and its gradient collects every layer's contribution."""
    model = _model("lm", dict(identity="learned"))
    assert [n for n, _ in model.named_parameters() if "identity" in n] == ["identity_logit"]
    assert model.identity_logit.numel() == 1 and model.identity_scale.item() == pytest.approx(0.5)
    model.identity_logit.data.fill_(0.7)
    assert model.identity_scale.item() == pytest.approx(1 / (1 + math.exp(-0.7)))
    x, y = _inputs("lm")
    weights = {k: v for k, v in model.state_dict().items() if k != "identity_logit"}
    for theta, twin in ((40.0, "subtract"), (-40.0, "none")):
        model.identity_logit.data.fill_(theta)
        other = _model("lm", dict(identity=twin))
        other.load_state_dict(weights)
        with torch.no_grad():
            torch.testing.assert_close(model.eval()(x, y)[1], other.eval()(x, y)[1], atol=1e-6, rtol=0)
    model.identity_logit.data.fill_(0.0)
    model.train()(x, y)[1].backward()
    assert model.identity_logit.grad.abs().item() > 0


def _lm_params(V, T, d, L, attn_params, mlp, bias, extra=0):
    ln = d * (2 if bias else 1)
    mlp_params = (8 * d * d + (5 * d if bias else 0)) if mlp else 0
    per_layer = ln * (2 if mlp else 1) + attn_params + mlp_params
    return V * d + T * d + L * per_layer + ln + extra


@pytest.mark.parametrize("bias", [False, True])
def test_parameter_counts_match_formulas(bias):
    V, T, d, L = 17, 12, 16, 2
    def count(**v):
        return _model("lm", v, bias=bias).num_params()
    mhsa = 4 * d * d + (4 * d if bias else 0)
    mssa_learned = 2 * d * d + (d if bias else 0)
    assert count() == _lm_params(V, T, d, L, mhsa, True, bias)
    assert count(identity="subtract") == count()  # A - I adds no parameter
    assert count(identity="learned") == count() + 1  # one scalar for the whole model
    assert count(identity="exclusive") == count()  # XSA adds no parameter
    assert count(mlp="none") == _lm_params(V, T, d, L, mhsa, False, bias)
    assert count(attention="mssa", mlp="none") == _lm_params(V, T, d, L, mssa_learned, False, bias)
    assert count(attention="mssa", mssa_output="tied", mlp="none") == _lm_params(V, T, d, L, d * d, False, bias)

    vit = _model("vit", {}, bias=bias).num_params()
    n_patches, C, p, K = 4, 3, 4, 5
    ln = d * (2 if bias else 1)
    embed = C * p * p * d + d + ln + d + (n_patches + 1) * d
    blocks = L * (2 * ln + mhsa + 8 * d * d + (5 * d if bias else 0))
    assert vit == embed + blocks + ln + d * K + K


# Every combination learns on the LM; the other tasks' heads learn with each attention and identity (the
# MLP and MSSA-output switches act inside the blocks the LM already covers). Exactness is tested above.
LEARNS = [("lm", v) for v in VARIANTS] + [(task, v) for task in TASKS if task != "lm" for v in VARIANTS
                                          if v["mlp"] == "gelu" and v["mssa_output"] == "learned"]


@pytest.mark.parametrize("task,variant", LEARNS, ids=[f"{t}-{_ids(v)}" for t, v in LEARNS])
def test_every_variant_overfits_one_batch(task, variant):
    torch.manual_seed(0)  # independent of which tests ran before
    model = _model(task, variant, n_embd=32)
    x, y = _inputs(task, batch=4)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = None
    for _ in range(250):
        _, loss = model(x, y)
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.1 * first, (first, loss.item())


def test_bad_switch_names_the_key():
    with pytest.raises(ValueError, match=r"model.identity: 'minus' is not one of"):
        ModelConfig(identity="minus")
    with pytest.raises(ValueError, match="divisible by model.n_head"):
        ModelConfig(n_embd=10, n_head=3)


def test_sdpa_dropout_then_subtract_matches_paper_order():
    """With dropout, the fused path is the authors' explicit code: y = dropout(A) v - v, same masks."""
    attn = _model("lm", dict(identity="subtract"), dropout=0.5).blocks[0].attn.train()
    attn.resid_dropout.p = 0.0  # isolate attention dropout
    x = torch.randn(2, 12, 16)
    torch.manual_seed(7)
    fused = attn(x)
    q, k, v = attn.heads(x)
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))
    scores = scores.masked_fill(torch.triu(torch.ones(12, 12, dtype=torch.bool), 1), float("-inf"))
    torch.manual_seed(7)
    y = F.dropout(torch.softmax(scores, dim=-1), p=0.5) @ v - v
    ref = attn.out(y.transpose(1, 2).reshape(x.shape))
    torch.testing.assert_close(fused, ref, atol=1e-5, rtol=0)
    torch.manual_seed(8)
    assert not torch.allclose(attn(x), fused)  # dropout really is active


def test_torch_init_is_paper_1s_vit_init():
    """init: torch keeps PyTorch's defaults (Linear weights Kaiming-uniform in ±1/√fan_in, biases too) and
    draws the ViT's position and CLS embeddings with standard deviation 1; gpt2 draws N(0, 0.02)."""
    cfg = dict(task="vit", image_size=28, patch_size=7, channels=1, num_classes=10, n_layer=2, n_head=4,
               n_embd=256, bias=True)
    torch.manual_seed(0)
    paper = Transformer(ModelConfig(**cfg, init="torch"))
    torch.manual_seed(0)
    gpt2 = Transformer(ModelConfig(**cfg))
    assert paper.pos_emb.shape == (1, 17, 256)  # 16 patches of 7 x 7 + CLS: the paper's 17 tokens
    assert paper.pos_emb.std().item() == pytest.approx(1.0, abs=0.03)
    assert paper.cls_token.std().item() == pytest.approx(1.0, abs=0.15)  # 256 draws
    assert gpt2.pos_emb.std().item() == pytest.approx(0.02, abs=0.002)
    for name, p in paper.named_parameters():
        if name.endswith(("qkv.weight", "attn.out.weight", "mlp.fc.weight", "mlp.out.weight", "head.weight")):
            bound = 1 / math.sqrt(p.shape[1])  # kaiming_uniform_(a=sqrt(5)) on (out, in)
            assert p.abs().max().item() <= bound
            assert p.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.05), name
            assert gpt2.get_parameter(name).std().item() < 0.021, name
        if name.endswith("qkv.bias"):  # torch's Linear bias is uniform too, gpt2's zero
            assert p.abs().max().item() > 0 and not gpt2.get_parameter(name).any()


def test_gpt2_torch_io_init_is_garg_et_als_read_in_and_read_out():
    """init: gpt2_torch_io (Garg et al.'s ICL model: nn.Linear read-in and read-out around GPT-2) keeps
    PyTorch's defaults for those two layers and draws GPT-2's N(0, 0.02) inside; only for regression."""
    cfg = dict(task="regression", n_dims=20, block_size=80, n_layer=2, n_head=4, n_embd=256, bias=True)
    torch.manual_seed(0)
    garg = Transformer(ModelConfig(**cfg, init="gpt2_torch_io"))
    torch.manual_seed(0)
    gpt2 = Transformer(ModelConfig(**cfg))
    for layer in ("read_in", "head"):
        weight, bias = garg.get_submodule(layer).weight, garg.get_submodule(layer).bias
        bound = 1 / math.sqrt(weight.shape[1])
        assert weight.abs().max().item() <= bound and bias.abs().max().item() <= bound
        assert weight.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.1), layer
        assert bias.abs().max().item() > 0 and not gpt2.get_submodule(layer).bias.any()
        assert gpt2.get_submodule(layer).weight.std().item() < 0.021
    for name, p in garg.named_parameters():
        if name.startswith("blocks.") and name.endswith("qkv.weight"):
            assert p.std().item() == pytest.approx(0.02, rel=0.05), name
    with pytest.raises(ValueError, match="gpt2_torch_io' is for task regression"):
        ModelConfig(task="lm", init="gpt2_torch_io")


def test_decay_all_puts_every_parameter_in_one_decayed_group():
    model = _model("vit", {"identity": "learned"}, bias=True)
    groups = model.optimizer_groups(0.01, decay="all")
    assert len(groups) == 1 and groups[0]["weight_decay"] == 0.01
    assert {id(p) for p in groups[0]["params"]} == {id(p) for p in model.parameters()}
    assert any(p.dim() < 2 for p in groups[0]["params"])  # biases, norms and the scalar a decay too
    matrices, rest = model.optimizer_groups(0.01)
    assert rest["weight_decay"] == 0.0 and rest["params"] and all(p.dim() < 2 for p in rest["params"])


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("variant", [v for v in VARIANTS if v["identity"] in ("none", "subtract")], ids=_ids)
def test_flop_count_equals_torchs_flop_counter(task, variant):
    """flops_per_item counts what torch.utils.flop_counter counts in one training step (forward and
    backward; attention through the math kernel, whose matmuls the counter sees), for every variant and
    task: so MFU is not overstated for small or attention-only models, as 6N + 12 L d T was."""
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    model = _model(task, variant)
    x, y = _inputs(task, batch=2)
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        out, loss = model(x, y)
        loss.backward()
    items = x.size(0) * (x.size(1) if task == "lm" else 1)
    assert model.flops_per_item() * items == counter.get_total_flops()


def test_ensemble_flops_are_one_members():
    from unrolled.models import Ensemble

    torch.manual_seed(0)
    cfg = ModelConfig(**TASKS["lm"], n_layer=2, n_head=2, n_embd=16, attention="mssa", mssa_output="tied")
    single = Transformer(cfg)
    ensemble = Ensemble([single, Transformer(cfg), Transformer(cfg)])
    assert ensemble.flops_per_item() == single.flops_per_item() > 0
