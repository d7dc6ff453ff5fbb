# Sourced by tests/e2e/sweep_slurm*.sh: a private single-host Slurm in $PWD/slurm (T):
# munged, slurmctld and slurmd for this one host (no systemd: proctrack/linuxproc,
# task/none, select/cons_tres, accounting off, every state and spool folder under T),
# SLURM_CONF exported, the node idle before it returns. Defines fail and skip (exit at
# once), S (the scalelab binary) and pids (PIDs the EXIT trap kills before the daemons
# stop). SLURM_NODE_EXTRA (optional) is appended to the NodeName line, e.g.
# "RealMemory=2000 Feature=f". Skips (exit 77) without slurm-wlm and munge or root.
set -u
fail() { echo "FAIL: $*"; tail -n 20 "$T"/slurmctld.log "$T"/slurmd.log 2>/dev/null; exit 1; }
skip() { echo "SKIP: $*"; exit 77; }
S=$SCALELAB
missing=()
for c in slurmctld slurmd munged sbatch squeue scancel; do command -v $c >/dev/null || missing+=("$c"); done
[ ${#missing[@]} -eq 0 ] ||
  skip "Slurm is not installed (no ${missing[*]}): run 'make deps', which installs slurm-wlm and munge as optional packages"
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
NodeName=$host CPUs=$(nproc) ${SLURM_NODE_EXTRA:-} State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
C
slurmctld -c -f "$SLURM_CONF" || fail "slurmctld did not start"
slurmd -f "$SLURM_CONF" || fail "slurmd did not start"
for _ in $(seq 1 60); do sinfo -h -o %T 2>/dev/null | grep -q idle && break; sleep 0.5; done
sinfo -h -o %T | grep -q idle || fail "the node never became idle: $(sinfo 2>&1)"
