#!/usr/bin/env bash
# One device call that measures the GPU defaults beside their opt-out paths (issue 10):
# correctness first (test_backend runs every path's op cases), then the attention,
# power-layer and matmul tables (their variant rows), and the 12-layer step with the defaults
# and with each switch set to 0 (packed runs: run_on_device.sh's pack and mps parts).
#   bash STAGE/variants.sh [OUT_DIR]     (STAGE made by tests/gpu/stage.sh; logs in OUT_DIR/variants.tgz)
# Opt-outs (value 0; the default is on): SCALELAB_MM_BF16 and SCALELAB_MM_EPILOGUE
# (kernels/cuda/matmul.cu), SCALELAB_POWER_INTRA (kernels/cuda/power_intra.cu),
# SCALELAB_POWER_FUSED (power_phi.cu), SCALELAB_POWER_DPHI (power_dphi.cu), SCALELAB_FLASH_BWD
# (flash.cu's bwd2_kernel).
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
all_older="env SCALELAB_MM_BF16=0 SCALELAB_MM_EPILOGUE=0 SCALELAB_POWER_INTRA=0 SCALELAB_POWER_FUSED=0"
all_older="$all_older SCALELAB_POWER_DPHI=0 SCALELAB_FLASH_BWD=0"
lap() { echo "   [$(( $(date +%s) - t0 )) s]"; }

echo "== test_backend (every path's cases)"
timeout 300 ./test_backend > "$out/test_backend.txt" 2>&1
echo "test_backend rc=$?" | tee -a "$out/test_backend.txt"
grep -E "FAIL|PASSED|FAILED" "$out/test_backend.txt" | tail -6; lap
echo "== the bf16 op table with every opt-out set"
$all_older SCALELAB_TEST_FILTER=test_ops_bf16 timeout 120 ./test_backend > "$out/ops_older.txt" 2>&1
echo "rc=$?" >> "$out/ops_older.txt"; grep -E "FAIL|PASSED|FAILED" "$out/ops_older.txt" | tail -3; lap

for sw in "" "SCALELAB_FLASH_BWD=0"; do
  echo "== attention table (FP32 and bf16 rows) [$sw]"
  # shellcheck disable=SC2086
  env $sw timeout 150 ./bench_cuda 5 8 attn 0 > "$out/attn.txt" 2>&1; echo "rc=$?" >> "$out/attn.txt"
  grep -E "^(softmax|window) " "$out/attn.txt" | tee -a "$out/attn_all.txt"; lap
done

for sw in "" "SCALELAB_POWER_FUSED=0" "SCALELAB_POWER_DPHI=0" "SCALELAB_POWER_FUSED=0 SCALELAB_POWER_DPHI=0"; do
  echo "== power layer table (variant rows) [$sw]"
  # shellcheck disable=SC2086
  env $sw timeout 150 ./bench_cuda 5 8 powerlayer 0 > "$out/powerlayer.txt" 2>&1
  echo "rc=$?" >> "$out/powerlayer.txt"
  grep -E "^(cuda|bf16)" "$out/powerlayer.txt" | tee -a "$out/powerlayer_all.txt"; lap
done

echo "== matmul table"
timeout 120 ./bench_cuda 5 8 mm > "$out/mm.txt" 2>&1; echo "rc=$?" >> "$out/mm.txt"
tail -n 8 "$out/mm.txt"; lap

echo "== 12-layer step: defaults, then each switch set to 0"
for sw in "" "SCALELAB_MM_BF16=0" "SCALELAB_POWER_INTRA=0" "SCALELAB_MM_EPILOGUE=0" "SCALELAB_POWER_FUSED=0" \
  "SCALELAB_POWER_DPHI=0" "SCALELAB_FLASH_BWD=0"; do
  # shellcheck disable=SC2086
  env $sw timeout 90 ./bench_cuda 10 8 model12 > "$out/m12.txt" 2>&1
  echo "[$sw] $(grep '^ours' "$out/m12.txt" | tr '\n' ' ')" | tee -a "$out/model12.txt"
done; lap
