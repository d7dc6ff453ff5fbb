#!/usr/bin/env bash
# The CUDA checks on the GPU machine, from a folder made by tests/gpu/stage.sh:
#   1. test_backend: every op CPU vs CUDA, and tiny models trained on both;
#   2. scalelab train --device cuda vs --device cpu on the example configs
#      (softmax, window, power), 20 steps each, loss curves compared step by step;
#      FP32 CUDA must match the CPU within 2e-3 (the power curves drift by rounding to
#      ~5e-4 in 20 steps; softmax and window agree to ~1e-8), bf16 CUDA within 0.05;
#      a larger gap fails the script (exit 1);
#   3. bench_cuda: training tokens/s and TFLOP/s beside the cuBLAS ceilings, and
#      attention alone; then "peer": tests/bench/peer_torch.py, PyTorch on the same GPU (its
#      training steps in PEER_REPEAT processes, default 3: best and median beside ours);
#   4. compute-sanitizer: memcheck over test_backend's op tables, racecheck and synccheck over
#      its small table (test_ops_bf16_small), when present.
# Outputs go to OUT_DIR (default $OUT, the device tool's result folder). The device tool returns
# at most 8 files: for several parts, give a scratch OUT_DIR and tar it into $OUT afterwards.
#   bash STAGE/run_on_device.sh [OUT_DIR] [PARTS]  PARTS default "test train bench peer sanitize"
#   (also: "profile": per-kernel times of a power training step under ncu; "bench12": the
#   12-layer d_model 768 model, softmax and power p=2, scalelab bf16 beside the PyTorch peer;
#   "pack": total tokens/s of 8 tiny runs packed 1, 4 and 8 to the GPU; "mps": the same under a
#   private MPS daemon; "prof12": per-kernel times of the 12-layer steps under ncu; "profattn":
#   ncu sections of the flash kernels; "mm": the bf16 matmul's two modes (kernels/cuda/matmul.cu):
#   op table, 200-step training on bf16 copies, the matmul table, the 12-layer step in each mode;
#   ~4 minutes each at most)
set -u
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-${OUT:-/tmp/scalelab-gpu-out}}
parts=${2:-test train bench peer sanitize}
status=0
want() { [[ " $parts " == *" $1 "* ]]; }
mkdir -p "$out"
cd "$here"
[ -f bins.tar.xz ] && { tar xJf bins.tar.xz || exit 1; }
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(nproc)}
{
  echo "commit $(cat COMMIT 2>/dev/null) date $(date -u +%Y-%m-%dT%H:%MZ) cores $(nproc)"
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv
} 2>&1 | tee "$out/device.txt"

if want test; then
  echo "== 1. test_backend"
  timeout 300 ./test_backend > "$out/test_backend.txt" 2>&1
  rc=$?
  echo "test_backend rc=$rc" | tee -a "$out/test_backend.txt"
  [ $rc -eq 0 ] || status=1
  cat "$out/test_backend.txt"
fi

# name|config|--set overrides|tolerance: 20 steps of each (163840 tokens), every step
# logged; the CPU run is FP32 always, the CUDA run FP32 unless the overrides say bf16.
runs="softmax|small-softmax||2e-3 window|small-window||2e-3 power|small-power||2e-3
power-ungated|small-power|--set=model.gating=false|2e-3 softmax-bf16|small-softmax|--set=train.precision=bf16|0.05
window-bf16|small-window|--set=train.precision=bf16|0.05 power-bf16|small-power|--set=train.precision=bf16|0.05"
if want train; then
  echo "== 2. scalelab train --device cuda vs cpu"
  work=$(mktemp -d)
  for r in $runs; do
    IFS='|' read -r name cfg extra tol <<< "$r"
    for dev in cpu cuda; do
      t0=$(date +%s.%N)
      # shellcheck disable=SC2086
      set -- $extra
      # bf16 variants compare against the FP32 CPU run of their base name (run above).
      if [ "$dev" = cpu ] && [ "${name%-bf16}" != "$name" ]; then
        mkdir -p "$work/$name-cpu" && cp "$work/${name%-bf16}-cpu/metrics.tsv" "$work/$name-cpu/" && continue
      fi
      # fp32 first: the default (auto) is bf16 on the GPU; a bf16 override after it wins.
      # SCALELAB_MM_CHECK=1: every reuse of a kept bf16 copy checked against its source (matmul.cu)
      SCALELAB_MM_CHECK=1 timeout 200 ./scalelab train "configs/$cfg.yaml" --set train.precision=fp32 "$@" --set train.tokens=163840 --device "$dev" \
        --sink files --run-dir "$work/$name-$dev" --log-every 1 --quiet > "$work/$name-$dev.out" 2>&1
      rc=$?
      echo "$name $dev rc=$rc $(awk -v t0="$t0" 'BEGIN{"date +%s.%N" | getline t; printf "%.1f s", t - t0}')"
      [ $rc -eq 0 ] || tail -5 "$work/$name-$dev.out"
    done
    paste "$work/$name-cpu/metrics.tsv" "$work/$name-cuda/metrics.tsv" | awk -F'\t' -v cfg="$name" -v tol="$tol" '
      NR > 1 { d = $4 - $12; if (d < 0) d = -d; if (d > worst) worst = d; n++;
               printf "  %s step %3d  loss cpu %.7f cuda %.7f  grad_norm cpu %.6f cuda %.6f  tok/s cpu %.0f cuda %.0f\n",
                      cfg, $1, $4, $12, $6, $14, $7, $15 }
      END { ok = n > 0 && worst <= tol;
            printf "  %s: %d steps, max |loss cpu - loss cuda| = %.3g (tolerance %s) %s\n", cfg, n, worst, tol,
                   ok ? "ok" : "FAIL"; exit !ok }' || echo "GAP FAIL $name"
  done 2>&1 | tee "$out/train_compare.txt"
  grep -q "GAP FAIL" "$out/train_compare.txt" && status=1
  rm -rf "$work"
fi

if want bench; then
  echo "== 3. bench_cuda"
  timeout 360 ./bench_cuda 5 8 > "$out/bench_cuda.txt" 2>&1
  echo "bench_cuda rc=$?" >> "$out/bench_cuda.txt"
  cat "$out/bench_cuda.txt"
fi

# Torch's training rates move by up to 16% between two processes of one call and 40% between
# calls (RESULTS.md, sixth pass), ours by 1-2%: the peer's steps run in PEER_REPEAT processes
# (default 3), and peer_spread prints each model's rates, its best and median, and ours against both.
peer_spread() { # FILE: lines "torch MODEL TOK/S" [and "ours MODEL TOK/S"]
  awk '$1 == "torch" { r[$2] = r[$2] " " $3 } $1 == "ours" { o[$2] = $3 }
       END { for (m in r) { k = split(r[m], v, " "); for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++)
                              if (v[j] > v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
                            med = k % 2 ? v[(k + 1) / 2] : (v[k / 2] + v[k / 2 + 1]) / 2
                            printf "  %-8s torch tok/s%s: best %.0f, median %.0f", m, r[m], v[1], med
                            if (m in o) printf "; ours %.0f: %.2fx the best, %.2fx the median", o[m], o[m] / v[1], o[m] / med
                            printf "\n" } }' "$1"
}
repeats=${PEER_REPEAT:-3}

if want peer; then
  echo "== 3b. PyTorch peer (same GPU, same call; its training steps in $repeats processes)"
  : > "$out/peer_torch.txt"
  for i in $(seq 1 "$repeats"); do
    [ "$i" = 1 ] && skip= || skip=--skip-attention
    PYTHONUNBUFFERED=1 timeout 400 python3 peer_torch.py $skip >> "$out/peer_torch.txt" 2>&1
    echo "peer_torch rc=$?" >> "$out/peer_torch.txt"
  done
  grep -v "^ *File\|^W[0-9]" "$out/peer_torch.txt" | tail -30
  # the 4-layer rows "d_model ms/step tok/s loss"; ours from bench_cuda's bf16 softmax rows when part bench ran
  { awk '/^torch training step/ { t = 1; next } t && $1 ~ /^[0-9]+$/ && NF == 4 { print "torch d" $1, $3 }' \
      "$out/peer_torch.txt"
    [ -f "$out/bench_cuda.txt" ] && awk '$1 == "softmax" && $2 == "cuda-bf16" && $4 == 2048 { print "ours d" $3, $7 }' \
      "$out/bench_cuda.txt"; } > "$out/peer_rates.txt"
  peer_spread "$out/peer_rates.txt" | tee -a "$out/peer_torch.txt"
fi

if want bench12; then
  # ~4 minutes at most: the float64 check of the peer's power retention, scalelab's
  # 12-layer rates (bench_cuda model12), then the peer's, one line per model with both.
  echo "== 6. 12-layer d_model 768 context 1024: scalelab bf16 vs the PyTorch peer"
  timeout 45 python3 peer_torch.py --check > "$out/bench12_check.txt" 2>&1
  echo "peer power retention check rc=$?" | tee -a "$out/bench12_check.txt"
  grep -c " ok$" "$out/bench12_check.txt" | sed 's/^/  checks ok: /'
  grep "FAIL" "$out/bench12_check.txt"
  timeout 45 ./bench_cuda 10 8 model12 > "$out/bench12_ours.txt" 2>&1
  echo "bench_cuda model12 rc=$?" >> "$out/bench12_ours.txt"
  cat "$out/bench12_ours.txt"
  : > "$out/bench12.txt"
  for i in $(seq 1 "$repeats"); do
    PYTHONUNBUFFERED=1 timeout 150 python3 peer_torch.py --model12 --steps 10 --ours "$out/bench12_ours.txt" \
      >> "$out/bench12.txt" 2>&1
    echo "peer_torch --model12 rc=$?" >> "$out/bench12.txt"
  done
  grep -v "^ *File\|^W[0-9]" "$out/bench12.txt" | tail -12
  # rows "model ours ours-TF/s torch torch-TF/s ratio loss" ("-" where ours is missing)
  { awk '($1 == "softmax" || $1 == "power") && NF == 7 { print "torch", $1, $4 }' "$out/bench12.txt"
    grep "^ours " "$out/bench12_ours.txt"; } > "$out/bench12_rates.txt"
  peer_spread "$out/bench12_rates.txt" | tee -a "$out/bench12.txt"
fi

if want mm; then
  # ~3 minutes at most: the bf16 op table (its matmul cases run both modes), the 200-step
  # bf16 training test in the FP32-storage mode (SCALELAB_MM_BF16=0; part test runs it in
  # the default mode, bf16 copies), the matmul table at the 12-layer model's shapes, then
  # that model's step in mode 0 and mode 1.
  echo "== 8. bf16 matmul: FP32 storage (mode 0) vs bf16 copies + cuBLASLt (mode 1)"
  SCALELAB_TEST_FILTER="test_ops_bf16" timeout 120 ./test_backend > "$out/mm_ops.txt" 2>&1
  echo "test_ops_bf16 rc=$?" | tee -a "$out/mm_ops.txt"
  grep -E "matmul|FAIL" "$out/mm_ops.txt"
  SCALELAB_MM_BF16=0 SCALELAB_TEST_FILTER="test_training_bf16" timeout 300 ./test_backend > "$out/mm_train.txt" 2>&1
  echo "test_training_bf16 (SCALELAB_MM_BF16=0) rc=$?" | tee -a "$out/mm_train.txt"
  grep -E "gap|FAIL" "$out/mm_train.txt"
  timeout 60 ./bench_cuda 5 8 mm > "$out/mm_table.txt" 2>&1
  echo "bench_cuda mm rc=$?" >> "$out/mm_table.txt"
  cat "$out/mm_table.txt"
  for mode in 0 1; do
    SCALELAB_MM_BF16=$mode timeout 60 ./bench_cuda 10 8 model12 > "$out/mm_model12_$mode.txt" 2>&1
    echo "bench_cuda model12 SCALELAB_MM_BF16=$mode rc=$?" >> "$out/mm_model12_$mode.txt"
    cat "$out/mm_model12_$mode.txt"
  done
  grep -q "rc=[1-9]" "$out"/mm_*.txt && status=1
fi

if want pack; then
  # ~4 minutes at most: 8 tiny runs per sweep, --per-gpu 1, 4, 8, d_model 128 and 256
  # (tests/bench/bench_pack.sh; each sweep stops after PACK_TIMEOUT seconds).
  echo "== 7. tiny runs packed on one GPU (sweep run --gpus 0 --per-gpu K)"
  SCALELAB=./scalelab PACK_TIMEOUT=${PACK_TIMEOUT:-70} timeout 250 bash bench_pack.sh "$out/pack" > "$out/pack.txt" 2>&1
  echo "bench_pack rc=$?" >> "$out/pack.txt"
  cat "$out/pack.txt"
fi

if want mps; then
  # The same packed runs under a private MPS daemon (bench_pack.sh PACK_MPS=1).
  echo "== 7b. tiny runs packed on one GPU under MPS"
  SCALELAB=./scalelab PACK_MPS=1 PACK_TIMEOUT=${PACK_TIMEOUT:-70} timeout 250 bash bench_pack.sh "$out/pack-mps" \
    > "$out/pack_mps.txt" 2>&1
  echo "bench_pack (MPS) rc=$?" >> "$out/pack_mps.txt"
  cat "$out/pack_mps.txt"
fi

if want prof12 && command -v ncu > /dev/null; then
  # Per-kernel GPU time of the 12-layer d_model 768 softmax and power steps (one warm-up
  # and one timed step each), to see where a step's time goes.
  echo "== 8. kernel times of the 12-layer steps (ncu, clocks left alone)"
  timeout 300 ncu --clock-control none --metrics gpu__time_duration.sum --print-summary per-kernel \
    ./bench_cuda 1 8 model12 > "$out/prof12.txt" 2>&1
  echo "ncu rc=$?" >> "$out/prof12.txt"
  tail -n 3 "$out/prof12.txt"
fi

if want profattn && command -v ncu > /dev/null; then
  # Hardware counters of the flash forward and backward kernels at T = 16k (b1 h8 d64 causal).
  echo "== 9. flash attention kernels under ncu (T = 16384)"
  timeout 300 ncu --clock-control none --section SpeedOfLight --section Occupancy --section LaunchStats \
    --section WarpStateStats --section ComputeWorkloadAnalysis --section MemoryWorkloadAnalysis \
    --section SchedulerStats --section InstructionStats -k regex:'fwd_kernel|bwd_kernel' -c 8 \
    ./bench_cuda 1 1 attn 16384 > "$out/profattn.txt" 2>&1
  echo "ncu rc=$?" >> "$out/profattn.txt"
  tail -n 3 "$out/profattn.txt"
fi

if want profile && command -v ncu > /dev/null; then
  echo "== 5. kernel times of one power training step (ncu, clocks left alone)"
  timeout 300 ncu --clock-control none --metrics gpu__time_duration.sum --print-summary per-kernel \
    ./bench_cuda 1 8 power 256 > "$out/profile.txt" 2>&1
  echo "ncu rc=$?" >> "$out/profile.txt"
  tail -n 5 "$out/profile.txt"
fi

if want sanitize && command -v compute-sanitizer > /dev/null; then
  echo "== 4. compute-sanitizer memcheck (test_backend)"
  # The op tables only (the training tests add nothing the sanitizer sees, slowly).
  SCALELAB_TEST_FILTER="test_ops*" timeout 300 compute-sanitizer --tool memcheck --print-limit 20 ./test_backend \
    > "$out/sanitizer.txt" 2>&1
  echo "sanitizer rc=$?" >> "$out/sanitizer.txt"
  grep -E "ERROR SUMMARY|rc=|Invalid|out of bounds" "$out/sanitizer.txt" | head -20
  # Barrier misuse over the small table (seconds). Shared-memory races: racecheck takes minutes a
  # case, so one process a case of that table (names from a plain run), all at once.
  SCALELAB_TEST_FILTER="test_ops_bf16_small" timeout 120 compute-sanitizer --tool synccheck --print-limit 20 \
    ./test_backend > "$out/sanitizer_synccheck.txt" 2>&1
  rc=$?
  echo "synccheck rc=$rc" >> "$out/sanitizer_synccheck.txt"
  [ $rc -eq 0 ] || status=1
  grep -E "SUMMARY|rc=|Barrier" "$out/sanitizer_synccheck.txt" | head -10
  SCALELAB_TEST_FILTER="test_ops_bf16_small" ./test_backend | sed -n 's/^  \(small.*[^ ]\) \+[0-9]\+ values.*/\1/p' > "$out/small_cases.txt"
  rdir=$(mktemp -d); i=0
  while read -r name; do
    i=$((i + 1))
    SCALELAB_TEST_FILTER="test_ops_bf16_small" SCALELAB_TEST_CASE="$name" timeout "${RACECHECK_TIMEOUT:-300}" \
      compute-sanitizer --tool racecheck --print-limit 20 ./test_backend > "$rdir/$i.txt" 2>&1 &
  done < "$out/small_cases.txt"
  wait
  clean=0
  for j in $(seq 1 $i); do
    f=$rdir/$j.txt
    echo "== racecheck case $(sed -n "${j}p" "$out/small_cases.txt")"
    grep -E "^  small|SUMMARY|hazard|PASSED|FAILED" "$f"
    # clean: the case itself ran and passed (its own "ok" line: a name that matched nothing runs no
    # case and still passes), and the summary counts no hazard
    grep -q "^  small.* ok$" "$f" && grep -q PASSED "$f" && grep -qE "SUMMARY: 0 " "$f" &&
      ! grep -qE "SUMMARY: [1-9]" "$f" && clean=$((clean + 1))
  done > "$out/sanitizer_racecheck.txt" 2>&1
  echo "racecheck: $clean of $i cases ran to the end with no hazard" | tee -a "$out/sanitizer_racecheck.txt"
  [ "$clean" -eq "$i" ] || status=1
  rm -rf "$rdir"
fi
exit $status
