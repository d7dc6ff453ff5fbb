#!/usr/bin/env bash
# One bounded piece of the weight/state study on a GPU machine. GPU time comes
# in slices of a few minutes, so the study runs as pieces: each one brings the
# store (and the checkpoints of unfinished runs) in, runs the arms in order for
# at most SECONDS, stops the scheduler gracefully (SIGTERM: running trainers
# checkpoint, their runs go back to pending), and packs the store and those
# checkpoints for the next piece. A piece that ends mid-run loses nothing.
#   bash docs/results/wsfr-study/run_piece.sh STAGE CARRY OUT SECONDS PER_GPU ARM...
# STAGE: a folder made by tests/gpu/stage.sh (bins.tar.xz); CARRY: a folder
# with linux-kmfl.bin.xz (make_shard.sh) and, after the first piece, state.tar
# (what the last piece left in OUT); ARM: width, mixers, state, seeds.
# PARALLEL=1 runs the arms' schedulers side by side (one scheduler per sweep and
# store; they share the GPU, PER_GPU trainers each) instead of one after another.
# Run from the repository root (the specs read file:data/linux-kmfl.bin).
set -u
stage=${1:?STAGE} carry=${2:?CARRY} out=${3:?OUT} budget=${4:?SECONDS} per_gpu=${5:?PER_GPU}
shift 5
t0=$(date +%s)
work=/tmp/wsfr            # fixed path: the store records run folders by absolute path
db=$work/wsfr.db runs=$work/runs
mkdir -p "$out" "$work" data
log() { echo "[$(( $(date +%s) - t0 )) s] $*" | tee -a "$out/piece.log"; }

tar xJf "$stage/bins.tar.xz" -C "$stage" scalelab || exit 1
S=$stage/scalelab
export LD_LIBRARY_PATH=$stage/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
want=d8cef6e718b5cd426b37c9189508fff6d4f0677050df1055cfb467183558f018
[ -f data/linux-kmfl.bin ] || xz -dc -T0 "$carry/linux-kmfl.bin.xz" > data/linux-kmfl.bin
have=$(sha256sum data/linux-kmfl.bin | cut -d' ' -f1)
[ "$have" = "$want" ] || { log "shard sha256 $have, expected $want"; exit 1; }
[ -f "$carry/state.tar" ] && tar xf "$carry/state.tar" -C "$work"
log "start: $(nvidia-smi --query-gpu=name,clocks.sm --format=csv,noheader), shard ok, store $( [ -f $db ] && echo carried || echo new)"

run_arm() {   # arm, seconds
  local arm=$1 left=$2 a0; a0=$(date +%s)
  # -k: a scheduler that has not stopped 45 s after SIGTERM is killed; the
  # store's recovery requeues its runs next time (nothing finished is lost).
  timeout -s TERM -k 45 "$left" "$S" sweep run "configs/wsfr-study/$arm.yaml" --db "$db" --runs-dir "$runs" \
    --gpus 0 --per-gpu "$per_gpu" --threads-per-job "${THREADS:-3}" >> "$out/sweep-$arm.log" 2>&1
  local rc=$?
  log "arm $arm: rc=$rc, $(( $(date +%s) - a0 )) s of GPU time${PARALLEL:+ (shared with the other arms)}"
  echo "$arm $(( $(date +%s) - a0 ))${PARALLEL:+ shared}" >> "$work/gpu_seconds.txt"
}
for arm in "$@"; do
  left=$(( budget - ($(date +%s) - t0) ))
  [ "$left" -gt 30 ] || { log "arm $arm: no time left"; continue; }
  if [ -n "${PARALLEL:-}" ]; then run_arm "$arm" "$left" & sleep 2; else run_arm "$arm" "$left"; fi
done
wait
for arm in width mixers state seeds; do "$S" sweep status "wsfr-$arm" --db "$db" 2>/dev/null | head -4; done | tee -a "$out/piece.log"

# The store as one file (the WAL folded in), and the folders of runs that did
# not finish (their checkpoints); finished runs' folders stay behind.
python3 - "$db" "$work" <<'PY'
import os, sqlite3, sys, tarfile
db, work = sys.argv[1], sys.argv[2]
src = sqlite3.connect(db); dst = sqlite3.connect(os.path.join(work, "snapshot.db"))
src.backup(dst); dst.close()
rows = src.execute("SELECT run_dir FROM runs WHERE status NOT IN ('done') AND run_dir IS NOT NULL").fetchall()
# The device tool brings back files of at most 16 MB: checkpoints beyond that
# stay behind, and those runs start again from step 0 next time.
def size(d): return sum(os.path.getsize(os.path.join(a, f)) for a, _, fs in os.walk(d) for f in fs)
room = 14 << 20
with tarfile.open(os.path.join(work, "state.tar"), "w") as t:
    t.add(os.path.join(work, "snapshot.db"), "wsfr.db")
    if os.path.exists(os.path.join(work, "gpu_seconds.txt")):
        t.add(os.path.join(work, "gpu_seconds.txt"), "gpu_seconds.txt")
    for (d,) in rows:
        if d and os.path.isdir(d):
            if size(d) > room:
                print("left behind (too large to bring back):", d); continue
            room -= size(d)
            t.add(d, os.path.relpath(d, work))
print("state.tar:", os.path.getsize(os.path.join(work, "state.tar")), "bytes,", len(rows), "unfinished runs")
PY
cp "$work/state.tar" "$out/state.tar"
log "end"
