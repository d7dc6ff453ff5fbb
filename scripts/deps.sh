#!/usr/bin/env bash
# Installs the Debian packages scalelab needs, only those missing. Non-interactive.
set -euo pipefail
pkgs=(build-essential pkg-config libsqlite3-dev sqlite3 libyaml-dev libgsl-dev libopenblas-dev
      libcmocka-dev gnuplot-nox chromium)
# Slurm's daemons are needed only by the Slurm backend test; it installs them itself.
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: all ${#pkgs[@]} packages present"
  exit 0
fi
echo "deps: installing ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
