#!/usr/bin/env bash
# Degenerate input reaches the user as one clear line naming the row/line and column, a
# non-zero exit, and no fit in the store.
set -u
fail() { echo "FAIL: $*"; exit 1; }
expect() {   # want_rc, needle, csv text, extra args...
  local want=$1 needle=$2 text=$3; shift 3
  printf '%b' "$text" > in.csv
  $SCALELAB fit --csv in.csv --db t.db "$@" > out.txt 2> err.txt
  local rc=$?
  [ $rc -eq "$want" ] || fail "rc $rc (want $want) for $needle: $(cat err.txt)"
  grep -qF -- "$needle" err.txt || fail "error lacks '$needle': $(cat err.txt)"
  grep -q '^scalelab: fit: ' err.txt || fail "not in the scalelab: fit: form: $(cat err.txt)"
}
good='N,D,loss\n1e6,1e9,3\n2e6,2e9,2.9\n4e6,3e9,2.8\n8e6,5e9,2.7\n1e7,8e9,2.6\n2e7,1e10,2.5\n'
xs=(--form chinchilla --x N,D)
expect 1 "no column 'tokens'" "$good" --form chinchilla --x N,tokens
expect 1 "3 points" "$good" "${xs[@]}" --where 'loss<2.75'
expect 1 "column 'N' is constant" 'N,D,loss\n1,1e9,3\n1,2e9,2.9\n1,3e9,2.8\n1,5e9,2.7\n1,8e9,2.6\n1,1e10,2.5\n' "${xs[@]}"
expect 1 "line 3 (row 2), column 'loss'" 'N,D,loss\n1e6,1e9,3\n2e6,2e9,-1\n' "${xs[@]}"
expect 1 "column 'D': NaN" 'N,D,loss\n1e6,1e9,3\n2e6,nan,2\n' "${xs[@]}"
expect 1 "in.csv:3: ragged row" 'N,D,loss\n1e6,1e9,3\n2e6,2\n' "${xs[@]}"
expect 1 "cannot open" '' "${xs[@]}" --csv missing.csv
expect 2 "--form 'quadratic'" "$good" --form quadratic --x N
expect 2 "exactly one of" "$good" "${xs[@]}" --sweep s
expect 2 "--where" "$good" "${xs[@]}" --where 'loss<<'
expect 2 "--grid" "$good" "${xs[@]}" --grid 'e=1:0:1'
expect 1 "powerlaw takes one x column" "$good" --form powerlaw --x N,D
[ ! -e t.db ] || [ "$($SCALELAB recommend --budget 1e20 --db t.db 2>&1 | grep -c '^fit ')" = 0 ] || fail "a failed fit was stored"
$SCALELAB fit --help | grep -q 'usage: scalelab fit' || fail "fit --help"
$SCALELAB recommend --help | grep -q 'usage: scalelab recommend' || fail "recommend --help"
$SCALELAB recommend --db t.db 2>/dev/null; [ $? -eq 2 ] || fail "recommend without --budget"
echo ok
