#!/usr/bin/env bash
# The isoflop form on the Marin IsoFLOP sweeps, end to end: budgets grouped from total_gflops,
# the validation-optimal runs filtered out by name, a parabola per budget, x_opt = k C^a; the
# exponents come out Chinchilla-like (N ~ C^0.40-0.42, D ~ C^0.55-0.57 here). recommend turns the
# stored isoflop fit into N_opt and D_opt = C / (6 N_opt).
set -u
fail() { echo "FAIL: $*"; exit 1; }
for set in comma dclm nemotron; do
  $SCALELAB fit --csv "$SCALELAB_TESTDATA/marin_isoflop/isoflop-$set.csv" --form isoflop --x parameter_count \
    --y eval/paloma/macro_loss --budget throughput/total_gflops --budget-scale 1e9 \
    --where 'Name!~validation-optimal' --json --db t.db > $set.json || fail "$set fit"
  python3 - $set.json <<'PY' || fail "$set values"
import json, sys
f = json.load(open(sys.argv[1]))
assert f["form"] == "isoflop" and f["n_points"] >= 80, f
a = f["params"]["a_parameter_count"]
lo, hi = f["intervals"]["a_parameter_count"]
assert 0.38 < a < 0.46 and lo < a < hi, (a, lo, hi)
bs = f["budgets"]
assert len(bs) == 7 and all(b["x_opt_interval"][0] < b["x_opt"] < b["x_opt_interval"][1] for b in bs if b["n"] > 3), bs
assert [b["budget"] for b in bs] == sorted(b["budget"] for b in bs)
assert all(b2["loss_opt"] < b1["loss_opt"] for b1, b2 in zip(bs, bs[1:])), "more compute, lower loss"
assert f["n_interior_budgets"] == 7 and f["exponent_note"] is None, f
assert all(b["vertex_bound"] is None for b in bs), bs
assert f["verdict"] in ("ok", "weak") and "diagnostics" in f, (f["verdict"], f["reasons"])
PY
done
$SCALELAB recommend --budget 1e21 --db t.db --json > rec.json || fail "recommend"
python3 - rec.json <<'PY' || fail "recommend values"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["form"] == "isoflop" and 1e9 < r["N_opt"] < 1e10, r
assert abs(6 * r["N_opt"] * r["D_opt"] / 1e21 - 1) < 1e-9, r
PY
# without a budget column an isoflop fit of a CSV is a usage error
$SCALELAB fit --csv "$SCALELAB_TESTDATA/marin_isoflop/isoflop-dclm.csv" --form isoflop --x parameter_count --db t.db 2>err.txt
[ $? -eq 2 ] || fail "missing --budget not a usage error"
echo ok
