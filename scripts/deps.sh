#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages scalelab needs, only those missing. Non-interactive.
# Optional packages are installed when the system's package lists have them, and
# a missing one is a warning, not a failure (each test that needs one skips with
# a message naming it):
#   chromium          the report's browser test (Ubuntu ships it as a snap)
#   slurm-wlm, munge  the Slurm backend test (tests/e2e/sweep_slurm.sh), which only uses them
#   clang             `make fuzz` (libFuzzer); `make test` does not need it
# `make data` installs linux-source-6.1 itself.
set -euo pipefail
required=(build-essential pkg-config libsqlite3-dev sqlite3 libyaml-dev libgsl-dev libopenblas-dev python3
          libcmocka-dev gnuplot-nox)
optional=(chromium slurm-wlm munge clang)
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
    case $p in
      chromium) why="the report's browser test will skip" ;;
      slurm-wlm|munge) why="the Slurm backend test will skip" ;;
      clang) why="make fuzz will not build" ;;
      *) why="" ;;
    esac
    echo "deps: $p is not in this system's package lists; $why"
  fi
done
