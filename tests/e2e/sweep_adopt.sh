#!/usr/bin/env bash
# More orphans than slots: a scheduler with --jobs 3 is killed -9 while 3 trainers
# run; `sweep run --jobs 1` adopts all three (none is killed or restarted), starts
# nothing new until fewer than one job runs, and finishes every run exactly once.
set -u
fail() { echo "FAIL: $*"; exit 1; }
S=$SCALELAB
export SCALELAB_DB=$PWD/t.db
q() { sqlite3 -cmd ".timeout 10000" "$SCALELAB_DB" "$1"; }  # a trainer may hold the write lock a moment
cat > a.yaml <<'Y'
name: adopt
base:
  model: {d_model: 16, n_layer: 1, n_head: 2, mixer: power, p: 2, chunk: 16}
  train: {context: 32, batch_size: 4, tokens: 65536, warmup_steps: 4, eval_every: 128, eval_tokens: 256}
grid:
  train.lr: [1.0e-3, 2.0e-3, 3.0e-3, 4.0e-3, 5.0e-3]
Y
$S sweep run a.yaml --jobs 3 > run1.txt 2>&1 &
sched=$!
for _ in $(seq 1 200); do
  [ "$(q "SELECT count(*) FROM runs WHERE status = 'running'" 2>/dev/null)" = 3 ] && \
    [ "$(ls runs/adopt/*/pid 2>/dev/null | wc -l)" -ge 3 ] && break
  sleep 0.05
done
kill -9 $sched; wait $sched 2>/dev/null
orphans=$(for f in runs/adopt/*/pid; do p=$(cat "$f"); kill -0 "$p" 2>/dev/null && echo "$p"; done | sort)
[ "$(echo "$orphans" | grep -c .)" = 3 ] || fail "expected 3 live orphans, got: $orphans"

$S sweep run a.yaml --jobs 1 > run2.txt 2>&1 || fail "rerun: $(cat run2.txt)"
cat run2.txt
adopted=$(sed -n 's/.*adopted its live trainer (pid \([0-9]*\)).*/\1/p' run2.txt | sort)
[ "$adopted" = "$orphans" ] || fail "adopted [$adopted], orphans were [$orphans]"
grep -q "requeued" run2.txt && fail "a live trainer's run was requeued"
# replay: a new trainer starts only while nothing else runs (--jobs 1)
python3 - run2.txt <<'P' || fail "slots"
import re, sys
on, started = set(), 0
for line in open(sys.argv[1]):
    m = re.search(r"run (\d+): adopted its live trainer", line)
    if m: on.add(m[1]); continue
    m = re.search(r"\] run (\d+) started", line)
    if m:
        assert not on, f"run {m[1]} started while {sorted(on)} ran: {line}"
        on.add(m[1]); started += 1; continue
    m = re.search(r"\] run (\d+) (done|failed|diverged|stopped|cancelled)", line)
    if m: on.discard(m[1])
assert started == 2, f"{started} runs started, expected the 2 never begun"
P
[ "$(q "SELECT count(*) FROM runs WHERE status = 'done' AND attempt = 1")" = 5 ] || fail "5 done, each in one attempt: $(q 'SELECT id, status, attempt FROM runs')"
for d in runs/adopt/*/; do
  [ "$(grep -c '^done:' "$d/train.log")" = 1 ] || fail "$d ended done $(grep -c '^done:' "$d/train.log") times"
done
grep -q "5/5 done, 0 failed" run2.txt || fail "summary"
echo "all sweep_adopt checks passed"
