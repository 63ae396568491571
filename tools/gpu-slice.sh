#!/usr/bin/env bash
# One slice of the one-GPU tier, under one deadline for the whole command, on a machine that may keep
# nothing afterwards (a GPU node lent for a quarter of an hour with PyTorch but no internet, no snakemake
# and no venv; a short or preemptible queue):
#
#   tools/gpu-slice.sh SLICE [OUT]        SLICE: a number, or "next" (the first slice not finished here)
#
#   DEADLINE    seconds from the start for everything: install, data, training, evaluation, packing
#               (default below: a 10-minute allocation less a minute's margin)
#   GPU_CONFIG  the tier's config (config/gpu.yaml)
#   PYTHON      the Python that has PyTorch (python3)
#
# Bring along (docs/gpu.md): the checkout; .whl/ (make gpu-wheels) where snakemake is not installed; the
# paths SLICE_NEEDS lists (`python -m unrolled slices --needs N > SLICE_NEEDS`, made where the sources are:
# data/raw/<source>, or for url sources data/external/<source>/), and SLICE_NEEDS itself; and results/gpu/
# as published (its runs/ and tuned/), so "next" knows what is finished.
#
# Before installing anything it checks that every path SLICE_NEEDS lists is here (exit 2 naming the first
# that is not); after installing the wheels into a temp folder, it checks the slice's sources itself (exit 2
# naming the path to carry). Then it trains the slice's jobs one by one, each with its evaluations right
# after it (they need the weights, which stay here). A stage (a seed group of one comparison's arms) starts
# only if all of it fits in what is left of the deadline, and a job only if it does. After each job, and on
# exit or SIGTERM, it packs every finished seed's files (no checkpoints) into OUT/slice-results.tar.gz
# (written whole: temp file, then rename), so a command killed at any point returns what had finished. In
# the time left after the slice, it runs tests/test_cuda.py for at most CUDA_CAP seconds (into OUT/slice.log).
# Unpacked in a checkout (`tar -xzf slice-results.tar.gz`), `make figures-gpu` summarizes them with the
# seeds already there. Exit status: 0 when every job of the slice finished, 2 when a source is missing or the
# slice has no jobs, 3 when a stage or job did not fit, else the failure's.
set -uo pipefail
started=$(date +%s)
cd "$(dirname "$0")/.."
source tools/gpu-limits.sh
slice=${1:?usage: tools/gpu-slice.sh SLICE [OUT]}
out=$(mkdir -p "${2:-${OUT:-.}}" && cd "${2:-${OUT:-.}}" && pwd)
deadline=$((started + ${DEADLINE:-$COMMAND_SECONDS}))
config=${GPU_CONFIG:-config/gpu.yaml}
python=${PYTHON:-python3}
returns= # the folders whose files come back (the CLI says, once the wheels are installed)
log="$out/slice.log"
reserve=25 # seconds kept for stopping a job and packing
child=

say() { echo "[gpu-slice $(($(date +%s) - started)) s] $*" | tee -a "$log"; }

# When this command started, for the logs it packs: outside OUT, whose files all come back to the caller.
stamp=$(mktemp "${TMPDIR:-/tmp}/gpu-slice-started.XXXXXX")
pack() { # every finished file so far (no checkpoints, no half-written temp files) and this command's logs,
  # replacing the last archive
  local folders
  folders=$(for f in $returns; do [ -d "$f" ] && echo "$f"; done)
  {
    # shellcheck disable=SC2086  # one folder a word
    [ -z "$folders" ] || find $folders -type f ! -name ckpt.pt ! -name '*.tmp' -print0
    [ ! -d logs ] || find logs -type f -newer "$stamp" -print0
  } | tar -czf "$out/.slice-results.tar.gz.part" --null -T - &&
    mv -f "$out/.slice-results.tar.gz.part" "$out/slice-results.tar.gz"
}

finish() {
  local status=$?
  trap - EXIT TERM INT
  pack
  if [ -n "$child" ] && kill -0 "$child" 2>/dev/null; then
    say "stopping the running job (it checkpoints here; this machine may not keep it)"
    kill -TERM "$child" 2>/dev/null
    wait "$child"
    pack
  fi
  # torch.compile's cache (the gpu profile's compile_cache), for the next node to carry, where it is small
  # enough to come back and to travel with the checkout.
  if [ -d .cache/torch-compile ] && (($(du -sm .cache/torch-compile | cut -f1) <= ${CACHE_MIB:-12})); then
    tar -czf "$out/.compile-cache.tar.gz.part" .cache/torch-compile &&
      mv -f "$out/.compile-cache.tar.gz.part" "$out/compile-cache.tar.gz"
  fi
  say "exit $status; archive: $out/slice-results.tar.gz"
  rm -f "$stamp"
  exit "$status"
}
trap finish EXIT
trap 'exit 143' TERM INT

: >"$log"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
# Sources whose exact file the repository holds (tiny-shakespeare, which the char-LM slices train on): where
# no copy is placed in data/external/ (a node has no internet), the repository's own (the fetch checks it
# against the pinned sha256). layout.py needs only the standard library.
while IFS=$'\t' read -r placed copy; do
  if [ ! -e "$placed" ] && [ -e "$copy" ]; then
    mkdir -p "$(dirname "$placed")" && gunzip -c "$copy" >"$placed.part" && mv "$placed.part" "$placed" &&
      say "placed $placed from $copy"
  fi
done < <("$python" -c 'from unrolled import layout; layout.print_repository_copies()')
# Before anything is installed: every path SLICE_NEEDS lists (made where the sources are) is here.
if [ -f SLICE_NEEDS ]; then
  while read -r path; do
    case $path in '#'* | '') continue ;; esac
    [ -e "$path" ] || { say "SLICE_NEEDS lists $path, which is not here: carry it"; exit 2; }
  done <SLICE_NEEDS
fi
if ! "$python" -c "import snakemake" 2>/dev/null; then
  [ -d .whl ] || { say "no snakemake here and no .whl/ to install it from (make gpu-wheels)"; exit 1; }
  (cd .whl && sha256sum --check --quiet SHA256SUMS) >>"$log" 2>&1 ||
    { say ".whl/ does not match its SHA256SUMS (make gpu-wheels again)"; exit 1; }
  site=${TMPDIR:-/tmp}/unrolled-site
  "$python" -m pip install -q --no-index --no-deps --no-compile --target "$site" .whl/*.whl >>"$log" 2>&1 ||
    { say "installing .whl/ failed"; exit 1; }
  export PYTHONPATH="$PWD/src:$site${PYTHONPATH#"$PWD/src"}"
fi
# The rules call `python`; some images have only python3. A wrapper, not a link: a venv's Python started
# through a link in another folder would not find its venv.
bin=${TMPDIR:-/tmp}/unrolled-bin
mkdir -p "$bin" && printf '#!/bin/sh\nexec "%s" "$@"\n' "$(command -v "$python")" >"$bin/python" &&
  chmod +x "$bin/python" && export PATH="$bin:$PATH"
say "installed; $(nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null || echo 'no GPU')"

# One call (the config's code needs the wheels): the slice's sources checked here, exit 2 naming what to
# carry before any job starts (or naming an unknown slice); else the folders a slice returns, then its jobs.
err=${TMPDIR:-/tmp}/gpu-slice-jobs.$$ # outside OUT, whose files all come back
jobs=$("$python" -m unrolled -q slices --configfile "$config" --jobs "$slice" 2>"$err") ||
  { cat "$err" >>"$log"; say "slice $slice: $(tail -n 1 "$err" | sed 's/^.*error: //')"; rm -f "$err"; exit 2; }
rm -f "$err"
returns=$(sed -n 's/^# returns: //p' <<<"$jobs")
seconds() { awk -v m="$1" 'BEGIN { printf "%d", m * 60 + 0.5 }'; }
status=0
while IFS=$'\t' read -r minutes stage_minutes name targets; do
  [[ $minutes == '#'* ]] && continue
  left=$((deadline - $(date +%s) - reserve))
  need=$(seconds "$minutes")
  stage_need=$(seconds "$stage_minutes")
  if ((stage_need > left)); then # the job and the rest of its stage: never half a pair
    say "not started: $name and the rest of its stage need about $stage_need s, $left s are left"
    status=3
    break
  fi
  say "$name: estimated $need s ($stage_need s with the rest of its stage), $left s left"
  # shellcheck disable=SC2086  # targets: one word each
  timeout --signal=TERM --kill-after=15 "$left" "$python" -m snakemake $targets --workflow-profile none \
    --profile workflow/profiles/gpu --configfile "$config" >>"$log" 2>&1 &
  child=$!
  wait "$child"
  rc=$?
  child=
  pack
  if ((rc != 0)); then
    say "$name: snakemake exit $rc"
    status=$rc
    break
  fi
  say "$name: finished, packed"
done <<<"$jobs"
# The CUDA-only paths (compile, bf16, fused AdamW, pinned copies) in the time the slice leaves, before any
# benchmark; on a machine without CUDA they are skipped, and the log says so.
cap=${CUDA_CAP:-$CUDA_TEST_SECONDS}
left=$((deadline - $(date +%s) - reserve))
if ((left >= cap)); then
  say "tests/test_cuda.py: at most $cap s"
  # into the slice's log: OUT keeps to its archive, log and compile cache (what comes back is a few files)
  timeout --signal=TERM --kill-after=10 "$cap" "$python" -m pytest -q -p no:cacheprovider tests/test_cuda.py \
    >>"$log" 2>&1
  say "tests/test_cuda.py: exit $? ($(tail -n 1 "$log"))"
else
  say "tests/test_cuda.py: not run, $left s left (needs $cap s)"
fi
exit "$status"
