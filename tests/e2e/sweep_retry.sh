#!/usr/bin/env bash
# Issue 13 item 4: `failed` is final, and `sweep run --retry-failed` is the way back:
# it requeues the sweep's failed runs with their attempts reset and their checkpoints
# kept (they resume). And `sweep run --gpus 0` where no GPU can be used stops before
# any run is claimed.
set -u
fail() { echo "FAIL: $*"; exit 1; }
S=$SCALELAB
export SCALELAB_DB=$PWD/t.db
q() { sqlite3 -cmd ".timeout 10000" "$SCALELAB_DB" "$1"; }  # a trainer may hold the write lock a moment
cat > r.yaml <<'Y'
name: retry
base:
  model: {d_model: 16, n_layer: 1, n_head: 2, mixer: power, p: 2, chunk: 16}
  train: {context: 32, batch_size: 4, tokens: 131072, warmup_steps: 4, eval_every: 64, eval_tokens: 256}
grid:
  train.lr: [1.0e-3]
retries: 0
Y
$S sweep run r.yaml > run1.txt 2>&1 &
sched=$!
ok=0
for _ in $(seq 1 1200); do   # a checkpoint written, then kill the trainer: with retries 0 the run fails
  ls runs/retry/*/checkpoint.bin >/dev/null 2>&1 && [ -s "$(ls -d runs/retry/*/ | head -1)/pid" ] && { ok=1; break; }
  sleep 0.05
done
[ $ok = 1 ] || fail "no checkpoint: $(cat run1.txt)"
kill -9 "$(cat runs/retry/*/pid)"
wait $sched; rc=$?
[ $rc = 1 ] || fail "sweep run with a failed run exited $rc: $(cat run1.txt)"
[ "$(q "SELECT status FROM runs")" = failed ] || fail "run: $(q 'SELECT id, status, attempt FROM runs')"
grep -q -- "--retry-failed" run1.txt || fail "the end of sweep run does not say how to retry: $(cat run1.txt)"
# run again without the flag: failed stays failed
$S sweep run r.yaml > run2.txt 2>&1 && fail "a failed run made sweep run succeed"
[ "$(q "SELECT status FROM runs")" = failed ] || fail "failed run retried without --retry-failed"
$S sweep run --help | grep -q -- "--retry-failed" || fail "--help does not mention --retry-failed"
# --retry-failed: requeued with attempts reset, resumes from the checkpoint, done
$S sweep run r.yaml --retry-failed > run3.txt 2>&1 || fail "retry: $(cat run3.txt)"
grep -q "1 failed run requeued" run3.txt || fail "retry output: $(cat run3.txt)"
[ "$(q "SELECT status || ' ' || attempt FROM runs")" = "done 1" ] || fail "after retry: $(q 'SELECT id, status, attempt FROM runs')"
d=$(ls -d runs/retry/*/ | head -1)
grep -q "resumed from .*checkpoint.bin" "$d/train.log" || fail "the retry did not resume from the checkpoint"
[ -e "$d/failures" ] && fail "the failure count was not reset"
[ "$(q "SELECT count(*) FROM (SELECT run, step FROM metrics GROUP BY run, step HAVING count(*) > 1)")" = 0 ] ||
  fail "duplicate metric rows"
# every line of a trainer appears once in train.log (item 13: each used to be written twice)
[ "$(grep -c '^training ' "$d/train.log")" = 2 ] || fail "2 attempts should write 2 'training' lines: $(grep -c '^training ' "$d/train.log")"
dups=$(grep '^step ' "$d/train.log" | sort | uniq -d | wc -l)
[ "$dups" = 0 ] || fail "$dups duplicated step lines in train.log"

# --gpus without a usable GPU: refused before anything is claimed
if command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then
  echo "a GPU is present: the --gpus refusal is not checked here"
else
  cat > g.yaml <<'Y'
name: gpu-less
base:
  model: {d_model: 16, n_layer: 1, n_head: 2, mixer: power, p: 2, chunk: 16}
  train: {context: 32, batch_size: 4, tokens: 4096, warmup_steps: 4, eval_every: 16, eval_tokens: 256}
grid:
  train.lr: [1.0e-3, 2.0e-3]
Y
  $S sweep run g.yaml --gpus 0 > g.txt 2>&1; rc=$?
  [ $rc = 1 ] || fail "--gpus 0 without a GPU exited $rc: $(cat g.txt)"
  grep -q "scalelab: sweep run: --gpus: .*nothing was claimed" g.txt || fail "message: $(cat g.txt)"
  [ "$(q "SELECT count(*) FROM runs WHERE status <> 'pending' AND id IN (SELECT run FROM sweep_runs WHERE sweep = 'gpu-less')")" = 0 ] ||
    fail "runs were claimed: $(q 'SELECT id, status FROM runs')"
  [ -e runs/gpu-less ] && fail "run folders were made"
fi
echo "all sweep_retry checks passed"
