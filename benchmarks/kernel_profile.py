"""Where a training step's time goes, by kind of kernel: matmul, attention, elementwise and normalisation,
optimizer, copies, and the idle gaps between kernels (the device waiting on the host).

Profiles a few steps (after warm-up and compilation) of paper 1's char LM as a seed ensemble of E members
(the real trainer's step: batches sampled on the device, per-member clipping) and of GPT-2 124M, with
torch.profiler. On a GPU it sums each kernel's device time into its kind and takes idle time as the steps'
wall time (CUDA events) less the kernels' total; on the CPU it sums the aten operators' own CPU time (no
idle column: the host is the device). The table goes to benchmarks/results/ and is what the speed
candidates of the README's benchmark section are chosen from.

    python benchmarks/kernel_profile.py --out benchmarks/results/profile_gpu.json        # GPU: E = 32 and GPT-2
    python benchmarks/kernel_profile.py --preset cpu --ensemble 2 --steps 2               # CPU: a small check
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(Path(__file__).parent))
from step_time import make_ensemble_step, make_step  # noqa: E402

from unrolled.atomic import write_json

# First match wins; everything else is elementwise work or normalisation (LayerNorm, GELU, dropout, softmax,
# reductions, fused Triton kernels of pointwise ops).
KINDS = [
    ("attention", r"flash|fmha|sdpa|scaled_dot_product|efficient_attention|mha|attn"),
    ("matmul", r"gemm|matmul|\bmm\b|aten::mm|addmm|bmm|cutlass|xmma|nvjet|sm90|linear"),
    ("optimizer", r"adam|foreach|multi_tensor|fused_adam|optimizer"),
    ("copies", r"memcpy|memset|copy|\bcat\b|aten::cat|clone|contiguous|to_copy|index|gather|scatter|stack"),
]
ORDER = ["matmul", "attention", "elementwise/normalisation", "optimizer", "copies", "idle"]


def kind_of(name: str) -> str:
    lowered = name.lower()
    for kind, pattern in KINDS:
        if re.search(pattern, lowered):
            return kind
    return "elementwise/normalisation"


def _inside(event, prefix: str) -> bool:
    parent = event.cpu_parent
    while parent is not None:
        if parent.name.startswith(prefix):
            return True
        parent = parent.cpu_parent
    return False


def profile_step(step, steps: int, device: str) -> dict:
    """Milliseconds per step of each kind of work (and idle, on a GPU) over `steps` profiled steps."""
    cuda = device == "cuda"
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    if cuda:
        torch.cuda.synchronize()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    with profile(activities=activities) as prof:
        begun = time.perf_counter()
        if cuda:
            start.record()
        for _ in range(steps):
            step()
        if cuda:
            end.record()
            torch.cuda.synchronize()
        wall_ms = start.elapsed_time(end) if cuda else 1e3 * (time.perf_counter() - begun)
    totals = dict.fromkeys(ORDER, 0.0)
    if cuda:
        for event in prof.key_averages():
            us = getattr(event, "self_device_time_total", 0) or 0
            if us and event.device_type == torch.autograd.DeviceType.CUDA:
                totals[kind_of(event.key)] += us / 1e3
    else:  # CPU AdamW runs plain aten ops (mul_, lerp_, ...): what runs inside Optimizer.step is the optimizer's
        for event in prof.events():
            if event.name.startswith("aten::"):
                kind = "optimizer" if _inside(event, "Optimizer.step") else kind_of(event.name)
                totals[kind] += event.self_cpu_time_total / 1e3
    if cuda:
        totals["idle"] = max(0.0, wall_ms - sum(totals.values()))
    else:
        del totals["idle"]
    return {"wall_ms_per_step": wall_ms / steps,
            "ms_per_step": {k: v / steps for k, v in totals.items()},
            "share": {k: v / max(sum(totals.values()), 1e-9) for k, v in totals.items()}}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", choices=["paper", "cpu"], default="paper", help="the ensemble's char LM")
    parser.add_argument("--ensemble", type=int, default=32, help="members of the profiled seed ensemble")
    parser.add_argument("--gpt2", action=argparse.BooleanOptionalAction, default=None,
                        help="also profile GPT-2 124M (default: on a GPU)")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    results = {"device": torch.cuda.get_device_name() if device == "cuda" else "cpu", "torch": torch.__version__}
    with tempfile.TemporaryDirectory() as tmp:
        step = make_ensemble_step("baseline", args.preset, args.ensemble, device, Path(tmp))[1]
        targets = {f"char LM ensemble E={args.ensemble}": step}
        if args.gpt2 if args.gpt2 is not None else device == "cuda":
            targets["GPT-2 124M"] = make_step("baseline", "gpt2", device, device == "cuda", device == "cuda")[1]
        for name, step in targets.items():
            for _ in range(args.warmup):  # compilation and allocator warm-up
                step()
            results[name] = profile_step(step, args.steps, device)
    cols = [k for k in ORDER if any(k in r["ms_per_step"] for r in results.values() if isinstance(r, dict))]
    print(f"ms per step by kind ({results['device']}, torch {results['torch']}):")
    print("| target | wall | " + " | ".join(cols) + " |\n|" + "---|" * (len(cols) + 2))
    for name, r in results.items():
        if isinstance(r, dict):
            cells = [f"{r['ms_per_step'][k]:.2f} ({100 * r['share'][k]:.0f}%)" for k in cols]
            print(f"| {name} | {r['wall_ms_per_step']:.2f} | " + " | ".join(cells) + " |")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        write_json(args.out, results)


if __name__ == "__main__":
    main()
