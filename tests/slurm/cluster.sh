#!/usr/bin/env bash
# Start (or stop) a single-node SLURM on 127.0.0.1 for the integration test: munge + slurmctld + slurmd,
# everything under one folder. Needs root (slurmd launches jobs) and Debian's slurm-wlm and munge.
#   cluster.sh up DIR    install if needed, write DIR/slurm.conf, start the daemons, wait for the node
#   cluster.sh down DIR  stop the daemons started by `up`
set -euo pipefail
cmd=$1
dir=$(realpath -m "$2")

down() {
  # the default-path link `up` made, if it is ours
  if [ -L /etc/slurm/slurm.conf ] && [ "$(readlink /etc/slurm/slurm.conf)" = "$dir/slurm.conf" ]; then
    rm -f /etc/slurm/slurm.conf
  fi
  for pidfile in "$dir"/slurmd.pid "$dir"/slurmctld.pid; do
    [ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null || true
  done
  [ -f "$dir/munged.pid" ] && kill "$(cat "$dir/munged.pid")" 2>/dev/null || true
  return 0
}

if [ "$cmd" = down ]; then down; exit 0; fi

if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
fi

mkdir -p "$dir"/{state,spool,munge}
host=$(hostname -s)
# At least 16 CPUs in name (config_overrides below): the slurm profile's 4 CPUs per GPU for a 2-GPU job fit
# a small test machine; the jobs themselves use the cores there are.
cpus=$(( $(nproc) > 16 ? $(nproc) : 16 ))
mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))

# munge: a fresh key and socket of our own, so nothing system-wide is touched.
dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$dir/munge/munge.key"
chmod 700 "$dir/munge"
munged --force --key-file="$dir/munge/munge.key" --socket="$dir/munge/munge.socket" \
  --pid-file="$dir/munged.pid" --log-file="$dir/munged.log" --seed-file="$dir/munge/munge.seed"

cat > "$dir/slurm.conf" <<CONF
ClusterName=unrolled
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.socket
CredType=cred/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
SlurmctldPort=16817
SlurmdPort=16818
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
MpiDefault=none
# Two GPUs in name only (their device files are copies of /dev/null): enough for sbatch --gpus=2 to be
# granted, so a multi-GPU job's submission is tested as a cluster would see it; the job itself then finds
# no CUDA and runs on the CPU.
GresTypes=gpu
ReturnToService=2
SlurmdParameters=config_overrides
# Finished jobs stay visible to squeue for 10 minutes: the executor polls squeue (no accounting DB).
MinJobAge=600
SchedulerType=sched/builtin
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem Gres=gpu:2 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
for i in 0 1; do [ -c "$dir/gpu$i" ] || mknod "$dir/gpu$i" c 1 3; done
printf 'AutoDetect=off\nName=gpu File=%s/gpu[0-1]\n' "$dir" > "$dir/gres.conf"

export SLURM_CONF="$dir/slurm.conf"
# srun inside a batch job does not see SLURM_CONF: give the default path our config, unless this
# machine already has a SLURM of its own there (then we leave it alone).
mkdir -p /etc/slurm
[ -e /etc/slurm/slurm.conf ] || ln -s "$dir/slurm.conf" /etc/slurm/slurm.conf
slurmctld
slurmd
for _ in $(seq 60); do
  if sinfo -h -o %T 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then exit 0; fi
  sleep 1
done
echo "SLURM node did not become idle; see $dir/slurmctld.log and $dir/slurmd.log" >&2
sinfo >&2 || true
exit 1
