#!/usr/bin/env bash
# `scalelab sweep` on this host: a 6-run CPU sweep end to end (store rows, metrics,
# run folders, no shell), rerun = nothing trained again, dedupe across sweeps,
# status, malformed specs that leave the store file byte-for-byte unchanged, and
# a failing run retried, then failed with the tail of its log.
set -u
fail() { echo "FAIL: $*"; exit 1; }
S=$SCALELAB
export SCALELAB_DB=$PWD/t.db
q() { sqlite3 -cmd ".timeout 10000" "$SCALELAB_DB" "$1"; }  # a trainer may hold the write lock a moment

$S sweep --help | grep -q "usage: scalelab sweep plan" || fail "--help"
$S sweep >/dev/null 2>&1; [ $? -eq 2 ] || fail "no subcommand should be a usage error"
cp "$SCALELAB_ROOT/configs/sweep-tiny.yaml" tiny.yaml

$S sweep plan tiny.yaml > plan.txt || fail "plan: $(cat plan.txt)"
grep -q "^sweep tiny-grid: 6 runs" plan.txt || fail "plan header: $(head -1 plan.txt)"
grep -q "^total compute:" plan.txt || fail "plan total"
$S sweep plan tiny.yaml --json | python3 -c '
import json, sys
p = json.load(sys.stdin)
assert len(p["runs"]) == 6, len(p["runs"])
for r in p["runs"]:
    assert r["training_flops"] == 3 * (r["weight_flops_per_token"] + r["state_flops_per_token"]) * r["tokens"]
    assert r["config"]["model"]["mlp_hidden"] == 4 * r["config"]["model"]["d_model"]
assert abs(p["total_flops"] - sum(r["training_flops"] for r in p["runs"])) < 1
' || fail "plan --json"
[ ! -e t.db ] || fail "plan must not create the store"
# an isoflop plan lists the shapes it dropped (numbers by hand in test_sweep_plan.c)
cat > iso.yaml <<'Y'
name: iso
base: {model: {mixer: softmax, d_model: 16, n_layer: 1, n_head: 2}, train: {context: 32, batch_size: 4, eval_tokens: 64}}
grid:
  model.d_model: [16, 32]
isoflop:
  budgets: [1e9, 1e10]
  min_tokens: 10000
  max_tokens: 100000
Y
$S sweep plan iso.yaml > iso.txt || fail "isoflop plan: $(cat iso.txt)"
cat iso.txt
grep -q "^sweep iso: 2 runs" iso.txt || fail "isoflop runs"
grep -q "^dropped isoflop shapes (tokens outside \[10000, 1e+05\]):" iso.txt || fail "dropped header"
grep -q "^  budget 1e+10: model.d_model=16 would train 216576 tokens" iso.txt || fail "dropped 16 @ 1e10"
grep -q "^  budget 1e+09: model.d_model=32 would train 7680 tokens" iso.txt || fail "dropped 32 @ 1e9"
$S sweep plan iso.yaml --json | python3 -c '
import json, sys
d = json.load(sys.stdin)["dropped"]
assert [(x["budget"], x["tokens"], x["overrides"]) for x in d] == \
    [(1e10, 216576, {"model.d_model": "16"}), (1e9, 7680, {"model.d_model": "32"})], d' || fail "dropped in --json"

t0=$SECONDS
$S sweep run tiny.yaml --jobs 2 > run1.txt 2>&1 || fail "run: $(cat run1.txt)"
echo "6-run sweep took $((SECONDS - t0)) s"
grep -q "6/6 done, 0 failed" run1.txt || fail "summary: $(tail -3 run1.txt)"
# where the run folders are, up front and in the closing summary with FLOPs and wall time
here=$(pwd -P)
head -1 run1.txt | grep -q "run folders in $here/runs/tiny-grid$" || fail "folders line: $(head -1 run1.txt)"
total=$($S sweep plan tiny.yaml --json | python3 -c 'import json, sys; print("%.4g" % json.load(sys.stdin)["total_flops"])')
tail -1 run1.txt | grep -q "^sweep tiny-grid: 6/6 done, 0 failed, 0 diverged, 0 cancelled, 0 pending; $total of $total training FLOPs done; wall 0:00:[0-9][0-9]; run folders in $here/runs/tiny-grid$" ||
  fail "summary line: $(tail -1 run1.txt) (plan total $total)"
[ "$(q "SELECT count(*) FROM runs WHERE status = 'done'")" = 6 ] || fail "6 runs done"
[ "$(q "SELECT count(*) FROM runs WHERE attempt = 1")" = 6 ] || fail "each trained once"
[ "$(q "SELECT count(DISTINCT run) FROM metrics")" = 6 ] || fail "metrics for every run"
[ "$(q "SELECT count(*) FROM runs WHERE final_eval_loss IS NULL")" = 0 ] || fail "final losses"
for d in runs/tiny-grid/*/; do
  [ -s "$d/train.log" ] && [ -s "$d/config.json" ] && [ -s "$d/pid" ] || fail "run folder $d"
  [ "$(grep -c '^done:' "$d/train.log")" = 1 ] || fail "$d trained more than once"
done
$S sweep status tiny-grid > status.txt || fail "status"
grep -q "6 done" status.txt && grep -q "best loss so far: [0-9]" status.txt || fail "status: $(cat status.txt)"
$S sweep status tiny.yaml --json | python3 -c '
import json, sys
s = json.load(sys.stdin)
assert s["counts"]["done"] == 6 and s["total"] == 6 and s["best_loss"] > 0, s' || fail "status --json"

# Running again resumes: nothing left, nothing trained twice.
$S sweep run tiny.yaml > run2.txt 2>&1 || fail "rerun: $(cat run2.txt)"
grep -q "0 new in the store (6 already there)" run2.txt || fail "rerun inserted: $(cat run2.txt)"
! grep -q "started" run2.txt || fail "rerun started a run"
# Another sweep that shares 2 configs trains only its new one.
sed -e 's/^name: tiny-grid/name: tiny-other/' -e 's/train.lr: \[1.0e-3, 3.0e-3, 1.0e-2\]/train.lr: [1.0e-3, 2.0e-3]/' \
    -e 's/model.d_model: \[16, 32\]/model.d_model: [16]/' tiny.yaml > other.yaml
$S sweep run other.yaml > run3.txt 2>&1 || fail "other sweep: $(cat run3.txt)"
grep -q "2 runs planned, 1 new" run3.txt || fail "dedupe across sweeps: $(head -1 run3.txt)"
[ "$(grep -c started run3.txt)" = 1 ] || fail "only the new config trains"
[ "$(q "SELECT count(*) FROM runs")" = 7 ] || fail "7 distinct runs"

# Malformed specs: clear errors with places, nonzero exit, store file unchanged.
cp t.db before.db
cp t.db-wal before.db-wal 2>/dev/null
bad() {  # name, spec text, expected error fragment
  printf '%s' "$2" > "bad-$1.yaml"
  $S sweep run "bad-$1.yaml" >out.txt 2>err.txt && fail "$1: accepted"
  grep -q -- "$3" err.txt || fail "$1: error '$(cat err.txt)' lacks '$3'"
  cmp -s t.db before.db || fail "$1: store file changed"
}
bad syntax $'name: b\ngrid: {model.d_model: [16, 32}\n' "bad-syntax.yaml:2:.*YAML syntax error"
bad unknown $'name: b\ngrid:\n  model.d_model: [16]\nseed: 3\n' "bad-unknown.yaml:4:1: seed: unknown key"
bad type $'name: b\ngrid:\n  model.d_model: 16\n' "bad-type.yaml:3:18: model.d_model: expected a list"
bad empty $'name: b\ngrid:\n  model.d_model: []\n' "bad-empty.yaml:3:18: model.d_model: empty list"
bad divzero $'name: b\ngrid: {model.n_head: [0, 2]}\nderived:\n  model.head_dim: "16 // (${model.n_head} - 2)"\n' "bad-divzero.yaml:4:19: model.head_dim: division by zero"
bad budget $'name: b\nbase: {train: {context: 64, batch_size: 4}}\nisoflop:\n  budgets: [1e20]\n  max_tokens: 1e6\n' "bad-budget.yaml:4:13: isoflop.budgets: no shape can meet budget"
bad configkey $'name: b\ngrid:\n  model.d_modle: [16]\n' "bad-configkey.yaml:3:19: model.d_modle:.*did you mean model.d_model"
bad combo $'name: b\ngrid:\n  model.d_model: [16, 30]\n  model.n_head: [4]\n' "bad-combo.yaml:3:23: model.d_model: run 2 (model.d_model=30 model.n_head=4): model.d_model (30) must be divisible"
ten='[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]'
bad huge "name: b"$'\n'"grid:"$'\n'"$(for k in train.seed train.lr train.warmup_steps train.batch_size train.context model.d_model model.n_layer model.n_head; do echo "  $k: $ten"; done)"$'\n' "bad-huge.yaml:3:16: train.seed: the spec expands to 100000000 runs"
bad dist $'name: b\nrandom:\n  n: 2\n  params:\n    train.lr: {log_uniform: [0, 1]}\n' "bad-dist.yaml:5:29: train.lr: log_uniform: bounds must be positive"
bad cref $'name: b\ngrid: {model.d_model: [16]}\nconstraints:\n  - model.d_model > model.widht\n' "bad-cref.yaml:4:5: constraints\[0\]: .*model.widht"
bad basefile $'name: b\nbase: nowhere.yaml\n' "bad-basefile.yaml:2:7: base: "
[ "$(q "SELECT count(*) FROM sweeps WHERE name = 'b'")" = 0 ] || fail "a bad spec wrote a sweep"

# A run that fails is retried (retries: 1), then failed with the end of its log;
# the sweep carries on and exits 1. (The trainer's fault injection fails the run of
# seed 7 at its first step; a missing data file is now refused at plan time.)
cat > failing.yaml <<'Y'
name: failing
base:
  model: {d_model: 16, n_layer: 1, n_head: 2, mixer: power, p: 2, chunk: 16}
  train: {context: 32, batch_size: 4, tokens: 2048, eval_every: 16, eval_tokens: 256}
  data: {source: "synthetic:recall"}
grid:
  train.seed: [7, 0]
Y
SCALELAB_FAULT_SEED=7 $S sweep run failing.yaml > run4.txt 2>&1; rc=$?
[ $rc -eq 1 ] || fail "a failed run should make sweep run exit 1 (got $rc): $(cat run4.txt)"
grep -q "failed: .*retrying" run4.txt || fail "no retry: $(cat run4.txt)"
grep -q "1/2 done, 1 failed" run4.txt || fail "summary: $(tail -2 run4.txt)"
err=$(q "SELECT error FROM runs r JOIN sweep_runs s ON s.run = r.id WHERE s.sweep = 'failing' AND r.status = 'failed'")
echo "$err" | grep -q "after 2 attempts" || fail "error text: $err"
echo "$err" | grep -q "injected fault" || fail "error text lacks the log tail: $err"
echo "all sweep_local checks passed"
