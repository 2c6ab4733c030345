#!/usr/bin/env bash
# Install (if missing), configure and start a single-node SLURM on loopback: munged, slurmctld,
# slurmd. Idempotent: running daemons are left alone (reconfigured if slurm.conf changed).
# Ends when `sinfo` shows the node idle. Needs root (or sudo).
# A SLURM it did not configure (a slurm.conf without its marker line, SLURM_CONF naming another
# file, or slurmctld/slurmd running without a slurm.conf here) is never written to, started or
# restarted, and a munge key it did not create is never touched: such a cluster is used as it is
# when it works (sinfo answers, an up partition has an idle or mixed node, a one-task job there
# runs and sees this machine's temp dir and checkout, as the tests need); otherwise the script
# exits 0 with one line saying why. That path needs no root. Either way the outcome goes to a
# state file (key=value lines) that the SLURM tests read (tests/clusterutil.py).
#   setup.sh --check   prints "project", "none" or "foreign <why>" and changes nothing.
# Paths, overridable for the tests of this script: TOPOLEARN_SLURM_CONF_DIR (/etc/slurm),
# TOPOLEARN_MUNGE_KEY (/etc/munge/munge.key), TOPOLEARN_SLURM_STATE (a file in the temp dir).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
conf="${TOPOLEARN_SLURM_CONF_DIR:-/etc/slurm}/slurm.conf"  # srun inside a job reads only /etc/slurm/slurm.conf
key="${TOPOLEARN_MUNGE_KEY:-/etc/munge/munge.key}"
key_record="$key.topolearn"  # sha256 of the key this script created
state_file="${TOPOLEARN_SLURM_STATE:-${TMPDIR:-/tmp}/topolearn-slurm-$(id -u).state}"
MARK="# topolearn: written by .ci/slurm/setup.sh, which rewrites this file and reconfigures its daemons."

write_state() {  # key=value lines, replaced whole
  printf '%s\n' "$@" >"$state_file.tmp" && mv -f "$state_file.tmp" "$state_file"
}

ours_conf() {  # the marker line, or the header of the files written before it existed
  grep -qxF "$MARK" "$conf" 2>/dev/null \
    || head -n 1 "$conf" 2>/dev/null | grep -q "^# Single-node SLURM on loopback for topolearn's tests"
}

classify() {  # project | none | foreign <why>
  if [ -n "${SLURM_CONF:-}" ] && [ "$SLURM_CONF" != "$conf" ]; then
    echo "foreign SLURM_CONF is set to $SLURM_CONF"
  elif [ -e "$conf" ]; then
    if ours_conf; then echo project; else echo "foreign $conf was not written by .ci/slurm/setup.sh"; fi
  elif pgrep -x slurmctld >/dev/null || pgrep -x slurmd >/dev/null; then
    echo "foreign slurmctld or slurmd runs without $conf"
  else
    echo none
  fi
}

skip() {  # the one line saying why; the SLURM tests skip with it
  local why="SLURM configured outside topolearn, left as it is: $*"
  write_state status=skip "reason=$why"
  echo "setup.sh: SLURM tests skipped: $why"
  exit 0
}

use_foreign() {  # $1: why the cluster is not this script's. Reads only; never starts anything.
  local out part probe
  command -v sinfo >/dev/null && command -v srun >/dev/null || skip "$1; sinfo or srun not found"
  out="$(timeout 20 sinfo -h -o '%P|%a|%T' 2>&1)" || skip "$1; sinfo does not answer: $(head -n 1 <<<"$out")"
  # an up partition with an idle or mixed node, the default one (marked *) first
  part="$(awk -F'|' '$2 == "up" && ($3 == "idle" || $3 == "mixed") {
            if ($1 ~ /[*]$/) { if (!d) d = $1 } else if (!o) o = $1 }
          END { p = d ? d : o; sub(/[*]$/, "", p); print p }' <<<"$out")"
  [ -n "$part" ] || skip "$1; no up partition has an idle or mixed node"
  probe="$(mktemp -d)"; touch "$probe/seen"
  if ! out="$(timeout 60 srun --quiet -p "$part" -N 1 -n 1 -t 1 -J topolearn-probe \
                test -f "$probe/seen" -a -d "$repo" 2>&1)"; then
    rm -rf "$probe"
    skip "$1; a one-task job on partition $part did not run within 60 s or did not see $probe and $repo" \
         "(the tests need both shared)${out:+: $(head -n 1 <<<"$out")}"
  fi
  rm -rf "$probe"
  write_state status=ready cluster=foreign "partition=$part"
  echo "setup.sh: SLURM ready (configured outside topolearn, left as it is: $1; partition $part)"
  exit 0
}

kind="$(classify)"
[ "${1:-}" = "--check" ] && { echo "$kind"; exit 0; }
case "$kind" in foreign*) use_foreign "${kind#foreign }" ;; esac

# 1. packages
pkgs=(munge slurmctld slurmd slurm-client)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q "${missing[@]}"
fi

running() {  # pidfile -> is that process alive?
  [ -s "$1" ] && $SUDO kill -0 "$(cat "$1")" 2>/dev/null
}

# 2. munge (runs as user munge; the key must belong to it). A key this script did not create (the
#    package's, an admin's) is used as it is.
key_hash() { $SUDO sha256sum <"$key" | cut -d ' ' -f 1; }
if [ ! -e "$key" ]; then
  $SUDO mungekey --create --keyfile="$key"
  key_hash | $SUDO tee "$key_record" >/dev/null
fi
if [ -s "$key_record" ] && [ "$(key_hash)" = "$($SUDO cat "$key_record")" ]; then
  $SUDO chown munge:munge "$key"
  $SUDO chmod 600 "$key"
fi
$SUDO install -d -o munge -g munge -m 0755 /run/munge
$SUDO install -d -o munge -g munge -m 0700 /var/log/munge /var/lib/munge
if ! running /run/munge/munged.pid; then
  $SUDO runuser -u munge -- /usr/sbin/munged
fi
for _ in $(seq 50); do munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.2; done
munge -n </dev/null | unmunge >/dev/null || { echo "setup.sh: munge does not work" >&2; exit 1; }

# 3. slurm.conf from the template: this host's short name, cores and memory
host="$(hostname -s)"
cpus="$(nproc --all)"
mem="$(awk '/MemTotal/ {print int($2 / 1024)}' /proc/meminfo)"
new="$(sed -e "s/@HOST@/$host/g" -e "s/@CPUS@/$cpus/g" -e "s/@MEM@/$mem/g" "$here/slurm.conf.in")"
changed=0
if [ ! -f "$conf" ] || [ "$(cat "$conf")" != "$new" ]; then
  $SUDO install -d "$(dirname "$conf")"
  printf '%s\n' "$new" | $SUDO tee "$conf" >/dev/null
  changed=1
fi
$SUDO install -d /var/lib/slurm/slurmctld /var/lib/slurm/slurmd /var/log/slurm

# 4. daemons: controller first, then the node
if ! running /run/slurmctld.pid; then
  $SUDO /usr/sbin/slurmctld
  changed=0
fi
if ! running /run/slurmd.pid; then
  $SUDO /usr/sbin/slurmd
fi
[ "$changed" -eq 1 ] && $SUDO scontrol reconfigure

# 5. wait for the node to be idle (resume it if a previous run left it down/drained)
state=""
for i in $(seq 120); do
  state="$(sinfo -h -N -n "$host" -o %T 2>/dev/null || true)"
  case "$state" in
    idle|mixed|allocated)
      write_state status=ready cluster=project "partition=$(sed -n 's/^PartitionName=\([^ ]*\).*/\1/p' "$conf" | head -n 1)"
      echo "setup.sh: SLURM ready ($host, $cpus CPUs, ${mem} MB, node $state)"; exit 0 ;;
    down*|drain*) [ $((i % 10)) -eq 1 ] && $SUDO scontrol update nodename="$host" state=resume 2>/dev/null || true ;;
  esac
  sleep 0.5
done
echo "setup.sh: node $host not idle after 60 s (state: '${state:-unknown}'); see /var/log/slurm/" >&2
exit 1
