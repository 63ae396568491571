"""Train one run, or a seed ensemble of runs, into `{experiment}/{arm}/seed{n}/`.

A run config has three parts: `data` (a prepared data set folder), `model` (ModelConfig fields; the
vocabulary or image shape comes from the data set) and `train` (TrainConfig). Seeds come from the
caller, i.e. from the run's wildcards. Each run folder ends with metrics.json (written last: its
presence means the run finished), history.csv (rewritten at every evaluation) and ckpt.pt; while it
trains, progress.json says how far it is (step, losses, throughput, ETA; removed at the end).

`train(run, seed, out)` trains one run. `train_ensemble(run, seeds, arm_dir)` trains E runs that
differ only in their seed as one stacked model (models/ensemble.py): member k starts from seed k's
weights, draws seed k's batches, and writes the same files a single run with seed k writes. An
existing checkpoint is resumed, and a resumed run ends bit for bit where an uninterrupted one does
(on the CPU; GPU kernels need not be deterministic).
"""

from __future__ import annotations

import contextlib
import csv
import logging
import math
import random
import signal
import threading
import time
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import numpy as np
import torch

from unrolled import checkpoint, distributed
from unrolled.atomic import atomic_path, write_json
from unrolled.data.batches import ImageBatches, MemberBatches, TokenBatches, load_meta
from unrolled.data.regression import RegressionBatches
from unrolled.errors import UnrolledError
from unrolled.models import Ensemble, ModelConfig, Transformer
from unrolled.plan import H100_BF16_FLOPS
from unrolled.provenance import config_hash, environment, git_sha
from unrolled.registry import CHECKPOINT, HISTORY, METRICS, PROGRESS, ensemble_dir, member_dir, tuned_run

log = logging.getLogger(__name__)
VOCAB_MULTIPLE = 64  # BPE vocabularies are padded to this for the matmuls (nanoGPT's 50257 -> 50304)


class NonFiniteLossError(UnrolledError):
    pass


class StoppedEarly(UnrolledError):
    """SIGTERM (a slice's or an allocation's time limit, a preemption) stopped training after a checkpoint."""


@contextlib.contextmanager
def stop_on_sigterm(enabled: bool):
    """While training, SIGTERM sets a flag the loop checks after each step (it then checkpoints and stops);
    the previous handler comes back afterwards. Off under DDP, where torchrun ends the ranks itself, and off
    the main thread, where Python allows no handler."""
    flag = {"stop": False}
    if not enabled or threading.current_thread() is not threading.main_thread():
        yield flag
        return
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: flag.update(stop=True))
    try:
        yield flag
    finally:
        signal.signal(signal.SIGTERM, previous)


@dataclass
class TrainConfig:
    batch_size: int = 64
    grad_accum: int = 1
    max_iters: int = 5000
    # Image data sets may count in epochs instead (the papers' ViT recipes do): `epochs` sets max_iters and
    # `eval_epochs` eval_interval, from the train split's size (an epoch is train // batch steps, as the
    # sampler drops the last partial batch).
    epochs: float | None = None
    eval_epochs: float | None = None
    lr: float = 1e-3
    min_lr: float = 1e-4
    lr_schedule: str = "cosine"  # "cosine" (linear warmup, cosine to min_lr) or "constant"
    warmup_iters: int = 100
    lr_decay_iters: int | None = None  # None: max_iters
    weight_decay: float = 0.1
    decay: str = "matrices"  # what weight decay acts on: "matrices" (nanoGPT's groups) or "all" parameters
    beta1: float = 0.9
    beta2: float = 0.99
    grad_clip: float = 1.0  # 0 disables clipping; per member in an ensemble
    eval_interval: int = 250
    eval_iters: int | None = 200  # val batches; None for images scores the whole val split
    val_seed: int = 1337  # fixes the val batches: the same for every arm and seed
    log_interval: int = 10
    # Checkpoints: every `checkpoint_interval` steps and/or once `checkpoint_minutes` have passed since
    # the last one, and always at the end (the final weights); None switches a trigger off.
    checkpoint_interval: int | None = None
    checkpoint_minutes: float | None = 10.0
    device: str = "auto"  # "auto", "cpu", "cuda", "cuda:N"
    dtype: str = "auto"  # "auto" (bf16 autocast where the GPU supports it, else fp32), "float32", "bfloat16"
    compile: bool = False

    def __post_init__(self):
        if self.lr_schedule not in ("cosine", "constant"):
            raise ValueError(f"train.lr_schedule: {self.lr_schedule!r} is not 'cosine' or 'constant'")
        if self.decay not in ("matrices", "all"):
            raise ValueError(f"train.decay: {self.decay!r} is not 'matrices' or 'all'")
        if self.dtype not in ("auto", "float32", "bfloat16"):
            raise ValueError(f"train.dtype: {self.dtype!r} is not 'auto', 'float32' or 'bfloat16'")
        for key in ("batch_size", "grad_accum", "max_iters", "eval_interval", "log_interval"):
            if getattr(self, key) < 1:
                raise ValueError(f"train.{key} must be at least 1, got {getattr(self, key)}")
        if self.checkpoint_interval is not None and self.checkpoint_interval < 1:
            raise ValueError(f"train.checkpoint_interval must be at least 1 or null, got {self.checkpoint_interval}")


def _build(cls, section: str, values: dict):
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"{section}: unknown key(s) {unknown}; expected some of {sorted(known)}")
    return cls(**values)


def parse_run_config(run: dict) -> tuple[Path, ModelConfig, TrainConfig, dict]:
    unknown = sorted(set(run) - {"data", "model", "train", "tuned"})
    if unknown:
        raise ValueError(f"run config: unknown key(s) {unknown}; expected data, model, train (and tuned)")
    if "data" not in run:
        raise ValueError("run config: `data` (a prepared data set folder) is required")
    data = Path(run["data"])
    meta = load_meta(data)
    return (data, *model_config(run, meta), meta)


def model_config(run: dict, meta: dict) -> tuple[ModelConfig, TrainConfig]:
    """The run's model and training configs, with what the data set fixes (vocabulary, image shape)."""
    model = dict(run.get("model", {}))
    if meta.get("kind") == "images":
        channels, size, _ = meta["shape"]
        model.update(task="vit", num_classes=meta["num_classes"], channels=channels, image_size=size)
    elif meta.get("kind") == "regression":
        model.update(task="regression", n_dims=meta["n_dims"], block_size=2 * meta["n_points"])
    else:
        vocab = meta["vocab_size"]
        if meta.get("tokenizer", "char") != "char":  # logits past the real vocabulary are never targets
            vocab = -(-vocab // VOCAB_MULTIPLE) * VOCAB_MULTIPLE
        model.update(task="lm", vocab_size=vocab)
    return _build(ModelConfig, "model", model), _in_steps(_build(TrainConfig, "train", run.get("train", {})),
                                                        run.get("train", {}), meta)


def _in_steps(tcfg: TrainConfig, given: dict, meta: dict) -> TrainConfig:
    """max_iters and eval_interval from `epochs` and `eval_epochs`, where the config counts in epochs."""
    counted = {"epochs": "max_iters", "eval_epochs": "eval_interval"}
    if not any(getattr(tcfg, key) is not None for key in counted):
        return tcfg
    if meta.get("kind") != "images":
        raise ValueError("train.epochs / train.eval_epochs: only image data sets count in epochs; use max_iters "
                         "and eval_interval")
    per_epoch = max(1, meta["counts"]["train"] // (tcfg.batch_size * tcfg.grad_accum))
    steps = {}
    for key, target in counted.items():
        if getattr(tcfg, key) is not None:
            if target in given:
                raise ValueError(f"train: set {key} or {target}, not both")
            steps[target] = max(1, round(getattr(tcfg, key) * per_epoch))
    return replace(tcfg, **steps)


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


def autocast_dtype(tcfg: TrainConfig, device: str) -> torch.dtype | None:
    """bf16 autocast where asked for or (auto) on a GPU that supports it; None means fp32."""
    cuda = device.startswith("cuda")
    supported = not cuda or torch.cuda.is_bf16_supported()
    if tcfg.dtype == "bfloat16" and not supported:
        raise UnrolledError(f"train.dtype: bfloat16, but {torch.cuda.get_device_name(device)} does not support it; "
                            f"use float32")
    if tcfg.dtype == "bfloat16" or (tcfg.dtype == "auto" and cuda and supported):
        return torch.bfloat16
    return None


def _sampler(mcfg: ModelConfig, tcfg: TrainConfig, data: Path, meta: dict, seed: int, device: str):
    if mcfg.task == "lm":
        return TokenBatches(data, mcfg.block_size, tcfg.batch_size, seed, device)
    if mcfg.task == "regression":
        return RegressionBatches(data, meta, tcfg.batch_size, seed, device)
    return ImageBatches(data, tcfg.batch_size, seed, device)


def _write_history(path: Path, rows: list[dict]) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["step", "train_loss", "val_loss", "val_acc", "lr"])
        writer.writeheader()
        writer.writerows(rows)


def _is_better(ev: dict, best: dict | None) -> bool:
    if best is None:
        return True
    return ev["val_acc"] > best["val_acc"] if "val_acc" in ev else ev["val_loss"] < best["val_loss"]


class Trainer:
    """One training job: E >= 1 runs of one config that differ only in their seed.

    E = 1 trains a plain Transformer; E > 1 an Ensemble of E members. Everything per run (losses,
    history, best step, sampler, output folder) is a list over members.
    """

    def __init__(self, run: dict, seeds: list[int], run_dirs: list[Path], ckpt_path: Path, progress: bool):
        run = tuned_run(run)  # a tuned arm's value, chosen by its sweep, is part of the config and its hash
        self.data, self.mcfg, self.tcfg, self.meta = parse_run_config(run)
        self.run, self.seeds, self.run_dirs, self.ckpt_path = run, seeds, run_dirs, ckpt_path
        self.progress, self.ensemble = progress, len(seeds) > 1
        # A rebuilt data set invalidates checkpoints, so its meta is part of every hash. With dropout an
        # ensemble member's masks depend on its group (see build), so a member's hash names the group.
        group = {"ensemble": seeds} if self.ensemble else {}
        self.run_hashes = [config_hash({"run": run, "seed": s, "data": self.meta, **group}) for s in seeds]
        self.job_hash = config_hash({"run": run, "seeds": seeds, "data": self.meta}) if self.ensemble else self.run_hashes[0]

    # -- build: device, precision, data, model, optimizer ------------------------------------------
    def build(self, place: distributed.Placement) -> None:
        tcfg, mcfg, device = self.tcfg, self.mcfg, place.device
        if place.distributed and self.ensemble:
            raise UnrolledError("an ensemble trains in one process: set `ensemble: 1` for resources.gpu > 1")
        self.place, self.device, cuda = place, device, device.startswith("cuda")
        if cuda:
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
            if self.ensemble and tcfg.compile:
                # torch 2.11: cuDNN attention under vmap + compile fails (a stride assertion); flash
                # attention, which H100 runs as fast here, is unaffected.
                torch.backends.cuda.enable_cudnn_sdp(False)
        self.amp = autocast_dtype(tcfg, device)
        sampler = _sampler(mcfg, tcfg, self.data, self.meta, self.seeds[0], device)
        self.batches = MemberBatches(sampler, self.seeds) if self.ensemble else sampler
        self.val_batches = self.batches.val_batches(tcfg.eval_iters, tcfg.val_seed)
        members = []
        for seed in self.seeds:  # member k's initial weights are exactly seed k's single run's
            seed_everything(seed)
            members.append(Transformer(mcfg))
        self.model = (Ensemble(members) if self.ensemble else members[0]).to(device)
        # Dropout masks come from the global generator. A single run goes on from its seed's state. An
        # ensemble draws all members' masks at once from a generator seeded by its first seed, so a
        # member's masks never depend on another member's seed, weights or data. Under DDP each rank
        # draws its own (the model above is the same on every rank).
        if self.ensemble:
            torch.manual_seed(self.seeds[0])
        if place.rank:
            torch.manual_seed(self.seeds[0] + 1_000_003 * place.rank)
        groups = self.model.optimizer_groups(tcfg.weight_decay, decay=tcfg.decay)
        self.optimizer = torch.optim.AdamW(groups, lr=tcfg.lr, betas=(tcfg.beta1, tcfg.beta2), fused=cuda or None)
        self.wrapped = self.model
        if place.distributed:
            from torch.nn.parallel import DistributedDataParallel

            self.wrapped = DistributedDataParallel(self.model, device_ids=[torch.device(device).index] if cuda else None)
        self.forward = torch.compile(self.wrapped) if tcfg.compile else self.wrapped
        E = len(self.seeds)
        self.step, self.wall_before = 0, 0.0
        self.history, self.best = [[] for _ in range(E)], [None] * E
        self.loss_sum, self.loss_count = torch.zeros(E, device=device), 0

    def autocast(self):
        if self.amp is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=torch.device(self.device).type, dtype=self.amp)

    # -- resume -------------------------------------------------------------------------------------
    def resume(self) -> None:
        if not self.ckpt_path.exists():
            return
        state = checkpoint.load(self.ckpt_path)
        if state["config_hash"] != self.job_hash:
            raise UnrolledError(f"{self.ckpt_path}: made with a different config or seed "
                                f"({state['config_hash']} != {self.job_hash}); delete it to start over")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.batches.load_state_dict(state["sampler"], source=str(self.ckpt_path))
        self.step, self.history, self.best = state["step"], state["history"], state["best"]
        self.wall_before = state["wall_seconds"]
        self.loss_sum.copy_(state["loss_sum"])
        self.loss_count = state["loss_count"]
        checkpoint.set_rng_state(state["rng"], self.device)
        log.info("resumed %s at step %d", self.ckpt_path, self.step)

    # -- one optimizer step -------------------------------------------------------------------------
    def train_step(self) -> float:
        tcfg = self.tcfg
        lr = learning_rate(self.step, tcfg)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        for micro in range(tcfg.grad_accum):
            x, y = distributed.shard(self.batches.next_train(), self.place)  # every rank drew the same global batch
            # DDP all-reduces gradients on the last micro-step only.
            last = micro == tcfg.grad_accum - 1
            sync = self.wrapped.no_sync() if self.place.distributed and not last else contextlib.nullcontext()
            with sync, self.autocast():
                _, loss = self.forward(x, y)  # () for one run, (E,) for an ensemble
                (loss.sum() / tcfg.grad_accum).backward()  # member k's gradient is its own loss's
            self.loss_sum += loss.detach().float()
        self.loss_count += tcfg.grad_accum
        if tcfg.grad_clip > 0:
            if self.ensemble:
                self.model.clip_grad_norm_(tcfg.grad_clip)
            else:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), tcfg.grad_clip)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        return lr

    def mean_train_loss(self) -> list[float]:
        """Mean training loss per member since the last evaluation (one host sync)."""
        losses = [v / self.loss_count for v in distributed.mean_across_ranks(self.loss_sum, self.place).tolist()]
        for seed, loss in zip(self.seeds, losses):
            if not math.isfinite(loss):
                kept = self.ckpt_path if self.ckpt_path.exists() else "(none yet)"
                raise NonFiniteLossError(
                    f"{self.run_dirs[self.seeds.index(seed)]}: training loss became {loss} at or before step "
                    f"{self.step}. The last good checkpoint is kept at {kept}; lower train.lr or check the data")
        return losses

    # -- evaluation: fixed val batches on the device, compiled like training, one sync ----------------
    @torch.no_grad()
    def evaluate(self) -> list[dict]:
        E, vit = len(self.seeds), self.mcfg.task == "vit"
        self.model.eval()
        loss_sum = torch.zeros(E, dtype=torch.float64, device=self.device)
        correct = torch.zeros(E, dtype=torch.long, device=self.device)
        count = 0
        for x, y in self.val_batches:
            if self.ensemble:  # every member scores the same batch
                x, y = x.expand(E, *x.shape), y.expand(E, *y.shape)
            with self.autocast():
                logits, loss = self.forward(x, y)
            n = y[0].numel() if self.ensemble else y.numel()
            loss_sum += loss.double() * n
            if vit:
                correct += (logits.argmax(-1) == y).sum(-1)
            count += n
        self.model.train()
        losses, corrects = (loss_sum / count).tolist(), correct.tolist()
        return [{"val_loss": loss, **({"val_acc": c / count} if vit else {})} for loss, c in zip(losses, corrects)]

    # -- checkpoint -----------------------------------------------------------------------------------
    def save(self, wall: float) -> None:
        checkpoint.save(self.ckpt_path, {
            "config_hash": self.job_hash, "seeds": self.seeds, "step": self.step,
            "history": self.history, "best": self.best, "wall_seconds": wall,
            "loss_sum": self.loss_sum.cpu(), "loss_count": self.loss_count,
            "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
            "sampler": self.batches.state_dict(), "rng": checkpoint.rng_state(self.device),
        })

    def checkpoint_due(self, last_save: float) -> bool:
        tcfg = self.tcfg
        if self.step == tcfg.max_iters:  # the final weights: a single run's checkpoint; an ensemble writes
            return not self.ensemble     # each member's into its own folder instead (finish)
        return ((tcfg.checkpoint_interval is not None and self.step % tcfg.checkpoint_interval == 0)
                or (tcfg.checkpoint_minutes is not None and time.perf_counter() - last_save >= 60 * tcfg.checkpoint_minutes))

    # -- the loop -------------------------------------------------------------------------------------
    def fit(self) -> list[dict]:
        tcfg, place = self.tcfg, self.place
        for d in [*self.run_dirs, self.ckpt_path.parent]:
            d.mkdir(parents=True, exist_ok=True)
        tokens_per_step = self.batches.tokens_per_batch * tcfg.grad_accum
        start_step, started = self.step, time.perf_counter()
        last_save = started
        with stop_on_sigterm(not place.distributed) as sigterm:
            while self.step < tcfg.max_iters:
                self.fit_step(start_step, started, tokens_per_step)
                if place.is_main and self.checkpoint_due(last_save):
                    self.save(self.wall_before + time.perf_counter() - started)
                    last_save = time.perf_counter()
                if sigterm["stop"] and self.step < tcfg.max_iters:
                    self.save(self.wall_before + time.perf_counter() - started)
                    raise StoppedEarly(f"stopped by SIGTERM at step {self.step} of {tcfg.max_iters}; the checkpoint "
                                       f"{self.ckpt_path} holds it, and a rerun resumes from there")
        seconds = time.perf_counter() - started
        return self.finish(start_step, seconds, tokens_per_step)

    def fit_step(self, start_step: int, started: float, tokens_per_step: int) -> None:
        """One optimizer step, with its log line and, at an evaluation step, the evaluation."""
        tcfg, place = self.tcfg, self.place
        lr = self.train_step()
        is_eval = self.step % tcfg.eval_interval == 0 or self.step == tcfg.max_iters
        if self.step % tcfg.log_interval == 0 or is_eval:
            train_loss = self.mean_train_loss()
            if place.is_main and self.progress:
                self._log_progress(train_loss, start_step, started, tokens_per_step)
        if is_eval:
            self._record(lr, train_loss, self.evaluate())
            distributed.barrier(place)

    def _log_progress(self, train_loss, start_step, started, tokens_per_step) -> None:
        """One log line, and each run's progress.json (read by `python -m unrolled status`)."""
        elapsed = time.perf_counter() - started
        done = self.step - start_step
        eta = elapsed / done * (self.tcfg.max_iters - self.step)
        tokens_per_s = done * tokens_per_step * len(self.seeds) / elapsed
        loss = f"{train_loss[0]:.4f}" if len(train_loss) == 1 else f"{np.mean(train_loss):.4f} (mean of {len(train_loss)})"
        log.info("step %d/%d: train %s, %s tok/s, elapsed %.0fs, eta %.0fs", self.step, self.tcfg.max_iters,
                 loss, f"{tokens_per_s:,.0f}", elapsed, eta)
        for k, run_dir in enumerate(self.run_dirs):
            last_val = self.history[k][-1]["val_loss"] if self.history[k] else None
            write_json(run_dir / PROGRESS, {
                "step": self.step, "max_iters": self.tcfg.max_iters, "train_loss": train_loss[k],
                "last_val_loss": last_val, "tokens_per_second": tokens_per_s, "elapsed_seconds": elapsed,
                "eta_seconds": eta, "updated": time.time()})

    def _record(self, lr: float, train_loss: list[float], evals: list[dict]) -> None:
        for k, ev in enumerate(evals):
            if not math.isfinite(ev["val_loss"]):
                raise NonFiniteLossError(f"{self.run_dirs[k]}: validation loss is {ev['val_loss']} at step {self.step}")
            self.history[k].append({"step": self.step, "train_loss": train_loss[k], "val_loss": ev["val_loss"],
                                    "val_acc": ev.get("val_acc"), "lr": lr})
            if _is_better(ev, self.best[k]):
                self.best[k] = {**ev, "step": self.step}
            if self.place.is_main:
                _write_history(self.run_dirs[k] / HISTORY, self.history[k])  # watchable while it trains
        self.loss_sum.zero_()
        self.loss_count = 0
        ev = evals[0]
        log.info("step %d: train %.4f, val %.4f%s, lr %.2e%s", self.step, train_loss[0], ev["val_loss"],
                 f", acc {ev['val_acc']:.4f}" if "val_acc" in ev else "", lr,
                 f" (seed {self.seeds[0]} of {len(self.seeds)})" if self.ensemble else "")

    # -- final metrics, one folder per run ------------------------------------------------------------
    def finish(self, start_step: int, seconds: float, tokens_per_step: int) -> list[dict]:
        mcfg, tcfg, E = self.mcfg, self.tcfg, len(self.seeds)
        wall = self.wall_before + seconds
        job_tps = (self.step - start_step) * tokens_per_step * E / seconds if self.step > start_step else None
        scales = self.model.identity_scale
        common = {
            "task": mcfg.task, "world_size": self.place.world_size, "steps": self.step,
            "tokens": self.step * tokens_per_step, "params": self.model.num_params(), "wall_seconds": wall,
            "tokens_per_second": job_tps / E if job_tps else None, "resumed_from_step": start_step or None,
            "git_sha": git_sha(), "config": {"model": asdict(mcfg), "train": asdict(tcfg)},
            **({"tuned": self.run["tuned"]} if "tuned" in self.run else {}),
            "data": {"path": str(self.data), "name": self.meta.get("name"), "sources": self.meta.get("sources")},
            "environment": environment(self.device),
        }
        if self.device.startswith("cuda") and job_tps:
            # the whole job's use of the GPU
            common["mfu_bf16_h100"] = job_tps * self.model.flops_per_item() / H100_BF16_FLOPS
        if self.ensemble:
            common["ensemble"] = {"seeds": self.seeds, "size": E, "tokens_per_second": job_tps}
        out = []
        for k, seed in enumerate(self.seeds):
            history, best = self.history[k], self.best[k]
            metrics = {**common, "seed": seed, "final_val_loss": history[-1]["val_loss"],
                       "best_val_loss": min(r["val_loss"] for r in history), "best_step": best["step"],
                       "identity_scale": scales.reshape(-1)[k].item() if scales is not None else None,
                       "config_hash": self.run_hashes[k]}
            if mcfg.task == "vit":
                metrics |= {"final_val_acc": history[-1]["val_acc"], "best_val_acc": best["val_acc"]}
            out.append(metrics)
        if self.place.is_main:
            for k, metrics in enumerate(out):
                run_dir = self.run_dirs[k]
                if self.ensemble:  # member k's final weights, where a single run keeps them
                    checkpoint.save(run_dir / CHECKPOINT, {"config_hash": self.run_hashes[k], "step": self.step,
                                                           "model": self.model.member_state_dict(k)})
                _write_history(run_dir / HISTORY, self.history[k])
                write_json(run_dir / METRICS, metrics)  # last: its presence means the run finished
                (run_dir / PROGRESS).unlink(missing_ok=True)
            if self.ensemble:
                self.ckpt_path.unlink(missing_ok=True)  # every member's weights are in its own folder now
        return out


def _run_job(run: dict, seeds: list[int], run_dirs: list[Path], ckpt_path: Path, progress: bool) -> list[dict]:
    trainer = Trainer(run, seeds, run_dirs, ckpt_path, progress)
    place = distributed.setup(trainer.tcfg.device)
    try:
        trainer.build(place)
        trainer.resume()
        return trainer.fit()
    finally:
        distributed.teardown(place)


def train(run: dict, seed: int, out: str | Path, progress: bool = True) -> dict:
    """Train one run into `out` (resuming its checkpoint if there is one); under torchrun, data parallel."""
    out = Path(out)
    return _run_job(run, [seed], [out], out / CHECKPOINT, progress)[0]


def ensemble_checkpoint(arm_dir: str | Path, seeds: list[int]) -> Path:
    """Where an ensemble job keeps its resumable state while it trains."""
    return Path(ensemble_dir(arm_dir, seeds)) / CHECKPOINT


def train_ensemble(run: dict, seeds: list[int], arm_dir: str | Path, progress: bool = True) -> list[dict]:
    """Train the runs `arm_dir/seed{n}` for every n in `seeds` in one process, as a seed ensemble."""
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"ensemble seeds must be distinct, got {seeds}")
    return _run_job(run, list(seeds), [Path(member_dir(arm_dir, s)) for s in seeds],
                    ensemble_checkpoint(arm_dir, seeds), progress)
