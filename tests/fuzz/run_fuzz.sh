#!/usr/bin/env bash
# Runs each libFuzzer target of a fuzz build for SECONDS (default 3600) with the
# seed corpus of tests/fuzz/corpus/<target>/ (read-only) plus a working corpus
# in BUILD/fuzz-corpus/<target>/ where new inputs go. Crashes land in
# BUILD/fuzz-crashes/<target>/. Prints one line per target: seconds, executions,
# crashes; exits 1 when any target crashed.
#   tests/fuzz/run_fuzz.sh BUILD [SECONDS] [TARGET...]
set -u
build=${1:?usage: run_fuzz.sh BUILD [SECONDS] [TARGET...]}
seconds=${2:-3600}
shift $(( $# >= 2 ? 2 : 1 ))
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(spec config csv ckpt)
root=$(cd "$(dirname "$0")/../.." && pwd)
# Scratch files of the path-reading targets: memory-backed when possible (faster).
if [ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then export TMPDIR=/dev/shm; else export TMPDIR=${TMPDIR:-/tmp}; fi
status=0
for t in "${targets[@]}"; do
  bin="$root/$build/fuzz/fuzz_$t"
  [ -x "$bin" ] || { echo "fuzz: $bin missing (make fuzz builds it)"; status=1; continue; }
  work="$root/$build/fuzz-corpus/$t" crashes="$root/$build/fuzz-crashes/$t"
  mkdir -p "$work" "$crashes"
  log="$root/$build/fuzz-$t.log"
  t0=$SECONDS
  "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=16384 -print_final_stats=1 \
    -artifact_prefix="$crashes/" "$work" "$root/tests/fuzz/corpus/$t" > "$log" 2>&1
  rc=$?
  dt=$((SECONDS - t0))
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  n_crash=$(find "$crashes" -type f | wc -l)
  printf 'fuzz %-7s %6ds %12s executions  %d crash file(s)  rc=%d  (log %s)\n' "$t" "$dt" "${execs:-?}" "$n_crash" "$rc" "$log"
  [ $rc -eq 0 ] && [ "$n_crash" -eq 0 ] || status=1
done
exit $status
