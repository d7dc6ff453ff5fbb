#!/usr/bin/env bash
# The Slurm backend for real: munged, slurmctld and slurmd for this one host (no
# systemd: proctrack/linuxproc, task/none, select/cons_tres, accounting off, every
# state and spool folder in this test's temporary folder), a 4-run sweep as one job
# array to completion (run files ingested, idempotently); `sweep status` showing
# squeue's task states beside the store's counts, then a cancel; a task whose trainer
# is killed outright (no result file) retried once, then failed. The daemons are
# stopped by PID on exit. slurm-wlm and munge come from `make deps` (scripts/deps.sh,
# optional packages); without them the test skips and says so. About 20 s, also in
# the sanitizer pass.
source "$(dirname "$0")/lib/slurm_cluster.sh"

export SCALELAB_DB=$PWD/t.db
q() { sqlite3 -cmd ".timeout 10000" "$SCALELAB_DB" "$1"; }  # a trainer may hold the write lock a moment
cat > s.yaml <<'Y'
name: slurm4
base:
  model: {d_model: 16, n_layer: 1, n_head: 2, mixer: power, p: 2, chunk: 16}
  train: {context: 32, batch_size: 4, tokens: 4096, warmup_steps: 2, eval_every: 16, eval_tokens: 256}
grid:
  train.lr: [1.0e-3, 2.0e-3, 3.0e-3, 4.0e-3]
Y
timeout 120 $S sweep run s.yaml --backend slurm --partition debug --time 5 --max-parallel 2 --device cpu > run.txt 2>&1 ||
  fail "slurm sweep: $(cat run.txt)"
cat run.txt
grep -q "submitted 4 runs as Slurm job array" run.txt || fail "no job array"
grep -q 'sweep task .* "$SLURM_ARRAY_TASK_ID" cpu$' runs/slurm4/slurm-*.sh || fail "--device not passed to the tasks"
grep -q "4/4 done" run.txt || fail "not all done"
[ "$(q "SELECT count(*) FROM runs WHERE status = 'done' AND final_eval_loss IS NOT NULL")" = 4 ] || fail "4 done with losses"
m1=$(q "SELECT count(*) FROM metrics"); p1=$(q "SELECT count(*) FROM position_loss")
[ "$m1" -ge 4 ] && [ "$p1" -ge 4 ] || fail "metrics ($m1) and position losses ($p1) ingested"
for d in runs/slurm4/*/; do
  [ -s "$d/slurm_job" ] && [ -s "$d/metrics.tsv" ] && ls "$d"/result.attempt*.tsv >/dev/null || fail "run files in $d"
done
# ingest is idempotent: status ingests again and nothing changes
$S sweep status slurm4 > status.txt || fail "status"
grep -q "4 done" status.txt || fail "status: $(cat status.txt)"
[ "$(q "SELECT count(*) FROM metrics")" = "$m1" ] || fail "metrics changed on a second ingest"

# cancel: long runs; once a task runs, cancel stops it (checkpoint) and the rest never start
sed -e 's/name: slurm4/name: slurmcancel/' -e 's/tokens: 4096/tokens: 2000000/' -e 's/1.0e-3, /1.5e-3, /' s.yaml > c.yaml
$S sweep run c.yaml --backend slurm --max-parallel 1 > run2.txt 2>&1 &
coord=$!; pids+=("$coord")
for _ in $(seq 1 100); do squeue -h -t R -o %i 2>/dev/null | grep -q . && break; sleep 0.2; done
squeue -h -t R -o %i | grep -q . || fail "no task started running: $(squeue 2>&1)"
# status shows Slurm's own view beside the store's counts: one task running, three
# held back by the array throttle, with their job ids
for _ in $(seq 1 50); do [ "$(squeue -h -r -t PD -o %i | wc -l)" = 3 ] && break; sleep 0.2; done
$S sweep status c.yaml > cstatus.txt || fail "status during the Slurm sweep"
cat cstatus.txt
grep -q "4 running" cstatus.txt || fail "store counts: $(cat cstatus.txt)"
grep -q "^slurm (squeue): 4 array tasks: .*1 RUNNING" cstatus.txt && grep -q "3 PENDING" cstatus.txt ||
  fail "squeue counts: $(cat cstatus.txt)"
for t in $(squeue -h -r -o %i); do
  state=$(squeue -h -r -j "$t" -o %T)
  grep -q "slurm task $t $state" cstatus.txt || fail "status lacks task $t ($state): $(cat cstatus.txt)"
done
grep -q "PENDING (JobArrayTaskLimit)" cstatus.txt || fail "the pending reason: $(cat cstatus.txt)"
$S sweep status c.yaml --json | python3 -c '
import json, sys
s = json.load(sys.stdin)
assert s["slurm"] == {"RUNNING": 1, "PENDING": 3}, s["slurm"]
assert sorted(r["slurm_state"] for r in s["running"]) == ["PENDING"] * 3 + ["RUNNING"], s["running"]
assert all("_" in r["slurm_job"] for r in s["running"]), s["running"]' || fail "status --json"
$S sweep cancel c.yaml > cancel.txt 2>&1 || fail "cancel: $(cat cancel.txt)"
cat cancel.txt
grep -q "4 runs cancelled" cancel.txt || fail "cancel count"
for _ in $(seq 1 50); do squeue -h -o %i | grep -q . || break; sleep 0.2; done
[ -z "$(squeue -h -o %i)" ] || fail "tasks left in the queue: $(squeue)"
for _ in $(seq 1 50); do kill -0 $coord 2>/dev/null || break; sleep 0.2; done
kill -0 $coord 2>/dev/null && fail "the coordinator did not finish after the cancel"
n_c=$(q "SELECT count(*) FROM runs r JOIN sweep_runs s ON s.run = r.id WHERE s.sweep = 'slurmcancel' AND r.status = 'cancelled'")
[ "$n_c" = 4 ] || fail "4 cancelled, got $n_c: $(q 'SELECT id, status FROM runs')"

# A task that vanishes without a result (killed outright, as when its node dies) is a
# failed attempt: retried once (retries: 1) as a new array, then failed; the other run
# of the sweep ends done and the coordinator exits 1.
cat > lost.yaml <<'Y'
name: slurmlost
base:
  model: {d_model: 16, n_layer: 1, n_head: 2, mixer: power, p: 2, chunk: 16}
  train: {context: 32, batch_size: 4, warmup_steps: 2, eval_every: 16, eval_tokens: 256, lr: 5.0e-3}
grid:
  train.tokens: [2000000, 4096]
retries: 1
Y
$S sweep run lost.yaml --backend slurm > run3.txt 2>&1 &
coord=$!; pids+=("$coord")
long_dir=
for _ in $(seq 1 100); do
  long_dir=$(grep -l 2000000 runs/slurmlost/*/config.json 2>/dev/null | head -1); [ -n "$long_dir" ] && break; sleep 0.1
done
long_dir=$(dirname "$long_dir")
kill_task() {  # waits until the long run's task other than $1 runs, SIGKILLs it (no result file); sets $task
  task=
  for _ in $(seq 1 100); do
    task=$(cat "$long_dir/slurm_job" 2>/dev/null)
    [ -n "$task" ] && [ "$task" != "${1:-}" ] && [ "$(squeue -h -r -j "$task" -o %T 2>/dev/null)" = RUNNING ] && break
    sleep 0.2
  done
  [ "$(squeue -h -r -j "$task" -o %T)" = RUNNING ] || fail "the long run's task never ran: $(squeue 2>&1)"
  sleep 0.5
  # scancel --signal=KILL would be a cancel (SIGTERM first, and the trainer checkpoints):
  # kill the trainer itself, as a dying node would. The task is RUNNING before its trainer has
  # written the run's pid file (or while it still names the killed one): wait until it names a
  # live trainer of this run (10 s; under ASan on 2 busy cores 0.5 s was once not enough).
  local pid= want; want="train .* --run-id $(basename "$long_dir" | cut -d- -f1) "
  for _ in $(seq 1 100); do
    pid=$(cat "$long_dir/pid" 2>/dev/null)
    [ -n "$pid" ] && tr '\0' ' ' < /proc/"$pid"/cmdline 2>/dev/null | grep -q -- "$want" && break
    sleep 0.1
  done
  tr '\0' ' ' < /proc/"$pid"/cmdline 2>/dev/null | grep -q -- "$want" ||
    fail "pid '$pid' (the run's pid file) is not the task's trainer after 10 s: $(tr '\0' ' ' < /proc/"$pid"/cmdline)"
  kill -9 "$pid"
}
kill_task; first=$task
kill_task "$first"; second=$task
echo "killed tasks $first and $second"
for _ in $(seq 1 100); do kill -0 $coord 2>/dev/null || break; sleep 0.2; done
kill -0 $coord 2>/dev/null && fail "the coordinator did not finish: $(cat run3.txt)"
wait $coord; rc=$?
cat run3.txt
[ $rc = 1 ] || fail "a failed run should make sweep run exit 1, got $rc"
grep -q "failed: Slurm task $first ended without a result; retrying" run3.txt || fail "first loss not retried"
grep -q "failed: Slurm task $second ended without a result; giving up" run3.txt || fail "second loss not final"
[ "$(grep -c "submitted 1 runs as Slurm job array" run3.txt)" = 1 ] || fail "the retry was not resubmitted"
grep -q "1/2 done, 1 failed" run3.txt || fail "summary"
id=$(basename "$long_dir" | cut -d- -f1)
[ "$(q "SELECT status || ' ' || attempt FROM runs WHERE id = $id")" = "failed 2" ] || fail "lost run: $(q "SELECT status, attempt FROM runs WHERE id = $id")"
q "SELECT error FROM runs WHERE id = $id" | grep -q "ended without a result after 2 attempts" || fail "error text"
[ "$(cat "$long_dir/failures")" = 2 ] || fail "failures counted: $(cat "$long_dir/failures")"
echo "all sweep_slurm checks passed"
