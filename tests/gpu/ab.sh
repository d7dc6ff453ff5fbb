#!/usr/bin/env bash
# Builds measured in one device call, alternately (A B A B ..., or A B C A B C ... for a stack of
# branches), so that each change is judged against its base on the same GPU and minute (issue
# 10's rule: a peer measured in the same call). Each build is a folder made by tests/gpu/stage.sh;
# all travel in one carry.
#   bash ab.sh OUT_DIR A_STAGE B_STAGE [C_STAGE ...]     (ROUNDS=2 rounds by default)
# First the last build's full test_backend (give the builds in stack order: the last one holds
# every change, ~4 minutes), then per round and build the bf16 training steps: the 12-layer
# d_model 768 softmax and power p=2 model (bench_cuda model12) and the 4-layer softmax at d_model
# 256 and 512. Writes OUT_DIR/ab_test_backend.txt and OUT_DIR/ab.txt, whose last lines give each
# step's tok/s per round and build, and each build's mean over the previous build's. Exit 1 if
# the test failed. NCU=1 adds per-kernel ncu times of the 12-layer softmax step per build and
# their differences (OUT_DIR/ncu_*.txt; tests/gpu/ncu_diff.py).
set -u
out=${1:?usage: ab.sh OUT_DIR A_STAGE B_STAGE [C_STAGE ...]}
shift
[ $# -ge 2 ] || { echo "ab.sh: give at least two stage folders"; exit 2; }
rounds=${ROUNDS:-2}
stages=()
for s in "$@"; do stages+=("$(cd "$s" && pwd)") || exit 1; done
names=(A B C D E F G H)
mkdir -p "$out"
out=$(cd "$out" && pwd)
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(nproc)}
log=$out/ab.txt
: > "$log"
for i in "${!stages[@]}"; do
  (cd "${stages[$i]}" && tar xJf bins.tar.xz) || exit 1
  echo "${names[$i]} $(cat "${stages[$i]}/COMMIT")" | tee -a "$log"
done
date -u +%Y-%m-%dT%H:%MZ | tee -a "$log"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader | tee -a "$log"
t0=$(date +%s)
last=${stages[${#stages[@]} - 1]}
(cd "$last" && timeout 300 ./test_backend > "$out/ab_test_backend.txt" 2>&1)
rc=$?
echo "${names[${#stages[@]} - 1]} test_backend rc=$rc [$(( $(date +%s) - t0 )) s]" | tee -a "$log"
grep -E "FAIL|PASSED|FAILED" "$out/ab_test_backend.txt" | tail -4 | tee -a "$log"
# rows "step build round tok/s"
for r in $(seq 1 "$rounds"); do
  for i in "${!stages[@]}"; do
    side=${names[$i]}
    (cd "${stages[$i]}" && timeout 60 ./bench_cuda 10 8 model12 2>/dev/null) |
      awk -v s="$side" -v r="$r" '$1 == "ours" { print "12L-" $2, s, r, $3 }' >> "$log.rows"
    for dm in 256 512; do
      (cd "${stages[$i]}" && timeout 60 ./bench_cuda 5 8 softmax "$dm" 2>/dev/null) |
        awk -v s="$side" -v r="$r" '$1 == "softmax" && $2 == "cuda-bf16" { print "4L-softmax-d" $3, s, r, $7 }' \
          >> "$log.rows"
    done
  done
done
echo "[$(( $(date +%s) - t0 )) s]" >> "$log"
# NCU=1: per-kernel times of the first NCU_KERNELS (1300: a little under two 12-layer softmax steps)
# kernels of `bench_cuda 1 8 model12` under each build (clocks left alone), and each build's
# difference from the one before it by kernel (ncu_diff.py): where a change gained or lost.
if [ "${NCU:-0}" = 1 ] && command -v ncu > /dev/null; then
  for i in "${!stages[@]}"; do
    (cd "${stages[$i]}" && timeout 200 ncu --clock-control none --metrics gpu__time_duration.sum \
      --print-summary per-kernel -c "${NCU_KERNELS:-1300}" ./bench_cuda 1 8 model12 > "$out/ncu_${names[$i]}.txt" 2>&1)
    [ "$i" -gt 0 ] && python3 "$(dirname "$0")/ncu_diff.py" "$out/ncu_${names[$((i - 1))]}.txt" "$out/ncu_${names[$i]}.txt" 25 \
      > "$out/ncu_diff_${names[$((i - 1))]}${names[$i]}.txt" 2>&1
  done
fi
awk -v nb="${#stages[@]}" -v names="${names[*]}" '
  BEGIN { split(names, nm, " ") }
  { v[$1, $2] = v[$1, $2] " " $4; sum[$1, $2] += $4; n[$1, $2]++; if (!($1 in seen)) { seen[$1]; order[++k] = $1 } }
  END {
    printf "%-18s", "step (tok/s)"
    for (b = 1; b <= nb; b++) printf " %-26s", nm[b] " rounds"
    for (b = 2; b <= nb; b++) printf " %s/%s", nm[b], nm[b - 1]
    printf "\n"
    for (i = 1; i <= k; i++) {
      s = order[i]; printf "%-18s", s
      for (b = 1; b <= nb; b++) printf " %-26s", v[s, nm[b]]
      for (b = 2; b <= nb; b++) {
        p = nm[b - 1]; q = nm[b]
        printf " %.3f", n[s, p] && n[s, q] && sum[s, p] ? (sum[s, q] / n[s, q]) / (sum[s, p] / n[s, p]) : 0
      }
      printf "\n"
    } }' "$log.rows" | tee -a "$log"
rm -f "$log.rows"
[ $rc -eq 0 ]
