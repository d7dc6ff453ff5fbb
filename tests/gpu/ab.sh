#!/usr/bin/env bash
# Two builds measured in one device call, alternately (A B A B ...), so that a change is judged
# against its base on the same GPU and minute (issue 10's rule: a peer measured in the same call).
# Each build is a folder made by tests/gpu/stage.sh; both travel in one carry.
#   bash ab.sh OUT_DIR A_STAGE B_STAGE [ROUNDS]     (ROUNDS default 2)
# First B's full test_backend (the candidate's correctness: every op table, gradients, training),
# then per round and build the bf16 training steps: the 12-layer d_model 768 softmax and power
# p=2 model (bench_cuda model12) and the 4-layer softmax at d_model 256 and 512. Writes
# OUT_DIR/ab_test_backend.txt and OUT_DIR/ab.txt, whose last lines give each step's tok/s per
# round and B's mean over A's. Exit 1 if B's test_backend failed.
set -u
out=${1:?usage: ab.sh OUT_DIR A_STAGE B_STAGE [ROUNDS]}
a=$(cd "${2:?A_STAGE}" && pwd) b=$(cd "${3:?B_STAGE}" && pwd) rounds=${4:-2}
mkdir -p "$out"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(nproc)}
for d in "$a" "$b"; do (cd "$d" && tar xJf bins.tar.xz) || exit 1; done
log=$out/ab.txt
echo "A $(cat "$a/COMMIT") B $(cat "$b/COMMIT") $(date -u +%Y-%m-%dT%H:%MZ)" | tee "$log"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader | tee -a "$log"
t0=$(date +%s)
(cd "$b" && timeout 300 ./test_backend > "$out/ab_test_backend.txt" 2>&1)
rc=$?
echo "B test_backend rc=$rc [$(( $(date +%s) - t0 )) s]" | tee -a "$log"
grep -E "FAIL|PASSED|FAILED" "$out/ab_test_backend.txt" | tail -4 | tee -a "$log"
# rows "name build round tok/s"
for r in $(seq 1 "$rounds"); do
  for side in A B; do
    d=$a; [ "$side" = B ] && d=$b
    (cd "$d" && timeout 60 ./bench_cuda 10 8 model12 2>/dev/null) |
      awk -v s="$side" -v r="$r" '$1 == "ours" { print "12L-" $2, s, r, $3 }' >> "$log.rows"
    for dm in 256 512; do
      (cd "$d" && timeout 60 ./bench_cuda 5 8 softmax "$dm" 2>/dev/null) |
        awk -v s="$side" -v r="$r" '$1 == "softmax" && $2 == "cuda-bf16" { print "4L-softmax-d" $3, s, r, $7 }' \
          >> "$log.rows"
    done
  done
done
echo "[$(( $(date +%s) - t0 )) s]" >> "$log"
awk '{ v[$1, $2] = v[$1, $2] " " $4; sum[$1, $2] += $4; n[$1, $2]++; if (!($1 in seen)) { seen[$1]; order[++k] = $1 } }
     END { printf "%-18s %-32s %-32s %s\n", "step (tok/s)", "A rounds", "B rounds", "B/A (means)";
           for (i = 1; i <= k; i++) { s = order[i];
             printf "%-18s %-32s %-32s %.3f\n", s, v[s, "A"], v[s, "B"],
                    n[s, "A"] && n[s, "B"] && sum[s, "A"] ? (sum[s, "B"] / n[s, "B"]) / (sum[s, "A"] / n[s, "A"]) : 0 } }' \
  "$log.rows" | tee -a "$log"
rm -f "$log.rows"
[ $rc -eq 0 ]
