#!/usr/bin/env bash
# A real single-node SLURM cluster on this machine, for the tests marked `slurm`.
#
#   tests/slurm/cluster.sh start    install slurm-wlm + munge if missing, write slurm.conf, start
#                                   munged, slurmctld and slurmd (no systemd), wait for an idle node
#   tests/slurm/cluster.sh stop     stop what `start` started (nothing else)
#   tests/slurm/cluster.sh env      print `export SLURM_CONF=...` for clients (sinfo, sbatch, ...)
#
# Idempotent: `start` on a running cluster only checks it. Everything lives in $HOOMD_MLX_SLURM_DIR
# (default /tmp/hoomd-mlx-slurm); clients find the configuration through SLURM_CONF. One node (this
# host, its CPUs and memory from `slurmd -C`), select/cons_tres, no accounting, KillWait 10 s (the
# grace between SIGTERM and SIGKILL at scancel and walltime).
set -euo pipefail

DIR="${HOOMD_MLX_SLURM_DIR:-/tmp/hoomd-mlx-slurm}"
CONF="$DIR/slurm.conf"
export SLURM_CONF="$CONF"

say() { echo "cluster.sh: $*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo -n "$@"; else
    say "needs root (or passwordless sudo) to $*"; return 1; fi
}

install_packages() {
  if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null; then
    return 0
  fi
  say "installing slurm-wlm and munge with apt-get"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    slurm-wlm munge >"$DIR/apt.log" 2>&1 || {
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >>"$DIR/apt.log" 2>&1
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      slurm-wlm munge >>"$DIR/apt.log" 2>&1
  } || { say "apt-get failed (see $DIR/apt.log)"; return 1; }
}

munge_running() { munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; }

start_munge() {
  if munge_running; then return 0; fi
  if [ ! -s /etc/munge/munge.key ]; then
    as_root mkdir -p /etc/munge
    as_root dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
  fi
  as_root chown munge:munge /etc/munge/munge.key 2>/dev/null || true
  as_root chmod 400 /etc/munge/munge.key
  as_root mkdir -p /run/munge /var/lib/munge /var/log/munge
  as_root chown munge:munge /run/munge /var/lib/munge /var/log/munge 2>/dev/null || true
  if id munge >/dev/null 2>&1; then
    as_root runuser -u munge -- /usr/sbin/munged
  else
    as_root /usr/sbin/munged --force
  fi
  pgrep -x munged >"$DIR/munged.started"
  for _ in $(seq 50); do munge_running && return 0; sleep 0.1; done
  say "munged did not start"; return 1
}

write_conf() {
  local host cpus memory
  host="$(hostname -s)"
  cpus="$(nproc)"
  memory="$(slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p')"
  memory=$((memory * 9 / 10))  # leave the rest to the OS
  mkdir -p "$DIR/state" "$DIR/spool"
  cat >"$CONF" <<EOF
ClusterName=hoomdmlx
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/slurmctld.log
SlurmdLogFile=$DIR/slurmd.log
SlurmctldPort=6817
SlurmdPort=6818
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
ReturnToService=2
KillWait=10
MinJobAge=300
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
Waittime=0
NodeName=$host CPUs=$cpus RealMemory=$memory State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
}

node_state() { sinfo -h -N -o %T 2>/dev/null | head -1; }

start() {
  mkdir -p "$DIR"
  if [ -f "$CONF" ] && [ "$(node_state)" != "" ]; then
    say "already running ($(node_state)); SLURM_CONF=$CONF"
  else
    install_packages
    start_munge
    write_conf
    pkill -f "slurmctld -f $CONF" 2>/dev/null || true
    pkill -f "slurmd -f $CONF" 2>/dev/null || true
    as_root /usr/sbin/slurmctld -f "$CONF" -i
    as_root /usr/sbin/slurmd -f "$CONF"
    touch "$DIR/slurm.started"
  fi
  for _ in $(seq 100); do
    case "$(node_state)" in
      idle* | mixed* | allocated*) say "node $(node_state); SLURM_CONF=$CONF"; return 0 ;;
      down* | drain*) scontrol update nodename="$(hostname -s)" state=resume 2>/dev/null || true ;;
    esac
    sleep 0.3
  done
  say "the node did not come up: $(node_state); logs in $DIR"; tail -5 "$DIR/slurmctld.log" >&2 || true
  return 1
}

stop() {
  if [ -f "$DIR/slurm.started" ]; then
    for daemon in slurmd slurmctld; do
      if [ -f "$DIR/$daemon.pid" ]; then as_root kill "$(cat "$DIR/$daemon.pid")" 2>/dev/null || true; fi
      pkill -f "$daemon -f $CONF" 2>/dev/null || true
    done
    rm -f "$DIR/slurm.started"
  fi
  if [ -f "$DIR/munged.started" ]; then
    as_root kill "$(cat "$DIR/munged.started")" 2>/dev/null || true
    rm -f "$DIR/munged.started"
  fi
  say "stopped what start had started"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  env) echo "export SLURM_CONF=$CONF" ;;
  *) echo "usage: $0 start|stop|env" >&2; exit 2 ;;
esac
