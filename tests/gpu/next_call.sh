#!/usr/bin/env bash
# The device checks of a change to the bf16 kernels' defaults, in two bounded calls (issue 10):
#   check: run_on_device.sh's test, train and sanitize parts (every op CPU vs CUDA with the new
#          defaults, the 20-step loss curves, compute-sanitizer over the op tables), then the bf16
#          op table with every opt-out switch set to its older path;
#   time:  the power layer and attention beside the opt-outs and beside PyTorch SDPA, then
#          run_on_device.sh's bench and bench12 parts (the 12-layer steps beside the PyTorch peer);
#   peer:  run_on_device.sh's bench and peer parts (the 4-layer models in scalelab and in PyTorch).
# Every step has its own timeout and appends to OUT/log.txt as it goes, so a hang costs one step
# and the log comes back even when the call runs out of time; the parts' files are packed into
# OUT/parts.tar.gz (the device tool returns at most 8 files).
#   bash STAGE/next_call.sh OUT_DIR check|time|peer      (STAGE made by tests/gpu/stage.sh)
set -u
cd "$(dirname "$0")" || exit 1
[ -f bins.tar.xz ] && { tar xJf bins.tar.xz || exit 1; }
out=${1:?usage: next_call.sh OUT_DIR check|time|peer}
phase=${2:?usage: next_call.sh OUT_DIR check|time|peer}
mkdir -p "$out"
log=$out/log.txt
parts=$(mktemp -d)
step() { local t=$1; shift; echo "== [$t s] $*" >> "$log"; timeout "$t" env "$@" >> "$log" 2>&1; echo "rc=$?" >> "$log"; }
pack() { tar czf "$out/parts.tar.gz" -C "$parts" . ; }
older="SCALELAB_FLASH_BWD=0 SCALELAB_POWER_FUSED=0 SCALELAB_POWER_DPHI=0"
case $phase in
check)
  step 420 bash run_on_device.sh "$parts" "test train sanitize"
  pack
  # shellcheck disable=SC2086
  step 90 $older SCALELAB_TEST_FILTER=test_ops_bf16 ./test_backend
  ;;
time)
  step 30 ./bench_cuda 3 8 powerlayer 0
  # shellcheck disable=SC2086
  step 30 $older ./bench_cuda 3 8 powerlayer 0
  step 30 ./bench_cuda 3 8 attn 0
  step 30 SCALELAB_FLASH_BWD=0 ./bench_cuda 3 8 attn 0
  step 60 python3 peer_torch.py --skip-train
  step 330 bash run_on_device.sh "$parts" "bench bench12"
  pack
  ;;
peer)
  step 500 bash run_on_device.sh "$parts" "bench peer"
  pack
  ;;
*) echo "next_call.sh: phase must be check, time or peer, not '$phase'" >&2; exit 2 ;;
esac
grep -E "^== |^rc=|FAIL|PASSED|FAILED|ERROR SUMMARY" "$log" | tail -40
