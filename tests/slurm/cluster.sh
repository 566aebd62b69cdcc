#!/usr/bin/env bash
# A one-node SLURM cluster on localhost for regeo's tests and CI: real slurmctld, slurmd and
# munged from Debian/Ubuntu packages, fake GPUs, no accounting database.
#
#   bash tests/slurm/cluster.sh install   # apt-get slurm-wlm and munge (root; idempotent)
#   bash tests/slurm/cluster.sh start     # write the config, start the daemons, wait for idle
#   bash tests/slurm/cluster.sh status    # exit 0 when the node answers and is usable
#   bash tests/slurm/cluster.sh stop      # stop what start started, remove the /etc link
#
# Environment: REGEO_SLURM_DIR (run directory: config, state, logs; default /tmp/regeo-slurm),
# REGEO_SLURM_PARTITION (default "debug"), REGEO_SLURM_GPUS (fake GPUs, default 2),
# REGEO_SLURM_CTLD_PORT / REGEO_SLURM_SLURMD_PORT (default 6817 / 6818), REGEO_SLURM_CRED_EXPIRE
# (seconds a requeued job waits before it may start again, default 10; SLURM's own is 120).
#
# Why /etc/slurm/slurm.conf is a link into the run directory: the plugin's job step drops every
# SLURM_* variable but a few ids from the environment of the srun it runs inside the job,
# SLURM_CONF included, so srun there reads the default path. start refuses to replace a real
# file there; stop removes the link again.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
run="${REGEO_SLURM_DIR:-/tmp/regeo-slurm}"
partition="${REGEO_SLURM_PARTITION:-debug}"
gpus="${REGEO_SLURM_GPUS:-2}"
ctld_port="${REGEO_SLURM_CTLD_PORT:-6817}"
slurmd_port="${REGEO_SLURM_SLURMD_PORT:-6818}"
cred_expire="${REGEO_SLURM_CRED_EXPIRE:-10}"
etc_conf=/etc/slurm/slurm.conf
host="$(hostname -s)"

log() { echo "[cluster.sh] $*" >&2; }
die() { log "error: $*"; exit 1; }
need_root() { [ "$(id -u)" = 0 ] || die "$1 needs root (sudo bash $0 $1)"; }

cmd_install() {
  need_root install
  if command -v sbatch >/dev/null && [ -x /usr/sbin/slurmctld ] && [ -x /usr/sbin/slurmd ] \
    && [ -x /usr/sbin/munged ]; then
    log "slurm $(dpkg-query -W -f '${Version}' slurm-client) and munge already installed"
    return
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # slurm-wlm pulls slurmctld, slurmd, slurm-client and the plugins (task/affinity, gres/gpu).
  apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
  log "installed slurm $(dpkg-query -W -f '${Version}' slurm-client)"
}

munge_ok() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }

start_munge() {
  if munge_ok; then return; fi
  # The package creates /etc/munge/munge.key on install; make one if an image stripped it.
  if [ ! -s /etc/munge/munge.key ]; then
    log "creating /etc/munge/munge.key"
    install -d -o munge -g munge -m 0700 /etc/munge
    runuser -u munge -- mungekey --create --keyfile=/etc/munge/munge.key
  fi
  install -d -o munge -g munge -m 0755 /run/munge
  install -d -o munge -g munge -m 0700 /var/lib/munge /var/log/munge
  # munged refuses to run as root; it writes its pid file under /run/munge.
  runuser -u munge -- /usr/sbin/munged
  for _ in $(seq 50); do munge_ok && { touch "$run/munged.started-here"; return; }; sleep 0.1; done
  die "munged does not answer (see /var/log/munge/munged.log)"
}

render_config() {
  # Topology as slurmd itself detects it, so the node never drains for a mismatch.
  local detected topology cpus mem_mb real_memory
  detected="$(/usr/sbin/slurmd -C | head -1)"
  topology="$(grep -oE '(CPUs|Boards|SocketsPerBoard|CoresPerSocket|ThreadsPerCore)=[0-9]+' \
    <<<"$detected" | tr '\n' ' ')"
  cpus="$(grep -oE 'CPUs=[0-9]+' <<<"$detected" | cut -d= -f2)"
  mem_mb="$(grep -oE 'RealMemory=[0-9]+' <<<"$detected" | cut -d= -f2)"
  # Leave 10% to the system: slurmd drains a node whose memory is below RealMemory.
  real_memory=$((mem_mb * 9 / 10))
  mkdir -p "$run/state" "$run/spool" "$run/log"
  sed -e "s|@HOST@|$host|g" -e "s|@RUN@|$run|g" -e "s|@PARTITION@|$partition|g" \
    -e "s|@TOPOLOGY@|$topology|g" -e "s|@REAL_MEMORY@|$real_memory|g" \
    -e "s|@DEF_MEM_PER_CPU@|$((real_memory / cpus))|g" -e "s|@GPUS@|$gpus|g" \
    -e "s|@CTLD_PORT@|$ctld_port|g" -e "s|@SLURMD_PORT@|$slurmd_port|g" \
    -e "s|@CRED_EXPIRE@|$cred_expire|g" \
    "$here/slurm.conf.in" >"$run/slurm.conf"
  # Fake GPUs: gres wants one distinct character device per GPU. Device nodes with the
  # major/minor of /dev/null under the run directory (named gpu0, gpu1, ... like
  # /dev/nvidia0); where mknod is not allowed, distinct harmless devices from /dev.
  : >"$run/gres.conf"
  rm -rf "$run/dev"
  mkdir -p "$run/dev"
  local i file fallback=(/dev/null /dev/zero /dev/full /dev/urandom /dev/random)
  for ((i = 0; i < gpus; i++)); do
    file="$run/dev/gpu$i"
    if ! mknod -m 0666 "$file" c 1 3 2>/dev/null; then
      [ "$i" -lt "${#fallback[@]}" ] || die "no mknod here: at most ${#fallback[@]} fake GPUs"
      file="${fallback[$i]}"
    fi
    echo "NodeName=$host Name=gpu File=$file" >>"$run/gres.conf"
  done
  # Some SLURM versions read cgroup.conf even without cgroup plugins; keep it harmless.
  echo "CgroupPlugin=autodetect" >"$run/cgroup.conf"
  echo "IgnoreSystemd=yes" >>"$run/cgroup.conf"
}

link_config() {
  if [ -e "$etc_conf" ] || [ -L "$etc_conf" ]; then
    if [ "$(readlink "$etc_conf" || true)" != "$run/slurm.conf" ]; then
      die "$etc_conf exists and is not this harness's link; refusing to replace it"
    fi
  fi
  mkdir -p /etc/slurm
  ln -sfn "$run/slurm.conf" "$etc_conf"
}

node_state() { sinfo -h -N -n "$host" -o '%T' 2>/dev/null | head -1; }

cmd_status() {
  local state
  state="$(node_state)" || true
  if [ -z "$state" ]; then
    log "not running (sinfo gets no answer)"
    return 1
  fi
  log "node $host: $state"
  sinfo
  case "$state" in idle* | mixed* | allocated* | completing*) return 0 ;; *) return 1 ;; esac
}

cmd_start() {
  need_root start
  command -v sbatch >/dev/null && [ -x /usr/sbin/slurmctld ] \
    || die "SLURM is not installed: run 'sudo bash $0 install'"
  if cmd_status >/dev/null 2>&1; then
    log "already running"
    return
  fi
  mkdir -p "$run"
  start_munge
  render_config
  link_config
  # -c: clear saved jobs and node state from an earlier run.
  /usr/sbin/slurmctld -c -f "$run/slurm.conf" || fail_with_logs "slurmctld did not start"
  /usr/sbin/slurmd -N "$host" -f "$run/slurm.conf" || fail_with_logs "slurmd did not start"
  local state=""
  for _ in $(seq 120); do
    state="$(node_state)" || true
    case "$state" in
      idle*)
        log "node $host idle: $(sinfo -h -o '%c CPUs, %m MB, %G' | head -1);" \
          "partitions $(sinfo -h -o '%P' | tr '\n' ' ')"
        return ;;
      drain* | down*)
        # A restart can leave the node down with a stale reason; resume it once.
        scontrol update nodename="$host" state=resume 2>/dev/null || true ;;
    esac
    sleep 0.5
  done
  fail_with_logs "node did not become idle (last state: '${state:-none}')"
}

fail_with_logs() {
  log "error: $1; the daemons' logs end with:"
  tail -n 20 "$run/log/slurmctld.log" "$run/log/slurmd.log" >&2 || true
  exit 1
}

stop_pidfile() {
  local pidfile="$1" pid
  [ -s "$pidfile" ] || return 0
  pid="$(cat "$pidfile")"
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
  fi
  rm -f "$pidfile"
}

cmd_stop() {
  need_root stop
  # Cancel what is left (every job on this cluster is a test's) so that no step outlives slurmd.
  local jobs
  jobs="$(squeue -h -o %i 2>/dev/null || true)"
  # shellcheck disable=SC2086
  [ -z "$jobs" ] || scancel --full $jobs 2>/dev/null || true
  # slurmstepd outlives slurmd: wait (KillWait=10 s, then SIGKILL) until the jobs are gone.
  for _ in $(seq 60); do [ -z "$(squeue -h -o %i 2>/dev/null || true)" ] && break; sleep 0.5; done
  stop_pidfile "$run/slurmd.pid"
  stop_pidfile "$run/slurmctld.pid"
  if [ -e "$run/munged.started-here" ]; then
    stop_pidfile /run/munge/munged.pid
    rm -f "$run/munged.started-here"
  fi
  if [ "$(readlink "$etc_conf" 2>/dev/null || true)" = "$run/slurm.conf" ]; then
    rm -f "$etc_conf"
  fi
  log "stopped (logs kept in $run/log)"
}

case "${1:-}" in
  install) cmd_install ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  *) echo "usage: $0 install|start|stop|status" >&2; exit 2 ;;
esac
