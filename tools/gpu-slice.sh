#!/usr/bin/env bash
# One slice of the one-GPU tier on a GPU node that has PyTorch but no internet, no snakemake and no venv
# (a shared node for a quarter of an hour, a short or preemptible queue, the lab's lent machines):
#
#   tools/gpu-slice.sh SLICE [MINUTES [OUT]]        SLICE: a number, or "next"
#
# Bring along: the checkout; .whl/ (make gpu-wheels); the sources the slice's data sets are built from,
# fetched (data/raw/<source>, e.g. fashion_mnist, shakespeare, tinyshakespeare) or, for url sources, placed
# in data/external/<source>/ (tiny-shakespeare: data/external/tinyshakespeare/input.txt).
# It installs the wheels into a temp folder, runs the slice through the gpu profile for at most MINUTES
# (default 9; a job still running then checkpoints and stops, and rerunning the slice resumes it), and packs
# what the slice made, without checkpoints, into OUT/slice-results.tar.gz (default OUT: $OUT, else .): every
# run's metrics.json, history.csv and evaluations, the training logs and Snakemake's. Unpacked in a checkout
# (`tar -xzf slice-results.tar.gz`), `make figures-gpu` summarizes them with the seeds already there.
set -uo pipefail
cd "$(dirname "$0")/.."
slice=${1:?usage: tools/gpu-slice.sh SLICE [MINUTES [OUT]]}
minutes=${2:-9}
out=${3:-${OUT:-.}}
site=${TMPDIR:-/tmp}/unrolled-site
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --target "$site" .whl/*.whl || exit 1
fi
export PYTHONPATH="$PWD/src:$site${PYTHONPATH:+:$PYTHONPATH}"
# The rules call `python`; some images have only python3.
if ! command -v python >/dev/null; then
  mkdir -p "$site/bin" && ln -sf "$(command -v python3)" "$site/bin/python" && export PATH="$site/bin:$PATH"
fi
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
python3 -m unrolled slices --configfile config/gpu.yaml | tee "$out/slices-before.md"
targets=$(python3 -m unrolled -q slices --configfile config/gpu.yaml --targets "$slice") || exit 1
started=$(date +%s)
timeout --signal=TERM --kill-after=60 "${minutes}m" python3 -m snakemake --workflow-profile none \
  --profile workflow/profiles/gpu $targets --configfile config/gpu.yaml 2>&1 | tee "$out/snakemake.log"
status=${PIPESTATUS[0]}
echo "slice $slice: snakemake exit $status after $(( $(date +%s) - started )) s" | tee -a "$out/snakemake.log"
python3 -m unrolled slices --configfile config/gpu.yaml > "$out/slices-after.md"
# Per-seed files only: checkpoints stay behind (gigabytes at scale, and the published results never hold them).
find results/gpu/runs results/gpu/benchmarks logs -type f ! -name ckpt.pt -print0 2>/dev/null \
  | tar -czf "$out/slice-results.tar.gz" --null -T -
exit "$status"
