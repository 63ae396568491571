"""Train one run: `{experiment}/{arm}/seed{n}` -> metrics.json, history.csv and a checkpoint.

A run config has three parts: `data` (a prepared data set folder), `model` (ModelConfig fields; the
vocabulary or image shape comes from the data set) and `train` (TrainConfig). The seed comes from
the caller, i.e. from the run's wildcards. An existing checkpoint in the run folder is resumed.
"""

from __future__ import annotations

import contextlib
import csv
import logging
import math
import random
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from unrolled import checkpoint, distributed
from unrolled.atomic import atomic_path, write_json
from unrolled.data.batches import ImageBatches, TokenBatches, load_meta, load_sampler_state, sampler_state
from unrolled.data.regression import RegressionBatches
from unrolled.errors import UnrolledError
from unrolled.models import ModelConfig, Transformer
from unrolled.provenance import config_hash, environment, git_sha

log = logging.getLogger(__name__)
CHECKPOINT, METRICS, HISTORY = "ckpt.pt", "metrics.json", "history.csv"


class NonFiniteLossError(UnrolledError):
    pass


@dataclass
class TrainConfig:
    batch_size: int = 64
    grad_accum: int = 1
    max_iters: int = 5000
    lr: float = 1e-3
    min_lr: float = 1e-4
    lr_schedule: str = "cosine"  # "cosine" (linear warmup, cosine to min_lr) or "constant"
    warmup_iters: int = 100
    lr_decay_iters: int | None = None  # None: max_iters
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.99
    grad_clip: float = 1.0  # 0 disables clipping
    eval_interval: int = 250  # also the checkpoint interval
    eval_iters: int | None = 200  # val batches; None for images scores the whole val split
    val_seed: int = 1337  # fixes the val batches: the same for every arm and seed
    log_interval: int = 10
    device: str = "auto"  # "auto", "cpu", "cuda", "cuda:N"
    dtype: str = "auto"  # "auto" (bf16 autocast on CUDA, fp32 on CPU), "float32", "bfloat16"
    compile: bool = False

    def __post_init__(self):
        if self.lr_schedule not in ("cosine", "constant"):
            raise ValueError(f"train.lr_schedule: {self.lr_schedule!r} is not 'cosine' or 'constant'")
        if self.dtype not in ("auto", "float32", "bfloat16"):
            raise ValueError(f"train.dtype: {self.dtype!r} is not 'auto', 'float32' or 'bfloat16'")
        for key in ("batch_size", "grad_accum", "max_iters", "eval_interval", "log_interval"):
            if getattr(self, key) < 1:
                raise ValueError(f"train.{key} must be at least 1, got {getattr(self, key)}")


def _build(cls, section: str, values: dict):
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"{section}: unknown key(s) {unknown}; expected some of {sorted(known)}")
    return cls(**values)


def parse_run_config(run: dict) -> tuple[Path, ModelConfig, TrainConfig, dict]:
    unknown = sorted(set(run) - {"data", "model", "train"})
    if unknown:
        raise ValueError(f"run config: unknown key(s) {unknown}; expected data, model, train")
    if "data" not in run:
        raise ValueError("run config: `data` (a prepared data set folder) is required")
    data = Path(run["data"])
    meta = load_meta(data)
    model = dict(run.get("model", {}))
    if meta.get("kind") == "images":
        channels, size, _ = meta["shape"]
        model.update(task="vit", num_classes=meta["num_classes"], channels=channels, image_size=size)
    elif meta.get("kind") == "regression":
        model.update(task="regression", n_dims=meta["n_dims"], block_size=2 * meta["n_points"])
    else:
        model.update(task="lm", vocab_size=meta["vocab_size"])
    return data, _build(ModelConfig, "model", model), _build(TrainConfig, "train", run.get("train", {})), meta


def learning_rate(step: int, cfg: TrainConfig) -> float:
    """nanoGPT's schedule: linear warmup, then cosine decay to min_lr (or constant after warmup)."""
    if step < cfg.warmup_iters:
        return cfg.lr * (step + 1) / (cfg.warmup_iters + 1)
    if cfg.lr_schedule == "constant":
        return cfg.lr
    decay_iters = cfg.lr_decay_iters or cfg.max_iters
    if step > decay_iters:
        return cfg.min_lr
    ratio = (step - cfg.warmup_iters) / max(1, decay_iters - cfg.warmup_iters)
    return cfg.min_lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (cfg.lr - cfg.min_lr)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@torch.no_grad()
def evaluate(model, batches: list, device: str, autocast) -> dict:
    """Mean loss (and accuracy for classifiers) over fixed batches, weighted by batch size."""
    model.eval()
    loss_sum, correct, count = 0.0, 0, 0
    for x, y in batches:
        x, y = x.to(device), y.to(device)
        with autocast():
            logits, loss = model(x, y)
        n = y.numel()
        loss_sum += loss.float().item() * n
        if model.cfg.task == "vit":
            correct += (logits.argmax(-1) == y).sum().item()
        count += n
    model.train()
    out = {"val_loss": loss_sum / count}
    if model.cfg.task == "vit":
        out["val_acc"] = correct / count
    return out


def flops_per_token(model: Transformer, seq_len: int) -> float:
    """PaLM/nanoGPT estimate of training FLOPs per token: 6N + 12 L d T."""
    cfg = model.cfg
    return 6 * model.num_params() + 12 * cfg.n_layer * cfg.n_embd * seq_len


def _history_row(step, lr, train_loss, ev):
    return {"step": step, "train_loss": train_loss, "val_loss": ev["val_loss"], "val_acc": ev.get("val_acc"), "lr": lr}


def _write_history(path: Path, rows: list[dict]) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["step", "train_loss", "val_loss", "val_acc", "lr"])
        writer.writeheader()
        writer.writerows(rows)


def train(run: dict, seed: int, out: str | Path, progress: bool = True) -> dict:
    """Train one run (resuming its checkpoint if there is one); under torchrun, data parallel."""
    data, mcfg, tcfg, meta = parse_run_config(run)
    place = distributed.setup(tcfg.device)
    try:
        return _train(run, seed, Path(out), progress, data, mcfg, tcfg, meta, place)
    finally:
        distributed.teardown(place)


def _train(run, seed, out, progress, data, mcfg, tcfg, meta, place) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    chash = config_hash({"run": run, "seed": seed, "data": meta})  # a rebuilt data set invalidates checkpoints
    device = place.device
    cuda = device.startswith("cuda")
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    use_bf16 = tcfg.dtype == "bfloat16" or (tcfg.dtype == "auto" and cuda)

    def autocast():
        if use_bf16:
            return torch.autocast(device_type="cuda" if cuda else "cpu", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    seed_everything(seed)
    if mcfg.task == "lm":
        batches = TokenBatches(data, mcfg.block_size, tcfg.batch_size, seed)
    elif mcfg.task == "regression":
        batches = RegressionBatches(data, meta, tcfg.batch_size, seed)
    else:
        batches = ImageBatches(data, tcfg.batch_size, seed)
    val_batches = batches.val_batches(tcfg.eval_iters, tcfg.val_seed)
    model = Transformer(mcfg).to(device)
    optimizer = torch.optim.AdamW(model.optimizer_groups(tcfg.weight_decay), lr=tcfg.lr,
                                  betas=(tcfg.beta1, tcfg.beta2), fused=cuda or None)
    wrapped = model
    if place.distributed:
        from torch.nn.parallel import DistributedDataParallel

        wrapped = DistributedDataParallel(model, device_ids=[torch.device(device).index] if cuda else None)
    step_fn = torch.compile(wrapped) if tcfg.compile else wrapped

    ckpt_path = out / CHECKPOINT
    step, history, wall_before, best = 0, [], 0.0, None
    if ckpt_path.exists():
        state = checkpoint.load(ckpt_path)
        if state["config_hash"] != chash:
            raise UnrolledError(f"{ckpt_path}: made with a different config or seed "
                                f"({state['config_hash']} != {chash}); delete it to start over")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        step, history, wall_before, best = state["step"], state["history"], state["wall_seconds"], state["best"]
        load_sampler_state(batches, state["sampler"])
        checkpoint.set_rng_state(state["rng"])
        log.info("resumed %s at step %d", ckpt_path, step)

    tokens_per_step = batches.tokens_per_batch * tcfg.grad_accum
    start_step, started = step, time.perf_counter()
    bar = tqdm(total=tcfg.max_iters, initial=step, disable=not (progress and place.is_main), dynamic_ncols=True,
               desc=out.name)
    loss_sum = torch.zeros((), device=device)
    loss_count = 0
    while step < tcfg.max_iters:
        lr = learning_rate(step, tcfg)
        for group in optimizer.param_groups:
            group["lr"] = lr
        for micro in range(tcfg.grad_accum):
            x, y = distributed.shard(batches.next_train(), place)  # every rank drew the same global batch
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            # DDP all-reduces gradients on the last micro-step only.
            last = micro == tcfg.grad_accum - 1
            with (wrapped.no_sync() if place.distributed and not last else contextlib.nullcontext()), autocast():
                _, loss = step_fn(x, y)
                (loss / tcfg.grad_accum).backward()
            loss_sum += loss.detach().float()
        loss_count += tcfg.grad_accum
        if tcfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), tcfg.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1

        is_eval = step % tcfg.eval_interval == 0 or step == tcfg.max_iters
        if step % tcfg.log_interval == 0 or is_eval:
            train_loss = distributed.mean_across_ranks(loss_sum, place).item() / loss_count  # one sync per log
            if not math.isfinite(train_loss):
                raise NonFiniteLossError(
                    f"{out}: training loss became {train_loss} at or before step {step}. "
                    f"The last good checkpoint is kept at {ckpt_path if ckpt_path.exists() else '(none yet)'}; "
                    f"lower train.lr or check the data")
            elapsed = time.perf_counter() - started
            bar.set_postfix(loss=f"{train_loss:.4f}", tok_s=f"{(step - start_step) * tokens_per_step / elapsed:,.0f}")
        bar.update(1)
        if not is_eval:
            continue
        ev = evaluate(model, val_batches, device, autocast)
        if not math.isfinite(ev["val_loss"]):
            raise NonFiniteLossError(f"{out}: validation loss is {ev['val_loss']} at step {step}")
        history.append(_history_row(step, lr, train_loss, ev))
        loss_sum.zero_()
        loss_count = 0
        key = "val_acc" if mcfg.task == "vit" else "val_loss"
        better = best is None or (ev[key] > best[key] if key == "val_acc" else ev[key] < best[key])
        if better:
            best = {**ev, "step": step}
        log.info("step %d: train %.4f, val %.4f%s, lr %.2e", step, train_loss, ev["val_loss"],
                 f", acc {ev['val_acc']:.4f}" if "val_acc" in ev else "", lr)
        if not place.is_main:
            distributed.barrier(place)
            continue
        checkpoint.save(ckpt_path, {
            "config_hash": chash, "step": step, "history": history, "best": best,
            "wall_seconds": wall_before + time.perf_counter() - started,
            "model": model.state_dict(), "optimizer": optimizer.state_dict(),
            "sampler": sampler_state(batches), "rng": checkpoint.rng_state(),
        })
        distributed.barrier(place)
    bar.close()

    wall = wall_before + time.perf_counter() - started
    run_seconds = time.perf_counter() - started
    tokens_per_second = (step - start_step) * tokens_per_step / run_seconds if step > start_step else None
    final = history[-1]
    metrics = {
        "task": mcfg.task, "seed": seed, "world_size": place.world_size, "steps": step,
        "tokens": step * tokens_per_step,
        "params": model.num_params(),
        "final_val_loss": final["val_loss"], "best_val_loss": min(r["val_loss"] for r in history),
        "best_step": best["step"], "wall_seconds": wall, "tokens_per_second": tokens_per_second,
        "resumed_from_step": start_step or None,
        "identity_scale": model.identity_scale.item() if mcfg.identity == "learned" else None,
        "git_sha": git_sha(), "config_hash": chash, "config": {"model": asdict(mcfg), "train": asdict(tcfg)},
        "data": {"path": str(data), "name": meta.get("name"), "sources": meta.get("sources")},
        "environment": environment(device),
    }
    if mcfg.task == "vit":
        metrics |= {"final_val_acc": final["val_acc"], "best_val_acc": best["val_acc"]}
    if cuda and tokens_per_second:
        seq = mcfg.block_size if mcfg.task != "vit" else (mcfg.image_size // mcfg.patch_size) ** 2 + 1
        per_token = flops_per_token(model, seq) * (1 if mcfg.task == "lm" else seq)
        metrics["mfu_bf16_h100"] = tokens_per_second * per_token / 989e12
    if place.is_main:
        _write_history(out / HISTORY, history)
        write_json(out / METRICS, metrics)  # last: its presence means the run finished
    return metrics
