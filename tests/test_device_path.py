"""The device-side pieces of training that a CPU can check: samplers, checkpoint RNG, precision, vocabulary."""

from __future__ import annotations

import pytest
import torch

from unrolled import checkpoint
from unrolled.config import RunConfig, TrainConfig
from unrolled.data import batches as batches_module
from unrolled.data.batches import MemberBatches, TokenBatches
from unrolled.errors import UnrolledError
from unrolled.train import autocast_dtype


def _draws(sampler, n):
    return [sampler.next_train() for _ in range(n)]


def _equal(a, b):
    return all(torch.equal(x1, x2) and torch.equal(y1, y2) for (x1, y1), (x2, y2) in zip(a, b, strict=True))


def test_host_path_with_prefetch_draws_the_resident_batches_and_resumes_exactly(tiny_text_data, monkeypatch):
    resident = TokenBatches(tiny_text_data, 16, 4, seed=3)
    monkeypatch.setattr(batches_module, "RESIDENT_BYTES", 0)  # as if the corpus were too large for the device
    host = TokenBatches(tiny_text_data, 16, 4, seed=3)
    assert resident.resident and not host.resident and isinstance(host.train, type(host.val))
    host.prefetch = True  # the GPU path: one batch drawn ahead (pinned copies need a GPU, the order does not)
    assert _equal(_draws(resident, 5), _draws(host, 5))
    # A checkpoint taken now rewinds past the batch already drawn ahead: a resumed sampler draws it again.
    state = host.state_dict()
    expected = _draws(host, 3)
    fresh = TokenBatches(tiny_text_data, 16, 4, seed=99)
    fresh.prefetch = True
    fresh.load_state_dict(state)
    assert _equal(_draws(fresh, 3), expected)


def test_member_batches_share_the_data_and_draw_each_seed(tiny_text_data):
    sampler = TokenBatches(tiny_text_data, 16, 4, seed=0)
    members = MemberBatches(sampler, [5, 6])
    assert all(m.train is sampler.train for m in members.members)  # one copy of the corpus
    x, y = members.next_train()
    for k, seed in enumerate([5, 6]):
        sx, sy = TokenBatches(tiny_text_data, 16, 4, seed=seed).next_train()
        assert torch.equal(x[k], sx) and torch.equal(y[k], sy)
    states = members.state_dict()
    again = MemberBatches(sampler, [5, 6])
    again.load_state_dict(states)
    assert _equal([again.next_train()], [members.next_train()])


def test_sampler_state_from_another_kind_of_device_is_refused(tiny_text_data):
    sampler = TokenBatches(tiny_text_data, 16, 4, seed=0)
    state = {**sampler.state_dict(), "device": "cuda"}
    with pytest.raises(UnrolledError, match=r"ckpt.pt: its data order was drawn on cuda, this run is on cpu"):
        sampler.load_state_dict(state, source="ckpt.pt")


def test_checkpoint_keeps_the_rng_of_the_runs_own_gpu_only(monkeypatch):
    """Made on GPU 3 of an 8-GPU node, resumed on a 1-GPU node (or the CPU): no per-device list to index."""
    own = torch.arange(16, dtype=torch.uint8)
    asked, restored = [], []
    monkeypatch.setattr(torch.cuda, "get_rng_state", lambda device: asked.append(device) or own)
    monkeypatch.setattr(torch.cuda, "get_rng_state_all", lambda: pytest.fail("saved every device's RNG"))
    state = checkpoint.rng_state("cuda:3")
    assert asked == ["cuda:3"] and torch.equal(state["cuda"], own)
    assert checkpoint.rng_state("cpu")["cuda"] is None

    monkeypatch.setattr(torch.cuda, "set_rng_state", lambda s, device: restored.append((s, device)))
    checkpoint.set_rng_state(state, "cuda:0")  # another device index, another device count
    assert len(restored) == 1 and torch.equal(restored[0][0], own) and restored[0][1] == "cuda:0"
    before = torch.get_rng_state()
    checkpoint.set_rng_state(state, "cpu")  # a CPU resume restores the host RNGs and skips the GPU's
    assert len(restored) == 1 and torch.equal(torch.get_rng_state(), state["torch"])
    torch.set_rng_state(before)


def test_bf16_only_where_the_device_supports_it(monkeypatch):
    assert autocast_dtype(TrainConfig(), "cpu") is None  # auto: fp32 on the CPU
    assert autocast_dtype(TrainConfig(dtype="bfloat16"), "cpu") is torch.bfloat16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    assert autocast_dtype(TrainConfig(), "cuda") is torch.bfloat16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: False)  # a V100, say
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Tesla V100")
    assert autocast_dtype(TrainConfig(), "cuda") is None
    with pytest.raises(UnrolledError, match=r"train.dtype: bfloat16, but Tesla V100 does not support it"):
        autocast_dtype(TrainConfig(dtype="bfloat16"), "cuda")


def test_bpe_vocabulary_is_padded_to_a_multiple_of_64(tmp_path):
    from unrolled.atomic import write_json

    for name, tokenizer, vocab, padded in (("bpe", "gpt2", 50257, 50304), ("char", "char", 77, 77)):
        folder = tmp_path / name
        folder.mkdir()
        write_json(folder / "meta.json", {"tokenizer": tokenizer, "vocab_size": vocab})
        mcfg = RunConfig.of({"data": str(folder)}).model
        assert mcfg.vocab_size == padded, name
