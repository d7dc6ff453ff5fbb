#!/usr/bin/env bash
# The CUDA checks on the GPU machine, from a folder made by tests/gpu/stage.sh:
#   1. test_backend: every op CPU vs CUDA, and tiny models trained on both;
#   2. scalelab train --device cuda vs --device cpu on the example configs
#      (softmax, window, power), 30 steps each, loss curves compared step by step;
#   3. bench_cuda: training tokens/s and TFLOP/s beside the cuBLAS ceilings;
#   4. compute-sanitizer memcheck over test_backend's op table (when present).
# Outputs go to OUT_DIR (default $OUT, the device tool's result folder).
#   bash STAGE/run_on_device.sh [OUT_DIR] [PARTS]     PARTS default "test train bench sanitize"
#   (also: "profile": per-kernel times of a power training step under ncu)
set -u
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-${OUT:-/tmp/scalelab-gpu-out}}
parts=${2:-test train bench sanitize}
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
  echo "test_backend rc=$?" | tee -a "$out/test_backend.txt"
  cat "$out/test_backend.txt"
fi

# name|config|--set overrides: 20 steps of each (163840 tokens), every step logged.
runs="softmax|small-softmax| window|small-window| power|small-power| power-ungated|small-power|--set=model.gating=false"
if want train; then
  echo "== 2. scalelab train --device cuda vs cpu"
  work=$(mktemp -d)
  for r in $runs; do
    IFS='|' read -r name cfg extra <<< "$r"
    for dev in cpu cuda; do
      t0=$(date +%s.%N)
      # shellcheck disable=SC2086
      timeout 200 ./scalelab train "configs/$cfg.yaml" $extra --set train.tokens=163840 --device "$dev" \
        --sink files --run-dir "$work/$name-$dev" --log-every 1 --quiet > "$work/$name-$dev.out" 2>&1
      rc=$?
      echo "$name $dev rc=$rc $(awk -v t0="$t0" 'BEGIN{"date +%s.%N" | getline t; printf "%.1f s", t - t0}')"
      [ $rc -eq 0 ] || tail -5 "$work/$name-$dev.out"
    done
    paste "$work/$name-cpu/metrics.tsv" "$work/$name-cuda/metrics.tsv" | awk -F'\t' -v cfg="$name" '
      NR > 1 { d = $4 - $12; if (d < 0) d = -d; if (d > worst) worst = d; n++;
               printf "  %s step %3d  loss cpu %.7f cuda %.7f  grad_norm cpu %.6f cuda %.6f  tok/s cpu %.0f cuda %.0f\n",
                      cfg, $1, $4, $12, $6, $14, $7, $15 }
      END { printf "  %s: %d steps, max |loss cpu - loss cuda| = %.3g\n", cfg, n, worst }'
  done 2>&1 | tee "$out/train_compare.txt"
  rm -rf "$work"
fi

if want bench; then
  echo "== 3. bench_cuda"
  timeout 360 ./bench_cuda 5 8 > "$out/bench_cuda.txt" 2>&1
  echo "bench_cuda rc=$?" >> "$out/bench_cuda.txt"
  cat "$out/bench_cuda.txt"
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
  timeout 200 compute-sanitizer --tool memcheck --print-limit 20 ./test_backend > "$out/sanitizer.txt" 2>&1
  echo "sanitizer rc=$?" >> "$out/sanitizer.txt"
  grep -E "ERROR SUMMARY|rc=|Invalid|out of bounds" "$out/sanitizer.txt" | head -20
fi
