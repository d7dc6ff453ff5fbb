#!/usr/bin/env bash
# Sweep specs have versions: a spec run, edited, run again. The old text is kept as
# version 1 and printed back byte for byte; the edit warns on stderr and names the
# stored runs it no longer plans; those leave the sweep's membership with their data
# kept, and a pending one is cancelled, never trained for the new version; running the
# same spec again is silent; going back to the old spec takes its runs back. `sweep
# plan` only compares, and a v4 store's spec becomes version 1 on upgrade.
set -u
S=${SCALELAB:?}
. "${SCALELAB_ROOT:?}/tests/e2e/lib/expect.sh"
command -v sqlite3 >/dev/null || { echo "skip: the sqlite3 program is not installed"; exit 77; }
export SCALELAB_DB=$PWD/t.db OPENBLAS_NUM_THREADS=1
q() { sqlite3 "$SCALELAB_DB" "$1"; }
spec() { # lr values -> s.yaml
  cat > s.yaml <<Y
name: vs
base:
  model: {d_model: 16, n_layer: 1, n_head: 2, mixer: power, p: 2, chunk: 16}
  train: {context: 32, batch_size: 4, tokens: 2048, warmup_steps: 2, eval_every: 100000, eval_tokens: 256}
grid:
  train.lr: [$1]
Y
}

spec "1.0e-3, 3.0e-3, 1.0e-2"
cp s.yaml v1.yaml
$S sweep run s.yaml --jobs 2 --threads-per-job 1 > run1.out 2> run1.err || fail "first run: $(cat run1.out run1.err)"
[ "$(q "SELECT group_concat(status) FROM runs")" = "done,done,done" ] || fail "first run did not finish: $(q 'SELECT * FROM runs')"
grep -q warning run1.err && fail "a new sweep warned: $(cat run1.err)"
# run 3 as a stopped scheduler would have left it: not trained yet
q "UPDATE runs SET status = 'pending', finished = NULL WHERE id = 3"
metrics2=$(q "SELECT count(*) FROM metrics WHERE run = 2")
[ "$metrics2" -gt 0 ] || fail "run 2 logged no metrics"
attempt3=$(q "SELECT attempt FROM runs WHERE id = 3")

# the same spec again: no new version, no warning
$S sweep plan s.yaml > /dev/null 2> plan0.err || fail "plan of the same spec failed"
[ -s plan0.err ] && fail "plan of an unchanged spec said something: $(cat plan0.err)"
[ "$(q "SELECT count(*) FROM sweep_specs")" = 1 ] || fail "an unchanged spec made a version"

# edited: lr 3e-3 and 1e-2 are gone, 3e-2 is new; plan compares and writes nothing
spec "1.0e-3, 3.0e-2"
before=$(q "SELECT * FROM sweep_specs; SELECT * FROM sweep_runs; SELECT id, status FROM runs")
expect 0 "warning: sweep vs: spec changed since version 1 \(20[0-9-]+ [0-9:]+ UTC\); .sweep run. will keep version 1 and store this as version 2" \
  $S sweep plan s.yaml
expect 0 "version 2 would no longer plan 2 stored runs of the sweep: run 2 \(done\), run 3 \(pending\)" $S sweep plan s.yaml
[ "$before" = "$(q "SELECT * FROM sweep_specs; SELECT * FROM sweep_runs; SELECT id, status FROM runs")" ] ||
  fail "sweep plan wrote to the store"

$S sweep run s.yaml > run2.out 2> run2.err || fail "second run: $(cat run2.out run2.err)"
grep -qE "^scalelab: sweep run: warning: sweep vs: spec changed since version 1 \(20[0-9-]+ [0-9:]+ UTC\); keeping version 1, this is version 2" run2.err ||
  fail "no version warning: $(cat run2.err)"
grep -q "version 2 no longer plans 2 stored runs of the sweep: run 2 (done), run 3 (cancelled)" run2.err ||
  fail "the warning does not name the runs left out: $(cat run2.err)"
# the store: both texts, byte for byte; the current one in sweeps.spec
[ "$(q "SELECT group_concat(version) FROM sweep_specs WHERE sweep = 'vs'")" = "1,2" ] || fail "versions: $(q 'SELECT sweep, version FROM sweep_specs')"
$S sweep versions vs --show 1 > got1.yaml && cmp -s got1.yaml v1.yaml || fail "version 1 is not the first spec: $(cat got1.yaml)"
$S sweep versions vs --show 2 > got2.yaml && cmp -s got2.yaml s.yaml || fail "version 2 is not the edited spec"
[ "$(q "SELECT spec FROM sweeps WHERE name = 'vs'")" = "$(cat s.yaml)" ] || fail "sweeps.spec is not the current version"
# membership: runs 1 and 4; 2 and 3 left out by version 2, with their data
[ "$(q "SELECT group_concat(run) FROM (SELECT run FROM sweep_runs WHERE sweep = 'vs' ORDER BY run)")" = "1,4" ] ||
  fail "members: $(q 'SELECT * FROM sweep_runs')"
[ "$(q "SELECT group_concat(run || ':' || version) FROM (SELECT * FROM sweep_runs_dropped ORDER BY run)")" = "2:2,3:2" ] ||
  fail "left out: $(q 'SELECT * FROM sweep_runs_dropped')"
[ "$(q "SELECT status || ' ' || (final_eval_loss IS NOT NULL) FROM runs WHERE id = 2")" = "done 1" ] || fail "run 2 lost its result"
[ "$(q "SELECT count(*) FROM metrics WHERE run = 2")" = "$metrics2" ] || fail "run 2 lost metrics"
# the pending run left out was not trained by version 2: cancelled, same attempt, no metrics added
[ "$(q "SELECT status || '|' || attempt || '|' || error FROM runs WHERE id = 3")" = "cancelled|$attempt3|not planned by sweep vs since spec version 2" ] ||
  fail "run 3: $(q 'SELECT status, attempt, error FROM runs WHERE id = 3')"
[ "$(q "SELECT status FROM runs WHERE id = 4")" = done ] || fail "the new run 4 was not trained"
grep -q "2 runs planned" run2.out || fail "run 2 output: $(cat run2.out)"

# status: the sweep's own runs only, the version, and the left-out ones on request
st=$($S sweep status vs --json)
python3 - "$st" <<'PY' || fail "status --json: $st"
import json, sys
d = json.loads(sys.argv[1])
assert d["spec_version"] == 2 and d["stale"] == 2 and d["total"] == 2 and d["counts"]["done"] == 2, d
PY
expect 0 "^spec version 2; 2 runs of older versions left out of the sweep" $S sweep status vs
expect 0 "run 3  cancelled  left out by version 2" $S sweep status vs --stale
expect 0 "version 1  20[0-9-]+ [0-9:]+ UTC  6 lines$" $S sweep versions vs
expect 0 "version 2  .*  \(current\)$" $S sweep versions vs
expect 1 "sweep vs has no version 3 \(versions 1 to 2\)" $S sweep versions vs --show 3

# status of a spec file: a note when the file is not the stored current version
$S sweep status v1.yaml > /dev/null 2> note.err || fail "status v1.yaml"
grep -q "^scalelab: sweep status: note: v1.yaml differs from sweep vs's current stored spec" note.err ||
  fail "no note for an edited file: $(cat note.err)"
$S sweep status s.yaml > /dev/null 2> note2.err && [ ! -s note2.err ] || fail "a note for the stored spec: $(cat note2.err)"

# the same edited spec again: silent, no third version
$S sweep run s.yaml > run3.out 2> run3.err || fail "third run failed"
grep -q warning run3.err && fail "an unchanged spec warned: $(cat run3.err)"
[ "$(q "SELECT count(*) FROM sweep_specs")" = 2 ] || fail "an unchanged spec made a version"

# back to the first spec: version 3, runs 2 and 3 come back (3 is trained now), 4 leaves
cp v1.yaml s.yaml
$S sweep run s.yaml > run4.out 2> run4.err || fail "fourth run: $(cat run4.out run4.err)"
grep -q "this is version 3" run4.err || fail "no version 3: $(cat run4.err)"
grep -q "no longer plans 1 stored run of the sweep: run 4 (done)" run4.err || fail "run 4 not named: $(cat run4.err)"
[ "$(q "SELECT group_concat(run) FROM (SELECT run FROM sweep_runs WHERE sweep = 'vs' ORDER BY run)")" = "1,2,3" ] ||
  fail "members after going back: $(q 'SELECT * FROM sweep_runs')"
[ "$(q "SELECT group_concat(run || ':' || version) FROM sweep_runs_dropped")" = "4:3" ] ||
  fail "left out after going back: $(q 'SELECT * FROM sweep_runs_dropped')"
[ "$(q "SELECT status FROM runs WHERE id = 3")" = done ] || fail "run 3 was not resumed when planned again"
[ "$(q "PRAGMA integrity_check")" = ok ] || fail "integrity check"

# a broken edit: an error naming file:line:column and key, and the store untouched (no version)
before=$(q "SELECT * FROM sweep_specs; SELECT * FROM sweep_runs; SELECT * FROM sweep_runs_dropped; SELECT id, status FROM runs")
sed 's/train.lr: \[.*\]/train.lr: [1.0e-3, "${nope}"]/' v1.yaml > s.yaml
expect 1 "^scalelab: sweep: s.yaml:[0-9]+:[0-9]+: .*nope" $S sweep run s.yaml
[ "$before" = "$(q "SELECT * FROM sweep_specs; SELECT * FROM sweep_runs; SELECT * FROM sweep_runs_dropped; SELECT id, status FROM runs")" ] ||
  fail "a broken spec changed the store"

# a v4 store: its spec becomes version 1, dated when the sweep was created
$S init --db old.db > /dev/null
sqlite3 old.db "DROP TABLE sweep_specs; DROP TABLE sweep_runs_dropped; PRAGMA user_version = 4;
  INSERT INTO sweeps (name, spec, created) VALUES ('old', 'name: old', 1700000000);"
$S init --db old.db > /dev/null || fail "upgrade from v4"
[ "$(sqlite3 old.db "SELECT sweep || '|' || version || '|' || spec || '|' || created FROM sweep_specs; PRAGMA user_version")" = \
  "$(printf 'old|1|name: old|1700000000.0\n5')" ] || fail "v4 -> v5: $(sqlite3 old.db 'SELECT * FROM sweep_specs')"

expect_done sweep_versions
