# The time limits of one command on a GPU allocation, sourced by tools/gpu-slice.sh and
# benchmarks/gpu_checks.sh: a command's seconds (a 9-minute command, the last minute of a 10-minute limit
# left for the transfer back; DEADLINE / LIMIT override it) and the CUDA tests' cap (CUDA_CAP overrides it).
COMMAND_SECONDS=540
CUDA_TEST_SECONDS=120
