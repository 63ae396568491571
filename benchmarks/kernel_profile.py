"""Where a training step's time goes, by kind of kernel: matmul, attention, norm, fused elementwise,
optimizer, real copies, and idle (the steps' wall time less the kernels' total, signed), with the 40
longest kernels by name so that every figure can be audited.

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
import re
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(Path(__file__).parent))
from common import CHAR_LMS  # noqa: E402
from step_time import make_ensemble_step, make_step  # noqa: E402

from unrolled.atomic import write_json  # noqa: E402

TOP = 40  # kernels kept by name in the JSON, the longest first, so that every figure can be audited

# A kernel's kind, first match wins. Inductor names each fused Triton kernel after the aten ops it fuses
# (`triton_per_fused__to_copy_add_native_layer_norm_0`): such a kernel is a norm kernel if a norm is among
# them, a matmul if it is a matmul template, a copy only if copying is all it does (`cat`, `clone`), and
# otherwise fused elementwise work, autocast casts (`_to_copy`) included. "copies" holds real copies only:
# memcpy, cat, clone, copy_ and layout changes.
ORDER = ["matmul", "attention", "norm", "elementwise", "optimizer", "copies", "idle"]
ATTENTION = r"flash|fmha|sdpa|scaled_dot_product|efficient_attention|cudnn.*(?:attn|attention)|\bmha\b"
MATMUL = r"gemm|matmul|\bmm\b|aten::mm|addmm|bmm|cutlass|xmma|nvjet|sm90|aten::linear"
NORM = r"layer_norm|batch_norm|group_norm|rms_norm|var_mean|layernorm"
OPTIMIZER = r"adam|foreach|multi_tensor|optimizer"
COPY_OPS = {"cat", "clone", "copy", "copy_", "contiguous", "permute", "transpose", "view", "reshape"}
COPIES = r"memcpy|catarray|\bcat\b|aten::cat|aten::clone|aten::copy_|contiguous|direct_copy|copy_kernel"


KNOWN_OPS = sorted(["native_layer_norm", "native_batch_norm", "layer_norm", "var_mean", "_to_copy", "_log_softmax",
                    "_softmax", "native_dropout", "scaled_dot_product", "addmm", "bmm", "mm", "embedding",
                    "index_put", "nll_loss", "_unsafe_index", "copy_", "clone", "cat"], key=len, reverse=True)


def _triton_ops(name: str) -> list[str]:
    """The aten ops an Inductor kernel's name lists: `triton_per_fused__to_copy_add_native_layer_norm_0`
    gives ['_to_copy', 'add', 'native_layer_norm'] (known multi-word ops first, else one word an op)."""
    rest, ops = re.sub(r"_\d+$", "", re.sub(r"^triton_[a-z]+_fused_", "", name)), []
    while rest:
        if rest.startswith("_") and not any(rest.startswith(k) for k in KNOWN_OPS):
            rest = rest[1:]  # the separator before the next op
            continue
        match = next((k for k in KNOWN_OPS if rest.startswith(k)), rest.split("_", 1)[0])
        ops.append(match)
        rest = rest[len(match):]
    return ops


def kind_of(name: str) -> str:
    lowered = name.lower()
    if lowered.startswith("triton_"):
        ops = _triton_ops(lowered)
        if "_tem_" in lowered or lowered.startswith("triton_tem"):
            return "attention" if re.search(ATTENTION, lowered) else "matmul"
        if any(re.search(NORM, op) for op in ops):
            return "norm"
        if any(re.search(ATTENTION, op) for op in ops):
            return "attention"
        if ops and all(op in COPY_OPS for op in ops):
            return "copies"
        return "elementwise"
    for kind, pattern in (("attention", ATTENTION), ("matmul", MATMUL), ("optimizer", OPTIMIZER),
                          ("norm", NORM), ("copies", COPIES)):
        if re.search(pattern, lowered):
            return kind
    return "elementwise"


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
    kernels: dict[str, dict] = {}
    if cuda:
        for event in prof.key_averages():
            us = getattr(event, "self_device_time_total", 0) or 0
            if us and event.device_type == torch.autograd.DeviceType.CUDA:
                kernels[event.key] = {"kind": kind_of(event.key), "ms": us / 1e3, "calls": event.count}
    else:  # CPU AdamW runs plain aten ops (mul_, lerp_, ...): what runs inside Optimizer.step is the optimizer's
        for event in prof.events():
            if event.name.startswith("aten::"):
                kind = "optimizer" if _inside(event, "Optimizer.step") else kind_of(event.name)
                entry = kernels.setdefault(event.name if kind != "optimizer" else f"{event.name} (optimizer)",
                                           {"kind": kind, "ms": 0.0, "calls": 0})
                entry["ms"] += event.self_cpu_time_total / 1e3
                entry["calls"] += 1
    for entry in kernels.values():
        totals[entry["kind"]] += entry["ms"]
    if cuda:  # signed: kernels on several streams can overlap, so the sum can pass the wall time
        totals["idle"] = wall_ms - sum(totals.values())
    else:
        del totals["idle"]
    busy = sum(v for k, v in totals.items() if k != "idle")
    top = sorted(kernels.items(), key=lambda kv: -kv[1]["ms"])[:TOP]
    return {"wall_ms_per_step": wall_ms / steps,
            "ms_per_step": {k: v / steps for k, v in totals.items()},
            "share": {k: v / max(busy, 1e-9) for k, v in totals.items()},  # of the kernels' busy time
            "top_kernels": [{"name": name, "kind": e["kind"], "ms_per_step": e["ms"] / steps,
                             "calls_per_step": e["calls"] / steps} for name, e in top]}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", choices=CHAR_LMS, default="paper", help="the ensemble's char LM")
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
