"""Train a seed group of runs into `{experiment}/{arm}/seed{n}/`: the training loop.

The run config (data, model, train) is config.py's, finished before training; the seeds come from the
caller, i.e. from the job's wildcards. Each run folder ends with metrics.json (written last: its presence
means the run finished), history.csv (rewritten at every evaluation) and ckpt.pt; while it trains,
progress.json says how far it is (step, losses, throughput, ETA; removed at the end).

`train(run, seeds, arm_dir)` trains every job: a group of one seed is a single run; a group of E > 1 trains
its E runs as one stacked model (models/ensemble.py): member k starts from seed k's weights, draws seed k's
batches, and writes the same files a single run with seed k writes. An existing checkpoint is resumed, and
a resumed run ends bit for bit where an uninterrupted one does (on the CPU; GPU kernels need not be
deterministic).
"""

from __future__ import annotations

import contextlib
import csv
import logging
import math
import os
import random
import signal
import threading
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from unrolled import checkpoint, distributed
from unrolled.atomic import atomic_path, write_json
from unrolled.config import H100_BF16_FLOPS, RunConfig, TrainConfig
from unrolled.data.batches import ImageBatches, MemberBatches, TokenBatches
from unrolled.data.regression import RegressionBatches
from unrolled.errors import UnrolledError
from unrolled.layout import CHECKPOINT, HISTORY, METRICS, PROGRESS, job_dir, member_dir
from unrolled.models import ModelConfig, Transformer, stack
from unrolled.models.flat import FlatBuffers
from unrolled.provenance import config_hash, data_record, environment, git_sha

log = logging.getLogger(__name__)


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


@torch.no_grad()
def evaluate(forward, val_batches: list, members: int, accuracy: bool, device: str) -> list[dict]:
    """Each member's val loss (and accuracy) over fixed batches already on the device, with one host sync;
    an ensemble's batches are (members, ...), every member scoring the same one."""
    loss_sum = torch.zeros(members, dtype=torch.float64, device=device)
    correct = torch.zeros(members, dtype=torch.long, device=device)
    count = 0
    for x, y in val_batches:
        logits, loss = forward(x, y)
        n = y.numel() // members
        loss_sum += loss.double() * n
        if accuracy:
            correct += (logits.argmax(-1) == y).sum(-1)
        count += n
    losses, corrects = (loss_sum / count).tolist(), correct.tolist()
    return [{"val_loss": loss, **({"val_acc": c / count} if accuracy else {})} for loss, c in zip(losses, corrects)]


def config_hashes(run: dict, seeds: list[int], meta: dict) -> tuple[list[str], str]:
    """Each run's config hash and the job's (its checkpoint's). A rebuilt data set invalidates checkpoints,
    so its meta is part of every hash. With dropout an ensemble member's masks depend on its group (see
    Trainer.build), so a member's hash names the group."""
    if len(seeds) == 1:
        run_hash = config_hash({"run": run, "seed": seeds[0], "data": meta})
        return [run_hash], run_hash
    return ([config_hash({"run": run, "seed": s, "data": meta, "ensemble": seeds}) for s in seeds],
            config_hash({"run": run, "seeds": seeds, "data": meta}))


def gpu_backends(compiled_ensemble: bool) -> None:
    """TF32 matmuls; and no cuDNN attention for a compiled ensemble: under vmap + compile it once failed a
    stride assertion, and where it runs (torch 2.11, H200) it is no faster than flash attention (1.009x the
    step: benchmarks/results/cudnn_vmap_gpu.json)."""
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    if compiled_ensemble:
        torch.backends.cuda.enable_cudnn_sdp(False)


def optimizer_and_update(model: torch.nn.Module, tcfg: TrainConfig, device: str):
    """AdamW over the model's parameter groups, and the update a step ends with: clip (per member in an
    ensemble), step, and clear the gradients. With train.compile_optimizer clipping and the step are one compiled
    function, the learning rate a tensor the schedule fills in place (a new float would recompile) and AdamW the
    multi-tensor one inductor fuses; otherwise they run eagerly, AdamW as the fused kernel on a GPU. With
    train.flat_buffers each group's parameters and gradients are one buffer (models/flat.py)."""
    compiled, cuda = tcfg.compile_optimizer, device.startswith("cuda")
    groups = model.optimizer_groups(tcfg.weight_decay, decay=tcfg.decay)
    flat = FlatBuffers(groups, getattr(model, "size", 1)) if tcfg.flat_buffers else None
    # On a GPU a tensor learning rate needs the capturable AdamW (its step counts stay on the device, too)
    optimizer = torch.optim.AdamW(flat.groups if flat else groups,
                                  lr=torch.tensor(tcfg.lr, device=device) if compiled else tcfg.lr,
                                  betas=(tcfg.beta1, tcfg.beta2), fused=(cuda and not compiled) or None,
                                  capturable=compiled and cuda)

    def clip_and_step():
        if tcfg.grad_clip > 0:
            (flat or model).clip_grad_norm_(tcfg.grad_clip)
        optimizer.step()

    step = torch.compile(clip_and_step) if compiled else clip_and_step

    def update():
        step()
        if flat:
            flat.zero_grad()  # in place: the parameters' .grad are views of the buffers
        else:
            optimizer.zero_grad(set_to_none=True)

    return optimizer, update


def make_model(mcfg: ModelConfig, seeds: list[int], device: str) -> torch.nn.Module:
    """The job's model: member k's initial weights exactly seed k's single run's; one member is itself."""
    members = []
    for seed in seeds:
        seed_everything(seed)
        members.append(Transformer(mcfg))
    return stack(members).to(device)


class History:
    """Each run's evaluations so far and its best one; its history.csv rewritten at every evaluation."""

    def __init__(self, run_dirs: list[Path]):
        self.run_dirs, self.rows, self.best = run_dirs, [[] for _ in run_dirs], [None] * len(run_dirs)

    def record(self, step: int, lr: float, train_loss: list[float], evals: list[dict], write: bool) -> None:
        for k, ev in enumerate(evals):
            if not math.isfinite(ev["val_loss"]):
                raise NonFiniteLossError(f"{self.run_dirs[k]}: validation loss is {ev['val_loss']} at step {step}")
            self.rows[k].append({"step": step, "train_loss": train_loss[k], "val_loss": ev["val_loss"],
                                 "val_acc": ev.get("val_acc"), "lr": lr})
            if _is_better(ev, self.best[k]):
                self.best[k] = {**ev, "step": step}
            if write:
                _write_history(self.run_dirs[k] / HISTORY, self.rows[k])

    def outcome(self, k: int, accuracy: bool) -> dict:
        """Run k's final and best val loss (and accuracy), and the step of its best evaluation."""
        rows, best = self.rows[k], self.best[k]
        out = {"final_val_loss": rows[-1]["val_loss"], "best_val_loss": min(r["val_loss"] for r in rows),
               "best_step": best["step"]}
        return out | ({"final_val_acc": rows[-1]["val_acc"], "best_val_acc": best["val_acc"]} if accuracy else {})

    def state(self) -> dict:
        return {"history": self.rows, "best": self.best}

    def load(self, state: dict) -> None:
        self.rows, self.best = state["history"], state["best"]


class Progress:
    """How far a job is: a log line, and each run's progress.json (read by `python -m unrolled status`),
    written at every evaluation and otherwise at most every WRITE_SECONDS (a fast job logs often, and an
    ensemble writes one file per member)."""

    WRITE_SECONDS = 30.0

    UNITS = {"lm": "tok/s", "vit": "images/s", "regression": "prompts/s"}  # what a task's sampler counts

    def __init__(self, run_dirs: list[Path], max_iters: int, start_step: int, items_per_step: int, task: str = "lm"):
        self.run_dirs, self.max_iters, self.start_step, self.unit = run_dirs, max_iters, start_step, self.UNITS[task]
        self.items_per_step, self.started = items_per_step * len(run_dirs), time.perf_counter()
        self.written = -self.WRITE_SECONDS

    def report(self, step: int, train_loss: list[float], history: list[list[dict]], evaluation: bool) -> None:
        elapsed = time.perf_counter() - self.started
        done = step - self.start_step
        eta = elapsed / done * (self.max_iters - step)
        items_per_s = done * self.items_per_step / elapsed
        loss = (f"{train_loss[0]:.4f}" if len(train_loss) == 1
                else f"{np.mean(train_loss):.4f} (mean of {len(train_loss)})")
        log.info("step %d/%d: train %s, %s %s, elapsed %.0fs, eta %.0fs", step, self.max_iters, loss,
                 f"{items_per_s:,.0f}", self.unit, elapsed, eta)
        if not evaluation and elapsed - self.written < self.WRITE_SECONDS:
            return
        self.written = elapsed
        for run_dir, member_loss, rows in zip(self.run_dirs, train_loss, history):
            write_json(run_dir / PROGRESS, {
                "step": step, "max_iters": self.max_iters, "train_loss": member_loss,
                "last_val_loss": rows[-1]["val_loss"] if rows else None, "items_per_second": items_per_s,
                "unit": self.unit,
                "elapsed_seconds": elapsed, "eta_seconds": eta, "updated": time.time()})


class Trainer:
    """One training job: a seed group, E >= 1 runs of one finished run config that differ only in their seed,
    into `arm_dir/seed{n}/`. E > 1 trains an Ensemble, which answers a Transformer's calls
    (models/ensemble.py); everything per run is a list over members. A group of one keeps its checkpoint in
    its run folder, where it ends as the run's final weights; a larger group keeps it in its own folder
    (layout `job_dir`) until each member's weights are written to the member's folder, and ends there with the
    job's record (`job_record`)."""

    def __init__(self, run: dict, seeds: list[int], arm_dir: str | Path, progress: bool):
        if len(set(seeds)) != len(seeds) or not seeds:
            raise ValueError(f"a seed group needs distinct seeds, got {seeds}")
        cfg = RunConfig.of(run)
        self.data, self.mcfg, self.tcfg, self.meta, run = cfg.data, cfg.model, cfg.train, cfg.meta, cfg.run
        self.run, self.seeds, self.progress, self.ensemble = run, list(seeds), progress, len(seeds) > 1
        self.run_dirs = [Path(member_dir(arm_dir, s)) for s in seeds]
        self.ckpt_path = Path(job_dir(arm_dir, seeds)) / CHECKPOINT
        self.run_hashes, self.job_hash = config_hashes(run, seeds, self.meta)

    def build(self, place: distributed.Placement) -> None:
        tcfg, mcfg, device = self.tcfg, self.mcfg, place.device
        self.place, self.device, cuda = place, device, device.startswith("cuda")
        if cuda:
            gpu_backends(compiled_ensemble=self.ensemble and tcfg.compile)
        self.amp = autocast_dtype(tcfg, device)
        self.batches = MemberBatches.of(_sampler(mcfg, tcfg, self.data, self.meta, self.seeds[0], device), self.seeds)
        self.val_batches = self.batches.val_batches(tcfg.eval_iters, tcfg.val_seed)
        self.model = make_model(mcfg, self.seeds, device)
        # Dropout masks come from the global generator. A single run goes on from its seed's state. An
        # ensemble draws all members' masks at once from a generator seeded by its first seed, so a
        # member's masks never depend on another member's seed, weights or data. Under DDP each rank
        # draws its own (the model above is the same on every rank).
        if self.ensemble:
            torch.manual_seed(self.seeds[0])
        if place.rank:
            torch.manual_seed(self.seeds[0] + 1_000_003 * place.rank)
        if tcfg.flat_buffers and place.distributed:
            raise UnrolledError("train.flat_buffers is for one process: DistributedDataParallel keeps its own "
                                "gradient buckets; leave it out with processes > 1")
        self.optimizer, self.update = optimizer_and_update(self.model, tcfg, device)
        self.wrapped = distributed.wrap(self.model, place)
        if tcfg.compile and tcfg.compile_mode == "max-autotune-no-cudagraphs":
            # autotuned kernels, then coordinate descent over each Triton kernel's launch parameters: longer
            # compiles, which the shared compile cache keeps for every later job (docs/benchmarks.md)
            torch._inductor.config.coordinate_descent_tuning = True
        self.forward = torch.compile(self.wrapped, mode=tcfg.compile_mode) if tcfg.compile else self.wrapped
        self.step, self.wall_before, self.history = 0, 0.0, History(self.run_dirs)
        self.loss_sum, self.loss_count = torch.zeros(len(self.seeds), device=device), 0

    def autocast(self):
        return contextlib.nullcontext() if self.amp is None else torch.autocast(self.device.split(":")[0], self.amp)

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
        self.step, self.wall_before = state["step"], state["wall_seconds"]
        self.history.load(state)
        self.loss_sum.copy_(state["loss_sum"])
        self.loss_count = state["loss_count"]
        checkpoint.set_rng_state(state["rng"], self.device)
        log.info("resumed %s at step %d", self.ckpt_path, self.step)

    def train_step(self) -> float:
        tcfg = self.tcfg
        lr = learning_rate(self.step, tcfg)
        for group in self.optimizer.param_groups:
            if isinstance(group["lr"], torch.Tensor):
                group["lr"].fill_(lr)
            else:
                group["lr"] = lr
        for micro in range(tcfg.grad_accum):
            x, y = distributed.shard(self.batches.next_train(), self.place)  # every rank drew the same global batch
            with distributed.accumulating(self.wrapped, self.place, micro == tcfg.grad_accum - 1), self.autocast():
                _, loss = self.forward(x, y)  # () for one run, (E,) for an ensemble
                (loss.sum() / tcfg.grad_accum).backward()  # member k's gradient is its own loss's
            self.loss_sum += loss.detach().float()
        self.loss_count += tcfg.grad_accum
        self.update()
        self.step += 1
        return lr

    def mean_train_loss(self) -> list[float]:
        """Mean training loss per member since the last evaluation (one host sync)."""
        losses = [v / self.loss_count for v in distributed.mean_across_ranks(self.loss_sum, self.place).tolist()]
        for run_dir, loss in zip(self.run_dirs, losses):
            if not math.isfinite(loss):
                kept = self.ckpt_path if self.ckpt_path.exists() else "(none yet)"
                raise NonFiniteLossError(
                    f"{run_dir}: training loss became {loss} at or before step {self.step}. The last good "
                    f"checkpoint is kept at {kept}; lower train.lr or check the data")
        return losses

    def evaluate(self) -> list[dict]:
        self.model.eval()
        with self.autocast():
            evals = evaluate(self.forward, self.val_batches, len(self.seeds), self.mcfg.task == "vit", self.device)
        self.model.train()
        return evals

    def save(self, wall: float) -> None:
        checkpoint.save(self.ckpt_path, {
            "config_hash": self.job_hash, "seeds": self.seeds, "step": self.step, **self.history.state(),
            "wall_seconds": wall, "loss_sum": self.loss_sum.cpu(), "loss_count": self.loss_count,
            "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
            "sampler": self.batches.state_dict(), "rng": checkpoint.rng_state(self.device)})

    def checkpoint_due(self, last_save: float) -> bool:
        tcfg = self.tcfg
        if self.step == tcfg.max_iters:  # only where it holds a run's final weights (a group of one)
            return not self.ensemble
        return ((tcfg.checkpoint_interval is not None and self.step % tcfg.checkpoint_interval == 0)
                or (tcfg.checkpoint_minutes is not None
                    and time.perf_counter() - last_save >= 60 * tcfg.checkpoint_minutes))

    def fit(self) -> list[dict]:
        tcfg, place = self.tcfg, self.place
        for d in [*self.run_dirs, self.ckpt_path.parent]:
            d.mkdir(parents=True, exist_ok=True)
        items_per_step = self.batches.tokens_per_batch * tcfg.grad_accum
        progress = Progress(self.run_dirs, tcfg.max_iters, self.step, items_per_step, self.mcfg.task)
        start_step, started, last_save = self.step, progress.started, progress.started
        with stop_on_sigterm(not place.distributed) as sigterm:
            while self.step < tcfg.max_iters:
                lr = self.train_step()
                if self.step == start_step + 1:  # its compile, where the model is compiled: a job's fixed cost
                    self.first_step_seconds = time.perf_counter() - started
                is_eval = self.step % tcfg.eval_interval == 0 or self.step == tcfg.max_iters
                if self.step % tcfg.log_interval == 0 or is_eval:
                    train_loss = self.mean_train_loss()
                    if place.is_main and self.progress:
                        progress.report(self.step, train_loss, self.history.rows, is_eval)
                if is_eval:
                    self.record(lr, train_loss, self.evaluate())
                    distributed.barrier(place)
                if place.is_main and (self.checkpoint_due(last_save) or sigterm["stop"]):
                    self.save(self.wall_before + time.perf_counter() - started)
                    last_save = time.perf_counter()
                if sigterm["stop"] and self.step < tcfg.max_iters:
                    raise StoppedEarly(f"stopped by SIGTERM at step {self.step} of {tcfg.max_iters}; the checkpoint "
                                       f"{self.ckpt_path} holds it, and a rerun resumes from there")
        metrics = self.run_metrics(start_step, time.perf_counter() - started, items_per_step)
        if place.is_main:
            self.write(metrics)
        return metrics

    def record(self, lr: float, train_loss: list[float], evals: list[dict]) -> None:
        self.history.record(self.step, lr, train_loss, evals, write=self.place.is_main)
        self.loss_sum.zero_()
        self.loss_count = 0
        acc = f", acc {evals[0]['val_acc']:.4f}" if "val_acc" in evals[0] else ""
        log.info("step %d: train %.4f, val %.4f%s, lr %.2e (seed %d of %d in this job)", self.step, train_loss[0],
                 evals[0]["val_loss"], acc, lr, self.seeds[0], len(self.seeds))

    def run_metrics(self, start_step: int, seconds: float, items_per_step: int) -> list[dict]:
        """Each run's metrics.json: what it reached, how, and where (no side effects)."""
        mcfg, E = self.mcfg, len(self.seeds)
        job_ips = (self.step - start_step) * items_per_step * E / seconds if self.step > start_step else None
        scales = self.model.identity_scale
        common = {
            "task": mcfg.task, "world_size": self.place.world_size, "steps": self.step,
            "tokens": self.step * items_per_step, "params": self.model.num_params(),
            "wall_seconds": self.wall_before + seconds, "tokens_per_second": job_ips / E if job_ips else None,
            "first_step_seconds": getattr(self, "first_step_seconds", None),
            "resumed_from_step": start_step or None, "git_sha": git_sha(),
            "config": {"model": asdict(mcfg), "train": asdict(self.tcfg)},
            **({"tuned": self.run["tuned"]} if "tuned" in self.run else {}),
            **data_record(self.data, self.meta), "environment": environment(self.device)}
        if self.device.startswith("cuda") and job_ips:  # the whole job's use of the GPU
            common["mfu_bf16_h100"] = self.model.estimate_mfu(job_ips, H100_BF16_FLOPS)
        if self.ensemble:
            common["ensemble"] = {"seeds": self.seeds, "size": E, "tokens_per_second": job_ips}
        return [{**common, "seed": seed, **self.history.outcome(k, accuracy=mcfg.task == "vit"),
                 "identity_scale": scales.reshape(-1)[k].item() if scales is not None else None,
                 "config_hash": self.run_hashes[k]} for k, seed in enumerate(self.seeds)]

    def write(self, metrics: list[dict]) -> None:
        """Every run's final weights (where the job checkpoint is not them), history and metrics.json, last."""
        for k, (run_dir, m) in enumerate(zip(self.run_dirs, metrics)):
            if self.ensemble:  # a group of one's job checkpoint is its final weights already
                checkpoint.save(run_dir / CHECKPOINT, {"config_hash": self.run_hashes[k], "step": self.step,
                                                       "model": self.model.member_state_dict(k)})
            _write_history(run_dir / HISTORY, self.history.rows[k])
            write_json(run_dir / METRICS, m)  # last: its presence means the run finished
            (run_dir / PROGRESS).unlink(missing_ok=True)
        if self.ensemble:  # the job's record, the train rule's output: last, once every member's files are
            write_json(self.ckpt_path.parent / METRICS, {"seeds": self.seeds})
            self.ckpt_path.unlink(missing_ok=True)  # every member's weights are in its own folder now


def train(run: dict, seeds: list[int], arm_dir: str | Path, progress: bool = True) -> list[dict]:
    """Train the seed group `seeds` (one seed or more) of an arm into `arm_dir/seed{n}/`, resuming the group's
    checkpoint if there is one (`job_dir`); under torchrun, data parallel. Returns each run's metrics."""
    trainer = Trainer(run, seeds, arm_dir, progress)
    place = distributed.setup(trainer.tcfg.device)
    try:
        trainer.build(place)
        trainer.resume()
        return trainer.fit()
    finally:
        distributed.teardown(place)


def train_job(run: dict, seeds: list[int], out: str | Path, *, threads: int = 0,
              processes: int = 1, compile_cache: str | None = None, progress: bool = True,
              argv: list[str] | None = None) -> list[dict]:
    """The train command's policy: torch.compile's cache (before anything compiles; torchrun's ranks inherit
    it), N data-parallel processes (this process relaunches `argv` under torchrun when it is not a rank
    yet), torch's CPU threads, then the seed group `seeds` into the arm folder `out`."""
    if compile_cache:
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = os.path.abspath(compile_cache)
    if processes > 1 and "WORLD_SIZE" not in os.environ:
        distributed.launch(processes, argv)  # the same command, as each rank (which sees WORLD_SIZE)
        return []
    if threads:
        torch.set_num_threads(threads)
    runs = train(run, seeds, out, progress)
    for m in runs:
        log.info("seed %d: best val loss %.4f at step %d", m["seed"], m["best_val_loss"], m["best_step"])
    return runs
