# Sourced by the e2e scripts that check many command lines and report every failure:
#   fail MESSAGE            count a failure and say what it was
#   expect CODE PATTERN CMD...  CMD exits CODE and prints PATTERN (ERE) on stdout+stderr
#   expect_done NAME        the closing line and the exit status (1 when anything failed)
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
expect() {
  local code=$1 pattern=$2; shift 2
  local out rc
  out=$("$@" 2>&1); rc=$?
  [ "$rc" -eq "$code" ] || fail "$* exited $rc, expected $code: $out"
  grep -qE -- "$pattern" <<<"$out" || fail "$* printed '$out', expected /$pattern/"
}
expect_done() {
  [ $fails -eq 0 ] && echo "$1: all checks passed"
  exit $((fails > 0))
}
