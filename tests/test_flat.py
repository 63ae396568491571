"""train.flat_buffers (models/flat.py): each optimizer group's parameters and gradients in one (E, P) buffer.
Checked against the per-parameter path it replaces: the same forward, gradients, per-member clipping, AdamW
step and training histories, and a bit-exact resume of its own."""

import copy

import pytest
import torch
from test_ensemble import _close, _history, _run

from unrolled import distributed
from unrolled.config import TrainConfig
from unrolled.errors import UnrolledError
from unrolled.models import ModelConfig, Transformer
from unrolled.models.ensemble import Ensemble
from unrolled.models.flat import FlatBuffers
from unrolled.train import Trainer, optimizer_and_update, train

CFG = ModelConfig(n_layer=2, n_head=2, n_embd=16, block_size=8, vocab_size=11, identity="learned")  # a scalar too


def _model(members: int):
    torch.manual_seed(0)
    built = [Transformer(CFG) for _ in range(members)]
    return built[0] if members == 1 else Ensemble(built)


def _batch(members: int):
    shape = (4, CFG.block_size) if members == 1 else (members, 4, CFG.block_size)
    return torch.randint(0, CFG.vocab_size, shape, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("members", [1, 3])
def test_the_model_computes_the_same_and_its_gradients_land_in_the_buffers(members):
    plain, model = _model(members), _model(members)
    flat = FlatBuffers(model.optimizer_groups(0.1), members)
    x = _batch(members)
    for m in (plain, model):
        _, loss = m(x, x)
        loss.sum().backward()
    torch.testing.assert_close(model(x, x)[1], plain(x, x)[1], rtol=0, atol=0)
    named = dict(model.named_parameters())
    for name, p in plain.named_parameters():
        assert torch.equal(named[name].grad, p.grad), name
        assert named[name].untyped_storage().data_ptr() in {g["params"][0].untyped_storage().data_ptr()
                                                            for g in flat.groups}, name
    # row k of a gradient buffer is member k's gradients of that group, side by side in the group's order
    for group, plain_group in zip(flat.groups, plain.optimizer_groups(0.1)):
        rows = torch.cat([p.grad.reshape(members, -1) for p in plain_group["params"]], dim=1)
        assert torch.equal(group["params"][0].grad, rows)
    assert model.state_dict().keys() == plain.state_dict().keys()


@pytest.mark.parametrize("members", [1, 3])
def test_clipping_and_adamw_match_the_per_parameter_update(members):
    """The trainer's update (clip per member, AdamW, clear) with flat buffers and without: member 0's gradient
    huge, member 1's tiny, so clipping acts on one and must leave the other alone."""
    tcfg = TrainConfig(lr=1e-2, grad_clip=1.0)
    plain, model = _model(members), _model(members)
    _, plain_update = optimizer_and_update(plain, tcfg, "cpu")
    _, flat_update = optimizer_and_update(model, TrainConfig(lr=1e-2, grad_clip=1.0, flat_buffers=True), "cpu")
    scales = torch.tensor([1e4, 1e-3, 1.0][:members])
    torch.manual_seed(2)
    named = dict(model.named_parameters())
    for name, p in plain.named_parameters():
        g = torch.randn_like(p) * (scales.view(-1, *[1] * (p.dim() - 1)) if members > 1 else scales[0])
        p.grad = g.clone()
        named[name].grad.copy_(g)  # into the buffer's view, as backward adds into it
    for _ in range(2):
        plain_update(), flat_update()
        for name, p in plain.named_parameters():
            torch.testing.assert_close(named[name], p, rtol=1e-6, atol=1e-7)
            assert p.grad is None and not named[name].grad.any()  # cleared; the flat .grad stays a view, zeroed
        for name, p in plain.named_parameters():
            p.grad = torch.ones_like(p)
            named[name].grad.fill_(1.0)


def test_flat_clipping_is_per_member():
    model = _model(3)
    flat = FlatBuffers(model.optimizer_groups(0.1), 3)
    for g, scale in zip(flat.grads, (1.0, 2.0)):
        g.copy_(torch.tensor([[3e4], [3e-4], [3.0]]).expand_as(g) * scale)
    before = [g.clone() for g in flat.grads]
    norms = flat.clip_grad_norm_(1.0)
    width = [g.size(1) for g in flat.grads]
    expected = torch.tensor([3e4, 3e-4, 3.0]) * (width[0] + 4 * width[1]) ** 0.5
    torch.testing.assert_close(norms, expected, rtol=1e-5, atol=0)
    after = torch.cat(flat.grads, dim=1).norm(dim=1)
    torch.testing.assert_close(after[[0, 2]], torch.ones(2), rtol=1e-5, atol=0)
    assert all(torch.equal(g[1], b[1]) for g, b in zip(flat.grads, before))  # the tiny member is untouched


@pytest.mark.parametrize("seeds", [[0], [0, 1]])
def test_training_with_flat_buffers_matches_training_without(tiny_text_data, tmp_path, seeds):
    run = _run(tiny_text_data, max_iters=8, grad_clip=0.05)  # clipping acts at every step
    train(run, seeds, tmp_path / "plain", progress=False)
    train({**run, "train": {**run["train"], "flat_buffers": True}}, seeds, tmp_path / "flat", progress=False)
    for seed in seeds:
        assert _close(_history(tmp_path / "flat" / f"seed{seed}"), _history(tmp_path / "plain" / f"seed{seed}"), 1e-5)


def test_flat_buffers_resume_bit_exact(tiny_text_data, tmp_path):
    """A checkpoint of a flat-buffer ensemble (its weights as views, AdamW's state per buffer) resumes to the
    uninterrupted run's exact weights and optimizer state."""
    run = _run(tiny_text_data, dropout=0.1, flat_buffers=True)

    def trainer(folder):
        made = Trainer(run, [0, 1], folder, False)
        made.build(distributed.Placement("cpu"))
        return made

    straight = trainer(tmp_path / "straight")
    for _ in range(6):
        straight.train_step()
    first = trainer(tmp_path / "cut")
    for _ in range(3):
        first.train_step()
    first.save(0.0)
    resumed = trainer(tmp_path / "cut")
    resumed.resume()
    assert resumed.step == 3
    for _ in range(3):
        resumed.train_step()
    for (name, a), b in zip(straight.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(a, b), name
    for a, b in zip(straight.optimizer.state.values(), resumed.optimizer.state.values()):
        assert all(torch.equal(a[k], b[k]) for k in ("exp_avg", "exp_avg_sq"))


def test_flat_buffers_refuse_data_parallel(tiny_text_data, tmp_path):
    trainer = Trainer(_run(tiny_text_data, flat_buffers=True), [0], tmp_path, False)
    with pytest.raises(UnrolledError, match="flat_buffers is for one process"):
        trainer.build(distributed.Placement("cpu", rank=0, world_size=2))


def test_a_group_of_mixed_dtypes_is_refused():
    model = copy.deepcopy(_model(1))
    model.blocks[0].attn.qkv.weight.data = model.blocks[0].attn.qkv.weight.data.double()
    with pytest.raises(ValueError, match="one dtype and device"):
        FlatBuffers(model.optimizer_groups(0.1), 1)
