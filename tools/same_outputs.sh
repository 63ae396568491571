#!/usr/bin/env bash
# Does a change keep the outputs? For each of two commits, in a worktree of its own: the default run's
# summaries, figures, table and metrics recomputed from the published reference runs (`dvc pull`, the data
# sets rebuilt, every summarizing job forced), and the smoke run trained from scratch. Then every file of
# the two is compared: byte for byte, except the JSON fields that record when, where and by which commit
# (git shas, wall and compile times, throughput) and Snakemake's timing files; checkpoints by their weights.
#
#   tools/same_outputs.sh BEFORE [AFTER]      (AFTER: HEAD; a few minutes each, on the CPU)
#
# Prints each file that differs beyond those fields (a JSON file's differing top-level fields with it) and
# exits 1 if there is one. Run it before a refactor lands; it needs the venv (.venv) and the reference store,
# nothing else.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
before=${1:?usage: tools/same_outputs.sh BEFORE [AFTER]} after=${2:-HEAD}
work=$(mktemp -d)
trap 'git -C "$repo" worktree remove --force "$work/before" 2>/dev/null; git -C "$repo" worktree remove --force "$work/after" 2>/dev/null; rm -rf "$work"' EXIT
export PATH="$repo/.venv/bin:$PATH"
snapshot() {  # snapshot NAME REV: the outputs of REV in $work/NAME/out
  local tree=$work/$1
  git -C "$repo" worktree add -f --detach "$tree" "$2" >/dev/null 2>&1
  (
    cd "$tree"
    export PYTHONPATH=$tree/src
    dvc pull -q results.dvc
    # every experiment's data set prepared afresh (after the pull every output is present, so nothing
    # upstream of them would run; the ICL summaries read their prompts)
    snakemake --cores 2 $(python -c "from unrolled.registry import load_config; from unrolled.layout \
import prepared_dir; print(*sorted({prepared_dir(s['dataset']) for s in load_config(None)['experiments'].values()}))") \
      -q > /dev/null 2>&1  # -q last: it takes the words after it as its own values
    snakemake --touch --forceall --drop-metadata --cores 1 -q > /dev/null 2>&1
    snakemake --cores 2 -q --forcerun summarize summarize_zeroshot summarize_icl metrics figure \
      across_training_figure table tune > "$work/$1-default.log" 2>&1
    mkdir -p out/default && cp -r results/. out/default/ && rm -rf out/default/runs
    rm -rf results
    snakemake --cores 2 -q --configfile config/smoke.yaml > "$work/$1-smoke.log" 2>&1
    cp -r results out/smoke
  )
  echo "same_outputs: $1 ($2) done" >&2
}
snapshot before "$before"
snapshot after "$after"
python - "$work/before/out" "$work/after/out" <<'PY'
import filecmp, json, sys
from pathlib import Path

import torch

VOLATILE = {"git_sha", "git_shas", "made_by", "wall_seconds", "first_step_seconds", "tokens_per_second",
            "resumed_from_step", "environment", "updated"}
a, b = Path(sys.argv[1]), Path(sys.argv[2])


def strip(x):
    if isinstance(x, dict):
        return {k: strip(v) for k, v in x.items() if k not in VOLATILE}
    return [strip(v) for v in x] if isinstance(x, list) else x


files = sorted({p.relative_to(a) for p in a.rglob("*") if p.is_file()} |
               {p.relative_to(b) for p in b.rglob("*") if p.is_file()})
differ = []
for rel in files:
    x, y = a / rel, b / rel
    if "benchmarks" in rel.parts:
        continue  # Snakemake's timing files: a job's seconds
    if not (x.exists() and y.exists()):
        differ.append(f"{rel}: only in {'before' if x.exists() else 'after'}")
    elif rel.suffix == ".json":
        p, q = strip(json.loads(x.read_text())), strip(json.loads(y.read_text()))
        if p != q:  # which fields, where both are mappings
            both = isinstance(p, dict) and isinstance(q, dict)
            keys = sorted(k for k in {*p, *q} if p.get(k) != q.get(k)) if both else []
            differ.append(f"{rel}" + (f": {', '.join(keys)}" if keys else ""))
    elif rel.suffix == ".pt":
        p, q = torch.load(x, weights_only=False)["model"], torch.load(y, weights_only=False)["model"]
        if p.keys() != q.keys() or not all(torch.equal(p[k], q[k]) for k in p):
            differ.append(f"{rel}: other weights")
    elif not filecmp.cmp(x, y, shallow=False):
        differ.append(str(rel))
print("\n".join(differ) or f"same_outputs: {len(files)} files the same, apart from commits and timings")
sys.exit(1 if differ else 0)
PY
