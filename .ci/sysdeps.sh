#!/usr/bin/env bash
# Install the Debian packages the test suite needs, only those missing (fresh CI machines).
# python3.11-venv: the venv is made from Debian's Python where it can be (see Makefile).
# chromium: the offline learning-graph pages are rendered in headless Chromium (tests/test_offline_html.py).
set -euo pipefail
pkgs=(python3.11-venv dataset-fashion-mnist chromium)
# SLURM's packages only where no SLURM of someone else's is configured: installing them there can
# start a second slurmctld on that cluster's config (.ci/slurm/setup.sh --check).
slurm="$(bash "$(dirname "$0")/slurm/setup.sh" --check)"
case "$slurm" in
  foreign*) echo "sysdeps: SLURM configured outside topolearn (${slurm#foreign }): its packages left as they are" ;;
  *) pkgs+=(munge slurmctld slurmd slurm-client) ;;
esac
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && { echo "sysdeps: all present"; exit 0; }
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q "${missing[@]}"
