#!/usr/bin/env bash
# Runs every benchmark binary and script; each prints its own result lines.
#   tests/bench/run_bench.sh BUILD_DIR [NAME_FILTER]
set -u
build=${1:-build}
filter=${2:-}
root=$(cd "$(dirname "$0")/../.." && pwd)
export SCALELAB="$root/$build/scalelab" SCALELAB_ROOT="$root"
echo "# bench $(date -u +%Y-%m-%dT%H:%MZ) commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null) host $(hostname) cores $(nproc)"
for b in "$root/$build"/bench/bench_* "$root"/tests/bench/bench_*.sh; do
  [ -e "$b" ] || continue
  name=$(basename "$b")
  [ -n "$filter" ] && [[ "$name" != *"$filter"* ]] && continue
  echo "## $name"
  case "$b" in *.sh) bash "$b" ;; *) "$b" ;; esac || echo "bench $name failed (rc=$?)"
done
