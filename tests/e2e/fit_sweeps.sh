#!/usr/bin/env bash
# fit --sweep repeated: the runs of several sweeps as one table, a run that two of them
# hold counted once, the source recorded as "sweep:A+B", and recommend measuring its
# cost model on the runs of every one of them.
set -u
S=${SCALELAB:?}
command -v python3 >/dev/null || { echo "skip: python3 is not installed"; exit 77; }
command -v sqlite3 >/dev/null || { echo "skip: the sqlite3 program is not installed"; exit 77; }
# a coarse grid of starts: what is tested is which runs are fitted, not the minimiser
grid='e=-1:1:1,a=0:25:12.5,alpha=0:2:1'
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
. "$SCALELAB_ROOT/tests/e2e/lib/recommend_fixture.sh"
recommend_fixture r.db || { echo "FAIL: fixture"; exit 1; }
export SCALELAB_DB=$PWD/r.db
# two sweeps over the fixture's 54 runs (ids run over d, depth, p, then 3 token counts):
# p 1-2 and p 2-3, so the 18 runs of p = 2 are in both
sqlite3 r.db "INSERT INTO sweeps VALUES ('wa', 'name: wa', 0), ('wb', 'name: wb', 0);
  INSERT INTO sweep_runs SELECT 'wa', id FROM runs WHERE (id - 1) / 3 % 3 IN (0, 1);
  INSERT INTO sweep_runs SELECT 'wb', id FROM runs WHERE (id - 1) / 3 % 3 IN (1, 2);" ||
  fail "cannot make the sweeps"
[ "$(sqlite3 r.db "SELECT count(*) FROM sweep_runs WHERE sweep IN ('wa', 'wb')")" = 72 ] || fail "fixture sweeps"
out=$("$S" fit --sweep wa --sweep wb --form additive --x params,tokens,state_size --grid "$grid" --json 2>&1) || fail "fit failed: $out"
python3 -c '
import json, sys
d = json.loads(sys.argv[1])
assert d["n_points"] == 54, d["n_points"]
' "$out" || fail "a run held by both sweeps should be one point of 54: $out"
[ "$(sqlite3 r.db "SELECT source FROM fits ORDER BY id DESC LIMIT 1")" = "sweep:wa+wb" ] || fail "source not sweep:wa+wb"
out=$("$S" fit --sweep wa --form additive --x params,tokens,state_size --grid "$grid" --json 2>&1) || fail "fit of one sweep failed"
python3 -c 'import json, sys; assert json.loads(sys.argv[1])["n_points"] == 36' "$out" || fail "wa alone holds 36 runs"
# --where over the runs' columns: the older text form (the fixture's configs hold no mixer, so
# every mixer cell is empty and differs from softmax) and an expression of the language
out=$("$S" fit --sweep wa --sweep wb --where mixer!=softmax --form additive --x params,tokens,state_size --grid "$grid" --json 2>&1) ||
  fail "fit --where mixer!=softmax failed: $out"
python3 -c 'import json, sys; assert json.loads(sys.argv[1])["n_points"] == 54' "$out" || fail "mixer!=softmax keeps 54 runs: $out"
out=$("$S" fit --sweep wa --sweep wb --where 'params > 0 and log(tokens) > log(3e6)' --form chinchilla --x params,tokens \
      --grid "$grid" --json 2>&1) || fail "fit --where log(tokens) failed: $out"
python3 -c 'import json, sys; assert json.loads(sys.argv[1])["n_points"] == 36' "$out" || fail "tokens > 3e6 keeps 36 runs: $out"
out=$("$S" fit --sweep wa --where 'window < 64' --form chinchilla --x params,tokens --grid "$grid" 2>&1) &&
  fail "a filter on a setting no run has was accepted"
grep -q "36 rows skipped.*--where 'window < 64': column 'window' is empty" <<<"$out" || fail "power runs have no window: $out"
out=$("$S" fit --sweep wa --sweep nosuch --form chinchilla --grid "$grid" 2>&1) && fail "a sweep without runs was accepted"
grep -q "sweep 'nosuch' has no finished runs" <<<"$out" || fail "unclear error for an empty sweep: $out"
# recommend reads the cost model from both sweeps' runs (72 = 36 + 36: a shared run once per sweep)
"$S" fit --sweep wa --sweep wb --form chinchilla --x params,tokens --grid "$grid" >/dev/null 2>&1 || fail "chinchilla over wa+wb"
out=$("$S" recommend --budget 1e17 2>&1)
grep -q "least squares over 72 runs of sweep wa+wb" <<<"$out" || fail "cost model not measured on both sweeps: $out"
[ $fails -eq 0 ] && echo "fit_sweeps: all checks passed"
exit $((fails > 0))
