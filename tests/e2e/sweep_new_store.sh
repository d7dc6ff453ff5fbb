#!/usr/bin/env bash
# Issue 13 item 12: a new store never adopts an old store's run folders. A sweep
# trained with one store; the store is deleted (or --db points elsewhere) but runs/
# is kept; the sweep is run again: every run trains from scratch (its metrics and
# position losses are in the new store), the old folders are moved aside and the new
# train.log says so. The same for a lone `scalelab train`, whose folder is runs/HASH.
set -u
fail() { echo "FAIL: $*"; exit 1; }
S=$SCALELAB
cat > n.yaml <<'Y'
name: fresh
base:
  model: {d_model: 16, n_layer: 1, n_head: 2, mixer: power, p: 2, chunk: 16}
  train: {context: 32, batch_size: 4, tokens: 8192, warmup_steps: 4, eval_every: 32, eval_tokens: 256}
grid:
  train.lr: [1.0e-3, 2.0e-3]
Y
$S sweep run n.yaml --db a.db > run1.txt 2>&1 || fail "first sweep: $(cat run1.txt)"
for d in runs/fresh/*/; do [ -f "$d/owner" ] || fail "$d does not record its store and run"; done
rm -f a.db a.db-wal a.db-shm
$S sweep run n.yaml --db a.db > run2.txt 2>&1 || fail "second sweep: $(cat run2.txt)"
cat run2.txt
q() { sqlite3 -cmd ".timeout 10000" a.db "$1"; }
[ "$(q "SELECT count(*) FROM runs WHERE status = 'done'")" = 2 ] || fail "runs: $(q 'SELECT id, status FROM runs')"
for id in 1 2; do
  [ "$(q "SELECT count(*) FROM metrics WHERE run = $id")" -ge 64 ] || fail "run $id: no metrics in the new store (adopted an old checkpoint)"
  [ "$(q "SELECT count(*) FROM position_loss WHERE run = $id")" -gt 0 ] || fail "run $id: no position losses"
done
for d in runs/fresh/*-*; do
  case "$d" in *.stale-*) continue ;; esac
  grep -q "resumed from" "$d/train.log" && fail "$d resumed another store's checkpoint"
  grep -q "moved it aside to .*/$(basename "$d").stale-" "$d/train.log" || fail "$d/train.log does not say the old folder was moved aside"
  [ -f "$d.stale-"*/checkpoint.bin ] || fail "the old work of $d is not kept aside"
done
grep -q "moved aside" run2.txt || fail "sweep run does not say it moved folders aside"

# a lone train: another --db, the same config, the same default folder runs/HASH
cat > one.yaml <<'Y'
model: {d_model: 16, n_layer: 1, n_head: 2, mixer: power, p: 2, chunk: 16}
train: {context: 32, batch_size: 4, tokens: 4096, warmup_steps: 4, eval_every: 16, eval_tokens: 256}
Y
$S train one.yaml --db x.db --quiet > t1.txt 2>&1 || fail "train x: $(cat t1.txt)"
$S train one.yaml --db y.db > t2.txt 2>&1 || fail "train y: $(cat t2.txt)"
grep -q "resumed from" t2.txt && fail "train in a new store resumed the old store's checkpoint"
grep -q "moved it aside" t2.txt || fail "train does not say it moved the folder aside: $(cat t2.txt)"
[ "$(sqlite3 y.db "SELECT count(*) FROM metrics")" -ge 32 ] || fail "the new store's run has no metrics"
# the same store again: its own folder, resumed/kept as its own (nothing moved)
$S train one.yaml --db y.db > t3.txt 2>&1 || fail "train y again: $(cat t3.txt)"
grep -q "already done" t3.txt || fail "$(cat t3.txt)"
[ "$(ls -d runs/*.stale-* | wc -l)" = 1 ] || fail "folders moved: $(ls -d runs/*)"
echo "all sweep_new_store checks passed"
