"""Train-step time and peak memory of every model variant, as ratios to the baseline.

Variants are timed side by side in one process, interleaved round by round (at least 21), so machine noise
hits all of them alike; read the median of the per-round ratios and its bootstrap CI. On a GPU each round's
steps are timed by CUDA events recorded around them, with no host sync inside a round or between rounds
(one at the end reads every event); on the CPU by the wall clock. Memory: on CUDA each variant's own peak
(`own_peak_mb`: the allocator's peak less what the variants before it still hold); on the CPU the
activations saved for backward (peak RSS there is dominated by the torch import).

    python benchmarks/step_time.py                      # CPU, the default reproduction's LM size
    python benchmarks/step_time.py --preset gpt2 --compile   # GPU: GPT-2 124M, bf16, tokens/s and MFU
    python benchmarks/step_time.py --preset gpt2 --compile --nanogpt ../nanoGPT/model.py
        # nanoGPT's own GPT beside ours in the same rounds (a copy given by path; never vendored)
    python benchmarks/step_time.py --preset paper --ensemble 32 --variants a_minus_i xsa compiled_step
        # paper 1's char LM as the trainer runs it: seed ensembles of 32, each variant its own ensemble

The implementation candidates are the baseline (or XSA) computed another way: chunked_ce (the head and loss
fused, model.loss_chunk), compiled_step (clipping + AdamW compiled, train.compile_optimizer), xsa_composite
(XSA through autograd's graph; `xsa` is models/xsa.py's fused form on a GPU, the same composite on the CPU),
cudnn_sdpa (attention through cuDNN alone) and micro32 (micro-batch 32: read its per_token_ratio, the step
time per token against the baseline's).
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))  # benchmarks/common.py

from common import CHAR_LMS, PRESETS, Timer, synthetic_char_data  # noqa: E402

from unrolled import distributed
from unrolled.atomic import write_json
from unrolled.config import H100_BF16_FLOPS, TrainConfig
from unrolled.models import ModelConfig, Transformer
from unrolled.models.transformer import Attention
from unrolled.stats import bootstrap_ci
from unrolled.train import Trainer, optimizer_and_update

VARIANTS = {
    "baseline": dict(),
    "a_minus_i": dict(identity="subtract"),
    "learned_a": dict(identity="learned"),
    "xsa": dict(identity="exclusive"),
    "aot_mhsa": dict(mlp="none"),
    "aot_mssa": dict(attention="mssa", mlp="none"),
    "aot_mssa_tied": dict(attention="mssa", mssa_output="tied", mlp="none"),
    "aot_mssa_a_minus_i": dict(attention="mssa", mlp="none", identity="subtract"),
    "mssa_mlp": dict(attention="mssa"),
    # Implementation candidates (issue 22): the same model as the variant named, computed another way.
    "chunked_ce": dict(loss_chunk=2048),  # the baseline with its head + loss fused, 2,048 rows at a time
    "compiled_step": dict(),  # the baseline with clipping + AdamW compiled (train.compile_optimizer)
    "flat_buffers": dict(),  # the baseline with its parameters and gradients in flat buffers (train.flat_buffers)
    "xsa_composite": dict(identity="exclusive"),  # XSA through autograd's graph (the GPU's default is fused)
    "cudnn_sdpa": dict(),  # the baseline with attention through cuDNN only (a GPU; the CPU has none: math)
    "micro32": dict(),  # the baseline at micro-batch 32 (the gpt2 preset's 16 doubled): compare per token
}
MICRO_BATCH = {"micro32": 32}
UPDATE = {"compiled_step": {"compile_optimizer": True}, "flat_buffers": {"flat_buffers": True}}  # trainer options
def composite_xsa(model) -> None:
    """XSA through autograd's composite graph in every attention of `model` (a Transformer or an Ensemble)."""
    for module in model.modules():
        if isinstance(module, Attention):
            module.fused_xsa = False


def make_step(name, preset, device, compile_model, bf16):
    """Build a variant (the preset's model, dropout off); return (model, one training step, tokens per step, the
    step's inputs)."""
    torch.manual_seed(0)
    cfg = ModelConfig(**{**PRESETS[preset]["model"], "dropout": 0.0}, **VARIANTS[name])
    model = Transformer(cfg).to(device)
    if name == "xsa_composite":
        composite_xsa(model)
    # the trainer's clip + AdamW (train.optimizer_and_update)
    opt, update = optimizer_and_update(model, TrainConfig(lr=1e-4, **UPDATE.get(name, {})), device)
    fwd = torch.compile(model) if compile_model else model
    batch = MICRO_BATCH.get(name, PRESETS[preset]["train"]["batch_size"])
    x = torch.randint(0, cfg.vocab_size, (batch, cfg.block_size), device=device)
    y = torch.randint(0, cfg.vocab_size, (batch, cfg.block_size), device=device)
    step = training_step(fwd, opt, update, x, y, device, bf16)
    if name == "cudnn_sdpa":
        from torch.nn.attention import SDPBackend, sdpa_kernel

        backend = SDPBackend.CUDNN_ATTENTION if device == "cuda" else SDPBackend.MATH
        plain = step

        def step():
            with sdpa_kernel(backend):
                plain()

    return model, step, batch * cfg.block_size, (x, y)


def make_ensemble_step(name, preset, members, device, folder: Path):
    """A seed ensemble of `members` char LMs (the preset, on the synthetic data) as the
    trainer runs it (train.Trainer: device batches, per-member clipping, compiled on a GPU) with the variant's
    switches. Returns what make_step returns."""

    p = PRESETS[preset]
    train = {**p["train"], "compile": p["train"]["compile"] and device == "cuda", **UPDATE.get(name, {})}
    run = {"data": str(synthetic_char_data(folder)), "model": {**p["model"], **VARIANTS[name]}, "train": train}
    seeds = list(range(members))
    trainer = Trainer(run, seeds, folder / name, False)
    trainer.build(distributed.Placement(device))
    if name == "xsa_composite":
        composite_xsa(trainer.model)
    return trainer.model, trainer.train_step, members * trainer.batches.tokens_per_batch, trainer.batches.next_train()


def training_step(fwd, opt, update, x, y, device: str, bf16: bool):
    """One training step as the benchmark times it: forward (bf16 autocast on a GPU), backward, clip + AdamW."""

    def step():
        with torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=bf16):
            _, loss = fwd(x, y)
        loss.backward()
        update()  # clip, step, clear the gradients

    return step


def make_nanogpt_step(path: Path, preset, device, compile_model, bf16):
    """nanoGPT's GPT (its model.py, loaded from `path`) at the preset's size, with its own optimizer setup;
    the same step as ours. Its FLOPs are our baseline's: the same architecture."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("nanogpt_model", path)
    nano = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(nano)
    m = PRESETS[preset]["model"]
    torch.manual_seed(0)
    model = nano.GPT(nano.GPTConfig(block_size=m["block_size"], vocab_size=m["vocab_size"], n_layer=m["n_layer"],
                                    n_head=m["n_head"], n_embd=m["n_embd"], dropout=0.0, bias=False)).to(device)
    opt = model.configure_optimizers(0.1, 1e-4, (0.9, 0.95), device)
    fwd = torch.compile(model) if compile_model else model
    batch = PRESETS[preset]["train"]["batch_size"]
    x = torch.randint(0, m["vocab_size"], (batch, m["block_size"]), device=device)

    def update():  # nanoGPT's train.py: clip, its own AdamW, then clear the gradients
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)

    return model, training_step(fwd, opt, update, x, x, device, bf16), batch * m["block_size"], (x, x)


class CudaMemory:
    """The CUDA caching allocator's counters (a test passes a fake with the same three)."""
    allocated = staticmethod(lambda: torch.cuda.memory_allocated())
    reset_peak = staticmethod(lambda: torch.cuda.reset_peak_memory_stats())
    peak = staticmethod(lambda: torch.cuda.max_memory_allocated())


def own_peak_mb(build, warm_up, memory=CudaMemory):
    """Build a variant and warm it up; returns (what `build` made, its own peak MB): its parameters, optimizer
    state and activations at their peak, less what was allocated before it was built. The variants timed
    earlier stay alive for the interleaved rounds, so the allocator's plain peak would count their
    parameters and AdamW state too (about 2 GB for each E = 16 ensemble)."""
    before = memory.allocated()
    made = build()
    memory.reset_peak()
    warm_up(made)
    return made, (memory.peak() - before) / 2**20


@contextlib.contextmanager
def saved_storages():
    """The storages autograd saves for backward inside the block, each once: {(address, bytes): None}."""
    seen = {}

    def pack(t):
        seen[(t.untyped_storage().data_ptr(), t.untyped_storage().nbytes())] = None
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        yield seen


def saved_activation_mb(model, step_inputs) -> float:
    """MB of tensors autograd saves for backward in one forward pass (unique storages).

    On the CPU there is no allocator peak counter, and peak RSS is dominated by the torch import; the
    saved activations are what a variant can change, and they are counted exactly.
    """
    with saved_storages() as seen:
        _, loss = model(*step_inputs)
    del loss
    return sum(size for _, size in seen) / 2**20


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", choices=PRESETS, default="cpu",
                        help="benchmarks/common.py's; with --ensemble, a char LM's (not gpt2)")
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--steps", type=int, default=5, help="timed steps per variant per round")
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--ensemble", type=int, default=0, metavar="E",
                        help="time seed ensembles of E char LMs as the trainer runs them (compiled on a GPU)")
    parser.add_argument("--nanogpt", type=Path, help="a copy of nanoGPT's model.py: its GPT is timed beside ours")
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    args = parser.parse_args(argv)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    bf16 = device == "cuda"
    if device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
    names = ["baseline"] + [v for v in args.variants if v != "baseline"]

    steps, models, tokens, memory = {}, {}, {}, {}
    if args.nanogpt:
        names.append("nanogpt")
    single_only = {"chunked_ce", "cudnn_sdpa", "micro32"} & set(names)
    if args.ensemble and (args.nanogpt or args.preset not in CHAR_LMS or single_only):
        parser.error(f"--ensemble: presets {', '.join(CHAR_LMS)}, without --nanogpt or {sorted(single_only)} "
                     "(single runs only)")
    folder = Path(tempfile.mkdtemp())
    def build(name):
        if name == "nanogpt":
            return make_nanogpt_step(args.nanogpt, args.preset, device, args.compile, bf16)
        if args.ensemble:
            return make_ensemble_step(name, args.preset, args.ensemble, device, folder)
        return make_step(name, args.preset, device, args.compile, bf16)

    def warm_up(made):
        for _ in range(3):  # warm-up (and compilation)
            made[1]()

    for name in names:
        if device == "cuda":
            made, memory[name] = own_peak_mb(lambda: build(name), warm_up)
        else:
            made = build(name)
            warm_up(made)
            memory[name] = saved_activation_mb(made[0], made[3])
        models[name], steps[name], tokens[name], _ = made

    if args.rounds < 21:
        parser.error("--rounds: at least 21, so the ratios' CIs can resolve 2%")
    times, timer = {name: [] for name in names}, Timer(device)
    for _ in range(args.rounds):
        for name in names:  # interleaved: each round times every variant once
            started = timer.start()
            for _ in range(args.steps):
                steps[name]()
            timer.stop(started, args.steps, times[name])
    timer.collect()

    rows = []
    for name in names:
        med = statistics.median(times[name])
        # Ratios are paired by round (same moment, same machine state); report their median and IQR.
        ratios = sorted(t / b for t, b in zip(times[name], times["baseline"]))
        low, high = bootstrap_ci(ratios, statistic=np.median) if name != "baseline" else (1.0, 1.0)
        model = models[name]  # one member's parameters, for an ensemble
        params = model.num_params() if hasattr(model, "num_params") else sum(p.numel() for p in model.parameters())
        per_token = statistics.median(t / tokens[name] / (b / tokens["baseline"])
                                      for t, b in zip(times[name], times["baseline"]))
        row = {"variant": name, "params_M": params / 1e6, "step_ms": 1e3 * med,
               "ratio": statistics.median(ratios), "ratio_ci95": f"{low:.3f}-{high:.3f}",
               "per_token_ratio": per_token, "tokens_per_s": tokens[name] / med, "mem_MB": memory[name],
               "mem_ratio": memory[name] / memory["baseline"]}
        if device == "cuda":
            ours = models["baseline" if name == "nanogpt" else name]  # nanoGPT's GPT is our baseline's architecture
            row["mfu_h100"] = ours.estimate_mfu(row["tokens_per_s"], H100_BF16_FLOPS)
        rows.append(row)

    shutil.rmtree(folder)
    what = f"{args.preset} seed ensembles of E={args.ensemble}" if args.ensemble else args.preset
    # what ran: ensembles compile as the trainer compiles them (their preset's train.compile, on a GPU)
    compiled = PRESETS[args.preset]["train"]["compile"] and device == "cuda" if args.ensemble else args.compile
    header = f"{what} on {torch.cuda.get_device_name() if device == 'cuda' else 'cpu'} " \
             f"(torch {torch.__version__}, {torch.get_num_threads()} threads, bf16={bf16}, compile={compiled})"
    print(header)
    mem = "peak allocated (CUDA)" if device == "cuda" else "saved for backward (CPU)"
    print(f"mem_MB: {mem}; ratio: median over {args.rounds} rounds of the paired per-round ratio to baseline, "
          "with a 95% bootstrap CI of that median")
    cols = ["variant", "params_M", "step_ms", "ratio", "ratio_ci95", "per_token_ratio", "tokens_per_s", "mem_MB",
            "mem_ratio"] + \
        (["mfu_h100"] if device == "cuda" else [])
    print("| " + " | ".join(cols) + " |\n|" + "---|" * len(cols))
    for row in rows:
        print("| " + " | ".join(f"{row[c]:.3f}" if isinstance(row[c], float) else str(row[c]) for c in cols) + " |")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        write_json(args.out, {"setup": header, "rows": rows, "raw_seconds": times})


if __name__ == "__main__":
    main()
