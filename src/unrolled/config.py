"""The run config: what `python -m unrolled train --config` takes, completed from the data set it trains on
(torch is imported only where a run is built, so the CLI, the plan and the Snakefile load this cheaply).
The model's and the trainer's fields and the values each switch takes (CHOICES) are here, once: the models
import them (models/transformer.py documents what each switch does), and nothing here imports a model.

A run config has three parts: `data` (a prepared data set folder), `model` (ModelConfig fields; the
vocabulary or image shape comes from the data set) and `train` (TrainConfig); an arm tuned by a sweep adds
`tuned` (tuned_run). Unknown keys are errors that name them. This module also holds the peak FLOP/s against
which a model estimates its MFU (Transformer.estimate_mfu) and the plans and slices time jobs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields, replace
from pathlib import Path

from unrolled.atomic import read_json
from unrolled.layout import PREPARED

VOCAB_MULTIPLE = 64  # BPE vocabularies are padded to this for the matmuls (nanoGPT's 50257 -> 50304)
# An H100's dense bf16 peak FLOP/s (an H200 is the same chip with more memory): every MFU and time estimate
# of the project is against it.
H100_BF16_FLOPS = 989e12


CHOICES = {  # the model and train keys that take one of these values (the schema's enums equal them: tested)
    "model": {
        "task": ("lm", "vit", "regression"),
        "attention": ("mhsa", "mssa"),
        "mssa_output": ("learned", "tied"),
        "identity": ("none", "subtract", "learned", "exclusive"),
        "mlp": ("gelu", "none"),
        "init": ("gpt2", "torch", "gpt2_torch_io"),
    },
    "train": {
        "lr_schedule": ("cosine", "constant"),
        "decay": ("matrices", "all"),
        "dtype": ("auto", "float32", "bfloat16"),
        "compile_mode": ("default", "max-autotune-no-cudagraphs"),
    },
}


@dataclass
class ModelConfig:
    task: str = "lm"
    n_layer: int = 6
    n_head: int = 6
    n_embd: int = 384
    dropout: float = 0.0
    bias: bool = False
    attention: str = "mhsa"
    mssa_output: str = "learned"
    identity: str = "none"
    identity_init: float = 0.0  # theta at init for identity="learned": a = sigmoid(0) = 0.5
    mlp: str = "gelu"
    init: str = "gpt2"
    # lm: rows of the head's logits computed at a time by the fused linear + cross-entropy of training
    # (models/chunked_loss.py); 0 computes all logits at once. The loss is the same; the memory is not.
    loss_chunk: int = 0
    # lm
    vocab_size: int = 65
    block_size: int = 256
    # vit
    image_size: int = 28
    patch_size: int = 4
    channels: int = 1
    num_classes: int = 10
    emb_dropout: float = 0.0
    # regression
    n_dims: int = 8

    def __post_init__(self):
        for key, allowed in CHOICES["model"].items():
            if getattr(self, key) not in allowed:
                raise ValueError(f"model.{key}: {getattr(self, key)!r} is not one of {allowed}")
        if self.n_embd % self.n_head:
            raise ValueError(f"model.n_embd ({self.n_embd}) must be divisible by model.n_head ({self.n_head})")
        if self.loss_chunk < 0 or (self.loss_chunk and self.task != "lm"):
            raise ValueError(f"model.loss_chunk: {self.loss_chunk} must be 0, or a positive row count for task lm")
        if self.init == "gpt2_torch_io" and self.task != "regression":
            raise ValueError("model.init: 'gpt2_torch_io' is for task regression (its read-in and read-out)")
        if self.task == "vit" and self.image_size % self.patch_size:
            raise ValueError(f"model.image_size ({self.image_size}) must be a multiple of model.patch_size")


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
    # torch.compile's mode: "default", or "max-autotune-no-cudagraphs" (autotuned kernels; longer compiles,
    # which the compile cache keeps)
    compile_mode: str = "default"
    # Gradient clipping and AdamW compiled together into a few fused kernels (the learning rate is held as a
    # tensor, so its schedule does not recompile). Off by default: the eager step is the measured one
    # (benchmarks/step_time.py's compiled_step variant measures this one beside it).
    compile_optimizer: bool = False
    # Each optimizer group's parameters and gradients in one (members, P) buffer, so per-member clipping is a
    # norm and a scale per group and AdamW one fused update per group (models/flat.py). Off by default: the
    # clipping's norm sums in another order (equal to rounding), and it is not yet measured faster on a GPU.
    flat_buffers: bool = False

    def __post_init__(self):
        for key, allowed in CHOICES["train"].items():
            if getattr(self, key) not in allowed:
                raise ValueError(f"train.{key}: {getattr(self, key)!r} is not one of {allowed}")
        for key in ("batch_size", "grad_accum", "max_iters", "eval_interval", "log_interval"):
            if getattr(self, key) < 1:
                raise ValueError(f"train.{key} must be at least 1, got {getattr(self, key)}")
        if self.checkpoint_interval is not None and self.checkpoint_interval < 1:
            raise ValueError(f"train.checkpoint_interval must be at least 1 or null, got {self.checkpoint_interval}")


def check_seed_group(loss_chunk: int, size: int) -> None:
    """A seed group of more than one trains as an ensemble under vmap, which the chunked loss's autograd.Function
    has no rule for (and an ensemble's vocabularies are small): its logits are computed whole."""
    if loss_chunk and size > 1:
        raise ValueError("model.loss_chunk is for single runs; a seed group of more than one (ensemble > 1) "
                         "computes its logits whole: set ensemble to 1 or leave loss_chunk out")


def run_config(spec: dict, arm: str, data_root: str = PREPARED) -> dict:
    """The trainer's run config for one arm: the experiment's base model with the arm's switches. An arm tuned
    by a sweep (`tune`) has its key's value filled in from its choice file when the job starts (`tuned_run`:
    the `tune` rule writes the file once, from the sweep's summary, and the train rule takes it as an input)."""
    if arm not in spec["arms"]:
        raise ValueError(f"arm {arm!r} is not defined; arms: {sorted(spec['arms'])}")
    switches = {k: v for k, v in (spec["arms"][arm] or {}).items() if k != "tune"}
    return {"data": f"{data_root}/{spec['dataset']}", "model": {**spec.get("model", {}), **switches},
            "train": dict(spec.get("train", {}))}


def choose(summary: dict, key: str, values: dict) -> dict:
    """A tuned arm's choice: the value of `key` in the sweep arm (of `values`' arms) with the best mean primary
    metric over the sweep's seeds. `edge` says the choice is the grid's smallest or largest value, where the
    best may lie outside the grid."""
    means = {arm: d["mean"] for arm, d in summary["metrics"][summary["primary"]]["arms"].items() if arm in values}
    missing = sorted(set(values) - set(means))
    if missing:
        raise ValueError(f"the sweep {summary['experiment']} has no results for {missing} yet: it cannot choose")
    best = (max if summary["higher_is_better"] else min)(means, key=means.get)
    grid = sorted(set(values.values()))
    return {"experiment": summary["experiment"], "arm": best, "key": key, "value": values[best],
            "metric": summary["primary"], "mean": means[best], "seeds": summary["seeds"], "grid": grid,
            "edge": len(grid) > 1 and values[best] in (grid[0], grid[-1])}


def choose_file(summary: str, key: str, values: dict) -> dict:
    """The `tune` command: the choice from a sweep's summary file."""
    return choose(read_json(summary), key, values)


def tuned_run(run: dict, choice: str | Path | None) -> dict:
    """The finished run config of a tuned arm: its choice file's (the `tune` rule's output) value filled in
    for its key, and `tuned` recording the choice. Without a choice file, `run` itself."""
    if choice is None:
        return run
    try:
        tuned = read_json(choice)
    except FileNotFoundError:
        raise ValueError(f"{choice}: the tuned arm's choice is not made yet (the workflow's `tune` rule makes it "
                         f"from the sweep's summary)") from None
    return {**run, "model": {**run["model"], tuned["key"]: tuned["value"]}, "tuned": tuned}


def _build(cls, section: str, values: dict):
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"{section}: unknown key(s) {unknown}; expected some of {sorted(known)}")
    return cls(**values)


@dataclass
class RunConfig:
    """A run config, checked and completed from its data set."""

    data: Path
    model: ModelConfig
    train: TrainConfig
    meta: dict  # the data set's meta.json


def parse_run_config(run: dict) -> RunConfig:
    unknown = sorted(set(run) - {"data", "model", "train", "tuned"})
    if unknown:
        raise ValueError(f"run config: unknown key(s) {unknown}; expected data, model, train (and tuned)")
    if "data" not in run:
        raise ValueError("run config: `data` (a prepared data set folder) is required")
    from unrolled.data.batches import load_meta  # torch: imported only where a run is built

    data = Path(run["data"])
    meta = load_meta(data)
    return RunConfig(data, *model_config(run, meta), meta)


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


def trained_model_config(metrics: dict) -> ModelConfig:
    """The model config a finished run recorded in its metrics.json (what its checkpoint holds)."""
    return ModelConfig(**metrics["config"]["model"])


def read_run_config(value: str) -> dict:
    """A run config given on the command line: inline JSON, or a YAML/JSON file."""
    import yaml

    if value.lstrip().startswith("{"):
        return json.loads(value)
    path = Path(value)
    if not path.exists():
        raise ValueError(f"{value}: no such run config file")
    return yaml.safe_load(path.read_text())
