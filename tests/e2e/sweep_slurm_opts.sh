#!/usr/bin/env bash
# Slurm options on a real single-host Slurm (the same private munged, slurmctld and
# slurmd as sweep_slurm.sh, the node given a feature and memory so that --constraint
# and --mem can be met): a spec's slurm: section plus sweep run flags end up as
# #SBATCH lines and in `scontrol show job`; runs_per_task 2 trains a 4-run sweep in 2
# array tasks, every run done exactly once; trainer threads follow
# SLURM_CPUS_PER_TASK; --dry-run prints the script and writes nothing; bad values
# are refused naming the spec line or the flag. Skips without Slurm, like sweep_slurm.sh.
SLURM_NODE_EXTRA="RealMemory=2000 Feature=scalelabfeat"
source "$(dirname "$0")/lib/slurm_cluster.sh"

export SCALELAB_DB=$PWD/t.db
q() { sqlite3 -cmd ".timeout 10000" "$SCALELAB_DB" "$1"; }
cat > s.yaml <<'Y'
name: opts4
base:
  model: {d_model: 16, n_layer: 1, n_head: 2, mixer: power, p: 2, chunk: 16}
  train: {context: 32, batch_size: 4, tokens: 4096, warmup_steps: 2, eval_every: 16, eval_tokens: 256}
grid:
  train.lr: [1.0e-3, 2.0e-3, 3.0e-3, 4.0e-3]
slurm:
  account: proj42
  mem: 500M
  constraint: scalelabfeat
  runs_per_task: 2
  extra: ["--comment=from-the-spec"]
Y

# --dry-run: the script and the task list, and nothing written (no store, no run folder)
$S sweep run s.yaml --backend slurm --dry-run --cpus-per-task 1 --time 5 > dry.txt 2>&1 || fail "dry run: $(cat dry.txt)"
cat dry.txt
[ ! -e t.db ] && [ ! -e runs ] || fail "--dry-run wrote to the store or the runs folder: $(ls)"
[ -z "$(squeue -h -o %i)" ] || fail "--dry-run submitted a job"
for l in '#SBATCH --account=proj42' '#SBATCH --mem=500M' '#SBATCH --constraint=scalelabfeat' '#SBATCH --array=0-1' \
         '#SBATCH --cpus-per-task=1' '#SBATCH --signal=B:TERM@120' '#SBATCH --comment=from-the-spec' '#SBATCH --time=5'; do
  grep -qx -- "$l" dry.txt || fail "dry run lacks '$l'"
done
[ "$(grep -c '^task [01]: run' dry.txt)" = 4 ] || fail "dry run task list"

# bad values: refused before anything is written, naming the flag or spec line
expect_refused() {  # pattern, args...
  local pat=$1; shift
  local out; out=$("$S" sweep run "$@" --backend slurm 2>&1) && fail "accepted: $*"
  grep -qE -- "$pat" <<<"$out" || fail "$*: '$out', expected /$pat/"
}
expect_refused '--account a;b: .*not allowed' s.yaml --account 'a;b'
expect_refused '--qos x y: .*not allowed' s.yaml --qos 'x y'
expect_refused "--mem lots: 'lots': expected megabytes" s.yaml --mem lots
expect_refused "--cpus-per-task 0: '0': expected a whole number" s.yaml --cpus-per-task 0
expect_refused '--sbatch-opt --wrap=ls: .*sets --wrap itself' s.yaml --sbatch-opt=--wrap=ls
expect_refused "--sbatch-opt exclusive: 'exclusive': expected a long sbatch option" s.yaml --sbatch-opt exclusive
expect_refused "--time 1:ab: '1:ab': expected a Slurm time" s.yaml --time 1:ab
expect_refused 'leaves no time to train' s.yaml --time 2 --signal 120
printf 'name: bad\nbase: {train: {tokens: 4096}}\nslurm:\n  constraint: "a\\n#SBATCH --wrap=rm"\n' > bad1.yaml
expect_refused '^scalelab: sweep: bad1.yaml:4:15: slurm.constraint: character 2 \(byte 0x0a\)' bad1.yaml
printf 'name: bad\nbase: {train: {tokens: 4096}}\nslurm:\n  acount: x\n' > bad2.yaml
expect_refused 'bad2.yaml:4:3: slurm.acount: unknown key' bad2.yaml
printf 'name: bad\nbase: {train: {tokens: 4096}}\nslurm:\n  extra: ["--begin=now;reboot"]\n' > bad3.yaml
expect_refused 'bad3.yaml:4:11: slurm.extra: character 12' bad3.yaml
[ ! -e t.db ] || [ "$(q "SELECT count(*) FROM runs")" = 0 ] || fail "a refused sweep stored runs"
[ -z "$(squeue -h -o %i)" ] || fail "a refused sweep submitted a job"

# the real thing: 4 runs in 2 array tasks, flags on top of the spec
timeout 180 $S sweep run s.yaml --backend slurm --partition debug --time 5 --qos normal --cpus-per-task 2 \
  --sbatch-opt=--comment=from-the-flag --device cpu > run.txt 2>&1 || fail "slurm sweep: $(cat run.txt)"
cat run.txt
grep -q "submitted 4 runs as Slurm job array .* (2 tasks of up to 2 runs)" run.txt || fail "not 2 tasks: $(cat run.txt)"
grep -q "4/4 done" run.txt || fail "not all done"
[ "$(q "SELECT count(*) FROM runs WHERE status = 'done' AND attempt = 1 AND final_eval_loss IS NOT NULL")" = 4 ] ||
  fail "4 runs done once: $(q 'SELECT id, status, attempt FROM runs')"
script=$(ls runs/opts4/slurm-*.sh)
cat "$script"
for l in '#SBATCH --account=proj42' '#SBATCH --qos=normal' '#SBATCH --mem=500M' '#SBATCH --constraint=scalelabfeat' \
         '#SBATCH --cpus-per-task=2' '#SBATCH --signal=B:TERM@120' '#SBATCH --comment=from-the-spec' \
         '#SBATCH --comment=from-the-flag' '#SBATCH --partition=debug' '#SBATCH --array=0-1'; do
  grep -qx -- "$l" "$script" || fail "batch script lacks '$l'"
done
job=$(cut -d_ -f1 < "$(ls -d runs/opts4/*/ | head -1)/slurm_job")
# the controller's record of the job (MinJobAge keeps it 30 s after the end)
scontrol show job "$job" > job.txt 2>&1; cat job.txt
grep -q "Account=proj42" job.txt || fail "scontrol: account"
grep -q "Features=scalelabfeat" job.txt || fail "scontrol: constraint"
grep -qE "MinMemoryNode=500M|mem=500M" job.txt || fail "scontrol: mem"
grep -qE "NumCPUs=2|cpu=2|CPUs/Task=2" job.txt || fail "scontrol: cpus per task"
grep -q "Comment=from-the-flag" job.txt || fail "scontrol: the flag's comment overrides the spec's"
grep -q "ArrayTaskId=1" job.txt && grep -q "ArrayTaskId=0" job.txt || fail "scontrol: array tasks 0 and 1"
# every run in exactly one task, two runs per task, each with its own result
tasks=$(cat runs/opts4/*/slurm_job | sort | uniq -c | awk '{print $1}' | sort -u)
[ "$tasks" = 2 ] || fail "runs per task: $(cat runs/opts4/*/slurm_job)"
[ "$(cat runs/opts4/*/slurm_job | sort -u | wc -l)" = 2 ] || fail "2 tasks"
for d in runs/opts4/*/; do
  [ "$(ls "$d"/result.attempt*.tsv | wc -l)" = 1 ] || fail "one result in $d"
  grep -q "sweep task: run .* (run [12] of 2, one after another), 2 threads (SLURM_CPUS_PER_TASK)" "$d/train.log" ||
    fail "threads from SLURM_CPUS_PER_TASK: $(head -3 "$d/train.log")"
done

# --signal: Slurm's warning before the time limit reaches the trainer through the
# multi-run task (the batch shell), which checkpoints; the task's other run never
# starts; both are requeued and resubmitted, not lost or failed. A 1-minute limit
# with the warning 50 s before it: Slurm sends it within its ~30 s check interval.
sed -e 's/name: opts4/name: optsig/' -e 's/tokens: 4096/tokens: 50000000/' -e 's/\[1.0e-3, 2.0e-3, 3.0e-3, 4.0e-3\]/[1.5e-3, 2.5e-3]/' \
  -e '/account:/d' -e '/mem:/d' -e '/constraint:/d' s.yaml > sig.yaml
$S sweep run sig.yaml --backend slurm --time 1 --signal 50 --device cpu > sig.txt 2>&1 &
coord=$!; pids+=("$coord")
for _ in $(seq 1 100); do grep -q "submitted 2 runs" sig.txt && break; sleep 0.1; done
t0=$SECONDS
for _ in $(seq 1 450); do [ "$(grep -c "submitted 2 runs" sig.txt)" -ge 2 ] && break; sleep 0.2; done
cat sig.txt
# before the limit itself (whose SIGTERM, 60 s or more after the start, would also stop it)
[ $((SECONDS - t0)) -lt 57 ] || fail "the task stopped $((SECONDS - t0)) s after its submission: at its time limit, not at the warning"
[ "$(grep -c "submitted 2 runs as Slurm job array" sig.txt)" -ge 2 ] || fail "no resubmission after the signal: $(cat sig.txt)"
grep -q '#SBATCH --signal=B:TERM@50' runs/optsig/slurm-*.sh || fail "signal line"
first=$(ls runs/optsig/*/result.attempt1.tsv 2>/dev/null | wc -l)
[ "$first" = 2 ] || fail "both runs' first attempts ended with a result: $(ls runs/optsig/*)"
grep -l "status.stopped" runs/optsig/*/result.attempt1.tsv | wc -l | grep -qx 2 || fail "both stopped: $(cat runs/optsig/*/result.attempt1.tsv)"
grep -q "stopped at step .* checkpoint written" runs/optsig/*/train.log || fail "the running trainer did not checkpoint"
grep -q "was stopped before run .* started" runs/optsig/*/train.log || fail "the second run of the task should not start"
# cancel reaches both runs of the resubmitted task: the running one checkpoints, the other never starts
for _ in $(seq 1 100); do [ "$(squeue -h -t R -o %i | wc -l)" -ge 1 ] && break; sleep 0.2; done
$S sweep cancel sig.yaml > sigcancel.txt 2>&1 || fail "cancel: $(cat sigcancel.txt)"
cat sigcancel.txt
grep -q "2 runs cancelled" sigcancel.txt || fail "cancel count"
[ "$(q "SELECT count(*) FROM runs r JOIN sweep_runs s ON s.run = r.id WHERE s.sweep = 'optsig' AND r.status = 'cancelled'")" = 2 ] ||
  fail "both runs cancelled: $(q "SELECT id, status FROM runs")"
for _ in $(seq 1 50); do squeue -h -o %i | grep -q . || break; sleep 0.2; done
[ -z "$(squeue -h -o %i)" ] || fail "tasks left in the queue after the cancel: $(squeue)"
[ "$(q "SELECT count(*) FROM runs r JOIN sweep_runs s ON s.run = r.id WHERE s.sweep = 'optsig' AND r.status = 'failed'")" = 0 ] ||
  fail "a signalled run counted as failed"
echo "all sweep_slurm_opts checks passed"
