#!/usr/bin/env bash
# Stop the test cluster that tests/slurm/start_cluster.sh started: only the processes whose PIDs
# it recorded in $FACTSURV_SLURM_DIR/pids/ (never by name). Running jobs are cancelled first.
# Logs stay in $FACTSURV_SLURM_DIR/log/.
set -uo pipefail

DIR=${FACTSURV_SLURM_DIR:-/tmp/factsurv-slurm}
export SLURM_CONF=$DIR/slurm.conf
log() { echo "stop_cluster: $*" >&2; }

if [[ ! -d $DIR/pids ]]; then
    log "nothing recorded in $DIR/pids: nothing to stop"
    exit 0
fi
if [[ -s $DIR/pids/slurmctld ]] && kill -0 "$(cat "$DIR/pids/slurmctld")" 2>/dev/null; then
    scancel --full --quiet --state=RUNNING 2>/dev/null || true
    scancel --quiet --state=PENDING 2>/dev/null || true
fi
for name in slurmd slurmctld munged; do
    f=$DIR/pids/$name
    [[ -s $f ]] || continue
    pid=$(cat "$f")
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid"
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$pid" 2>/dev/null; then
            log "$name (pid $pid) ignored SIGTERM for 10 s: SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
        log "$name (pid $pid) stopped"
    fi
    rm -f "$f"
done
rmdir "$DIR/pids" 2>/dev/null || true
if [[ -L /etc/slurm/slurm.conf && $(readlink /etc/slurm/slurm.conf) == "$DIR/slurm.conf" ]]; then
    rm -f /etc/slurm/slurm.conf
fi
exit 0
