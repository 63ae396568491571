"""The run config: the model's and the trainer's fields, and the one function that finishes an arm's config
(torch is imported only where a run is built, so the CLI, the plan and the Snakefile load this cheaply).
Every field's type, default, bounds and values are written once, here (`setting`): the schema's model and
train sections are generated from them (unrolled.schema), the models import the dataclasses, and nothing here
imports a model.

A run config has three parts: `data` (a prepared data set folder), `model` (ModelConfig fields; the
vocabulary or image shape comes from the data set) and `train` (TrainConfig); a tuned arm's adds `tuned`.
`finish` completes it from the data set and the arm's sweep choice into the finished config the workflow
writes as the arm's run.yaml (the `run_config` rule), and the trainer reads as it is. Unknown keys are errors
that name them. This module also holds the peak FLOP/s against which a model estimates its MFU
(Transformer.estimate_mfu) and the plans and slices time jobs.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Literal, get_args, get_origin, get_type_hints

from unrolled.atomic import atomic_path, load_meta, read_json
from unrolled.layout import PREPARED
from unrolled.schema import check_fields

VOCAB_MULTIPLE = 64  # BPE vocabularies are padded to this for the matmuls (nanoGPT's 50257 -> 50304)
# An H100's dense bf16 peak FLOP/s (an H200 is the same chip with more memory): every MFU and time estimate
# of the project is against it.
H100_BF16_FLOPS = 989e12


def setting(default, doc: str | None = None, *, from_data: bool = False, **bounds):
    """A model or train field: its default, what it does in a line (the schema's description), its bounds (JSON
    Schema's minimum, exclusiveMinimum, maximum, exclusiveMaximum, pattern); `from_data`: fixed by the data set,
    not set by a config. Its type is its annotation (a Literal: the values it takes). The schema's model and train
    sections are generated from these (unrolled.schema), and constructing the dataclass checks them."""
    return field(default=default, metadata={"doc": doc, "from_data": from_data, **bounds})


@dataclass
class ModelConfig:
    """ModelConfig fields (the vocabulary and image shape come from the data set)

    What each switch does: models/transformer.py."""

    task: Literal["lm", "vit", "regression"] = setting("lm", from_data=True)
    n_layer: int = setting(6, minimum=1)
    n_head: int = setting(6, minimum=1)
    n_embd: int = setting(384, minimum=1)
    dropout: float = setting(0.0, minimum=0, maximum=1)
    bias: bool = setting(False)
    attention: Literal["mhsa", "mssa"] = setting("mhsa")
    mssa_output: Literal["learned", "tied"] = setting("learned")
    identity: Literal["none", "subtract", "learned", "exclusive"] = setting("none")
    identity_init: float = setting(0.0)  # theta at init for identity="learned": a = sigmoid(0) = 0.5
    mlp: Literal["gelu", "none"] = setting("gelu")
    init: Literal["gpt2", "torch", "gpt2_torch_io"] = setting(
        "gpt2", "gpt2: N(0, 0.02) and scaled residual projections (nanoGPT); torch: PyTorch's defaults, ViT position "
        "and CLS embeddings N(0, 1) (paper 1's ViT); gpt2_torch_io: regression, gpt2 with PyTorch's defaults for "
        "the read-in and read-out (Garg et al.)")
    # The loss is the same at any loss_chunk; the memory is not (models/chunked_loss.py).
    loss_chunk: int = setting(
        0, "lm: rows of logits at a time in a fused head + cross-entropy (0: all at once); single runs only", minimum=0)
    # lm
    vocab_size: int = setting(65, from_data=True, minimum=1)
    block_size: int = setting(256, minimum=1)
    # vit
    image_size: int = setting(28, from_data=True, minimum=1)
    patch_size: int = setting(4, minimum=1)
    channels: int = setting(1, from_data=True, minimum=1)
    num_classes: int = setting(10, from_data=True, minimum=1)
    emb_dropout: float = setting(0.0, minimum=0, maximum=1)
    # regression
    n_dims: int = setting(8, from_data=True, minimum=1)

    def __post_init__(self):
        check_fields(self, "model")
        if self.n_embd % self.n_head:
            raise ValueError(f"model.n_embd ({self.n_embd}) must be divisible by model.n_head ({self.n_head})")
        if self.loss_chunk and self.task != "lm":
            raise ValueError(f"model.loss_chunk: {self.loss_chunk} must be 0, or a positive row count for task lm")
        if self.init == "gpt2_torch_io" and self.task != "regression":
            raise ValueError("model.init: 'gpt2_torch_io' is for task regression (its read-in and read-out)")
        if self.task == "vit" and self.image_size % self.patch_size:
            raise ValueError(f"model.image_size ({self.image_size}) must be a multiple of model.patch_size")


@dataclass
class TrainConfig:
    """TrainConfig fields"""

    batch_size: int = setting(64, minimum=1)
    grad_accum: int = setting(1, minimum=1)
    max_iters: int = setting(5000, minimum=1)
    # Image data sets may count in epochs instead (the papers' ViT recipes do): an epoch is train // batch steps,
    # as the sampler drops the last partial batch. A finished run config has them in steps (`finish`).
    epochs: float | None = setting(
        None, "image data sets: sets max_iters (train // batch steps an epoch)", exclusiveMinimum=0)
    eval_epochs: float | None = setting(None, "image data sets: sets eval_interval", exclusiveMinimum=0)
    lr: float = setting(1e-3, exclusiveMinimum=0)
    min_lr: float = setting(1e-4, minimum=0)
    lr_schedule: Literal["cosine", "constant"] = setting("cosine")  # linear warmup, cosine to min_lr; or constant
    warmup_iters: int = setting(100, minimum=0)
    lr_decay_iters: int | None = setting(None, minimum=1)  # None: max_iters
    weight_decay: float = setting(0.1, minimum=0)
    decay: Literal["matrices", "all"] = setting(
        "matrices", "what weight decay acts on: nanoGPT's groups, or every parameter")
    beta1: float = setting(0.9, minimum=0, exclusiveMaximum=1)
    beta2: float = setting(0.99, minimum=0, exclusiveMaximum=1)
    grad_clip: float = setting(1.0, minimum=0)  # 0 disables clipping; per member in an ensemble
    eval_interval: int = setting(250, minimum=1)
    eval_iters: int | None = setting(200, minimum=1)  # val batches; None for images scores the whole val split
    val_seed: int = setting(1337)  # fixes the val batches: the same for every arm and seed
    log_interval: int = setting(10, minimum=1)
    # Checkpoints: every `checkpoint_interval` steps and/or once `checkpoint_minutes` have passed since
    # the last one, and always at the end (the final weights); None switches a trigger off.
    checkpoint_interval: int | None = setting(None, "steps between checkpoints", minimum=1)
    checkpoint_minutes: float | None = setting(10.0, "minutes between checkpoints", exclusiveMinimum=0)
    device: str = setting("auto", pattern="^(auto|cpu|cuda(:[0-9]+)?)$")
    # "auto": bf16 autocast where the GPU supports it, else fp32
    dtype: Literal["auto", "float32", "bfloat16"] = setting("auto")
    compile: bool = setting(False)
    # max-autotune-no-cudagraphs: autotuned kernels; longer compiles, which the compile cache keeps
    compile_mode: Literal["default", "max-autotune-no-cudagraphs"] = setting("default", "torch.compile's mode")
    # Off by default: the eager step is the measured one (benchmarks/step_time.py's compiled_step variant
    # measures this one beside it). The learning rate is held as a tensor, so its schedule does not recompile.
    compile_optimizer: bool = setting(False, "clipping and AdamW compiled together (lr as a tensor)")
    # Per-member clipping is then a norm and a scale per group and AdamW one fused update per group
    # (models/flat.py). Off by default: the clipping's norm sums in another order (equal to rounding), and it is
    # not yet measured faster on a GPU.
    flat_buffers: bool = setting(False, "each optimizer group's parameters and gradients in one buffer")

    def __post_init__(self):
        check_fields(self, "train")


def choices(cls) -> dict[str, tuple]:
    """The fields of a config dataclass that take one of a few values, and those values (their Literal types)."""
    hints = get_type_hints(cls)
    return {f.name: get_args(hints[f.name]) for f in fields(cls) if get_origin(hints[f.name]) is Literal}


def check_seed_group(loss_chunk: int, size: int) -> None:
    """A seed group of more than one trains as an ensemble under vmap, which the chunked loss's autograd.Function
    has no rule for (and an ensemble's vocabularies are small): its logits are computed whole."""
    if loss_chunk and size > 1:
        raise ValueError("model.loss_chunk is for single runs; a seed group of more than one (ensemble > 1) "
                         "computes its logits whole: set ensemble to 1 or leave loss_chunk out")


def run_config(spec: dict, arm: str, data_root: str = PREPARED) -> dict:
    """One arm's run config as the config writes it: the experiment's data set, and its base model with the
    arm's switches (`finish` completes it; a tuned arm's key is filled in from the `tune` rule's choice)."""
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


def finish(run: dict, meta: dict, choice: dict | None = None) -> dict:
    """The finished run config, the one function that makes it: `run` (run_config's: the data set, the recipe's
    model and train with the arm's switches) with a tuned arm's choice filled in for its key (`tuned` records
    the choice), what the data set fixes (vocabulary, image shape; `meta` is its meta.json), max_iters and
    eval_interval from epochs where the config counts in them, and every default written out. Its values are
    checked here, once (the dataclasses). The `run_config` rule writes it as the arm's run.yaml; the trainer,
    `show-run`, `plan` and `slices` read it."""
    unknown = sorted(set(run) - {"data", "model", "train"})
    if unknown:
        raise ValueError(f"run config: unknown key(s) {unknown}; expected data, model, train")
    if "data" not in run:
        raise ValueError("run config: `data` (a prepared data set folder) is required")
    if choice is not None:
        run = {**run, "model": {**run.get("model", {}), choice["key"]: choice["value"]}}
    mcfg, tcfg = model_config(run, meta)
    return {"data": str(run["data"]), "model": asdict(mcfg), "train": asdict(tcfg),
            **({"tuned": choice} if choice is not None else {})}


def finish_file(run: dict, tuned: str | None, out: str | Path) -> None:
    """The `run-config` command: the finished run config of an arm (`finish`), from its data set's meta.json and
    a tuned arm's choice file (the `tune` rule's), written as YAML."""
    import yaml

    finished = finish(run, load_meta(run["data"]), read_json(tuned) if tuned else None)
    with atomic_path(out) as tmp:
        Path(tmp).write_text(yaml.safe_dump(finished, sort_keys=False))


def _build(cls, section: str, values: dict):
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"{section}: unknown key(s) {unknown}; expected some of {sorted(known)}")
    return cls(**values)


def is_finished(run: dict) -> bool:
    """Whether a run config is finished (`finish`'s): every model and train field written out."""
    return (set(run.get("model", {})) == {f.name for f in fields(ModelConfig)}
            and set(run.get("train", {})) == {f.name for f in fields(TrainConfig)})


def built(finished: dict) -> tuple[ModelConfig, TrainConfig]:
    """A finished run config's model and train dataclasses, as they are."""
    return ModelConfig(**finished["model"]), TrainConfig(**finished["train"])


@dataclass
class RunConfig:
    """A finished run config, as the trainer uses it."""

    run: dict  # the finished config (what the run's hash is of)
    data: Path
    model: ModelConfig
    train: TrainConfig
    meta: dict  # the data set's meta.json

    @classmethod
    def of(cls, run: dict) -> RunConfig:
        """A finished run config (the workflow's run.yaml) as it is, nothing completed or checked again; a run
        config given by hand (data, some model and train keys) is finished first."""
        meta = load_meta(run["data"]) if "data" in run else None
        if not is_finished(run):
            run = finish(run, meta or {})
        return cls(run, Path(run["data"]), *built(run), meta)


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
