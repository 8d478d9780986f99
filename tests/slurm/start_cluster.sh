#!/usr/bin/env bash
# Start a single-node Slurm cluster on this machine, for the tests (tests/test_slurm.py).
#
#   tests/slurm/start_cluster.sh            # install (if needed), configure, start, wait until idle
#   source "$FACTSURV_SLURM_DIR/env.sh"     # then sinfo, sbatch, squeue ... talk to it
#   tests/slurm/stop_cluster.sh             # stop what this script started, by PID
#
# Needs root (apt-get, munged as user munge, slurmd). Debian/Ubuntu packages: munge slurmctld
# slurmd slurm-client. No systemd: the daemons are started by hand and their PIDs are recorded in
# $FACTSURV_SLURM_DIR/pids/. The configuration lives in $FACTSURV_SLURM_DIR; /etc/slurm/slurm.conf
# is a symbolic link to it (created only where no slurm.conf exists; stop_cluster.sh removes it).
#
# No accounting database (no slurmdbd/MariaDB): Snakemake's status command must be `squeue`
# (MinJobAge=300 keeps finished jobs visible to squeue for 5 minutes). Finished jobs are also
# written to $FACTSURV_SLURM_DIR/log/jobcomp.log (jobcomp/filetxt), which the tests read to prove
# that jobs ran through Slurm.
#
# The node advertises FACTSURV_SLURM_GPUS (default 2) fake GPUs (plain files as device files) and
# FACTSURV_SLURM_CPUS (default max(nproc, 8)) CPUs, so that the real profile's `gpu: 1,
# cpus_per_gpu: 4` requests can be scheduled here; nothing is bound to a real device.
#
# Idempotent: if a cluster started by this script is up, it is reused. The last line of stdout is
# `started` or `reused`; the caller stops the cluster only if it was `started`.
# Exit status: 0 up; 2 not root; 3 packages could not be installed; 4 daemons did not come up;
# 5 /etc/slurm/slurm.conf belongs to another Slurm.
set -euo pipefail

DIR=${FACTSURV_SLURM_DIR:-/tmp/factsurv-slurm}
GPUS=${FACTSURV_SLURM_GPUS:-2}
WAIT_S=${FACTSURV_SLURM_WAIT_S:-60}
PACKAGES=(munge slurmctld slurmd slurm-client)

log() { echo "start_cluster: $*" >&2; }
die() {
    local code=$1
    shift
    log "ERROR: $*"
    exit "$code"
}

if [[ $(id -u) -ne 0 ]]; then
    die 2 "must run as root (installs packages, starts munged/slurmctld/slurmd). Set FACTSURV_SKIP_SLURM=1 to skip the Slurm tests."
fi

alive() { [[ -s $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

export SLURM_CONF=$DIR/slurm.conf
if [[ -f $DIR/slurm.conf ]] && alive "$DIR/pids/slurmctld" && alive "$DIR/pids/slurmd" &&
    scontrol ping >/dev/null 2>&1; then
    log "cluster in $DIR is up (slurmctld $(cat "$DIR/pids/slurmctld"), slurmd $(cat "$DIR/pids/slurmd")): reusing it"
    echo reused
    exit 0
fi

# 1. Packages.
missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    log "installing ${missing[*]} (apt-get)"
    t0=$(date +%s)
    export DEBIAN_FRONTEND=noninteractive
    { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}"; } \
        >"/tmp/factsurv-slurm-apt.log" 2>&1 ||
        die 3 "could not install ${missing[*]} with apt-get (see /tmp/factsurv-slurm-apt.log). Set FACTSURV_SKIP_SLURM=1 to skip the Slurm tests."
    log "installed in $(($(date +%s) - t0)) s"
fi
for b in munged slurmctld slurmd sinfo sbatch squeue scontrol; do
    command -v "$b" >/dev/null || die 3 "$b not found after installing ${PACKAGES[*]}"
done

# 2. Configuration (rewritten on every start; leftovers of a dead cluster are cleared).
for f in "$DIR"/pids/*; do
    [[ -e $f ]] || continue
    if alive "$f"; then
        log "stopping leftover $(basename "$f") (pid $(cat "$f"))"
        kill "$(cat "$f")" 2>/dev/null || true
    fi
done
rm -rf "$DIR/state" "$DIR/spool" "$DIR/pids" "$DIR/log"
mkdir -p "$DIR"/{state,spool,log,pids}
NODE=$(hostname -s)
# The node claims at least 8 CPUs (config_overrides: slurmd believes slurm.conf, not the hardware),
# so that the real profile's cpus_per_gpu: 4 can be scheduled on a 2-core machine.
CPUS=${FACTSURV_SLURM_CPUS:-$(($(nproc) > 8 ? $(nproc) : 8))}
MEM_MB=$(awk '/^MemTotal:/ {printf "%d", $2 / 1024 * 0.9}' /proc/meminfo)
cat >"$DIR/slurm.conf" <<EOF
# written by factsurv tests/slurm/start_cluster.sh: a single-node test cluster
ClusterName=factsurv
SlurmctldHost=$NODE
SlurmUser=root
SlurmdUser=root
SlurmdParameters=config_overrides
SlurmctldPort=6817
SlurmdPort=6818
AuthType=auth/munge
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/state/slurmctld.pid
SlurmdPidFile=$DIR/spool/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# without a default, every job takes the whole node's memory and jobs run one at a time
DefMemPerCPU=1000
# keep finished jobs visible to squeue (Snakemake's status command here) for 5 minutes
MinJobAge=300
SchedulerParameters=sched_interval=2
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
KillWait=5
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc=$DIR/log/jobcomp.log
GresTypes=gpu
NodeName=$NODE CPUs=$CPUS RealMemory=$MEM_MB Gres=gpu:$GPUS State=UNKNOWN
PartitionName=main Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
# fake GPUs: plain files stand in for the device files; nothing is bound to a real device
mkdir -p "$DIR/fakegpu"
: >"$DIR/gres.conf"
for ((i = 0; i < GPUS; i++)); do
    : >"$DIR/fakegpu/gpu$i"
    echo "NodeName=$NODE Name=gpu File=$DIR/fakegpu/gpu$i" >>"$DIR/gres.conf"
done
echo "export SLURM_CONF=$DIR/slurm.conf" >"$DIR/env.sh"
# Inside a job, Snakemake's jobstep executor drops every SLURM_* variable (SLURM_CONF too) before it
# calls srun, so the configuration must also be where Slurm looks by default.
if [[ -L /etc/slurm/slurm.conf && $(readlink /etc/slurm/slurm.conf) == "$DIR/slurm.conf" ]]; then
    :
elif [[ -e /etc/slurm/slurm.conf || -L /etc/slurm/slurm.conf ]]; then
    die 5 "/etc/slurm/slurm.conf exists and is not ours: this machine has its own Slurm; not touching it"
else
    mkdir -p /etc/slurm
    ln -s "$DIR/slurm.conf" /etc/slurm/slurm.conf
fi

# 3. Daemons.
t0=$(date +%s)
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    [[ -s /etc/munge/munge.key ]] || { mungekey --create 2>/dev/null || /usr/sbin/mungekey -c; }
    chown munge:munge /etc/munge/munge.key 2>/dev/null || true
    mkdir -p /run/munge /var/log/munge /var/lib/munge
    chown munge:munge /run/munge /var/log/munge /var/lib/munge
    runuser -u munge -- /usr/sbin/munged --force
    for _ in $(seq 50); do [[ -s /run/munge/munged.pid ]] && break; sleep 0.1; done
    cp /run/munge/munged.pid "$DIR/pids/munged"
    log "munged started (pid $(cat "$DIR/pids/munged"))"
else
    log "munged already running: using it (not ours, will not be stopped)"
fi

slurmctld -f "$DIR/slurm.conf" -i
for _ in $(seq 50); do [[ -s $DIR/state/slurmctld.pid ]] && break; sleep 0.1; done
cp "$DIR/state/slurmctld.pid" "$DIR/pids/slurmctld" 2>/dev/null || die 4 "slurmctld did not start (see $DIR/log/slurmctld.log)"
slurmd -f "$DIR/slurm.conf"
for _ in $(seq 50); do [[ -s $DIR/spool/slurmd.pid ]] && break; sleep 0.1; done
cp "$DIR/spool/slurmd.pid" "$DIR/pids/slurmd" 2>/dev/null || die 4 "slurmd did not start (see $DIR/log/slurmd.log)"
log "slurmctld (pid $(cat "$DIR/pids/slurmctld")) and slurmd (pid $(cat "$DIR/pids/slurmd")) started"

# 4. Wait until the node is idle.
deadline=$(($(date +%s) + WAIT_S))
until [[ ${state:=} == idle ]]; do
    state=$(sinfo --noheader --nodes="$NODE" --format=%t 2>/dev/null || true)
    if [[ $state == inval* || $state == drain* ]] || (($(date +%s) > deadline)); then
        sinfo >&2 || true
        tail -n 20 "$DIR/log/slurmctld.log" "$DIR/log/slurmd.log" >&2 || true
        die 4 "node $NODE is '$state', not idle, after $(($(date +%s) - t0)) s"
    fi
    [[ $state == idle ]] || sleep 0.5
done
log "node $NODE idle ($CPUS CPUs, ${MEM_MB} MB, $GPUS fake GPUs) after $(($(date +%s) - t0)) s; SLURM_CONF=$DIR/slurm.conf"
echo started
