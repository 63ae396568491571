"""Seeds per hour and MFU of seed ensembles: E in {1, 4, 16, 32}, measured one after another in one process.

For each E the real trainer (train.Trainer: batches sampled on the device, compiled step on a GPU,
per-member clipping, compiled evaluation that syncs once) is built on a synthetic char data set, warmed
up (compilation included, and reported), then timed: the median training step over `--steps` steps, and
one evaluation of `eval_iters` batches. A run of the recipe costs max_iters steps plus
max_iters / eval_interval evaluations, so

    seeds per hour = E * 3600 / (max_iters * step + evaluations * eval)

and MFU = training tokens/s x FLOPs per token (the model's exact count, flops_per_item) / the H100's dense
bf16 peak. E = 1 is the
single-run path (a plain Transformer, no vmap). The E values cannot be interleaved round by round as in
step_time.py: on an 80 GB GPU they do not fit in memory together (E = 32 alone takes about 50 GB).

    python benchmarks/ensemble.py                    # CPU: the default reproduction's char-LM size
    python benchmarks/ensemble.py --preset paper     # GPU: paper 1's char LM, bf16, compiled
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from unrolled import distributed
from unrolled.atomic import write_json
from unrolled.config import H100_BF16_FLOPS
from unrolled.train import Trainer

sys.path.insert(0, str(Path(__file__).parent))
from common import CHAR_LMS, PRESETS, Timer, synthetic_char_data  # noqa: E402


def measure(run: dict, E: int, device: str, steps: int, tmp: Path) -> dict:
    seeds = list(range(E))
    trainer = Trainer(run, seeds, tmp / f"ensemble{E}", progress=False)
    trainer.build(distributed.Placement(device))
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    for _ in range(3):  # warm-up: compilation of the training step
        trainer.train_step()
    trainer.evaluate()  # and of evaluation
    sync()
    warmup = time.perf_counter() - started
    timer, times = Timer(device), []  # CUDA events, read once after the last step: no host sync per step
    for _ in range(steps):
        started = timer.start()
        trainer.train_step()
        timer.stop(started, 1, times)
    timer.collect()
    start = time.perf_counter()
    trainer.evaluate()
    eval_s = time.perf_counter() - start
    tcfg, step_s = trainer.tcfg, statistics.median(times)
    run_s = tcfg.max_iters * step_s + (tcfg.max_iters // tcfg.eval_interval) * eval_s
    tokens_per_s = E * trainer.batches.tokens_per_batch / step_s
    row = {"E": E, "step_ms": 1e3 * step_s, "eval_s": eval_s, "warmup_s": warmup, "tokens_per_s": tokens_per_s,
           "run_minutes": run_s / 60, "seeds_per_hour": E * 3600 / run_s,
           "mfu_h100": None, "mem_GB": None}
    if device.startswith("cuda"):
        row["mfu_h100"] = trainer.model.estimate_mfu(tokens_per_s, H100_BF16_FLOPS)
        row["mem_GB"] = torch.cuda.max_memory_allocated() / 1e9
    del trainer
    gc.collect()
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
    return row


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", choices=CHAR_LMS, default="cpu")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 4, 16, 32])
    parser.add_argument("--steps", type=int, default=20, help="timed training steps per E")
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    args = parser.parse_args(argv)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    preset = PRESETS[args.preset]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        data = synthetic_char_data(Path(tmp))
        train = {**preset["train"], "compile": preset["train"]["compile"] and device == "cuda"}
        run = {"data": str(data), "model": preset["model"], "train": train}
        for E in args.sizes:
            rows.append(measure(run, E, device, args.steps, Path(tmp)))
            print(json.dumps(rows[-1]), flush=True)
    base = rows[0]["seeds_per_hour"]
    for row in rows:
        row["speedup_vs_first"] = row["seeds_per_hour"] / base
    header = (f"{args.preset} preset on {torch.cuda.get_device_name() if device == 'cuda' else 'cpu'} "
              f"(torch {torch.__version__}, {torch.get_num_threads()} threads, compile={train['compile']}); "
              f"{json.dumps(preset)}")
    print(header)
    cols = ["E", "step_ms", "eval_s", "warmup_s", "tokens_per_s", "run_minutes", "seeds_per_hour", "speedup_vs_first",
            "mfu_h100", "mem_GB"]
    print("| " + " | ".join(cols) + " |\n|" + "---|" * len(cols))
    for row in rows:
        print("| " + " | ".join("-" if row[c] is None else f"{row[c]:.3f}" if isinstance(row[c], float)
                                else str(row[c]) for c in cols) + " |")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        write_json(args.out, {"setup": header, "rows": rows})


if __name__ == "__main__":
    main()
