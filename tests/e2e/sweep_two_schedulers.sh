#!/usr/bin/env bash
# Issue 13 item 2: one scheduler per (store, sweep), enforced in the store whatever
# the runs folder. Two `sweep run`s of one sweep started together from two folders:
# exactly one runs it, the other is refused at once, and every run trains once.
# Then a second scheduler started while the first runs is refused too.
set -u
fail() { echo "FAIL: $*"; exit 1; }
S=$SCALELAB
export SCALELAB_DB=$PWD/t.db
q() { sqlite3 -cmd ".timeout 10000" "$SCALELAB_DB" "$1"; }  # a trainer may hold the write lock a moment
cat > two.yaml <<'Y'
name: two
base:
  model: {d_model: 16, n_layer: 1, n_head: 2, mixer: power, p: 2, chunk: 16}
  train: {context: 32, batch_size: 4, tokens: 65536, warmup_steps: 4, eval_every: 64, eval_tokens: 256}
grid:
  train.lr: [1.0e-3, 2.0e-3, 3.0e-3]
Y
$S init > /dev/null || fail "init"
for trial in 1 2 3; do
  rm -rf a b; sqlite3 "$SCALELAB_DB" "DELETE FROM metrics; DELETE FROM position_loss; DELETE FROM sweep_runs; DELETE FROM runs; DELETE FROM sweeps;" || fail "reset"
  $S sweep run two.yaml --jobs 2 --runs-dir a > a.txt 2>&1 &
  pa=$!
  $S sweep run two.yaml --jobs 2 --runs-dir b > b.txt 2>&1 &
  pb=$!
  wait $pa; ra=$?
  wait $pb; rb=$?
  refused=$(grep -l "already being run by pid" a.txt b.txt | wc -l)
  # On a very loaded machine the second may start only after the first finished:
  # then it is not refused but finds nothing to do, which is no overlap either.
  idle=$(grep -L " started (pid " a.txt b.txt | wc -l)
  if [ "$refused" = 0 ] && [ "$idle" = 1 ] && [ $ra = 0 ] && [ $rb = 0 ]; then
    echo "trial $trial: the two did not overlap"
  else
    [ "$refused" = 1 ] || fail "trial $trial: $refused schedulers refused (exit $ra, $rb): $(cat a.txt b.txt)"
    [ $((ra + rb)) = 1 ] || fail "trial $trial: exits $ra and $rb, expected one 0 and one 1"
  fi
  [ "$(q "SELECT count(*) FROM runs WHERE status = 'done' AND attempt = 1")" = 3 ] ||
    fail "trial $trial: runs: $(q 'SELECT id, status, attempt, error FROM runs')"
  [ "$(cat a/two/*/train.log b/two/*/train.log 2>/dev/null | grep -c '^done:')" = 3 ] || fail "trial $trial: not 3 trainings"
done
# while one runs, a second from another folder is refused and changes nothing
sqlite3 "$SCALELAB_DB" "DELETE FROM metrics; DELETE FROM position_loss; UPDATE runs SET status = 'pending', attempt = 0, run_dir = NULL" ||
  fail "requeue"
rm -rf a b
$S sweep run two.yaml --jobs 1 --runs-dir c > c.txt 2>&1 &
pc=$!
for _ in $(seq 1 400); do [ "$(q "SELECT count(*) FROM schedulers WHERE sweep = 'two'")" = 1 ] && break; sleep 0.05; done
$S sweep run two.yaml --jobs 1 --runs-dir d > d.txt 2>&1 && fail "a second scheduler ran: $(cat d.txt)"
grep -q "sweep two is already being run by pid $pc" d.txt || fail "refusal: $(cat d.txt)"
wait $pc || fail "first scheduler: $(cat c.txt)"
[ -e d/two ] && [ -n "$(ls d/two)" ] && fail "the refused scheduler made run folders"
[ "$(q "SELECT count(*) FROM schedulers")" = 0 ] || fail "the claim was not released"
# a claim left by a dead scheduler on this host is taken over
sqlite3 "$SCALELAB_DB" "INSERT INTO schedulers VALUES ('two', '$(hostname)', 999999999, 0, 0, 'x')" || fail "insert"
$S sweep run two.yaml --jobs 1 --runs-dir c > e.txt 2>&1 || fail "stale claim not taken over: $(cat e.txt)"
echo "all sweep_two_schedulers checks passed"
