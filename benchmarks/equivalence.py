"""Is member k of a seed ensemble the single run with seed k, on the device? A device check: with dropout 0,
E members against E single runs over 50 steps of paper 1's char LM (bf16 autocast and compiled on a GPU;
fp32 on the CPU), every member's train and val loss at every step, and the largest difference.

On the CPU the test suite holds them equal to 1e-4 in fp32 (tests/test_ensemble.py); on a GPU bf16 and
batched kernels (vmap folds the members into one matmul) change the rounding, so the goal there is
|delta loss| < 1e-2 over 50 steps.

    python benchmarks/equivalence.py --out benchmarks/results/equivalence_gpu.json     # GPU
    python benchmarks/equivalence.py --preset cpu --members 2 --steps 10                # CPU
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import CHAR_LMS, PRESETS, synthetic_char_data  # noqa: E402

from unrolled.atomic import write_json
from unrolled.train import train  # noqa: E402

GOAL = {"cuda": 1e-2, "cpu": 1e-4}


def losses(run_dir: Path) -> list[tuple[float, float]]:
    with open(run_dir / "history.csv", newline="") as handle:
        return [(float(r["train_loss"]), float(r["val_loss"])) for r in csv.DictReader(handle)]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", choices=CHAR_LMS, default="paper")
    parser.add_argument("--members", type=int, default=4)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    p = PRESETS[args.preset]
    seeds = list(range(args.members))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        run = {"data": str(synthetic_char_data(tmp / "data")), "model": {**p["model"], "dropout": 0.0},
               "train": {**p["train"], "max_iters": args.steps, "eval_interval": 1, "eval_iters": 2, "log_interval": 1,
                         "checkpoint_minutes": None, "compile": device == "cuda" and p["train"]["compile"]}}
        train(run, seeds, tmp / "ensemble", progress=False)
        for seed in seeds:
            train(run, [seed], tmp / "single", progress=False)
        diffs = {seed: max(abs(a - b) for (ta, va), (tb, vb) in zip(losses(tmp / "ensemble" / f"seed{seed}"),
                                                                    losses(tmp / "single" / f"seed{seed}"))
                           for a, b in ((ta, tb), (va, vb)))
                 for seed in seeds}
    worst = max(diffs.values())
    result = {"device": torch.cuda.get_device_name() if device == "cuda" else "cpu", "torch": torch.__version__,
              "members": args.members, "steps": args.steps, "max_abs_loss_difference": diffs, "worst": worst,
              "goal": GOAL[device], "ok": worst < GOAL[device]}
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        write_json(args.out, result)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
