#!/usr/bin/env bash
# scalelab fit on the public Chinchilla runs (Epoch's 240 points, Hoffmann's grid) lands on
# Epoch AI's optimum; the fit is stored with an id; recommend uses it (latest and by id), its
# numeric optimum equals the closed form, and the bootstrap gives intervals around both.
set -u
fail() { echo "FAIL: $*"; exit 1; }
csv=$SCALELAB_TESTDATA/chinchilla/svg_extracted_data.csv
args=(--csv "$csv" --form chinchilla --derive 'tokens=[Training FLOP]/6/[Model Size]'
      --x 'Model Size,tokens' --y loss --where 'loss<3.446995' --db t.db)
$SCALELAB fit "${args[@]}" --json --bootstrap 50 --seed 1 > fit.json || fail "fit"
python3 - fit.json <<'PY' || fail "fit values"
import json, sys
f = json.load(open(sys.argv[1]))
assert list(f)[:7] == ["id", "form", "params", "intervals", "objective", "rmse_log", "n_points"], list(f)
assert f["id"] == 1 and f["form"] == "chinchilla" and f["n_points"] == 240, f
p, iv = f["params"], f["intervals"]
epoch = {"E": 1.82, "A": 482.01, "alpha": 0.3478, "B": 2085.43, "beta": 0.3658}
tol = {"E": 0.005, "A": 0.03, "alpha": 0.015, "B": 0.05, "beta": 0.015}
for k, v in epoch.items():
    assert abs(p[k] / v - 1) < tol[k], (k, p[k], v)
    lo, hi = iv[k]
    assert lo < p[k] < hi, (k, lo, p[k], hi)
assert abs(f["objective"] - 0.00101827) < 1e-7, f["objective"]
assert 0.5 < p["N_opt_exponent"] < 0.53 and "G" in iv, p
assert f["verdict"] == "ok" and f["reasons"] == [] and f["diagnostics"]["at_bound"] == [], f["diagnostics"]
assert f["diagnostics"]["rel_se_boot"]["alpha"] < 0.1, f["diagnostics"]
PY
$SCALELAB fit "${args[@]}" --grid 'e=0:1:0.5,a=5:10:5,alpha=0:0.5:0.5' --method bfgs2 > text.txt || fail "second fit"
grep -q '^fit 2: chinchilla' text.txt || fail "text output lacks the id: $(cat text.txt)"
grep -q 'alpha  *0.3473' text.txt || fail "bfgs2 fit differs: $(cat text.txt)"
grep -q '^  verdict: ok' text.txt || fail "bfgs2 verdict: $(cat text.txt)"
$SCALELAB recommend --budget 5.76e23 --fit 1 --db t.db --json > rec.json || fail "recommend"
python3 - rec.json <<'PY' || fail "recommend values"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["fit"] == 1
n, d, c = r["N_opt"], r["D_opt"], r["closed_form"]
assert abs(n / c["N_opt"] - 1) < 1e-6 and abs(d / c["D_opt"] - 1) < 1e-6, r
assert abs(6 * n * d / 5.76e23 - 1) < 1e-9, r
assert 5e10 < n < 1e11 and r["W_opt"] == 2 * n and r["S_opt"] is None, r
lo, hi = r["intervals"]["N_opt"]
assert lo < n < hi and r["bootstrap"] > 40, r
assert 1.9 < r["loss_opt"] < 2.05, r
PY
# the latest fit is the default
$SCALELAB recommend --budget 1e21 --db t.db | grep -q '^fit 2 ' || fail "recommend did not use the latest fit"
$SCALELAB recommend --budget 1e21 --fit 99 --db t.db 2>err.txt && fail "a missing fit was accepted"
grep -q 'scalelab: recommend:' err.txt || fail "missing fit: $(cat err.txt)"
# a family: every listed config has its own W, S, WSFR, tokens at the budget, best first
$SCALELAB recommend --budget 1e20 --fit 1 --family "$SCALELAB_ROOT/configs/family-power.yaml" --top 4 --json --db t.db > fam.json || fail "family"
python3 - fam.json <<'PY' || fail "family values"
import json, sys
r = json.load(open(sys.argv[1]))
cs = r["configs"]
assert len(cs) == 4 and r["family"]["members"] > 100, r["family"]
for c in cs:
    assert abs(3 * (c["weight_flops_per_token"] + c["state_flops_per_token"]) * c["tokens"] / 1e20 - 1) < 1e-6, c
    assert abs(c["wsfr"] - c["weight_flops_per_token"] / c["state_flops_per_token"]) < 1e-9 * c["wsfr"], c
    assert c["config"]["train"]["tokens"] == round(c["tokens"]), c
losses = [c["predicted_loss"] for c in cs]
assert losses == sorted(losses) and losses[0] >= r["loss_opt"] - 1e-9, (losses, r["loss_opt"])
PY
# a family file with an unknown key, or with no valid combination, is refused naming the file and line
printf 'mixer: [power]\nd_modl: [64]\n' > bad.yaml
$SCALELAB recommend --budget 1e20 --family bad.yaml --db t.db 2>err.txt && fail "unknown family key accepted"
grep -q "bad.yaml:2: 'd_modl' is not a run-config key" err.txt || fail "family key error: $(cat err.txt)"
printf 'd_model: [64]\nn_head: [5]\n' > none.yaml
$SCALELAB recommend --budget 1e20 --family none.yaml --db t.db 2>err.txt && fail "empty family accepted"
grep -q "none.yaml: none of the 1 combinations" err.txt || fail "empty family error: $(cat err.txt)"
echo ok
