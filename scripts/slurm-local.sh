#!/usr/bin/env bash
# A real single-node Slurm cluster (Debian's Slurm 22.05 packages) for tests and CI.
#
#   bash scripts/slurm-local.sh install             # apt-get install slurmctld slurmd slurm-client munge
#   bash scripts/slurm-local.sh start [STATE_DIR]   # fresh cluster, default state dir /tmp/ablate-slurm
#   bash scripts/slurm-local.sh stop  [STATE_DIR]   # cancel jobs, shut down, kill only our daemons
#   bash scripts/slurm-local.sh status              # exit 0 and print node state if the cluster answers
#
# The node is `localhost` with CPUs=$(nproc), RealMemory=1000 and two fake GPUs (symlinks to
# /dev/null; scheduling and CUDA_VISIBLE_DEVICES are real). slurm.conf and gres.conf are written to
# /etc/slurm/ (where Debian's client tools read them, so a plain `sbatch` works), any foreign
# slurm.conf there is backed up first; a copy lives in STATE_DIR/etc. Facts measured with this
# cluster: docs/slurm-facts.md.
set -euo pipefail

DEFAULT_STATE_DIR=/tmp/ablate-slurm
CONF_DIR=/etc/slurm
MARKER="# written by scripts/slurm-local.sh"
PORTS=(6817 6818)
START_TIMEOUT_S=20

log() { printf 'slurm-local: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

usage() {
  sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

now_ms() { date +%s%3N; }

elapsed() { # elapsed START_MS -> "1.23"
  local ms=$(( $(now_ms) - $1 ))
  printf '%d.%02d' "$((ms / 1000))" "$(((ms % 1000) / 10))"
}

# Is anything listening on TCP port $1 (IPv4 or IPv6)? Reads /proc, so it needs no ss/netstat.
port_in_use() {
  local hex
  hex=$(printf '%04X' "$1")
  awk -v p=":$hex" 'NR > 1 && $4 == "0A" && substr($2, length($2) - 4) == p { found = 1 } END { exit !found }' \
    /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

describe_port() {
  if command -v ss >/dev/null 2>&1; then
    ss -ltnp "sport = :$1" 2>/dev/null | tail -n +2 >&2 || true
  fi
}

pid_alive() { [[ -n "${1:-}" ]] && kill -0 "$1" 2>/dev/null; }

read_pid() { # read_pid FILE -> pid or nothing
  [[ -s "$1" ]] && tr -dc '0-9' <"$1" || true
}

# Node state if slurmctld answers, else fails.
node_state() {
  port_in_use 6817 || return 1 # nothing listens: skip sinfo's ~5 s of retries
  timeout 5 sinfo -h -o '%T' 2>/dev/null | head -n 1 | grep .
}

healthy() {
  local st
  st=$(node_state) || return 1
  case "$st" in
    idle | mixed | allocated | completing) return 0 ;;
    *) return 1 ;;
  esac
}

cmd_install() {
  if command -v sbatch >/dev/null 2>&1 && command -v slurmctld >/dev/null 2>&1; then
    log "Slurm already installed ($(slurmctld -V 2>/dev/null || echo '?')); skipping install"
    return 0
  fi
  [[ $EUID -eq 0 ]] || die "install needs root (apt-get)"
  local created_policy=0
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    # Keep the packages' postinst from starting services (there is no systemd here anyway).
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    created_policy=1
  fi
  local pkgs=(slurmctld slurmd slurm-client munge) rc=0
  local start
  start=$(now_ms)
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null; then
    log "apt-get install failed; retrying after apt-get update"
    if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null; }; then
      rc=1
    fi
  fi
  if [[ $created_policy -eq 1 ]]; then
    rm -f /usr/sbin/policy-rc.d
  fi
  [[ $rc -eq 0 ]] || die "could not install ${pkgs[*]}"
  log "installed $(slurmctld -V) in $(elapsed "$start") s"
}

write_config() { # write_config STATE_DIR
  local d=$1 cpus
  cpus=$(nproc)
  mkdir -p "$d/etc" "$d/state" "$d/spool" "$d/run" "$d/log" "$d/dev"
  ln -sfn /dev/null "$d/dev/fakegpu0"
  ln -sfn /dev/null "$d/dev/fakegpu1"
  cat >"$d/etc/slurm.conf" <<EOF
$MARKER (state dir $d)
ClusterName=ci
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=$d/state
SlurmdSpoolDir=$d/spool
SlurmctldPidFile=$d/run/slurmctld.pid
SlurmdPidFile=$d/run/slurmd.pid
SlurmctldLogFile=$d/log/slurmctld.log
SlurmdLogFile=$d/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$d/log/jobcomp.txt
MailProg=/bin/true
MpiDefault=none
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0,sched_interval=1,bf_interval=1
DependencyParameters=kill_invalid_depend
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MinJobAge=600
SlurmdParameters=config_overrides
GresTypes=gpu
NodeName=localhost NodeAddr=127.0.0.1 NodeHostname=localhost CPUs=$cpus RealMemory=1000 Gres=gpu:2 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
EOF
  cat >"$d/etc/gres.conf" <<EOF
$MARKER (state dir $d)
AutoDetect=off
NodeName=localhost Name=gpu File=$d/dev/fakegpu[0-1]
EOF
  # Debian's Slurm (daemons and client tools) reads /etc/slurm/slurm.conf, and slurmd reads
  # gres.conf from the same directory. Back up files that this script did not write.
  mkdir -p "$CONF_DIR"
  local f stamp
  stamp=$(date +%Y%m%d%H%M%S)
  for f in slurm.conf gres.conf; do
    if [[ -e "$CONF_DIR/$f" ]] && ! grep -qF "$MARKER" "$CONF_DIR/$f"; then
      cp -p "$CONF_DIR/$f" "$CONF_DIR/$f.bak.$stamp"
      log "backed up existing $CONF_DIR/$f to $CONF_DIR/$f.bak.$stamp"
    fi
    cp "$d/etc/$f" "$CONF_DIR/$f.tmp.$$"
    mv -f "$CONF_DIR/$f.tmp.$$" "$CONF_DIR/$f"
  done
}

munge_works() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }

start_munged() { # start_munged STATE_DIR
  local d=$1
  if munge_works; then
    log "munged already running; using it (it will not be stopped by 'stop')"
    return 0
  fi
  if [[ ! -s /etc/munge/munge.key ]]; then
    mkdir -p /etc/munge
    mungekey --create --keyfile=/etc/munge/munge.key
    chown munge:munge /etc/munge/munge.key
    chmod 0400 /etc/munge/munge.key
  fi
  mkdir -p /run/munge /var/log/munge /var/lib/munge
  chown munge:munge /run/munge /var/log/munge /var/lib/munge
  rm -f /run/munge/munged.pid
  runuser -u munge -- /usr/sbin/munged
  local i
  for i in $(seq 1 50); do
    if munge_works; then break; fi
    sleep 0.1
  done
  munge_works || die "munged did not start (see /var/log/munge/munged.log)"
  local pid
  pid=$(read_pid /run/munge/munged.pid)
  [[ -n "$pid" ]] && echo "$pid" >"$d/run/munged.pid"
}

# Start a daemon in the foreground (-D) in its own session, detached from our stdio.
spawn() { # spawn PIDFILE OUTFILE CMD...
  local pidfile=$1 out=$2
  shift 2
  setsid "$@" </dev/null >"$out" 2>&1 &
  echo "$!" >"$pidfile"
}

print_logs() {
  local d=$1 f
  for f in "$d"/log/*.log "$d"/log/*.out /var/log/munge/munged.log; do
    [[ -s "$f" ]] || continue
    printf '===== %s (last 40 lines) =====\n' "$f" >&2
    tail -n 40 "$f" >&2
  done
}

cmd_start() {
  local d=${1:-$DEFAULT_STATE_DIR}
  [[ "$d" = /* ]] || d="$PWD/$d"
  local start
  start=$(now_ms)
  if healthy; then
    log "cluster already running and healthy: node localhost is $(node_state)"
    return 0
  fi
  [[ $EUID -eq 0 ]] || die "start needs root (SlurmUser=root, writes $CONF_DIR)"
  command -v slurmctld >/dev/null 2>&1 || die "Slurm is not installed; run: bash $0 install"
  # A cluster of ours that answers but is unhealthy, or half-started daemons: stop them first.
  if [[ -d "$d/run" ]]; then
    local f
    for f in "$d"/run/slurmctld.pid "$d"/run/slurmd.pid; do
      if pid_alive "$(read_pid "$f")"; then
        log "stopping the unhealthy cluster left in $d"
        cmd_stop "$d"
        break
      fi
    done
  fi
  local port busy=0
  for port in "${PORTS[@]}"; do
    if port_in_use "$port"; then
      log "error: TCP port $port is already in use (Slurm needs 6817 for slurmctld, 6818 for slurmd):"
      describe_port "$port"
      busy=1
    fi
  done
  [[ $busy -eq 0 ]] || die "free the ports (another slurmctld/slurmd? try: bash $0 stop [STATE_DIR]) and retry"

  # An old state dir resumes job ids and old jobs: always start from a fresh one.
  case "$d" in / | /tmp | /etc | /usr | /var | /root | /home) die "refusing to wipe state dir $d" ;; esac
  rm -rf "$d"
  mkdir -p "$d"
  write_config "$d"
  start_munged "$d"
  spawn "$d/run/slurmctld.pid" "$d/log/slurmctld.out" slurmctld -D
  spawn "$d/run/slurmd.pid" "$d/log/slurmd.out" slurmd -D -N localhost

  local deadline=$(($(now_ms) + START_TIMEOUT_S * 1000)) st=""
  while (($(now_ms) < deadline)); do
    st=$(node_state) || st=""
    [[ "$st" == idle ]] && break
    sleep 0.2
  done
  if [[ "$st" != idle ]]; then
    log "error: node not idle after ${START_TIMEOUT_S}s (state: '${st:-no answer}'); logs follow"
    print_logs "$d"
    cmd_stop "$d" >/dev/null 2>&1 || true
    exit 1
  fi
  log "cluster up in $(elapsed "$start") s: node localhost idle, CPUs=$(nproc), 2 fake GPUs, state dir $d"
  log "config: $CONF_DIR/slurm.conf (client tools find it without SLURM_CONF)"
}

wait_gone() { # wait_gone TIMEOUT_S PID...
  local t=$1
  shift
  local deadline=$(($(now_ms) + t * 1000)) p alive
  while :; do
    alive=0
    for p in "$@"; do pid_alive "$p" && alive=1; done
    [[ $alive -eq 0 ]] && return 0
    (($(now_ms) < deadline)) || return 1
    sleep 0.1
  done
}

cmd_stop() {
  local d=${1:-$DEFAULT_STATE_DIR}
  [[ "$d" = /* ]] || d="$PWD/$d"
  local start shutdown_sent=0
  start=$(now_ms)
  if node_state >/dev/null; then
    local ids
    ids=$(timeout 5 squeue -h -o '%i' 2>/dev/null | tr '\n' ' ') || ids=""
    if [[ -n "${ids// /}" ]]; then
      # shellcheck disable=SC2086 # word splitting of the id list is intended
      timeout 5 scancel $ids 2>/dev/null || true
      local i
      for i in $(seq 1 30); do
        [[ -z "$(timeout 5 squeue -h -t running,completing -o '%i' 2>/dev/null)" ]] && break
        sleep 0.2
      done
    fi
    timeout 5 scontrol shutdown >/dev/null 2>&1 && shutdown_sent=1
  fi
  local name pid pids=()
  for name in slurmctld slurmd; do
    pid=$(read_pid "$d/run/$name.pid")
    pid_alive "$pid" && pids+=("$pid")
  done
  if ((${#pids[@]})); then
    # slurmctld takes ~1.7 s to save state and exit after `scontrol shutdown`.
    if [[ $shutdown_sent -eq 0 ]] || ! wait_gone 5 "${pids[@]}"; then
      kill -TERM "${pids[@]}" 2>/dev/null || true
      if ! wait_gone 5 "${pids[@]}"; then
        kill -KILL "${pids[@]}" 2>/dev/null || true
        wait_gone 2 "${pids[@]}" || true
      fi
    fi
  fi
  pid=$(read_pid "$d/run/munged.pid")
  if pid_alive "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    wait_gone 5 "$pid" || kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$d/run/slurmctld.pid" "$d/run/slurmd.pid" "$d/run/munged.pid"
  local port deadline=$(($(now_ms) + 10000))
  for port in "${PORTS[@]}"; do
    while port_in_use "$port"; do
      if (($(now_ms) >= deadline)); then
        log "warning: port $port still in use (a daemon not started from $d?):"
        describe_port "$port"
        return 1
      fi
      sleep 0.1
    done
  done
  log "stopped in $(elapsed "$start") s (state dir $d kept for its logs)"
}

cmd_status() {
  if ! port_in_use 6817 || ! timeout 5 sinfo >/dev/null 2>&1; then
    echo "slurm: not running (sinfo gets no answer)"
    return 1
  fi
  timeout 5 sinfo -N -o '%N %T cpus=%c mem=%m gres=%G'
  timeout 5 squeue -o '%i %T %j %R' || true
}

main() {
  local sub=${1:-}
  [[ $# -gt 0 ]] && shift
  case "$sub" in
    install) cmd_install ;;
    start) cmd_start "${1:-}" ;;
    stop) cmd_stop "${1:-}" ;;
    status) cmd_status ;;
    -h | --help | help) usage ;;
    *) usage ;;
  esac
}

main "$@"
