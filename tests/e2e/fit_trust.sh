#!/usr/bin/env bash
# Every fit says how far it can be trusted, in its text, its --json and the store: demo-like
# plateau data (N spanning 2.3x, loss flat at 4.16 with 1% noise) come out unconstrained with a
# reason that names the span and no non-positive exponent, by LM and BFGS2; an IsoFLOP sweep
# sampled only below its optima reports bounds and no exponent; a budget of 3 points says
# "no interval: 3 points" instead of printing NaN.
set -u
fail() { echo "FAIL: $*"; exit 1; }
python3 - <<'PY' || fail "writing the CSVs"
import math, random
random.seed(7)
with open("plateau.csv", "w") as f:
    f.write("params,tokens,loss\n")
    for i in range(24):
        n = 1e6 * 2.3 ** ((i % 6) / 5)
        d = 2e6 * 2 ** ((i // 6) / 3)
        f.write("%.6g,%.6g,%.6f\n" % (n, d, 4.16 * (1 + 0.01 * random.gauss(0, 1))))
# isoflop: 4 budgets, the vertex at 0.1 sqrt(C); "below" samples N_opt/30..N_opt/3 only, "around"
# samples N_opt/5..5 N_opt with 3 points in the smallest budget
for name, lo, span in (("below", 1 / 30, 10), ("around", 1 / 5, 25)):
    with open(name + ".csv", "w") as f:
        f.write("N,C,loss\n")
        for k in range(4):
            c = 1e18 * 10 ** k
            nopt = 0.1 * math.sqrt(c)
            m = 3 if name == "around" and k == 0 else 8
            for i in range(m):
                n = nopt * lo * span ** (i / (m - 1))
                u = math.log(n / nopt)
                f.write("%.8g,%.8g,%.8f\n" % (n, c, 3.5 - 0.2 * k + 0.05 * u * u + 0.0005 * ((i * 7 + k) % 5 - 2)))
PY
for method in lm bfgs2; do
  $SCALELAB fit --csv plateau.csv --form chinchilla --x params,tokens --method $method --bootstrap 10 --json \
    --db t.db > plateau-$method.json || fail "plateau fit ($method)"
  python3 - plateau-$method.json <<'PY' || fail "plateau verdict ($method)"
import json, sys
f = json.load(open(sys.argv[1]))
assert list(f)[:7] == ["id", "form", "params", "intervals", "objective", "rmse_log", "n_points"], list(f)
assert f["verdict"] == "unconstrained", f
assert any("params spans 2.3x" in r for r in f["reasons"]), f["reasons"]
assert any("add runs with params down to" in r for r in f["reasons"]), f["reasons"]
p = f["params"]
assert p["alpha"] > 0 and p["beta"] > 0 and p["alpha"] <= 3 and p["beta"] <= 3, p
assert 0 <= p["E"] < 4.16 * 0.99, p
d = f["diagnostics"]
for k in ("verdict", "reasons", "converged_starts", "polished_starts", "at_bound", "rel_se", "x_span", "compute",
          "mixers", "pooled_mixers"):
    assert k in d, k
assert abs(d["x_span"]["params"]["ratio"] - 2.3) < 1e-3, d["x_span"]
assert d["pooled_mixers"] is False and d["mixers"] == []
PY
done
# the store holds the verdict and the same diagnostics
python3 - t.db <<'PY' || fail "stored verdict"
import json, sqlite3, sys
rows = sqlite3.connect(sys.argv[1]).execute("SELECT verdict, diagnostics_json, params_json FROM fits ORDER BY id").fetchall()
assert len(rows) == 2, rows
for verdict, diag, params in rows:
    d = json.loads(diag)
    assert verdict == "unconstrained" == d["verdict"], (verdict, d)
    assert all(v > 0 for k, v in json.loads(params).items() if k in ("alpha", "beta"))
PY
$SCALELAB fit --csv plateau.csv --form chinchilla --x params,tokens --db t.db > plateau.txt || fail "plateau text"
grep -q '^  verdict: unconstrained' plateau.txt || fail "text lacks the verdict: $(cat plateau.txt)"
grep -q 'alpha is not constrained: params spans 2.3x' plateau.txt || fail "text lacks the reason: $(cat plateau.txt)"

# isoflop: every vertex above its samples
iso=(--form isoflop --x N --y loss --budget C)
$SCALELAB fit --csv below.csv "${iso[@]}" --json --db t.db > below.json || fail "isoflop below"
python3 - below.json <<'PY' || fail "isoflop bounds"
import json, sys
f = json.load(open(sys.argv[1]))
assert f["verdict"] == "unconstrained", f
assert f["params"]["a_N"] is None and f["intervals"]["a_N"] == [None, None], f["params"]
assert f["exponent_note"].startswith("no exponent: 0 of 4 budgets"), f["exponent_note"]
assert all(b["vertex_bound"] == "upper" and b["x_opt"] > b["x_range"][1] for b in f["budgets"]), f["budgets"]
assert len(f["diagnostics"]["at_bound"]) == 4, f["diagnostics"]
PY
$SCALELAB fit --csv below.csv "${iso[@]}" --db t.db > below.txt || fail "isoflop below text"
grep -q '>= ' below.txt || fail "bounds not shown as >=: $(cat below.txt)"
grep -q 'N_opt = k \* C^a: no exponent' below.txt || fail "no-exponent reason missing: $(cat below.txt)"
grep -q 'verdict: unconstrained' below.txt || fail "isoflop verdict: $(cat below.txt)"
# isoflop around the optima, the first budget with 3 points
$SCALELAB fit --csv around.csv "${iso[@]}" --json --db t.db > around.json || fail "isoflop around"
python3 - around.json <<'PY' || fail "isoflop around values"
import json, sys
f = json.load(open(sys.argv[1]))
b = f["budgets"]
assert b[0]["n"] == 3 and b[0]["x_opt_interval"] is None and b[0]["interval_note"] == "no interval: 3 points", b[0]
assert all(x["vertex_bound"] is None for x in b), b
assert abs(f["params"]["a_N"] - 0.5) < 0.02 and f["exponent_note"] is None, f
assert f["verdict"] == "ok", (f["verdict"], f["reasons"])
PY
$SCALELAB fit --csv around.csv "${iso[@]}" --db t.db > around.txt || fail "isoflop around text"
grep -q 'no interval: 3 points' around.txt || fail "3-point budget: $(cat around.txt)"
grep -qi 'nan' around.txt && fail "NaN printed: $(cat around.txt)"
$SCALELAB fit --help | grep -q -- '--pool-mixers' || fail "--help lacks --pool-mixers"
echo ok
