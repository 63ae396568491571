"""What every metrics.json records about how it was made: code, config, device, libraries."""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
from pathlib import Path

from unrolled.atomic import read_json


def config_hash(config: dict) -> str:
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


COMMIT = Path(__file__).resolve().parents[2] / "COMMIT"  # a copy's commit, where no .git came with it


def git_sha() -> str:
    """The commit of this checkout, with '-dirty' when tracked files differ from it; in a copy without .git (a
    GPU node's working tree), the commit `make gpu-wheels` wrote into COMMIT before the copy was made."""
    here = Path(__file__).resolve().parent
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return COMMIT.read_text().strip() if COMMIT.exists() else "unknown"
    return sha.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def cpu_model() -> str:
    """The host CPU's model name (its kernels decide the last digits of a CPU run)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def environment(device: str) -> dict:
    import numpy
    import torch

    cuda = device.startswith("cuda")
    info = {
        "device": device,
        "device_name": torch.cuda.get_device_name(device) if cuda else cpu_model(),
        "cpu": cpu_model(),
        "host": platform.node(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
    }
    if cuda:  # the physical GPU: an index means little once CUDA_VISIBLE_DEVICES has renumbered them
        info |= {"device_uuid": str(torch.cuda.get_device_properties(device).uuid), "cuda": torch.version.cuda}
    return info


def data_record(data: str | Path, meta: dict) -> dict:
    """What a run records of the data set it trained on: its folder, name, sources' hashes and the size of its
    training split in the sampler's items (tokens or images; none for synthetic prompts), from which the
    regime gate counts epochs."""
    size = meta.get("train_tokens", meta.get("counts", {}).get("train"))
    return {"data": {"path": str(data), "name": meta.get("name"), "sources": meta.get("sources"),
                     **({"train_items": size} if size else {})}}


def evaluation(run: str | Path, device: str) -> dict:
    """What an evaluation of a trained run records: the run, its config hash, the code and the machine."""
    from unrolled.layout import METRICS

    trained = read_json(Path(run) / METRICS)
    return {"run": str(run), "run_config_hash": trained["config_hash"], "git_sha": git_sha(),
            "environment": environment(device)}
