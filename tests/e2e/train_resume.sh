#!/usr/bin/env bash
# Kill -9 in the middle of a run (--sink files), start the same command again:
# it resumes from the checkpoint and its metrics equal an uninterrupted run's
# (every column but wall time and tokens/s). SIGTERM writes result.tsv 'stopped'.
# Never skips: the run is long (1,500 steps, over a second of CPU even on a fast
# machine) and is killed as soon as its first checkpoint past step 40 exists (10 ms
# polling), so the kill lands mid-run; a run that still finished first is a failure
# that says to raise train.tokens, not a silent skip.
set -u
fail() { echo "FAIL: $*"; exit 1; }
S=$SCALELAB
cat > c.yaml <<'YAML'
model: {d_model: 16, n_layer: 2, n_head: 2, mixer: softmax}
train: {context: 32, batch_size: 4, tokens: 192000, lr: 3.0e-3, warmup_steps: 10, eval_every: 20, eval_tokens: 256}
data: {source: "synthetic:recall"}
YAML
args=(train c.yaml --sink files --threads 1 --log-every 5 --quiet --run-dir)
run() { $S "${args[@]}" "$@"; }

run full > /dev/null 2>&1 || fail "uninterrupted run"
grep -q "^status	done$" full/result.tsv || { cat full/result.tsv; fail "result.tsv status"; }
for k in final_train_loss final_eval_loss best_context_loss steps error; do
  grep -q "^$k	" full/result.tsv || fail "result.tsv lacks $k"
done
head -1 full/metrics.tsv | grep -q "^step	tokens	wall_seconds	loss	lr	grad_norm	tokens_per_second	eval_loss$" \
  || fail "metrics.tsv header"
head -1 full/position_loss.tsv | grep -q "^step	position	loss$" || fail "position_loss.tsv header"
[ "$(wc -l < full/metrics.tsv)" = 1501 ] || fail "expected 1500 metric lines"

$S "${args[@]}" killed > /dev/null 2>&1 &
pid=$!
# Wait for a checkpoint past step 40 (third evaluation), then kill without warning.
for _ in $(seq 1 6000); do
  [ -f killed/checkpoint.bin ] && [ "$(wc -l < killed/metrics.tsv 2>/dev/null || echo 0)" -gt 45 ] && break
  sleep 0.01
done
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
[ -f killed/checkpoint.bin ] || fail "no checkpoint within 60 s"
[ -f killed/result.tsv ] && fail "the run finished before it was killed: raise train.tokens so the kill lands mid-run"
at_kill=$(($(wc -l < killed/metrics.tsv) - 1))
[ "$at_kill" -lt 1500 ] || fail "all 1500 steps logged before the kill"
run killed > /dev/null 2>&1 || fail "resumed run"
grep -q "resumed from" killed/train.log || fail "no resume in train.log"
resumed_at=$(grep -o "resumed from .* at step [0-9]*" killed/train.log | grep -o "[0-9]*$" | tail -1)
[ -n "$resumed_at" ] && [ "$resumed_at" -ge 40 ] && [ "$resumed_at" -lt 1500 ] ||
  fail "resumed at step '${resumed_at}', expected a mid-run checkpoint (killed after step $at_kill)"
cmp <(cut -f1,2,4,5,6,8 full/metrics.tsv) <(cut -f1,2,4,5,6,8 killed/metrics.tsv) || fail "metrics differ after resume"
cmp full/position_loss.tsv killed/position_loss.tsv || fail "position losses differ after resume"
diff <(grep -v error full/result.tsv) <(grep -v error killed/result.tsv) || fail "results differ"

$S "${args[@]}" stopped > /dev/null 2>&1 &
pid=$!
for _ in $(seq 1 6000); do [ -f stopped/checkpoint.bin ] && break; sleep 0.01; done
kill -TERM $pid
wait $pid || fail "SIGTERM exit status"
grep -q "^status	stopped$" stopped/result.tsv || fail "result.tsv not stopped"
echo "ok (killed after step $at_kill, resumed at step $resumed_at)"
