"""Checkpoints that make a resumed run end bit for bit where an uninterrupted one would (on CPU).

They hold the model, the optimizer, the step, the history so far, the data sampler, and every RNG
state (torch, numpy, python, and the run's own GPU), in types `torch.load(weights_only=True)` accepts.
Only the RNG of the device the run used is saved, and it is restored onto the device the resumed run
uses, so a checkpoint made on a node with 8 GPUs resumes on one with 1 (and on the CPU).
`load_model` gives an evaluation the final weights of a finished run.
"""

from __future__ import annotations

import pickle
import random
from pathlib import Path

import numpy as np
import torch

from unrolled.atomic import atomic_path, read_json
from unrolled.config import trained_model_config
from unrolled.errors import UnrolledError
from unrolled.layout import CHECKPOINT, METRICS
from unrolled.models import Transformer


def rng_state(device: str = "cpu") -> dict:
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state(device) if device.startswith("cuda") else None,
        "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": pos, "has_gauss": has_gauss,
                  "gauss": gauss},
        "python": {"version": version, "internal": list(internal), "gauss_next": gauss_next},
    }


def set_rng_state(state: dict, device: str = "cpu") -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] is not None and device.startswith("cuda"):
        torch.cuda.set_rng_state(state["cuda"], device)
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    p = state["python"]
    random.setstate((p["version"], tuple(p["internal"]), p["gauss_next"]))


def save(path: str | Path, state: dict) -> None:
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load(path: str | Path) -> dict:
    """A checkpoint's state; an unreadable file (truncated, empty, not a checkpoint) raises UnrolledError
    naming it and the way out, not torch's unpickling traceback."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except (OSError, EOFError, RuntimeError, pickle.UnpicklingError) as exc:
        size = Path(path).stat().st_size if Path(path).exists() else 0
        raise UnrolledError(f"{path}: unreadable checkpoint ({size} bytes; {type(exc).__name__}: "
                            f"{str(exc).split('. ')[0] if str(exc) else 'empty'}). Delete it to start over: the "
                            f"run then trains from step 0.") from None


def load_model(run_dir: str | Path, device: str = "cpu") -> Transformer:
    """The final weights of a finished run, in eval mode (its metrics.json names the config, ckpt.pt
    holds them)."""
    run_dir = Path(run_dir)
    metrics_path, ckpt_path = run_dir / METRICS, run_dir / CHECKPOINT
    if not metrics_path.exists():
        raise FileNotFoundError(f"{metrics_path}: missing; train this run first")
    if not ckpt_path.exists():
        raise FileNotFoundError(f"{ckpt_path}: missing (checkpoints are not shared through DVC); "
                                f"retrain the run, e.g. snakemake --forcerun train {metrics_path}")
    model = Transformer(trained_model_config(read_json(metrics_path)))
    model.load_state_dict(load(ckpt_path)["model"])
    return model.to(device).eval()
