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
# A crashed run in an export leaves an empty, NaN or text cell: that row is skipped and counted,
# the rest is fitted; a non-positive value is still an error (above).
printf 'N,D,loss\n1e6,1e9,3\n2e6,nan,2.95\n4e6,3e9,2.8\n8e6,,2.7\n1e7,8e9,2.6\n2e7,1e10,2.5\n4e7,2e10,crashed\n3e7,3e10,2.4\n5e7,5e10,2.3\n' > skip.csv
out=$($SCALELAB fit --csv skip.csv --db skip.db --form chinchilla --x N,D --grid 'e=-1:1:1,a=0:25:12.5,alpha=0:2:1' 2>&1) ||
  fail "a CSV with 3 empty/NaN/text cells among 9 rows should fit: $out"
grep -q "skipped 3 rows with a missing, non-numeric or NaN cell.*line 3 (row 2), column 'D': NaN" <<<"$out" ||
  fail "the skipped rows are not counted: $out"
grep -q "6 points" <<<"$out" || fail "6 of 9 rows should be fitted: $out"
expect 1 "in.csv:3: ragged row" 'N,D,loss\n1e6,1e9,3\n2e6,2\n' "${xs[@]}"
expect 1 "cannot open" '' "${xs[@]}" --csv missing.csv
expect 2 "--form 'quadratic'" "$good" --form quadratic --x N
expect 2 "exactly one of" "$good" "${xs[@]}" --sweep s
expect 2 "--where" "$good" "${xs[@]}" --where 'loss<<'
# --where and --derive are expressions: a bad one names its option and the column of the fault;
# a row where one has no value (log of a negative, an empty cell) is skipped and counted
expect 2 "--where 'loss < 3 and * N': unexpected '*'" "$good" "${xs[@]}" --where 'loss < 3 and * N'
grep -qF 'at column 14 of' err.txt || fail "--where error lacks the column: $(cat err.txt)"
expect 1 "--where 'lost < 3': " "$good" "${xs[@]}" --where 'lost < 3'
grep -qF "no column 'lost'" err.txt || fail "--where names the unknown column: $(cat err.txt)"
expect 1 "--derive 'T=D * * 2': unexpected '*' (at column 5" "$good" "${xs[@]}" --derive 'T=D * * 2'
printf 'N,D,loss,d\n1e6,1e9,3,1\n2e6,2e9,2.95,-2\n4e6,3e9,2.8,3\n8e6,5e9,2.7,\n1e7,8e9,2.6,5\n2e7,1e10,2.5,6\n3e7,3e10,2.4,7\n5e7,5e10,2.3,8\n' > lg.csv
out=$($SCALELAB fit --csv lg.csv --db skip.db --form chinchilla --x N,D --derive 'ld=log(d)' --where 'ld >= 0 and N ** 0.5 / 1e3 < 7' \
      --grid 'e=-1:1:1,a=0:25:12.5,alpha=0:2:1' 2>&1) || fail "fit with --derive/--where over log: $out"
grep -q "skipped 2 rows.*line 3 (row 2): --where 'ld >= 0 and N \*\* 0.5 / 1e3 < 7': column 'ld' is empty: .*log of a number that is not positive" <<<"$out" ||
  fail "the rows without a value are not counted: $out"
grep -q "5 points" <<<"$out" || fail "5 of 8 rows should be fitted (N = 5e7 fails the filter): $out"
expect 2 "--grid" "$good" "${xs[@]}" --grid 'e=1:0:1'
expect 1 "powerlaw takes one x column" "$good" --form powerlaw --x N,D
[ ! -e t.db ] || [ "$($SCALELAB recommend --budget 1e20 --db t.db 2>&1 | grep -c '^fit ')" = 0 ] || fail "a failed fit was stored"
$SCALELAB fit --help | grep -q 'usage: scalelab fit' || fail "fit --help"
$SCALELAB recommend --help | grep -q 'usage: scalelab recommend' || fail "recommend --help"
$SCALELAB recommend --db t.db 2>/dev/null; [ $? -eq 2 ] || fail "recommend without --budget"
echo ok
