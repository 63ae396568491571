"""Train-step time and peak memory of every model variant, as ratios to the baseline.

Variants are timed side by side in one process, interleaved round by round, so machine noise hits all
of them alike; read the median of the per-round ratios and its bootstrap CI. Memory: on CUDA the allocator's
peak; on CPU the activations saved for backward (peak RSS there is dominated by the torch import).

    python benchmarks/step_time.py                      # CPU, the default reproduction's LM size
    python benchmarks/step_time.py --preset gpt2 --compile   # GPU: GPT-2 124M, bf16, tokens/s and MFU
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from unrolled.config import H100_BF16_FLOPS
from unrolled.models import ModelConfig, Transformer
from unrolled.stats import bootstrap_ci

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
}
PRESETS = {  # the CPU default's char LM; GPT-2 124M (nanoGPT's config) for GPUs
    "cpu": dict(model=dict(n_layer=4, n_head=4, n_embd=128, block_size=128, vocab_size=84, dropout=0.0), batch=32),
    "gpt2": dict(model=dict(n_layer=12, n_head=12, n_embd=768, block_size=1024, vocab_size=50304, dropout=0.0),
                 batch=16),
}


def make_step(name, preset, device, compile_model, bf16):
    """Build a variant; return (model, one training step, tokens per step, the step's inputs)."""
    torch.manual_seed(0)
    cfg = ModelConfig(**PRESETS[preset]["model"], **VARIANTS[name])
    model = Transformer(cfg).to(device)
    opt = torch.optim.AdamW(model.optimizer_groups(0.1), lr=1e-4, fused=device == "cuda" or None)
    fwd = torch.compile(model) if compile_model else model
    batch = PRESETS[preset]["batch"]
    x = torch.randint(0, cfg.vocab_size, (batch, cfg.block_size), device=device)
    y = torch.randint(0, cfg.vocab_size, (batch, cfg.block_size), device=device)

    def step():
        with torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=bf16):
            _, loss = fwd(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        if device == "cuda":
            torch.cuda.synchronize()

    return model, step, batch * cfg.block_size, (x, y)


def saved_activation_mb(model, step_inputs) -> float:
    """MB of tensors autograd saves for backward in one forward pass (unique storages).

    On the CPU there is no allocator peak counter, and peak RSS is dominated by the torch import; the
    saved activations are what a variant can change, and they are counted exactly.
    """
    seen, total = set(), 0

    def pack(t):
        nonlocal total
        key = (t.untyped_storage().data_ptr(), t.untyped_storage().nbytes())
        if key not in seen:
            seen.add(key)
            total += key[1]
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        _, loss = model(*step_inputs)
    del loss
    return total / 2**20


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", choices=PRESETS, default="cpu")
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--steps", type=int, default=5, help="timed steps per variant per round")
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    args = parser.parse_args(argv)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    bf16 = device == "cuda"
    if device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
    names = ["baseline"] + [v for v in args.variants if v != "baseline"]

    steps, models, tokens, memory = {}, {}, {}, {}
    for name in names:
        models[name], steps[name], tokens[name], inputs = make_step(name, args.preset, device, args.compile, bf16)
        if device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        for _ in range(3):  # warm-up (and compilation)
            steps[name]()
        memory[name] = (torch.cuda.max_memory_allocated() / 2**20 if device == "cuda"
                        else saved_activation_mb(models[name], inputs))

    times = {name: [] for name in names}
    for _ in range(args.rounds):
        for name in names:  # interleaved: each round times every variant once
            start = time.perf_counter()
            for _ in range(args.steps):
                steps[name]()
            times[name].append((time.perf_counter() - start) / args.steps)

    rows = []
    for name in names:
        med = statistics.median(times[name])
        # Ratios are paired by round (same moment, same machine state); report their median and IQR.
        ratios = sorted(t / b for t, b in zip(times[name], times["baseline"]))
        low, high = bootstrap_ci(ratios, statistic=np.median) if name != "baseline" else (1.0, 1.0)
        row = {"variant": name, "params_M": models[name].num_params() / 1e6, "step_ms": 1e3 * med,
               "ratio": statistics.median(ratios), "ratio_ci95": f"{low:.3f}-{high:.3f}",
               "tokens_per_s": tokens[name] / med, "mem_MB": memory[name],
               "mem_ratio": memory[name] / memory["baseline"]}
        if device == "cuda":
            row["mfu_h100"] = models[name].estimate_mfu(row["tokens_per_s"], H100_BF16_FLOPS)
        rows.append(row)

    header = f"{args.preset} on {torch.cuda.get_device_name() if device == 'cuda' else 'cpu'} " \
             f"(torch {torch.__version__}, {torch.get_num_threads()} threads, bf16={bf16}, compile={args.compile})"
    print(header)
    mem = "peak allocated (CUDA)" if device == "cuda" else "saved for backward (CPU)"
    print(f"mem_MB: {mem}; ratio: median over {args.rounds} rounds of the paired per-round ratio to baseline, "
          "with a 95% bootstrap CI of that median")
    cols = ["variant", "params_M", "step_ms", "ratio", "ratio_ci95", "tokens_per_s", "mem_MB", "mem_ratio"] + \
        (["mfu_h100"] if device == "cuda" else [])
    print("| " + " | ".join(cols) + " |\n|" + "---|" * len(cols))
    for row in rows:
        print("| " + " | ".join(f"{row[c]:.3f}" if isinstance(row[c], float) else str(row[c]) for c in cols) + " |")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"setup": header, "rows": rows, "raw_seconds": times}, indent=2))


if __name__ == "__main__":
    main()
