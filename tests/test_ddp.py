"""Data-parallel training under torchrun (gloo, 2 CPU processes) matches one process on the same batch."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from unrolled.train import METRICS, train


def test_two_process_ddp_matches_single_process(tiny_text_data, tmp_path):
    run = {"data": str(tiny_text_data),
           # dropout 0: each rank would otherwise draw its own masks, and only the sum of gradients is shared
           "model": {"n_layer": 2, "n_head": 2, "n_embd": 32, "block_size": 16, "dropout": 0.0},
           "train": {"batch_size": 8, "max_iters": 12, "eval_interval": 4, "eval_iters": 3, "warmup_iters": 2}}
    single = train(run, 0, tmp_path / "single", progress=False)

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "unrolled", "train", "--config", json.dumps(run), "--seed", "0", "--out", str(tmp_path / "ddp"),
           "--no-progress"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ddp = json.loads((tmp_path / "ddp" / METRICS).read_text())
    assert ddp["world_size"] == 2 and single["world_size"] == 1
    assert ddp["tokens"] == single["tokens"]  # the same global batches
    for key in ("best_val_loss", "final_val_loss"):
        assert ddp[key] == pytest.approx(single[key], rel=1e-5)
    single_hist = (tmp_path / "single" / "history.csv").read_text().splitlines()
    ddp_hist = (tmp_path / "ddp" / "history.csv").read_text().splitlines()
    assert len(single_hist) == len(ddp_hist) == 4
    for a, b in zip(single_hist[1:], ddp_hist[1:]):
        assert [float(x) for x in a.split(",") if x] == pytest.approx([float(x) for x in b.split(",") if x], rel=1e-5)


def test_batch_must_split_evenly(tiny_text_data):
    from unrolled.distributed import Placement, shard
    import torch

    x = torch.arange(12).view(6, 2)
    assert shard((x,), Placement("cpu", 1, 2))[0].tolist() == [[2, 3], [6, 7], [10, 11]]
    with pytest.raises(ValueError, match="divisible by the number of processes"):
        shard((x,), Placement("cpu", 0, 4))


def test_concurrent_runs_take_different_gpus(monkeypatch, tmp_path):
    """Each run locks the first free GPU; a third run on a 2-GPU box is refused, not doubled up."""
    import torch

    from unrolled import distributed

    monkeypatch.setenv("UNROLLED_GPU_LOCKS", str(tmp_path))
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(distributed, "_LOCK_HANDLES", [])
    assert distributed._free_gpu() == 0
    assert distributed._free_gpu() == 1
    with pytest.raises(RuntimeError, match="all 2 GPUs are held"):
        distributed._free_gpu()
    distributed._LOCK_HANDLES.pop(0).close()  # the first run ends: its GPU is free again
    assert distributed._free_gpu() == 0
