#!/usr/bin/env bash
# One device call that times the untimed opt-in kernels of branch gpu-next beside the defaults
# (issue 10, fourth pass): SCALELAB_POWER_DPHI, SCALELAB_POWER_FUSED (power retention layer),
# SCALELAB_FLASH_BWD=0..3 (attention), then the tests with the switches on, then the PyTorch peer.
# Every step has its own timeout and appends to OUT/log.txt as it goes, so a hang costs one step
# and the log comes back even when the call runs out of time.
#   bash STAGE/next_call.sh [OUT_DIR] [time|test]      (STAGE made by tests/gpu/stage.sh)
# "time" (the timing and the op tables of the variants) and "test" (the whole suite with the
# switches on, then the 12-layer step beside its peer) each fit one call; no phase runs both.
set -u
cd "$(dirname "$0")" || exit 1
[ -f bins.tar.xz ] && { tar xJf bins.tar.xz || exit 1; }
out=${1:-${OUT:-/tmp/next-call}}
mkdir -p "$out"
log=$out/log.txt
phase=${2:-time}
step() { local t=$1; shift; echo "== [$t s] $*" >> "$log"; timeout "$t" env "$@" >> "$log" 2>&1; echo "rc=$?" >> "$log"; }
if [ "$phase" = time ]; then
step 30 ./bench_cuda 3 8 powerlayer 0
step 30 SCALELAB_POWER_DPHI=1 ./bench_cuda 3 8 powerlayer 0
step 30 SCALELAB_POWER_FUSED=1 ./bench_cuda 3 8 powerlayer 0
step 30 SCALELAB_POWER_FUSED=1 SCALELAB_POWER_DPHI=1 ./bench_cuda 3 8 powerlayer 0
step 30 SCALELAB_POWER_PROFILE=1 SCALELAB_POWER_FUSED=1 SCALELAB_POWER_DPHI=1 ./bench_cuda 1 8 powerlayer 0
for v in 0 1 2 3; do step 30 SCALELAB_FLASH_BWD=$v ./bench_cuda 3 8 attn 0; done
step 90 python3 peer_torch.py --skip-train
for v in 1 3; do step 60 SCALELAB_FLASH_BWD=$v SCALELAB_TEST_FILTER=test_ops_bf16 ./test_backend; done
step 60 SCALELAB_TEST_FILTER="test_ops_bf16_[fd]*" ./test_backend
else
step 240 SCALELAB_FLASH_BWD=2 SCALELAB_POWER_FUSED=1 SCALELAB_POWER_DPHI=1 ./test_backend
step 120 ./bench_cuda 5 8 model12
step 120 python3 peer_torch.py --model12
fi
grep -E "^== |^rc=|FAIL|PASSED|FAILED" "$log" | tail -40
