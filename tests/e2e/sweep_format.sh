#!/usr/bin/env bash
# One output vocabulary in `sweep`: plan, status and versions take --format (table|json;
# plan also csv) with --json as the alias of --format json, and a bad value or option
# gets the same one-line error as the other commands.
set -u
S=${SCALELAB:?}
. "${SCALELAB_ROOT:?}/tests/e2e/lib/expect.sh"
export SCALELAB_DB=$PWD/t.db OPENBLAS_NUM_THREADS=1
cat > s.yaml <<'Y'
name: fmt
base:
  model: {d_model: 16, n_layer: 1, n_head: 2, mixer: power, p: 2, chunk: 16}
  train: {context: 32, batch_size: 4, tokens: 2048, warmup_steps: 2, eval_every: 100000, eval_tokens: 256}
grid:
  train.lr: [1.0e-3, 3.0e-3]
  model.d_model: [16, 32]
Y

# plan: json == --json, table == the default, csv one row per run with the JSON's numbers
[ "$($S sweep plan s.yaml --json)" = "$($S sweep plan s.yaml --format json)" ] || fail "plan --format json differs from --json"
[ "$($S sweep plan s.yaml)" = "$($S sweep plan s.yaml --format table)" ] || fail "plan --format table differs from the default"
$S sweep plan s.yaml --format csv > plan.csv || fail "plan --format csv failed"
$S sweep plan s.yaml --json > plan.json
python3 - plan.csv plan.json <<'PY' || fail "plan csv does not match its json: $(cat plan.csv)"
import csv, json, sys
rows = list(csv.DictReader(open(sys.argv[1])))
d = json.load(open(sys.argv[2]))
assert len(rows) == len(d["runs"]) == 4, (len(rows), len(d["runs"]))
for row, run in zip(rows, d["runs"]):
    assert row["config_hash"] == run["config_hash"], (row, run)
    for k in ("params", "weight_flops_per_token", "state_flops_per_token", "tokens", "training_flops"):
        assert float(row[k]) == run[k], (k, row[k], run[k])
    assert row["overrides"] == " ".join(f"{k}={v}" for k, v in run["overrides"].items()), row
PY
expect 2 "^scalelab: sweep plan: --format xml: expected table, csv or json \(--json is json\)$" $S sweep plan s.yaml --format xml
expect 2 "^scalelab: sweep plan: unknown option --jsn; did you mean --json\?$" $S sweep plan s.yaml --jsn
expect 2 "^scalelab: sweep plan: option --format needs a value" $S sweep plan s.yaml --format

# status and versions of a finished sweep (no live scheduler: the output is stable)
$S sweep run s.yaml --jobs 2 --threads-per-job 1 > run.out 2>&1 || fail "sweep run: $(cat run.out)"
[ "$($S sweep status fmt --json)" = "$($S sweep status fmt --format json)" ] || fail "status --format json differs from --json"
[ "$($S sweep status fmt)" = "$($S sweep status fmt --format table)" ] || fail "status --format table differs from the default"
$S sweep status fmt --format json | python3 -c 'import json, sys; d = json.load(sys.stdin); assert d["counts"]["done"] == 4, d' ||
  fail "status --format json is not the status"
[ "$($S sweep versions fmt --json)" = "$($S sweep versions fmt --format json)" ] || fail "versions --format json differs from --json"
[ "$($S sweep status fmt --stale --json)" = "$($S sweep status fmt --stale --format json)" ] || fail "status --stale --format json differs"
expect 2 "^scalelab: sweep status: --format xml: expected table or json \(--json is json\)$" $S sweep status fmt --format xml
expect 2 "^scalelab: sweep versions: --format csv: expected table or json \(--json is json\)$" $S sweep versions fmt --format csv
expect 2 "^scalelab: sweep status: unknown option --frobnicate \(scalelab sweep status --help lists them\)$" $S sweep status fmt --frobnicate
expect 2 "^scalelab: sweep cancel: option --json does not go with sweep cancel" $S sweep cancel fmt --json
expect 2 "^scalelab: sweep status: --watch redraws the text view; it does not go with --json" $S sweep status fmt --watch --format json

expect_done sweep_format
