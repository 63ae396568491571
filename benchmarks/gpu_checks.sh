#!/usr/bin/env bash
# Issue 22's GPU checks, one per call, each sized for one command of at most about 9 minutes on an H100/H200
# (estimates: none has run on a GPU yet). Results go to OUT/benchmarks/results/ as each step finishes, so a
# timeout still returns the earlier ones; unpacked into a checkout they land where the README's benchmark
# section reads them.
#
#   bash benchmarks/gpu_checks.sh CHECK OUT
#     1  where the time goes: the kernels Inductor makes of the baseline, A - I and XSA (fusion.py, E = 2
#        char-LM ensembles at paper 1's width), the kernel profile (E = 32 char-LM ensemble, GPT-2 124M), and
#        seeds per hour at E in {32, 64} (one process on the GPU)
#     2  GPT-2 124M side by side: baseline, A - I, XSA (fused; composite), nanoGPT's own model.py
#        (NANOGPT=.cache/nanogpt/model.py: a copy of karpathy/nanoGPT's, in that ignored folder; never vendored;
#        the device tool's `carry: [".cache/nanogpt"]` takes it along)
#     3  the implementation candidates side by side: GPT-2 with the chunked loss and the compiled clip + AdamW;
#        E = 16 char-LM ensembles with the compiled step, the flat buffers, A - I, XSA fused and composite
#     4  equivalence (member k vs the single run with seed k, bf16, 50 steps) and the cuDNN-under-vmap probe
#        (tests/test_cuda.py is the `cuda` check's, and runs after every slice that has the time)
#     cuda   tests/test_cuda.py alone, at most CUDA_CAP s (tools/gpu-limits.sh): what an allocation runs first after its slice
#        where the slice's own command had no time left for it (tools/gpu-slice.sh runs it when it has)
#     goals  at most 4 minutes in all (what an allocation has left after its slice): the goals of
#        docs/benchmarks.md, A - I, XSA and the flat buffers against the baseline in E = 16 char-LM ensembles,
#        and GPT-2 124M's MFU with flash attention, cuDNN attention and micro-batch 32, each step cut off at
#        its share (2 timed steps a round)
#
# SMOKE=1 runs each step at the tiny presets' sizes, to try the plumbing: tests/test_benchmark_tools.py runs
# checks 1-4 so, and `make rehearse-gpu` runs goals so on its stand-in node, after the slice.
# Needs only PyTorch (and pytest for check 4) beside the checkout: src/ goes on PYTHONPATH.
set -uo pipefail
cd "$(dirname "$0")/.."
source tools/gpu-limits.sh
check=${1:?usage: benchmarks/gpu_checks.sh CHECK OUT}
out=${2:?usage: benchmarks/gpu_checks.sh CHECK OUT}/benchmarks/results
mkdir -p "$out"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
export TORCHINDUCTOR_CACHE_DIR=${TORCHINDUCTOR_CACHE_DIR:-$PWD/.cache/torch-compile}
if [ -n "${SMOKE:-}" ]; then
  ens="--preset tiny --ensemble 2" side="--preset tiny --ensemble 2" gpt2="--preset tiny" short="--rounds 21 --steps 1"
  sizes="--preset tiny --sizes 2 --steps 2" equiv="--preset tiny --members 2 --steps 3"
  probe="--preset tiny --members 2 --steps 2 --cases math" fusion="--preset tiny --variants baseline a_minus_i"
  goal_steps="--rounds 21 --steps 1"
else
  # check 3 holds six ensembles at once: E = 16 (past the seeds-per-hour knee) keeps them in memory together
  ens="--preset paper --ensemble 32" side="--preset paper --ensemble 16" gpt2="--preset gpt2 --compile" short=""
  sizes="--preset paper --sizes 32 64" equiv="" probe="" fusion="--preset paper --ensemble 2"
  goal_steps="--steps 2"
fi
failed=0
step() {  # step NAME COMMAND...: run it (at most LIMIT seconds), its output to OUT/NAME.log
  local name=$1
  shift
  echo "== $name: $*"
  timeout --signal=TERM "${LIMIT:-$COMMAND_SECONDS}" "$@" > >(tee "$out/$name.log") 2>&1 || { echo "== $name failed ($?)"; failed=1; }
}
case $check in
  1)
    LIMIT=150 step fusion_gpu python benchmarks/fusion.py $fusion --out "$out/fusion_gpu.json"
    step profile_gpu python benchmarks/kernel_profile.py $ens --out "$out/profile_gpu.json"
    step ensemble_gpu_large python benchmarks/ensemble.py $sizes --out "$out/ensemble_gpu_large.json"
    ;;
  2)
    step step_time_gpt2 python benchmarks/step_time.py $gpt2 $short --variants baseline a_minus_i xsa xsa_composite \
      ${NANOGPT:+--nanogpt "$NANOGPT"} --out "$out/step_time_gpt2.json"
    ;;
  3)
    step step_time_gpt2_candidates python benchmarks/step_time.py $gpt2 $short \
      --variants baseline chunked_ce compiled_step --out "$out/step_time_gpt2_candidates.json"
    step step_time_ensemble_gpu python benchmarks/step_time.py $side $short \
      --variants baseline compiled_step flat_buffers a_minus_i xsa xsa_composite --out "$out/step_time_ensemble_gpu.json"
    ;;
  cuda)
    LIMIT=${CUDA_CAP:-$CUDA_TEST_SECONDS} step test_cuda python -m pytest -q -p no:cacheprovider tests/test_cuda.py
    ;;
  goals)
    LIMIT=130 step goals_ensemble_gpu python benchmarks/step_time.py $side $goal_steps \
      --variants baseline a_minus_i xsa flat_buffers --out "$out/goals_ensemble_gpu.json"
    LIMIT=110 step goals_gpt2 python benchmarks/step_time.py $gpt2 $goal_steps --variants baseline cudnn_sdpa micro32 \
      --out "$out/goals_gpt2.json"
    ;;
  4)
    step equivalence_gpu python benchmarks/equivalence.py $equiv --out "$out/equivalence_gpu.json"
    step cudnn_vmap_gpu python benchmarks/cudnn_vmap.py $probe --out "$out/cudnn_vmap_gpu.json"
    ;;
  *)
    echo "benchmarks/gpu_checks.sh: CHECK is 1, 2, 3, 4, cuda or goals, not '$check'" >&2
    exit 2
    ;;
esac
exit $failed
