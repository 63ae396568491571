"""Data-parallel training under torchrun (gloo, 2 CPU processes) matches one process on the same batch; the
GPU locks that keep jobs on their own devices."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from unrolled.errors import UnrolledError
from unrolled.train import METRICS, train


def _ddp(run, out):
    """The workflow's command: the job starts torchrun with 2 ranks itself (on the CPU, gloo)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "unrolled", "train", "--config", json.dumps(run), "--seeds", "0",
           "--out", str(out), "--no-progress", "--processes", "2"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads((out / "seed0" / METRICS).read_text())


@pytest.mark.parametrize("grad_accum", [1, 2])  # 2: the first micro-step of each step skips DDP's all-reduce
def test_two_process_ddp_matches_single_process(tiny_text_data, tmp_path, grad_accum):
    run = {"data": str(tiny_text_data),
           # dropout 0: each rank would otherwise draw its own masks, and only the sum of gradients is shared
           "model": {"n_layer": 2, "n_head": 2, "n_embd": 32, "block_size": 16, "dropout": 0.0},
           "train": {"batch_size": 8, "grad_accum": grad_accum, "max_iters": 12, "eval_interval": 4, "eval_iters": 3,
                     "warmup_iters": 2}}
    single = train(run, [0], tmp_path / "single", progress=False)[0]
    ddp = _ddp(run, tmp_path / "ddp")
    assert ddp["world_size"] == 2 and single["world_size"] == 1
    assert ddp["tokens"] == single["tokens"]  # the same global batches
    for key in ("best_val_loss", "final_val_loss"):
        assert ddp[key] == pytest.approx(single[key], rel=1e-5)
    single_hist = (tmp_path / "single" / "seed0" / "history.csv").read_text().splitlines()
    ddp_hist = (tmp_path / "ddp" / "seed0" / "history.csv").read_text().splitlines()
    assert len(single_hist) == len(ddp_hist) == 4
    for a, b in zip(single_hist[1:], ddp_hist[1:]):
        assert [float(x) for x in a.split(",") if x] == pytest.approx([float(x) for x in b.split(",") if x], rel=1e-5)


def test_ddp_with_dropout_draws_each_ranks_own_masks(tiny_text_data, tmp_path):
    """With dropout every rank reseeds its generator (seed + 1,000,003 x rank) after the identical
    initialisation: 2 ranks are another, equally valid draw of the masks than one process (so not equal to
    it), and the same draw every time (deterministic)."""
    run = {"data": str(tiny_text_data),
           "model": {"n_layer": 2, "n_head": 2, "n_embd": 32, "block_size": 16, "dropout": 0.3},
           "train": {"batch_size": 8, "grad_accum": 2, "max_iters": 8, "eval_interval": 4, "eval_iters": 3,
                     "warmup_iters": 2}}
    single = train(run, [0], tmp_path / "single", progress=False)[0]
    first, second = _ddp(run, tmp_path / "ddp1"), _ddp(run, tmp_path / "ddp2")
    assert first["best_val_loss"] == second["best_val_loss"]
    assert (tmp_path / "ddp1" / "seed0" / "history.csv").read_text() == \
        (tmp_path / "ddp2" / "seed0" / "history.csv").read_text()
    assert first["best_val_loss"] != pytest.approx(single["best_val_loss"], rel=1e-6)


def test_batch_must_split_evenly(tiny_text_data):
    import torch

    from unrolled.distributed import Placement, shard

    x = torch.arange(12).view(6, 2)
    assert shard((x,), Placement("cpu", 1, 2))[0].tolist() == [[2, 3], [6, 7], [10, 11]]
    with pytest.raises(ValueError, match="divisible by the number of processes"):
        shard((x,), Placement("cpu", 0, 4))


def _hold_lock_in_another_process(path):
    """A separate process that holds an flock on `path` until it is killed (another job's GPU)."""
    holder = subprocess.Popen([sys.executable, "-c", "import fcntl, sys, time; f = open(sys.argv[1], 'w'); "
                               "fcntl.flock(f, fcntl.LOCK_EX); print('held', flush=True); time.sleep(600)", str(path)],
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    return holder


@pytest.fixture
def gpus(monkeypatch, tmp_path):
    """A machine whose CUDA sees the GPUs `see(uuids)` names (mocked); the flocks are real, in tmp_path."""
    import torch

    from unrolled import distributed

    monkeypatch.setenv("UNROLLED_GPU_LOCKS", str(tmp_path))
    monkeypatch.setattr(distributed, "_LOCK_HANDLES", [])
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)

    def see(uuids):
        monkeypatch.setattr(torch.cuda, "device_count", lambda: len(uuids))
        monkeypatch.setattr(distributed, "device_uuids", lambda: list(uuids))
    return see


def test_gpu_locks_are_keyed_by_uuid_not_index(gpus, tmp_path):
    """Two jobs that see the same two GPUs in opposite orders (different CUDA_VISIBLE_DEVICES) agree on
    which physical GPU is taken; a third is refused rather than doubled up."""
    from unrolled import distributed

    gpus(["a0", "b1"])
    assert distributed.lock_gpus(1) == [0]  # job 1 takes a0
    assert (tmp_path / "gpu-a0.lock").exists()
    gpus(["a0", "b1"][::-1])  # job 2 sees b1 as index 0 and a0 as index 1
    assert distributed.lock_gpus(1) == [0]  # b1: index 0 here, a0's lock is held
    gpus(["b1", "a0"])
    with pytest.raises(UnrolledError, match=r"1 GPU\(s\) needed, but only 0 of the 2 visible are free"):
        distributed.lock_gpus(1)
    distributed._LOCK_HANDLES.pop(0).close()  # job 1 ends: a0 is free again
    assert distributed.lock_gpus(1) == [1]  # a0 at index 1 in this order


def test_a_single_gpu_run_sets_its_device_and_records_it(gpus, tmp_path, monkeypatch):
    """The first free GPU (another process holds the lock of index 0) is the one set, used and recorded."""
    from types import SimpleNamespace

    import torch

    from unrolled import distributed
    from unrolled.provenance import environment

    gpus(["a0", "b1"])
    holder = _hold_lock_in_another_process(tmp_path / "gpu-a0.lock")
    try:
        set_to = []
        monkeypatch.setattr(torch.cuda, "set_device", set_to.append)
        place = distributed.setup("auto")
    finally:
        holder.kill()
    assert place.device == "cuda:1" and set_to == ["cuda:1"]
    names = {"cuda:0": "GPU A", "cuda:1": "GPU B"}
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: names[device])
    monkeypatch.setattr(torch.cuda, "get_device_properties",
                        lambda device: SimpleNamespace(uuid={"cuda:0": "a0", "cuda:1": "b1"}[device]))
    env = environment(place.device)
    assert (env["device"], env["device_name"], env["device_uuid"]) == ("cuda:1", "GPU B", "b1")


def test_a_data_parallel_job_locks_n_gpus_and_hands_them_to_its_ranks(gpus, tmp_path, monkeypatch):
    """`launch` takes N free GPUs among those visible, narrows CUDA_VISIBLE_DEVICES to them (in the
    caller's own terms), and starts torchrun with N ranks of the same command."""
    import torch.distributed.run

    from unrolled import distributed

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "5,6,7")
    gpus(["u5", "u6", "u7"])
    started = []
    monkeypatch.setattr(torch.distributed.run, "main",
                        lambda args: started.append((args, os.environ["CUDA_VISIBLE_DEVICES"])))
    holder = _hold_lock_in_another_process(tmp_path / "gpu-u6.lock")  # another job has GPU 6
    try:
        distributed.launch(2, ["train", "--seeds", "0"])
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "5,6,7")  # a second job on the same machine
        with pytest.raises(UnrolledError, match="2 GPU"):  # only GPU 6 is left, and it is held
            distributed.launch(2, ["train", "--seeds", "1"])
    finally:
        holder.kill()
    assert started == [(["--standalone", "--nproc_per_node", "2", "-m", "unrolled", "train", "--seeds", "0"], "5,7")]
