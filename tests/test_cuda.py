"""The GPU paths no CPU test reaches: bf16 autocast training, a compiled seed ensemble, batches sampled on
the device, and the pinned-memory prefetch of a data set too large for the device. These run where CUDA
exists (the GPU checks run this file); elsewhere they skip, saying why."""

from __future__ import annotations

import pytest
import torch

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here: the GPU checks run this file")


def test_bf16_training_on_the_gpu(tiny_text_data, tmp_path):
    from unrolled.train import train

    run = {"data": str(tiny_text_data), "model": {"n_layer": 2, "n_head": 2, "n_embd": 32, "block_size": 16},
           "train": {"batch_size": 8, "max_iters": 20, "eval_interval": 10, "eval_iters": 2, "dtype": "bfloat16"}}
    m = train(run, 0, tmp_path / "bf16", progress=False)
    assert m["environment"]["device"].startswith("cuda") and m["mfu_bf16_h100"] > 0
    assert m["best_val_loss"] < m["final_val_loss"] + 1.0


def test_a_compiled_ensemble_matches_its_single_runs(tiny_text_data, tmp_path):
    """Dropout 0, 10 steps: each member against its single run within the GPU's bf16 tolerance (1e-2)."""
    from unrolled.train import train, train_ensemble

    run = {"data": str(tiny_text_data), "model": {"n_layer": 2, "n_head": 2, "n_embd": 32, "block_size": 16,
                                                  "dropout": 0.0},
           "train": {"batch_size": 8, "max_iters": 10, "eval_interval": 5, "eval_iters": 2, "compile": True}}
    members = train_ensemble(run, [0, 1], tmp_path / "ens", progress=False)
    for m in members:
        single = train(run, m["seed"], tmp_path / f"single{m['seed']}", progress=False)
        assert abs(m["final_val_loss"] - single["final_val_loss"]) < 1e-2


def test_token_batches_are_drawn_on_the_device(tiny_text_data):
    from unrolled.data.batches import TokenBatches

    batches = TokenBatches(tiny_text_data, 16, 4, seed=0, device="cuda")
    x, y = batches.next_train()
    assert batches.resident and x.device.type == "cuda" and y.device.type == "cuda"
    again = TokenBatches(tiny_text_data, 16, 4, seed=0, device="cuda").next_train()[0]
    assert torch.equal(x, again)  # the device generator is seeded by the run


def test_the_pinned_prefetch_serves_the_same_batches(tiny_text_data, monkeypatch):
    """A data set over RESIDENT_BYTES stays on the host; its batches are copied ahead from pinned memory, and
    a state saved mid-way resumes with the batch not yet used."""
    from unrolled.data import batches as module

    monkeypatch.setattr(module, "RESIDENT_BYTES", 0)
    b = module.TokenBatches(tiny_text_data, 16, 4, seed=0, device="cuda")
    assert not b.resident and b.prefetch
    first = b.next_train()
    state = b.state_dict()
    second = b.next_train()
    c = module.TokenBatches(tiny_text_data, 16, 4, seed=0, device="cuda")
    c.load_state_dict(state)
    assert first[0].device.type == "cuda" and torch.equal(c.next_train()[0], second[0])
