#!/usr/bin/env bash
# Kill -9 in the middle of a run (--sink files), start the same command again:
# it resumes from the checkpoint and its metrics equal an uninterrupted run's
# (every column but wall time and tokens/s). SIGTERM writes result.tsv 'stopped'.
set -u
fail() { echo "FAIL: $*"; exit 1; }
S=$SCALELAB
cat > c.yaml <<'YAML'
model: {d_model: 16, n_layer: 2, n_head: 2, mixer: softmax}
train: {context: 32, batch_size: 4, tokens: 38400, lr: 3.0e-3, warmup_steps: 10, eval_every: 20, eval_tokens: 256}
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
[ "$(wc -l < full/metrics.tsv)" = 301 ] || fail "expected 300 metric lines"

$S "${args[@]}" killed > /dev/null 2>&1 &
pid=$!
# Wait for a checkpoint past step 40 (third evaluation), then kill without warning.
for _ in $(seq 1 600); do
  [ -f killed/checkpoint.bin ] && [ "$(wc -l < killed/metrics.tsv 2>/dev/null || echo 0)" -gt 70 ] && break
  sleep 0.05
done
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
[ -f killed/result.tsv ] && { echo "SKIP: the run finished before it could be killed (machine too fast)"; exit 77; }
run killed > /dev/null 2>&1 || fail "resumed run"
grep -q "resumed from" killed/train.log || fail "no resume in train.log"
cmp <(cut -f1,2,4,5,6,8 full/metrics.tsv) <(cut -f1,2,4,5,6,8 killed/metrics.tsv) || fail "metrics differ after resume"
cmp full/position_loss.tsv killed/position_loss.tsv || fail "position losses differ after resume"
diff <(grep -v error full/result.tsv) <(grep -v error killed/result.tsv) || fail "results differ"

$S "${args[@]}" stopped > /dev/null 2>&1 &
pid=$!
for _ in $(seq 1 600); do [ -f stopped/checkpoint.bin ] && break; sleep 0.05; done
kill -TERM $pid
wait $pid || fail "SIGTERM exit status"
grep -q "^status	stopped$" stopped/result.tsv || fail "result.tsv not stopped"
echo ok
