"""The GPU paths no CPU test reaches: bf16 autocast training, a compiled seed ensemble, batches sampled on
the device, the pinned-memory prefetch of a data set too large for the device, and the speed candidates'
GPU forms (the fused XSA, the chunked loss, the compiled clip + AdamW and the flat buffers, in bf16). These
run where CUDA exists (the GPU checks run this file); elsewhere they skip, saying why."""

from __future__ import annotations

import pytest
import torch

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(),
                                reason="no CUDA device here: the GPU checks run this file")


def test_bf16_training_on_the_gpu(tiny_text_data, tmp_path):
    from unrolled.train import train

    run = {"data": str(tiny_text_data), "model": {"n_layer": 2, "n_head": 2, "n_embd": 32, "block_size": 16},
           "train": {"batch_size": 8, "max_iters": 20, "eval_interval": 10, "eval_iters": 2, "dtype": "bfloat16"}}
    m = train(run, [0], tmp_path / "bf16", progress=False)[0]
    assert m["environment"]["device"].startswith("cuda") and m["mfu_bf16_h100"] > 0
    assert m["best_val_loss"] < m["final_val_loss"] + 1.0


def test_a_compiled_ensemble_matches_its_single_runs(tiny_text_data, tmp_path):
    """Dropout 0, 10 steps: each member against its single run within the GPU's bf16 tolerance (1e-2)."""
    from unrolled.train import train

    run = {"data": str(tiny_text_data), "model": {"n_layer": 2, "n_head": 2, "n_embd": 32, "block_size": 16,
                                                  "dropout": 0.0},
           "train": {"batch_size": 8, "max_iters": 10, "eval_interval": 5, "eval_iters": 2, "compile": True}}
    members = train(run, [0, 1], tmp_path / "ens", progress=False)
    for m in members:
        (single,) = train(run, [m["seed"]], tmp_path / "single", progress=False)
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


def _tiny(data, **model):
    return {"data": str(data), "model": {"n_layer": 2, "n_head": 2, "n_embd": 32, "block_size": 16, "dropout": 0.0,
                                         **model},
            "train": {"batch_size": 8, "max_iters": 20, "eval_interval": 10, "eval_iters": 2, "dtype": "bfloat16"}}


def test_the_gpu_runs_the_fused_xsa_and_trains_as_the_composite_does(tiny_text_data, tmp_path, monkeypatch):
    from unrolled.models import xsa
    from unrolled.models.transformer import Attention
    from unrolled.train import train

    calls = []
    fused = xsa.exclusive
    monkeypatch.setattr(xsa, "exclusive", lambda y, v: calls.append(1) or fused(y, v))
    gpu = train(_tiny(tiny_text_data, identity="exclusive"), [0], tmp_path / "fused", progress=False)[0]
    assert calls  # the default on a GPU
    monkeypatch.setattr(Attention, "fused_xsa", False)
    composite = train(_tiny(tiny_text_data, identity="exclusive"), [0], tmp_path / "composite", progress=False)[0]
    assert abs(gpu["final_val_loss"] - composite["final_val_loss"]) < 1e-2


@pytest.mark.parametrize("compile_model", [False, True])
def test_the_chunked_loss_and_the_compiled_step_train_as_the_defaults_do(tiny_text_data, tmp_path, compile_model):
    from unrolled.train import train

    run = _tiny(tiny_text_data)
    run["train"]["compile"] = compile_model
    default = train(run, [0], tmp_path / "default", progress=False)[0]
    candidates = {**run, "model": {**run["model"], "loss_chunk": 24},
                  "train": {**run["train"], "compile_optimizer": True}}
    both = train(candidates, [0], tmp_path / "candidates", progress=False)[0]
    assert both["config"]["model"]["loss_chunk"] == 24 and both["config"]["train"]["compile_optimizer"]
    assert abs(both["final_val_loss"] - default["final_val_loss"]) < 1e-2


@pytest.mark.parametrize("compile_optimizer", [False, True])
def test_a_compiled_ensemble_with_flat_buffers_trains_as_without(tiny_text_data, tmp_path, compile_optimizer):
    """train.flat_buffers in bf16 under torch.compile: the stacked weights as strided views of the buffers, the
    fused AdamW (or the compiled update) over one tensor a group."""
    from unrolled.train import train

    run = _tiny(tiny_text_data)
    run["train"].update(compile=True, compile_optimizer=compile_optimizer)
    plain = train(run, [0, 1], tmp_path / "plain", progress=False)
    flat = train({**run, "train": {**run["train"], "flat_buffers": True}}, [0, 1], tmp_path / "flat", progress=False)
    for a, b in zip(plain, flat):
        assert b["config"]["train"]["flat_buffers"] and abs(a["final_val_loss"] - b["final_val_loss"]) < 1e-2
