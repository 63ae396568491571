"""Why cuDNN attention is off for compiled seed ensembles, and whether contiguous q, k, v would lift it.

train.gpu_backends switches cuDNN's SDPA off for a compiled ensemble: with torch 2.11, cuDNN attention under
vmap + compile failed a stride assertion (q, k and v are strided views of the fused qkv projection, and vmap
folds the members into the batch). This check trains a few steps of a compiled E-member char-LM ensemble as
the trainer runs it, with each SDPA backend forced in turn:

    math                the unfused reference (runs everywhere, the CPU's under vmap)
    flash               what ensembles use on GPUs today
    cudnn               cuDNN on q, k, v as the model makes them
    cudnn_contiguous    cuDNN on contiguous copies of q, k, v

and records for each whether it ran (else the error's first line) and its median step time (CUDA events,
read once at the end). Should cuDNN run and beat flash, gpu_backends can stop switching it off for the torch
version that ran it. On the CPU the cases run too (math runs; flash and cuDNN fail, as they must: no such
kernel under vmap there), so the tool is tested before a GPU's time is spent on it.

    python benchmarks/cudnn_vmap.py --out benchmarks/results/cudnn_vmap_gpu.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import tempfile
from pathlib import Path

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

sys.path.insert(0, str(Path(__file__).parent))
from common import CHAR_LMS, Timer  # noqa: E402
from step_time import make_ensemble_step  # noqa: E402

from unrolled.atomic import write_json
from unrolled.models.transformer import Attention  # noqa: E402

CASES = {  # backend forced, contiguous q, k, v
    "math": (SDPBackend.MATH, False),
    "flash": (SDPBackend.FLASH_ATTENTION, False),
    "cudnn": (SDPBackend.CUDNN_ATTENTION, False),
    "cudnn_contiguous": (SDPBackend.CUDNN_ATTENTION, True),
}


@contextlib.contextmanager
def contiguous_heads(enabled: bool):
    """Attention.heads returning contiguous q, k, v (copies) while enabled."""
    original = Attention.heads
    if enabled:
        Attention.heads = lambda self, x: tuple(t.contiguous() for t in original(self, x))
    try:
        yield
    finally:
        Attention.heads = original


def probe(case: str, preset: str, members: int, steps: int, device: str, folder: Path) -> dict:
    backend, contiguous = CASES[case]
    try:
        with contiguous_heads(contiguous), sdpa_kernel(backend):
            step = make_ensemble_step("baseline", preset, members, device, folder / case)[1]
            if device == "cuda" and backend == SDPBackend.CUDNN_ATTENTION:
                torch.backends.cuda.enable_cudnn_sdp(True)  # the trainer's gpu_backends switched it off
            for _ in range(3):  # compilation and warm-up
                step()
            timer, times = Timer(device), []
            for _ in range(steps):
                started = timer.start()
                step()
                timer.stop(started, 1, times)
            timer.collect()
        return {"ran": True, "step_ms": 1e3 * statistics.median(times)}
    except Exception as error:  # noqa: BLE001  (what failed is the result)
        first = (str(error).strip().splitlines() or [""])[0]
        return {"ran": False, "error": f"{type(error).__name__}: {first}"[:300]}
    finally:
        torch._dynamo.reset()  # the next case compiles afresh under its own backend


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", choices=CHAR_LMS, default="paper", help="a char LM of benchmarks/common.py")
    parser.add_argument("--members", type=int, default=8)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--cases", nargs="+", choices=CASES, default=["flash", "cudnn", "cudnn_contiguous"])
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    result = {"device": torch.cuda.get_device_name() if device == "cuda" else "cpu", "torch": torch.__version__,
              "preset": args.preset, "members": args.members}
    with tempfile.TemporaryDirectory() as tmp:
        for case in args.cases:
            result[case] = probe(case, args.preset, args.members, args.steps, device, Path(tmp))
            print(case, json.dumps(result[case]), flush=True)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        write_json(args.out, result)
    return result


if __name__ == "__main__":
    main()
