#!/usr/bin/env bash
# How long `make reproduce` takes from a fresh clone, the virtual environment included: clone this checkout's
# HEAD into a temporary folder, run `make reproduce CORES=N` there, and write the wall-clock time, the jobs it
# ran, the disk each part takes (MiB: .venv, downloads, prepared data, results with checkpoints) and the
# machine to OUT (default benchmarks/results/reproduce_cpu.json). The README states it.
#
#     bash benchmarks/reproduce_time.sh [OUT] [CORES]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-benchmarks/results/reproduce_cpu.json}
cores=${2:-2}
work=$(mktemp -d "${TMPDIR:-/tmp}/reproduce-time.XXXXXX")
git clone -q . "$work/clone"
start=$(date +%s)
(cd "$work/clone" && make reproduce CORES="$cores") >"$work/reproduce.log" 2>&1
seconds=$(($(date +%s) - start))
jobs=$(grep -Eo '[0-9]+ of [0-9]+ steps \(100%\) done' "$work/reproduce.log" | tail -1 | cut -d' ' -f3)
disk=$(cd "$work/clone" && du -sm .venv data/raw data/prepared results | awk '{printf "%s%s=%s", sep, $2, $1; sep=","}')
python3 - "$out" "$seconds" "$jobs" "$cores" "$(git rev-parse HEAD)" "$disk" <<'EOF'
import json, os, platform, re, sys
out, seconds, jobs, cores, sha, disk = sys.argv[1:]
try:
    cpu = re.search(r"^model name\s*:\s*(.+)$", open("/proc/cpuinfo").read(), re.M).group(1)
except (OSError, AttributeError):
    cpu = platform.processor() or platform.machine()
record = {"command": "git clone; make reproduce CORES=" + cores, "wall_seconds": int(seconds),
          "wall_minutes": round(int(seconds) / 60, 1), "jobs": int(jobs), "cores": int(cores),
          "cpus_on_machine": os.cpu_count(), "cpu": cpu, "git_sha": sha,
          "disk_mib": {k: int(v) for k, v in (item.split("=") for item in disk.split(","))}}
with open(out + ".tmp", "w") as handle:
    json.dump(record, handle, indent=2)
    handle.write("\n")
os.replace(out + ".tmp", out)
print(json.dumps(record))
EOF
rm -rf "$work"
