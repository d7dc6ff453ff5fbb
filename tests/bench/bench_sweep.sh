#!/usr/bin/env bash
# Sweep benchmarks: (1) time to expand and plan a 10,000-run spec (target <= 1 s);
# (2) scheduler overhead per run with real tiny runs (target <= 50 ms): the gap
# from one run's end (the trainer records it done) to the next run's claim, and
# the sweep's wall time minus the runs' own time, per run.
set -eu
S=${SCALELAB:?}
work=$(mktemp -d "${TMPDIR:-/tmp}/scalelab-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"
cat > big.yaml <<'Y'
name: big
base:
  model: {d_model: 32, n_layer: 2, n_head: 2, mixer: power, p: 2, chunk: 16}
  train: {context: 64, batch_size: 4, tokens: 20000}
grid:
  model.d_model: [16, 32, 48, 64, 80, 96, 112, 128, 144, 160]
  train.lr: [1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 3e-3, 5e-3, 1e-2, 2e-2, 5e-2]
  train.warmup_steps: [0, 10, 20, 30, 40, 50, 60, 70, 80, 90]
seeds: 10
derived:
  model.mlp_hidden: "${model.d_model} * 4"
constraints:
  - model.d_model % model.n_head == 0
Y
best=1e9
for i in 1 2 3; do
  t0=$(date +%s.%N); "$S" sweep plan big.yaml --json > plan.json; t1=$(date +%s.%N)
  best=$(python3 -c "print(min($best, $t1 - $t0))")
done
runs=$(python3 -c "import json; print(len(json.load(open('plan.json'))['runs']))")
echo "expand+plan of a $runs-run spec (sweep plan --json, best of 3): $(python3 -c "print(f'{$best:.3f}')") s (target <= 1 s)"

n=${BENCH_SWEEP_RUNS:-20}
python3 - "$n" > tiny.yaml <<'PY'
import sys
n = int(sys.argv[1])
print("name: overhead")
print("base:")
print("  model: {d_model: 16, n_layer: 1, n_head: 2, mixer: power, p: 2, chunk: 16}")
print("  train: {context: 32, batch_size: 4, tokens: 256, warmup_steps: 1, eval_every: 8, eval_tokens: 64}")
print("grid:")
print("  train.seed: [" + ", ".join(str(i) for i in range(n)) + "]")
PY
export SCALELAB_DB=$work/t.db
t0=$(date +%s.%N)
"$S" sweep run tiny.yaml --jobs 1 --threads-per-job 1 > run.txt 2>&1
t1=$(date +%s.%N)
python3 - "$SCALELAB_DB" "$t0" "$t1" "$n" <<'PY'
import sqlite3, sys, statistics
db, t0, t1, n = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
rows = sqlite3.connect(db).execute("SELECT started, finished FROM runs ORDER BY started").fetchall()
assert len(rows) == n and all(f for _, f in rows), rows
gaps = [rows[i + 1][0] - rows[i][1] for i in range(n - 1)]
own = sum(f - s for s, f in rows)
print(f"scheduler gap, one run's end -> next run's claim ({n} runs, --jobs 1): "
      f"mean {1e3 * statistics.mean(gaps):.1f} ms, max {1e3 * max(gaps):.1f} ms (target <= 50 ms)")
print(f"sweep wall {t1 - t0:.2f} s - runs' own time (claim to done) {own:.2f} s = "
      f"{1e3 * (t1 - t0 - own) / n:.1f} ms per run (includes process start, plan and store setup)")
print(f"mean run (claim to done, incl. trainer start-up): {1e3 * own / n:.0f} ms")
PY
