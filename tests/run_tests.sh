#!/usr/bin/env bash
# Runs every unit test binary of a build and every end-to-end script against
# that build's binary. An end-to-end script exits 77 to say it skipped (and
# prints why). Ends with the line "N passed, N failed, N skipped", and fails when a
# test failed or when no test passed (all skipped, or none selected).
#   tests/run_tests.sh BUILD_DIR [NAME_FILTER]
set -u
build=${1:-build}
filter=${2:-}
root=$(cd "$(dirname "$0")/.." && pwd)
export SCALELAB="$root/$build/scalelab"
export SCALELAB_ROOT="$root"
export SCALELAB_TESTDATA="$root/tests/data"
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}
logdir="$root/$build/test-logs"
mkdir -p "$logdir"
pass=0 fail=0 skip=0 failed=()
run_one() {   # name, command...
  local name=$1; shift
  [ -n "$filter" ] && [[ "$name" != *"$filter"* ]] && return
  local t0=$SECONDS log="$logdir/$name.log"
  local work; work=$(mktemp -d "${TMPDIR:-/tmp}/scalelab-test.XXXXXX")
  (cd "$work" && timeout 900 "$@") >"$log" 2>&1
  local rc=$?
  rm -rf "$work"
  local dt=$((SECONDS - t0))
  # A cmocka program whose every test called skip() passed nothing: report it as skipped.
  if [ $rc -eq 0 ] && grep -q '^\[  PASSED  \] 0 test' "$log" && grep -q 'SKIPPED' "$log"; then rc=77; fi
  if [ $rc -eq 0 ]; then pass=$((pass+1)); printf 'PASS  %-40s %4ds\n' "$name" "$dt"
  elif [ $rc -eq 77 ]; then skip=$((skip+1)); printf 'SKIP  %-40s %s\n' "$name" "$(grep -i skip "$log" | grep -v -e '^\[' -e 'SKIPPED TEST' | head -1)"
  else fail=$((fail+1)); failed+=("$name"); printf 'FAIL  %-40s %4ds (rc=%d, log %s)\n' "$name" "$dt" "$rc" "$log"
       tail -n 30 "$log" | sed 's/^/      | /'
  fi
}
for t in "$root/$build"/tests/test_*; do
  [ -x "$t" ] || continue
  run_one "$(basename "$t")" "$t"
done
for s in "$root"/tests/e2e/*.sh; do
  [ -f "$s" ] || continue
  run_one "e2e_$(basename "$s" .sh)" bash "$s"
done
echo
[ ${#failed[@]} -gt 0 ] && echo "failed: ${failed[*]}"
echo "$pass passed, $fail failed, $skip skipped"
# A suite in which nothing passed checked nothing: fail it, whether nothing ran or
# every test skipped (a single skip, such as the GPU test on a machine without
# one, is fine as long as something else passed).
if [ $fail -eq 0 ] && [ $pass -eq 0 ]; then
  if [ $skip -gt 0 ]; then echo "every test skipped ($skip): nothing was checked"; else echo "no test ran${filter:+ (filter '$filter')}"; fi
  exit 1
fi
[ $fail -eq 0 ]
