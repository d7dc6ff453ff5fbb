#!/usr/bin/env bash
# scalelab train against the store: a standalone run ends done with metrics and
# position losses; a second call is a no-op; a NaN loss marks the run diverged;
# --device cuda on a CPU build is refused before the store is touched; SIGTERM
# checkpoints, puts the run back to pending and exits 0, and the next call resumes.
set -u
fail() { echo "FAIL: $*"; exit 1; }
S=$SCALELAB
cat > tiny.yaml <<'YAML'
model: {d_model: 16, n_layer: 1, n_head: 2, mixer: power, p: 2, chunk: 8}
train: {context: 32, batch_size: 2, tokens: 2560, lr: 3.0e-3, warmup_steps: 5, eval_every: 10, eval_tokens: 256}
data: {source: "synthetic:recall"}
YAML
export SCALELAB_DB=$PWD/t.db

$S train tiny.yaml --threads 1 --log-every 5 > out1.txt 2>&1 || { cat out1.txt; fail "first train"; }
grep -q "^step 40/40" out1.txt || fail "no progress line for the last step"
$S runs --format csv > runs.csv || fail "runs"
grep -q ",done," runs.csv || { cat runs.csv; fail "run not done"; }
hash=$(cut -d, -f4 runs.csv | sed -n 2p)
for f in config.json train.log checkpoint.bin; do [ -f "runs/$hash/$f" ] || fail "runs/$hash/$f missing"; done
if command -v sqlite3 >/dev/null; then
  [ "$(sqlite3 t.db 'select count(*) from metrics')" = 40 ] || fail "expected 40 metric rows"
  [ "$(sqlite3 t.db 'select count(*) from metrics where eval_loss is not null')" = 4 ] || fail "expected 4 evals"
  [ "$(sqlite3 t.db 'select count(distinct position) from position_loss')" = 6 ] || fail "expected 6 position buckets (1..32)"
fi

$S train tiny.yaml --threads 1 > out2.txt 2>&1 || fail "second call should exit 0"
grep -q "already done" out2.txt || fail "second call did not say the run is done"

$S train tiny.yaml --set train.seed=7 --threads 1 --fault-nan-step 3 > out3.txt 2>&1 && fail "diverged run exited 0"
grep -q "diverged" out3.txt || fail "no divergence message"
$S runs --status diverged --format csv | grep -q "loss not finite at step 3" || fail "run not diverged in the store"

before=$($S runs --format csv | wc -l)
# (A CUDA build on a GPU machine trains instead: nothing to refuse there.)
if ! $S train tiny.yaml --set train.seed=8 --device cuda > out4.txt 2>&1; then
  grep -qE "without CUDA|no CUDA device" out4.txt || { cat out4.txt; fail "unclear cuda error"; }
  [ "$($S runs --format csv | wc -l)" = "$before" ] || fail "--device cuda touched the store"
fi

# SIGTERM: a longer run, stopped once its first checkpoint exists.
$S train tiny.yaml --set train.seed=9 --set train.tokens=400000 --threads 1 --run-dir long > out5.txt 2>&1 &
pid=$!
for _ in $(seq 1 300); do [ -f long/checkpoint.bin ] && break; sleep 0.1; done
[ -f long/checkpoint.bin ] || { kill -9 $pid; fail "no checkpoint appeared"; }
kill -TERM $pid
wait $pid || { cat out5.txt; fail "SIGTERM exit status $?"; }
grep -q "stopped at step" out5.txt || fail "no stop message"
$S runs --status pending --format csv | grep -q pending || fail "stopped run not back to pending"
# The same config again resumes from its checkpoint (then we stop it for time's sake).
$S train tiny.yaml --set train.seed=9 --set train.tokens=400000 --threads 1 --run-dir long > out6.txt 2>&1 &
pid=$!
for _ in $(seq 1 300); do grep -q "resumed from" out6.txt && break; sleep 0.1; done
kill -TERM $pid; wait $pid
grep -q "resumed from" out6.txt || { cat out6.txt; fail "no resume"; }

# kill -9 leaves the run 'running' in the store; the same command again takes it
# over (nobody holds the folder's lock), resumes from the checkpoint and finishes.
# 4,000 steps, the first checkpoint at step 200: the kill lands mid-run on any
# machine, and a run that finished first fails the test (the resume must run).
k9=(train tiny.yaml --set train.seed=10 --set train.tokens=256000 --set train.eval_every=200 --threads 1 --run-dir k9)
$S "${k9[@]}" > out9.txt 2>&1 &
pid=$!
for _ in $(seq 1 6000); do [ -f k9/checkpoint.bin ] && break; sleep 0.01; done
[ -f k9/checkpoint.bin ] || { kill -9 $pid; fail "no checkpoint within 60 s"; }
# A second trainer in the same folder is refused while the first one lives.
$S "${k9[@]}" > out10.txt 2>&1 && fail "two trainers in one folder"
grep -q "another scalelab train" out10.txt || { cat out10.txt; fail "unclear lock error"; }
kill -9 $pid; wait $pid 2>/dev/null
grep -q "^done" out9.txt && fail "the run finished before kill -9: raise train.tokens so the resume path runs"
$S runs --status running --format csv | grep -q running || fail "killed run not running in the store"
$S "${k9[@]}" > out11.txt 2>&1 || { cat out11.txt; fail "rerun after kill -9"; }
grep -q "resumed from .* at step [1-9]" out11.txt || { cat out11.txt; fail "rerun did not resume from a checkpoint"; }
grep -q "^done" out11.txt || { cat out11.txt; fail "rerun did not finish"; }
[ "$($S runs --status done --format csv | grep -c done)" = 2 ] || fail "killed run not done after the rerun"

# --run-id: a run that does not exist, and a config that is not the run's.
$S train tiny.yaml --run-id 999 --threads 1 > out7.txt 2>&1 && fail "--run-id 999 accepted"
grep -q "999" out7.txt || { cat out7.txt; fail "unclear --run-id error"; }
$S train tiny.yaml --set train.seed=123 --run-id 1 --threads 1 > out8.txt 2>&1 && fail "config/run mismatch accepted"
grep -q "config" out8.txt || { cat out8.txt; fail "unclear mismatch error"; }
echo "ok"
