#!/usr/bin/env bash
# Install the Debian packages the test suite needs, only those missing (fresh CI machines).
# python3.11-venv: the venv is made from Debian's Python where it can be (see Makefile).
# chromium: the offline learning-graph pages are rendered in headless Chromium (tests/test_offline_html.py).
set -euo pipefail
pkgs=(python3.11-venv dataset-fashion-mnist munge slurmctld slurmd slurm-client chromium)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && { echo "sysdeps: all present"; exit 0; }
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q "${missing[@]}"
