#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages scalelab needs, only those missing. Non-interactive.
# Chromium is optional (only the report's browser test uses it, and it skips without it):
# Ubuntu ships it as a snap, so a missing package there is a warning, not a failure.
# Slurm's daemons are needed only by the Slurm backend test, which installs them itself;
# `make data` installs linux-source-6.1 itself.
set -euo pipefail
required=(build-essential pkg-config libsqlite3-dev sqlite3 libyaml-dev libgsl-dev libopenblas-dev
          libcmocka-dev gnuplot-nox)
optional=(chromium)
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
missing=() missing_optional=()
for p in "${required[@]}"; do installed "$p" || missing+=("$p"); done
for p in "${optional[@]}"; do installed "$p" || missing_optional+=("$p"); done
if [ ${#missing[@]} -eq 0 ] && [ ${#missing_optional[@]} -eq 0 ]; then
  echo "deps: all $(( ${#required[@]} + ${#optional[@]} )) packages present"
  exit 0
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
for p in "${missing_optional[@]}"; do
  if apt-cache show "$p" > /dev/null 2>&1; then
    echo "deps: installing $p"
    $sudo apt-get install -y -qq --no-install-recommends "$p"
  else
    echo "deps: $p is not in this system's package lists; the report's browser test will skip"
  fi
done
