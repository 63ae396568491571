"""What a shared torch.compile cache saves a requeued or sibling job: the same compiled training job run
twice as the workflow runs it (`python -m unrolled train ... --compile-cache DIR`), first with an empty
cache, then with the cache the first left. Wall time per job, process start and data loading included.

    python benchmarks/compile_cache.py                      # CPU, the tiny char LM (inductor's C++ backend)
    python benchmarks/compile_cache.py --preset paper       # GPU: paper 1's char LM (Triton kernels)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from unrolled.atomic import write_json
from unrolled.data.text import write_tokens
from unrolled.layout import META

sys.path.insert(0, str(Path(__file__).parent))
from common import CHAR_LMS, PRESETS  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=CHAR_LMS, default="tiny")
    parser.add_argument("--out", help="write the result as JSON here")
    args = parser.parse_args()
    preset = PRESETS[args.preset]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        rng = np.random.default_rng(0)  # a synthetic char corpus: compile time does not depend on the text
        (tmp / "data").mkdir()
        for split in ("train", "val"):
            write_tokens(tmp / "data" / f"{split}.bin", rng.integers(0, 65, 100_000))
        write_json(tmp / "data" / META, {"tokenizer": "char", "vocab_size": 65})
        run = {"data": str(tmp / "data"), "model": preset["model"],
               "train": {"batch_size": preset["train"]["batch_size"], "max_iters": 2, "eval_interval": 2,
                         "eval_iters": 1, "compile": True}}
        seconds = []
        for attempt in ("cold", "warm"):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "unrolled", "-q", "train", "--config", json.dumps(run),
                            "--seeds", "0",
                            "--out", str(tmp / attempt), "--compile-cache", str(tmp / "cache")], check=True)
            seconds.append(time.perf_counter() - start)
    result = {"preset": args.preset, "cold_seconds": seconds[0], "warm_seconds": seconds[1],
              "warm_over_cold": seconds[1] / seconds[0]}
    print(json.dumps(result, indent=2))
    if args.out:
        write_json(Path(args.out), result)


if __name__ == "__main__":
    main()
