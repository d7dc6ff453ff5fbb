#!/usr/bin/env bash
# `sweep status` while a sweep runs, `sweep cancel` (running trainers checkpoint
# and stop, the scheduler exits, pending runs are cancelled), and `sweep run`
# again resuming the cancelled runs to completion.
set -u
fail() { echo "FAIL: $*"; exit 1; }
S=$SCALELAB
export SCALELAB_DB=$PWD/t.db
q() { sqlite3 -cmd ".timeout 10000" "$SCALELAB_DB" "$1"; }  # a trainer may hold the write lock a moment
cat > c.yaml <<'Y'
name: cancelme
base:
  model: {d_model: 16, n_layer: 1, n_head: 2, mixer: power, p: 2, chunk: 16}
  train: {context: 32, batch_size: 4, tokens: 262144, warmup_steps: 4, eval_every: 128, eval_tokens: 256}
grid:
  train.lr: [1.0e-3, 2.0e-3, 3.0e-3, 4.0e-3, 5.0e-3]
Y
# OpenBLAS then starts a helper thread in the scheduler, with every signal unblocked:
# the SIGTERM of the cancel must still reach the scheduler's own handling
OPENBLAS_NUM_THREADS=2 $S sweep run c.yaml --jobs 2 > run1.txt 2>&1 &
sched=$!
for _ in $(seq 1 200); do
  [ "$(q "SELECT count(*) FROM runs WHERE status = 'running'" 2>/dev/null)" = 2 ] && \
    [ "$(ls runs/cancelme/*/pid 2>/dev/null | wc -l)" -ge 2 ] && break
  sleep 0.05
done
sleep 0.3
$S sweep status c.yaml > status.txt || fail "status"
grep -q "2 running" status.txt && grep -c "^  running: run" status.txt | grep -q 2 || fail "status: $(cat status.txt)"
$S sweep cancel cancelme > cancel.txt 2>&1 || fail "cancel: $(cat cancel.txt)"
cat cancel.txt
# A fast machine may finish a run before the cancel lands: every run not done is cancelled.
n_cancelled=$(q "SELECT count(*) FROM runs WHERE status = 'cancelled'")
[ "$(q "SELECT count(*) FROM runs WHERE status IN ('cancelled', 'done')")" = 5 ] || fail "not all runs ended: $(q 'SELECT id, status FROM runs')"
grep -q "^sweep cancelme: $n_cancelled runs cancelled" cancel.txt || fail "cancel output: $(cat cancel.txt), $n_cancelled cancelled in the store"
for _ in $(seq 1 100); do kill -0 $sched 2>/dev/null || break; sleep 0.1; done
kill -0 $sched 2>/dev/null && fail "the scheduler did not stop"
wait $sched; rc=$?
# the scheduler itself took the SIGTERM (not a helper thread's default action killing it)
[ $rc = 0 ] || fail "the scheduler ended with status $rc: $(cat run1.txt)"
grep -q "stopping: asking the trainers to checkpoint" run1.txt && grep -q "(stopped; run it again to resume)$" run1.txt ||
  fail "the scheduler did not stop cleanly: $(cat run1.txt)"
[ "$(q "SELECT count(*) FROM runs WHERE status IN ('running', 'pending')")" = 0 ] || fail "runs left: $(q 'SELECT id, status FROM runs')"
[ "$(q "SELECT count(*) FROM runs WHERE status = 'cancelled'")" -ge 3 ] || fail "cancelled: $(q 'SELECT id, status FROM runs')"
ls runs/cancelme/*/checkpoint.bin >/dev/null 2>&1 || fail "no checkpoint written by the stopped trainers"

$S sweep run c.yaml --jobs 2 > run2.txt 2>&1 || fail "resume: $(cat run2.txt)"
[ "$(q "SELECT count(*) FROM runs WHERE status = 'done'")" = 5 ] || fail "5 done after resume"
for d in runs/cancelme/*/; do
  [ "$(grep -c '^done:' "$d/train.log")" = 1 ] || fail "$d ended done more than once"
done
[ "$(q "SELECT count(*) FROM metrics GROUP BY run" | sort -u | wc -l)" = 1 ] || fail "metrics differ between runs"
echo "all sweep_cancel checks passed"
