"""Where a run executes: one process (CPU or one GPU), or data parallel under `torchrun` (DDP).

Under torchrun every rank draws the same global batch from the same seeded sampler and keeps its own
rows, so N ranks with a global batch B compute exactly the gradient one process computes on B (DDP
averages the per-rank gradients of equal shards). Rank 0 alone writes checkpoints and metrics.

A single process that may see several GPUs (Snakemake's gpu profile runs jobs side by side) takes the
first GPU whose lock file it can hold, so two runs never share a device.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist

_LOCK_HANDLES = []  # held open for the life of the process


@dataclass
class Placement:
    device: str
    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def _free_gpu() -> int:
    lock_dir = Path(os.environ.get("UNROLLED_GPU_LOCKS", Path(tempfile.gettempdir()) / "unrolled-gpu-locks"))
    lock_dir.mkdir(parents=True, exist_ok=True)
    for index in range(torch.cuda.device_count()):
        handle = open(lock_dir / f"gpu{index}.lock", "w")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            continue
        _LOCK_HANDLES.append(handle)
        return index
    raise RuntimeError(f"all {torch.cuda.device_count()} GPUs are held by other runs (locks in {lock_dir})")


def setup(device: str = "auto") -> Placement:
    """Initialise DDP when launched by torchrun (WORLD_SIZE > 1); otherwise pick one device."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    use_cuda = torch.cuda.is_available() and device != "cpu"
    if world_size > 1:
        backend = "nccl" if use_cuda else "gloo"
        dist.init_process_group(backend)
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        if use_cuda:
            torch.cuda.set_device(local_rank)
        return Placement(f"cuda:{local_rank}" if use_cuda else "cpu", dist.get_rank(), world_size)
    if device != "auto":
        return Placement(device)
    if not use_cuda:
        return Placement("cpu")
    return Placement(f"cuda:{_free_gpu()}" if torch.cuda.device_count() > 1 else "cuda")


def shard(batch: tuple[torch.Tensor, ...], place: Placement) -> tuple[torch.Tensor, ...]:
    """This rank's rows of a global batch (every rank drew the same one)."""
    if not place.distributed:
        return batch
    size = batch[0].shape[0]
    if size % place.world_size:
        raise ValueError(f"train.batch_size ({size}) must be divisible by the number of processes ({place.world_size})")
    return tuple(t[place.rank::place.world_size] for t in batch)


def mean_across_ranks(value: torch.Tensor, place: Placement) -> torch.Tensor:
    if place.distributed:
        value = value.clone()
        dist.all_reduce(value, op=dist.ReduceOp.SUM)
        value /= place.world_size
    return value


def barrier(place: Placement) -> None:
    if place.distributed:
        dist.barrier()


def teardown(place: Placement) -> None:
    if place.distributed and dist.is_initialized():
        dist.destroy_process_group()
