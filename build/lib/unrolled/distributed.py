"""Where a run executes: one process (CPU or one GPU), or data parallel under `torchrun` (DDP).

Under torchrun every rank draws the same global batch from the same seeded sampler and keeps its own
rows, so N ranks with a global batch B compute exactly the gradient one process computes on B (DDP
averages the per-rank gradients of equal shards). Rank 0 alone writes checkpoints and metrics.

Which GPUs a job takes. A single process that sees several GPUs (Snakemake's gpu profile runs jobs side by
side) takes the first one whose lock it can hold; a data-parallel job (`launch`) locks N of them before
torchrun starts, and its ranks see only those. Locks are named by device UUID, not index, so two jobs with
different CUDA_VISIBLE_DEVICES agree on which physical GPU a lock stands for. Every process then calls
`torch.cuda.set_device` on its own GPU.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist

from unrolled.errors import UnrolledError

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


def device_uuids() -> list[str]:
    """The UUID of every GPU this process sees, in its index order."""
    return [str(torch.cuda.get_device_properties(i).uuid) for i in range(torch.cuda.device_count())]


def lock_dir() -> Path:
    return Path(os.environ.get("UNROLLED_GPU_LOCKS", Path(tempfile.gettempdir()) / "unrolled-gpu-locks"))


def lock_gpus(count: int) -> list[int]:
    """Hold the locks of `count` visible GPUs that no other process holds; their visible indices.

    A lock is an flock on `{lock_dir}/gpu-{uuid}.lock`, held until this process exits (the kernel frees it
    when a job is killed, so there is nothing stale to clean up)."""
    folder = lock_dir()
    folder.mkdir(parents=True, exist_ok=True)
    uuids = device_uuids()
    taken = []
    for index, uuid in enumerate(uuids):
        if len(taken) == count:
            break
        handle = open(folder / f"gpu-{uuid}.lock", "w")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            continue
        taken.append((index, handle))
    if len(taken) < count:
        for _, handle in taken:
            handle.close()
        raise UnrolledError(f"{count} GPU(s) needed, but only {len(taken)} of the {len(uuids)} visible are free "
                           f"(the others are held by other runs; locks in {folder})")
    _LOCK_HANDLES.extend(handle for _, handle in taken)
    return [index for index, _ in taken]


def launch(nproc: int, module_args: list[str]) -> None:
    """Run `python -m unrolled <module_args>` as `nproc` data-parallel ranks under torchrun.

    On GPUs this process first locks `nproc` free ones and narrows CUDA_VISIBLE_DEVICES to them, so rank r
    takes the r-th locked GPU; the locks are held until every rank has ended. Without CUDA the ranks run
    on the CPU (gloo)."""
    from torch.distributed.run import main as torchrun

    if torch.cuda.is_available():
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        entries = visible.split(",") if visible else [str(i) for i in range(torch.cuda.device_count())]
        os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(entries[i] for i in lock_gpus(nproc))
    torchrun(["--standalone", "--nproc_per_node", str(nproc), "-m", "unrolled", *module_args])


def setup(device: str = "auto") -> Placement:
    """Initialise DDP when launched by torchrun (WORLD_SIZE > 1); otherwise pick one device."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    use_cuda = torch.cuda.is_available() and device != "cpu"
    if world_size > 1:
        backend = "nccl" if use_cuda else "gloo"
        dist.init_process_group(backend)
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        place = Placement(f"cuda:{local_rank}" if use_cuda else "cpu", dist.get_rank(), world_size)
    elif device != "auto":
        place = Placement("cuda:0" if device == "cuda" else device)
    elif not use_cuda:
        place = Placement("cpu")
    else:
        # On a one-GPU machine jobs may share the GPU on purpose (several small runs side by side).
        place = Placement(f"cuda:{lock_gpus(1)[0] if torch.cuda.device_count() > 1 else 0}")
    if place.device.startswith("cuda"):
        torch.cuda.set_device(place.device)
    return place


def shard(batch: tuple[torch.Tensor, ...], place: Placement) -> tuple[torch.Tensor, ...]:
    """This rank's rows of a global batch (every rank drew the same one)."""
    if not place.distributed:
        return batch
    size = batch[0].shape[0]
    if size % place.world_size:
        raise ValueError(f"train.batch_size ({size}) must be divisible by the number of processes ({place.world_size})")
    return tuple(t[place.rank::place.world_size] for t in batch)


def wrap(model: torch.nn.Module, place: Placement) -> torch.nn.Module:
    """The model DDP-wrapped when data parallel (every rank's gradients averaged), else as it is. A seed
    ensemble cannot be: it trains in one process."""
    if not place.distributed:
        return model
    if getattr(model, "members", 1) > 1:
        raise UnrolledError("an ensemble trains in one process: set `ensemble: 1` for resources.gpu > 1")
    from torch.nn.parallel import DistributedDataParallel

    cuda = place.device.startswith("cuda")
    return DistributedDataParallel(model, device_ids=[torch.device(place.device).index] if cuda else None)


def accumulating(wrapped: torch.nn.Module, place: Placement, last: bool):
    """Around a micro-step's backward: DDP all-reduces gradients on the last micro-step only."""
    return wrapped.no_sync() if place.distributed and not last else contextlib.nullcontext()


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
