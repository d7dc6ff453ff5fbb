#!/usr/bin/env bash
# Tiny runs packed on one GPU (issue 10): total training tokens/s of a sweep of 8
# identical tiny runs (4 layers, softmax, bf16, context 2048, batch 8; they differ
# only in train.seed, so that they are 8 runs and not one) started with
# `scalelab sweep run SPEC --gpus 0 --per-gpu K` for K = 1, 4, 8, each into a fresh
# store, for d_model 128 and then 256. Total tokens/s = the 8 runs' tokens / the
# sweep's wall time (trainer start-up, CUDA init and evaluations included: what a
# sweep gets); the target is K=8 >= 4x K=1. Also the mean of the runs' own
# claim-to-done times, to tell scheduling from GPU sharing.
#   SCALELAB=./scalelab bash tests/bench/bench_pack.sh [OUT_DIR]
# Environment: PACK_D_MODELS (default "128 256"), PACK_KS ("1 4 8"), PACK_RUNS (8),
# PACK_TOKENS_128 / PACK_TOKENS_256 (tokens per run; defaults 16M / 10M, sized for ~5 s
# of training per run alone on an H200 at the ~3M / ~2M tok/s that RESULTS.md's d256 row
# suggests, so that the six sweeps fit in ~4 minutes; raise them for 10-20 s runs),
# PACK_TIMEOUT (seconds per sweep, default 100), PACK_MPS=1 (run the sweeps under a private
# MPS daemon, below). Without a GPU it says so and exits 0.
set -u
S=${SCALELAB:-./scalelab}
S=$(cd "$(dirname "$S")" && pwd)/$(basename "$S")
out=${1:-}
[ -n "$out" ] && mkdir -p "$out"
ds=${PACK_D_MODELS:-128 256}
ks=${PACK_KS:-1 4 8}
n=${PACK_RUNS:-8}
limit=${PACK_TIMEOUT:-100}
if ! command -v nvidia-smi > /dev/null || ! nvidia-smi -L > /dev/null 2>&1; then
  echo "bench_pack: skipped: no GPU (nvidia-smi -L fails)"
  exit 0
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/scalelab-pack.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1
# PACK_MPS=1: start a private MPS control daemon (its pipe and log folders under
# $work, so no other program's CUDA context is routed through it) for the whole
# bench and quit it at the end. Under MPS the trainers' kernels share the GPU at
# once instead of taking turns in time slices. Nothing about the GPU's settings
# (compute mode, clocks) is changed.
if [ "${PACK_MPS:-0}" = 1 ]; then
  if ! command -v nvidia-cuda-mps-control > /dev/null; then
    echo "bench_pack: PACK_MPS=1 but nvidia-cuda-mps-control is not installed"
    exit 1
  fi
  export CUDA_MPS_PIPE_DIRECTORY=$work/mps-pipe CUDA_MPS_LOG_DIRECTORY=$work/mps-log
  mkdir -p "$CUDA_MPS_PIPE_DIRECTORY" "$CUDA_MPS_LOG_DIRECTORY"
  nvidia-cuda-mps-control -d || { echo "bench_pack: nvidia-cuda-mps-control -d failed"; exit 1; }
  trap 'echo quit | nvidia-cuda-mps-control; sleep 1; rm -rf "$work"' EXIT
  echo "MPS: private control daemon started (pipe $CUDA_MPS_PIPE_DIRECTORY)"
fi
seeds=$(seq -s ', ' 0 $((n - 1)))
echo "packed tiny runs on GPU 0: $n runs per sweep (4 layers, head_dim 64, softmax, bf16, context 2048, batch 8),"
echo "sweep run --gpus 0 --per-gpu K; total tok/s = tokens of all runs / sweep wall time"
echo "steady_gpu_tok/s: the runs' mean training rate past a fifth of each run x K; overhead_s: a run's"
echo "claim-to-done time less its training loop's; gpu_util: nvidia-smi's utilization.gpu, mean over the sweep"
printf '%-7s %3s %12s %9s %12s %8s %14s %12s %10s %6s %s\n' d_model K tokens/run wall_s total_tok/s vs_K=1 mean_run_s \
  steady_gpu_tok/s overhead_s gpu_util status
rc=0
for d in $ds; do
  tokens_var=PACK_TOKENS_$d
  default_tokens=$((d <= 128 ? 16000000 : 10000000))
  tokens=${!tokens_var:-$default_tokens}
  # whole steps of 8 x 2048 tokens, as the trainer rounds them
  per_run=$(( (tokens + 16383) / 16384 * 16384 ))
  cat > "pack-$d.yaml" <<Y
name: pack-d$d
base:
  model: {d_model: $d, n_layer: 4, n_head: $((d / 64)), mixer: softmax}
  train: {context: 2048, batch_size: 8, tokens: $tokens, precision: bf16, eval_every: 1000000, eval_tokens: 16384}
  data: {source: "synthetic:recall"}
grid:
  train.seed: [$seeds]
Y
  [ -n "$out" ] && cp "pack-$d.yaml" "$out/"
  base_rate=
  for k in $ks; do
    db="$work/d$d-k$k.db"
    # GPU utilisation (nvidia-smi: the share of time a kernel ran) sampled every 200 ms
    # during the sweep: a query, nothing about the GPU is set.
    nvidia-smi --query-gpu=utilization.gpu --format=csv,noheader,nounits -lms 200 > "util-d$d-k$k.txt" 2>&1 &
    sampler=$!
    t0=$(date +%s.%N)
    SCALELAB_DB=$db timeout "$limit" "$S" sweep run "pack-$d.yaml" --db "$db" --runs-dir "$work/runs-d$d-k$k" --gpus 0 --per-gpu "$k" \
      > "sweep-d$d-k$k.txt" 2>&1
    src=$?
    t1=$(date +%s.%N)
    [ -n "$out" ] && cp "sweep-d$d-k$k.txt" "$out/"
    kill "$sampler" 2> /dev/null
    wait "$sampler" 2> /dev/null
    util=$(awk -F', *' '$1 ~ /^[0-9]+$/ { s += $1; n++ } END { if (n) printf "%.0f%%", s / n; else print "-" }' "util-d$d-k$k.txt")
    read -r done_n mean_run steady overhead < <(python3 - "$db" "$k" <<'PY'
import sqlite3, sys
# Per done run: its claim-to-done time; its steady training rate, tokens over the training
# loop's own clock from the step at a fifth of the run to its last step (the metric rows'
# wall_seconds: start-up, the first steps' warm-up and the end's checkpoint left out); and
# its overhead, claim-to-done less the loop's last wall_seconds (process start, CUDA
# context, data, evaluation, checkpoint, store). steady_gpu = the mean steady rate x K, the
# GPU's training throughput while K runs share it (all K start together and run alike).
k = int(sys.argv[2])
try:
    db = sqlite3.connect(sys.argv[1])
    runs = db.execute("SELECT id, started, finished FROM runs WHERE status = 'done'").fetchall()
    own, rates, over = [], [], []
    for rid, s, f in runs:
        m = db.execute("SELECT step, tokens, wall_seconds FROM metrics WHERE run = ? ORDER BY step",
                       (rid,)).fetchall()
        if s and f:
            own.append(f - s)
            if m: over.append(f - s - m[-1][2])
        if len(m) >= 10:
            a, b = m[len(m) // 5], m[-1]
            if b[2] > a[2]: rates.append((b[1] - a[1]) / (b[2] - a[2]))
except sqlite3.Error:
    runs, own, rates, over = [], [], [], []
mean = lambda v, f: f.format(sum(v) / len(v)) if v else "nan"
print(len(runs), mean(own, "{:.2f}"), f"{k * sum(rates) / len(rates):.0f}" if rates else "nan", mean(over, "{:.2f}"))
PY
)
    wall=$(python3 -c "print(f'{$t1 - $t0:.2f}')")
    rate=$(python3 -c "print(f'{$done_n * $per_run / ($t1 - $t0):.0f}')")
    [ -z "$base_rate" ] && [ "$k" = 1 ] && base_rate=$rate
    ratio=$( [ -n "$base_rate" ] && python3 -c "print(f'{$rate / max($base_rate, 1):.2f}x')" || echo "-")
    status="$done_n/$n done, rc $src"
    [ "$src" -eq 124 ] && status="$status (timed out after ${limit}s: rate counts done runs only)"
    [ "$done_n" -eq "$n" ] || rc=1
    printf '%-7s %3s %12s %9s %12s %8s %14s %12s %10s %6s %s\n' "$d" "$k" "$per_run" "$wall" "$rate" "$ratio" \
      "$mean_run" "$steady" "$overhead" "$util" "$status"
    [ "$done_n" -eq "$n" ] || tail -5 "sweep-d$d-k$k.txt"
  done
done
# The scheduler's note when K > 1 trainers share a GPU without MPS (sweep/local.c).
grep -h "without MPS" sweep-*.txt 2>/dev/null | head -1 | sed 's/^/scheduler said: /'
exit $rc
