#!/usr/bin/env bash
# Issue 13 item 1: a scheduler killed between spawning a trainer and writing its PID
# file. The trainer lives on (holding DIR/train.lock); the next `sweep run` must find
# and adopt it, not requeue the run and start trainers that fail on the lock (each a
# "failed attempt", until the run ended failed and the live trainer's result was
# refused). And a trainer that finds the folder locked exits 75, which is not a failure.
set -u
fail() { echo "FAIL: $*"; exit 1; }
S=$SCALELAB
export SCALELAB_DB=$PWD/t.db
q() { sqlite3 -cmd ".timeout 10000" "$SCALELAB_DB" "$1"; }  # a trainer may hold the write lock a moment
cat > lost.yaml <<'Y'
name: lost
base:
  model: {d_model: 16, n_layer: 1, n_head: 2, mixer: power, p: 2, chunk: 16}
  train: {context: 32, batch_size: 4, tokens: 262144, warmup_steps: 4, eval_every: 128, eval_tokens: 256}
grid:
  train.lr: [1.0e-3, 2.0e-3]
retries: 1
Y
$S sweep run lost.yaml --jobs 2 > run1.txt 2>&1 &
sched=$!
ok=0
for _ in $(seq 1 600); do   # both trainers running and past their start-up (first metrics logged)
  if [ "$(q "SELECT count(*) FROM runs WHERE status = 'running'" 2>/dev/null)" = 2 ] &&
     [ "$(q "SELECT count(DISTINCT run) FROM metrics" 2>/dev/null)" = 2 ]; then ok=1; break; fi
  sleep 0.05
done
[ $ok = 1 ] || fail "two trainers never ran: $(cat run1.txt)"
kill -9 $sched; wait $sched 2>/dev/null
# what the folders look like when the scheduler died before sweep_pid_write
pids=""
for d in runs/lost/*/; do pids="$pids $(cat "$d/pid")"; rm -f "$d/pid"; done
for p in $pids; do kill -0 "$p" || fail "trainer $p is not running"; done

$S sweep run lost.yaml --jobs 2 > run2.txt 2>&1; rc=$?
cat run2.txt
[ $rc = 0 ] || fail "the second sweep run exited $rc"
[ "$(grep -c 'adopted its live trainer' run2.txt)" = 2 ] || fail "both live trainers should be adopted"
grep -q "failed\b.*retrying\|giving up" run2.txt && fail "a live trainer's run counted a failure"
[ "$(q "SELECT count(*) FROM runs WHERE status = 'done' AND attempt = 1")" = 2 ] ||
  fail "2 runs done in one attempt: $(q 'SELECT id, status, attempt, error FROM runs')"
for d in runs/lost/*/; do
  [ -e "$d/failures" ] && fail "$d counted failures: $(cat "$d/failures")"
  [ "$(grep -c '^done:' "$d/train.log")" = 1 ] || fail "$d ended done $(grep -c '^done:' "$d/train.log") times"
done
[ "$(q "SELECT count(*) FROM (SELECT run, step FROM metrics GROUP BY run, step HAVING count(*) > 1)")" = 0 ] ||
  fail "duplicate metric rows"

# A folder locked by another process: exit 75 ("not a failure"), nothing recorded.
command -v flock >/dev/null || { echo "all sweep_lost_pid checks passed (flock(1) missing: lock exit not checked)"; exit 0; }
cat > one.yaml <<'Y'
model: {d_model: 16, n_layer: 1, n_head: 2, mixer: power, p: 2, chunk: 16}
train: {context: 32, batch_size: 4, tokens: 4096, warmup_steps: 4, eval_every: 16, eval_tokens: 256}
Y
mkdir -p held
flock held/train.lock sleep 30 &
holder=$!
for _ in $(seq 1 100); do flock -n held/train.lock true 2>/dev/null || break; sleep 0.05; done
$S train one.yaml --db u.db --run-dir held --quiet > held.txt 2>&1; rc=$?
kill $holder 2>/dev/null; wait $holder 2>/dev/null
[ $rc = 75 ] || fail "a locked folder: exit $rc, expected 75: $(cat held.txt)"
grep -q "another scalelab train is running in this folder" held.txt || fail "lock message: $(cat held.txt)"
echo "all sweep_lost_pid checks passed"
