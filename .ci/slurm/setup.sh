#!/usr/bin/env bash
# Install (if missing), configure and start a single-node SLURM on loopback: munged, slurmctld,
# slurmd. Idempotent: running daemons are left alone (reconfigured if slurm.conf changed).
# Ends when `sinfo` shows the node idle. Needs root (or sudo).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
conf=/etc/slurm/slurm.conf  # srun inside a job reads only this path (no SLURM_CONF there)

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

# 2. munge (runs as user munge; the key must belong to it)
if [ ! -s /etc/munge/munge.key ]; then
  $SUDO mungekey --create --keyfile=/etc/munge/munge.key
fi
$SUDO chown munge:munge /etc/munge/munge.key
$SUDO chmod 600 /etc/munge/munge.key
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
  $SUDO install -d /etc/slurm
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
    idle|mixed|allocated) echo "setup.sh: SLURM ready ($host, $cpus CPUs, ${mem} MB, node $state)"; exit 0 ;;
    down*|drain*) [ $((i % 10)) -eq 1 ] && $SUDO scontrol update nodename="$host" state=resume 2>/dev/null || true ;;
  esac
  sleep 0.5
done
echo "setup.sh: node $host not idle after 60 s (state: '${state:-unknown}'); see /var/log/slurm/" >&2
exit 1
