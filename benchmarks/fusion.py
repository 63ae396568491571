"""The kernels torch.compile makes of each variant's training step, by name, and what a variant adds to the
baseline's: the compile-time half of the profile. kernel_profile.py times kernels on a GPU; this names them
before they run, on any device Inductor compiles for (the CPU's C++ kernels included), so a fusion can be
checked where there is no GPU.

For each variant: the preset's model cut to `--layers` layers (a layer's kernels repeat in every layer),
compiled by Inductor; one forward and backward; the kernels Inductor's generated code launches, in order,
for the forward and for the backward graph, with the library calls (matmuls, attention) apart; and the
activations autograd saves for backward. Against the baseline: how many kernels a variant adds to each pass,
and its kernels whose names the baseline's step lacks, which is where its extra work went.

A − I's floor is one elementwise kernel more in the forward (the subtraction, fused with the heads' merge)
and none in the backward (its -g added into v's gradient inside the copy that assembles the q, k, v
gradients), and one saved activation a layer (the attention output's input to the projection). XSA's is one
kernel more in each pass (its forward's two row sums and projection; its backward's row sum and the
gradient through the projection, which attention's backward needs first).

    python benchmarks/fusion.py                                               # CPU
    python benchmarks/fusion.py --preset paper --out benchmarks/results/fusion_gpu.json    # a GPU
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path

import torch
from torch._inductor.utils import run_and_get_code

sys.path.insert(0, str(Path(__file__).parent))
from common import PRESETS  # noqa: E402
from step_time import VARIANTS, saved_storages  # noqa: E402

from unrolled.atomic import write_json  # noqa: E402
from unrolled.models import ModelConfig, Transformer, stack  # noqa: E402
from unrolled.models.transformer import Attention  # noqa: E402

AUDITED = ["baseline", "a_minus_i", "xsa", "xsa_composite"]
KERNEL = re.compile(r"^\s+((?:cpp|triton)_\w+?)(?:\.run)?\(", re.M)  # a launch inside the graph's call()
PREFIX = r"^(?:triton_[a-z]+|cpp)_fused_"  # Inductor's kernel names: this, then the aten ops fused
LIBRARY = re.compile(r"\b(extern_kernels\.\w+|torch\.ops\.aten\.\w+)(?:\.default)?\(")


def kernels(code: str) -> dict:
    """The kernels one compiled graph launches, in order, and its library calls."""
    return {"kernels": KERNEL.findall(code), "library": LIBRARY.findall(code)}


def audit(model: torch.nn.Module, inputs: tuple, fused_xsa: bool | None) -> dict:
    """Compile `model`, run one forward and backward; its forward's and backward's kernels and saved activations."""
    torch._dynamo.reset()  # each variant compiles afresh
    for module in model.modules():
        if isinstance(module, Attention):
            module.fused_xsa = fused_xsa
    compiled = torch.compile(model)

    def step():
        with saved_storages() as seen:
            _, loss = compiled(*inputs)
        loss.sum().backward()
        return seen

    seen, codes = run_and_get_code(step)
    if len(codes) != 2:
        raise RuntimeError(f"expected one forward and one backward graph, got {len(codes)} (a graph break?)")
    forward, backward = (kernels(code) for code in codes)
    return {"forward": forward, "backward": backward, "saved": len(seen),
            "saved_mb": sum(size for _, size in seen) / 2**20}


def compare(row: dict, base: dict) -> dict:
    """What a variant adds to the baseline: kernels per pass, and those whose names (index aside) are new."""
    def names(kernel_list):
        return Counter(re.sub(r"_\d+$", "", k) for k in kernel_list)

    out = {}
    for phase in ("forward", "backward"):
        mine, theirs = row[phase]["kernels"], base[phase]["kernels"]
        out[f"extra_{phase}"] = len(mine) - len(theirs)
        out[f"new_{phase}"] = sorted((names(mine) - names(theirs)).elements())
    out["extra_saved"] = row["saved"] - base["saved"]
    out["saved_ratio"] = row["saved_mb"] / base["saved_mb"]
    return out


def build(name: str, preset: str, layers: int, members: int, batch: int, device: str):
    cfg = ModelConfig(**{**PRESETS[preset]["model"], "n_layer": layers, "dropout": 0.0}, **VARIANTS[name])
    torch.manual_seed(0)
    built = stack([Transformer(cfg) for _ in range(members)]).to(device)
    shape = (batch, cfg.block_size) if members == 1 else (members, batch, cfg.block_size)
    x = torch.randint(0, cfg.vocab_size, shape, device=device)
    return built, (x, x)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", choices=PRESETS, default="cpu",
                        help="the model's width and length: tiny, the CPU default's char LM, paper 1's, GPT-2 124M")
    parser.add_argument("--variants", nargs="+", choices=AUDITED, default=AUDITED)
    parser.add_argument("--layers", type=int, default=1, help="layers compiled (each repeats the same kernels)")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--ensemble", type=int, default=1, metavar="E", help="a seed ensemble of E members")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    names = ["baseline"] + [v for v in args.variants if v != "baseline"]
    setup = (f"{args.preset} width, {args.layers} layer(s), batch {args.batch}, E={args.ensemble}, on "
             f"{torch.cuda.get_device_name() if device == 'cuda' else 'cpu'} (torch {torch.__version__}, "
             f"bf16={device == 'cuda'}, Inductor)")
    print(setup)
    print("| variant | forward kernels | backward kernels | saved tensors | saved MB | kernels the baseline lacks |")
    print("|---|---|---|---|---|---|", flush=True)
    rows = {}
    for name in names:
        model, inputs = build(name, args.preset, args.layers, args.ensemble, args.batch, device)
        with torch.autocast(device, dtype=torch.bfloat16, enabled=device == "cuda"):
            row = rows[name] = {"variant": name, **audit(model, inputs, fused_xsa=name == "xsa")}
        if name != "baseline":
            row.update(compare(row, rows["baseline"]))
        new = "; ".join(f"{phase} {re.sub(PREFIX, '', k)}" for phase in ("forward", "backward")
                        for k in row.get(f"new_{phase}", []))
        print(f"| {name} | {len(row['forward']['kernels'])} | {len(row['backward']['kernels'])} | {row['saved']} "
              f"| {row['saved_mb']:.2f} | {new} |", flush=True)
        if args.out:  # after every variant: a step cut off by its time limit keeps those done
            write_json(args.out, {"setup": setup, "rows": list(rows.values())})
    return rows


if __name__ == "__main__":
    main()
