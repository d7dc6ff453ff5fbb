#!/usr/bin/env bash
# The Slurm backend for real: munged, slurmctld and slurmd for this one host (no
# systemd: proctrack/linuxproc, task/none, select/cons_tres, accounting off, every
# state and spool folder in this test's temporary folder), a 4-run sweep as one job
# array to completion (run files ingested, idempotently), then a cancel. The
# daemons are stopped by PID on exit. Installs slurm-wlm and munge from Debian
# when they are missing (root only).
set -u
fail() { echo "FAIL: $*"; tail -n 20 "$T"/slurmctld.log "$T"/slurmd.log 2>/dev/null; exit 1; }
skip() { echo "SKIP: $*"; exit 77; }
[ -n "${SCALELAB_SANITIZED:-}" ] && skip "the Slurm test starts daemons and takes a minute; not repeated under sanitizers"
S=$SCALELAB
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null; then
  [ "$(id -u)" = 0 ] || skip "slurm-wlm and munge are not installed and we are not root to install them"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q --no-install-recommends slurm-wlm munge >apt.log 2>&1 ||
    { apt-get update -q >>apt.log 2>&1 && apt-get install -y -q --no-install-recommends slurm-wlm munge >>apt.log 2>&1; } ||
    skip "cannot install slurm-wlm and munge (no network?): $(tail -1 apt.log)"
fi
[ "$(id -u)" = 0 ] || skip "slurmd must run as root here (SlurmUser=root)"
T=$PWD/slurm
mkdir -p "$T/state" "$T/spool" "$T/munge"
chmod 700 "$T/munge"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  # leave no job step behind on this private cluster before its daemons go
  if [ -s "$T/slurmctld.pid" ]; then
    scancel --full --quiet --partition debug 2>/dev/null
    for _ in $(seq 1 40); do [ -z "$(squeue -h -o %i 2>/dev/null)" ] && break; sleep 0.25; done
  fi
  for f in "$T/slurmd.pid" "$T/slurmctld.pid" "$T/munge/munged.pid"; do [ -s "$f" ] && kill "$(cat "$f")" 2>/dev/null; done
  sleep 0.5
  for f in "$T/slurmd.pid" "$T/slurmctld.pid" "$T/munge/munged.pid"; do [ -s "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null; done
  return 0
}
trap cleanup EXIT

dd if=/dev/urandom of="$T/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$T/munge/munge.key"
munged --force --key-file="$T/munge/munge.key" --socket="$T/munge/munge.sock" --pid-file="$T/munge/munged.pid" \
       --log-file="$T/munge/munged.log" --seed-file="$T/munge/munged.seed" || fail "munged did not start"
host=$(hostname -s)
port=$((20000 + $$ % 20000))
export SLURM_CONF=$T/slurm.conf
cat > "$SLURM_CONF" <<C
ClusterName=scalelab-test
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$port
SlurmdPort=$((port + 1))
AuthType=auth/munge
AuthInfo=socket=$T/munge/munge.sock
CredType=cred/munge
StateSaveLocation=$T/state
SlurmdSpoolDir=$T/spool
SlurmctldPidFile=$T/slurmctld.pid
SlurmdPidFile=$T/slurmd.pid
SlurmctldLogFile=$T/slurmctld.log
SlurmdLogFile=$T/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
KillWait=5
MinJobAge=30
NodeName=$host CPUs=$(nproc) State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
C
slurmctld -c -f "$SLURM_CONF" || fail "slurmctld did not start"
slurmd -f "$SLURM_CONF" || fail "slurmd did not start"
for _ in $(seq 1 60); do sinfo -h -o %T 2>/dev/null | grep -q idle && break; sleep 0.5; done
sinfo -h -o %T | grep -q idle || fail "the node never became idle: $(sinfo 2>&1)"

export SCALELAB_DB=$PWD/t.db
q() { sqlite3 "$SCALELAB_DB" "$1"; }
cat > s.yaml <<'Y'
name: slurm4
base:
  model: {d_model: 16, n_layer: 1, n_head: 2, mixer: power, p: 2, chunk: 16}
  train: {context: 32, batch_size: 4, tokens: 4096, warmup_steps: 2, eval_every: 16, eval_tokens: 256}
grid:
  train.lr: [1.0e-3, 2.0e-3, 3.0e-3, 4.0e-3]
Y
timeout 120 $S sweep run s.yaml --backend slurm --partition debug --time 5 --max-parallel 2 > run.txt 2>&1 ||
  fail "slurm sweep: $(cat run.txt)"
cat run.txt
grep -q "submitted 4 runs as Slurm job array" run.txt || fail "no job array"
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
sleep 1
$S sweep cancel c.yaml > cancel.txt 2>&1 || fail "cancel: $(cat cancel.txt)"
cat cancel.txt
grep -q "4 runs cancelled" cancel.txt || fail "cancel count"
for _ in $(seq 1 50); do squeue -h -o %i | grep -q . || break; sleep 0.2; done
[ -z "$(squeue -h -o %i)" ] || fail "tasks left in the queue: $(squeue)"
for _ in $(seq 1 50); do kill -0 $coord 2>/dev/null || break; sleep 0.2; done
kill -0 $coord 2>/dev/null && fail "the coordinator did not finish after the cancel"
n_c=$(q "SELECT count(*) FROM runs r JOIN sweep_runs s ON s.run = r.id WHERE s.sweep = 'slurmcancel' AND r.status = 'cancelled'")
[ "$n_c" = 4 ] || fail "4 cancelled, got $n_c: $(q 'SELECT id, status FROM runs')"
echo "all sweep_slurm checks passed"
