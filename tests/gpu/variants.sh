#!/usr/bin/env bash
# One device call that measures the GPU defaults beside their opt-out paths (issue 10):
# correctness first (test_backend runs every path's op cases), then the attention,
# power-layer and matmul tables (their variant rows), the 12-layer step with the defaults
# and with each switch set to 0, and packed tiny runs (defaults) with and without MPS.
#   bash STAGE/variants.sh [OUT_DIR]     (STAGE made by tests/gpu/stage.sh; logs in OUT_DIR/variants.tgz)
# Opt-outs (value 0; the default is on): SCALELAB_MM_BF16 and SCALELAB_MM_EPILOGUE
# (kernels/cuda/matmul.cu), SCALELAB_POWER_INTRA (kernels/cuda/power_intra.cu).
set -u
here=$(cd "$(dirname "$0")" && pwd)
dest=${1:-${OUT:-/tmp/scalelab-gpu-out}}
# Logs go to a work folder and come back as one archive, dest/variants.tgz: the device
# tool returns at most 8 files from $OUT, and this writes more.
out=$(mktemp -d "${TMPDIR:-/tmp}/variants.XXXXXX")
mkdir -p "$dest"
trap 'tar czf "$dest/variants.tgz" -C "$out" . ; rm -rf "$out"' EXIT
cd "$here" || exit 1
[ -f bins.tar.xz ] && { tar xJf bins.tar.xz || exit 1; }
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(nproc)}
{
  echo "commit $(cat COMMIT 2>/dev/null) date $(date -u +%Y-%m-%dT%H:%MZ) cores $(nproc)"
  nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader
} 2>&1 | tee "$out/device.txt"
t0=$(date +%s)
lap() { echo "   [$(( $(date +%s) - t0 )) s]"; }

echo "== test_backend (every path's cases)"
timeout 300 ./test_backend > "$out/test_backend.txt" 2>&1
echo "test_backend rc=$?" | tee -a "$out/test_backend.txt"
grep -E "FAIL|PASSED|FAILED" "$out/test_backend.txt" | tail -6; lap

echo "== attention table (FP32 and bf16 rows)"
timeout 150 ./bench_cuda 5 8 attn 0 > "$out/attn.txt" 2>&1; echo "rc=$?" >> "$out/attn.txt"
grep -E "^(softmax|window) " "$out/attn.txt"; lap

echo "== power layer table (variant rows)"
timeout 150 ./bench_cuda 5 8 powerlayer 0 > "$out/powerlayer.txt" 2>&1; echo "rc=$?" >> "$out/powerlayer.txt"
grep -E "^(cuda|bf16)" "$out/powerlayer.txt"; lap

echo "== matmul table"
timeout 120 ./bench_cuda 5 8 mm > "$out/mm.txt" 2>&1; echo "rc=$?" >> "$out/mm.txt"
tail -n 8 "$out/mm.txt"; lap

echo "== 12-layer step: defaults, then each switch set to 0"
for sw in "" "SCALELAB_MM_BF16=0" "SCALELAB_POWER_INTRA=0" "SCALELAB_MM_EPILOGUE=0"; do
  # shellcheck disable=SC2086
  env $sw timeout 90 ./bench_cuda 10 8 model12 > "$out/m12.txt" 2>&1
  echo "[$sw] $(grep '^ours' "$out/m12.txt" | tr '\n' ' ')" | tee -a "$out/model12.txt"
done; lap

echo "== packed tiny runs, defaults, without and with MPS (d_model 128, K 1 and 8)"
for mps in 0 1; do
  env SCALELAB=./scalelab PACK_MPS=$mps PACK_D_MODELS=128 PACK_KS="1 8" PACK_TOKENS_128=8000000 PACK_TIMEOUT=60 \
    timeout 150 bash bench_pack.sh "$out/pack$mps" > "$out/pack$mps.txt" 2>&1
  grep -E "^128|said" "$out/pack$mps.txt" | sed "s/^/MPS=$mps /"
done; lap
