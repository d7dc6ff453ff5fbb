#!/usr/bin/env bash
# A tiny run's training rate in the trainer beside bench_cuda's, and where its GPU waits (issue 10,
# packed tiny runs: how much of the GPU does one run leave idle, and why). For each stage folder
# made by tests/gpu/stage.sh, each d_model and round:
#   scalelab train: 4 layers, softmax, bf16, context 2048, batch 8, STEP_TOKENS tokens (default 16M),
#     sink files; its steady rate = tokens / the loop's own clock from the step at a fifth of the run
#     to the last (metrics.tsv; start-up, warm-up and the final evaluation left out);
#   bench_cuda 20 8 softmax D: the median step of the same model with no data, store or clipping.
# Then, where nsys is installed, one run of the last stage at the first d_model under
# `nsys profile -t cuda`: the share of the steady part's wall time in which a kernel, copy or memset
# ran, the idle gaps by size, and the host's time in the CUDA calls that wait (cudaMemcpy).
#   bash step_gaps.sh OUT_DIR STAGE [STAGE ...]
# Environment: STEP_D_MODELS ("128 256"), ROUNDS (2), STEP_TOKENS (16000000).
set -u
out=${1:?usage: step_gaps.sh OUT_DIR STAGE [STAGE ...]}
shift
mkdir -p "$out"
out=$(cd "$out" && pwd)
stages=()
for s in "$@"; do stages+=("$(cd "$s" && pwd)") || exit 1; done
ds=${STEP_D_MODELS:-128 256}
tokens=${STEP_TOKENS:-16000000}
work=$(mktemp -d "${TMPDIR:-/tmp}/scalelab-gaps.XXXXXX")
trap 'rm -rf "$work"' EXIT
for s in "${stages[@]}"; do (cd "$s" && { [ -x scalelab ] || tar xJf bins.tar.xz; }) || exit 1; done
steady() { # METRICS.TSV -> tok/s past a fifth of the run
  awk -F'\t' 'NR > 1 { s[NR] = $2; w[NR] = $3; n = NR } END { a = int((n - 1) / 5) + 2;
    if (n > 10 && w[n] > w[a]) printf "%.0f", (s[n] - s[a]) / (w[n] - w[a]); else printf "nan" }' "$1"
}
config() { # D -> a run config
  cat > "$work/d$1.yaml" <<Y
model: {d_model: $1, n_layer: 4, n_head: $(($1 / 64)), mixer: softmax}
train: {context: 2048, batch_size: 8, tokens: $tokens, precision: bf16, eval_every: 1000000, eval_tokens: 16384}
data:  {source: "synthetic:recall"}
Y
}
{
  echo "date $(date -u +%Y-%m-%dT%H:%MZ)"
  nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader
  printf '%-8s %-9s %7s %5s %16s %16s %8s\n' stage commit d_model round train_tok/s bench_tok/s ratio
  for d in $ds; do
    config "$d"
    for r in $(seq 1 "${ROUNDS:-2}"); do
      for i in "${!stages[@]}"; do
        s=${stages[$i]}
        rm -rf "$work/run"
        (cd "$s" && timeout 120 ./scalelab train "$work/d$d.yaml" --device cuda --sink files --run-dir "$work/run" \
          --quiet > "$work/train.out" 2>&1) || tail -3 "$work/train.out"
        rate=$(steady "$work/run/metrics.tsv")
        bench=$(cd "$s" && timeout 60 ./bench_cuda 20 8 softmax "$d" 2>&1 |
          awk '$1 == "softmax" && $2 == "cuda-bf16" { print $7 }')
        printf '%-8s %-9s %7s %5s %16s %16s %8s\n' "$i" "$(cat "$s/COMMIT")" "$d" "$r" "$rate" "${bench:-nan}" \
          "$(python3 -c "print(f'{float(\"$rate\") / float(\"${bench:-nan}\"):.3f}')" 2>/dev/null)"
      done
    done
  done
} 2>&1 | tee "$out/step_gaps.txt"

command -v nsys > /dev/null || { echo "nsys not installed: no timeline" | tee -a "$out/step_gaps.txt"; exit 0; }
s=${stages[${#stages[@]} - 1]}
d=${ds%% *}
config "$d"
rm -rf "$work/run"
(cd "$s" && timeout 200 nsys profile -t cuda -o "$work/prof" --force-overwrite true ./scalelab train "$work/d$d.yaml" \
  --device cuda --sink files --run-dir "$work/run" --quiet > "$work/nsys.out" 2>&1) || tail -5 "$work/nsys.out"
nsys stats -r cuda_gpu_trace,cuda_api_sum -f csv -o "$work/st" "$work/prof.nsys-rep" > /dev/null 2>&1
steps=$(awk 'END { print NR - 1 }' "$work/run/metrics.tsv")
head -2 "$work/st_cuda_gpu_trace.csv" "$work/st_cuda_api_sum.csv" | cut -c1-300 >> "$out/step_gaps.txt"
python3 - "$work/st_cuda_gpu_trace.csv" "$work/st_cuda_api_sum.csv" "$steps" <<'PY' 2>&1 | tee -a "$out/step_gaps.txt"
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
iv = sorted((int(r["Start (ns)"]), int(r["Start (ns)"]) + int(r["Duration (ns)"])) for r in rows)
t0, t1 = iv[0][0], max(e for _, e in iv)
a, b = t0 + (t1 - t0) * 0.3, t0 + (t1 - t0) * 0.9  # the steady part: start-up and the end left out
busy, gaps, end = 0, [], None
for s, e in iv:
    if e <= a or s >= b: continue
    s, e = max(s, a), min(e, b)
    if end is not None and s > end: gaps.append(s - end)
    if end is None or e > end:
        busy += e - max(s, end if end is not None else s)
        end = e
span = b - a
steps = int(sys.argv[3]) * 0.6
print(f"nsys, d_model of the first row, steady 60% of the GPU timeline ({span / 1e9:.2f} s, ~{steps:.0f} steps): "
      f"busy {100 * busy / span:.1f}%, idle {(span - busy) / steps / 1e3:.0f} us a step")
for lo, hi in ((0, 2e3), (2e3, 1e4), (1e4, 1e5), (1e5, 1e12)):
    g = [x for x in gaps if lo <= x < hi]
    print(f"  gaps {lo / 1e3:>5.0f}-{hi / 1e3:<9.0f} us: {len(g) / steps:7.1f} a step, {sum(g) / steps / 1e3:8.1f} us a step")
print("  host time in CUDA calls, whole run (top 8):")
for r in list(csv.DictReader(open(sys.argv[2])))[:8]:
    print(f"    {r['Name']:<40} {float(r['Total Time (ns)']) / 1e6:9.1f} ms  {r['Num Calls']:>8} calls")
PY
