#!/usr/bin/env bash
# recommend answers only what the data support: it refuses an unconstrained stored fit (exit 1,
# its reasons and the runs that would fix it), warns on a weak one and on one without a verdict
# (text and --json), prints the extrapolation factor, measures W and S on the fit's runs (never
# W = 2 N), says which assumption it makes without runs, reports an optimum at the edge of the
# search as a bound, and counts bootstrap replicates without an interior optimum.
set -u
fail() { echo "FAIL: $*"; exit 1; }
command -v python3 >/dev/null || { echo "skip: python3 not found"; exit 77; }
. "$SCALELAB_ROOT/tests/e2e/lib/recommend_fixture.sh"
recommend_fixture r.db || fail "fixture"
sql() { python3 -c 'import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute(sys.argv[2], sys.argv[3:]); c.commit()' r.db "$@"; }
$SCALELAB fit --sweep ws --form additive --x params,tokens --grid 'e=0:1:1,a=0:10:5,alpha=0:0.5:0.5' \
  --bootstrap 20 --db r.db > /dev/null || fail "fit 1"

# --- the verdict gates the answer ---
sql "UPDATE fits SET verdict = NULL, diagnostics_json = NULL WHERE id = 1"
$SCALELAB recommend --budget 1e16 --fit 1 --db r.db > old.txt || fail "an old fit (no verdict) was refused"
grep -q 'warning: fit has no verdict (stored before v3); refit' old.txt || fail "no-verdict warning: $(cat old.txt)"
$SCALELAB recommend --budget 1e16 --fit 1 --db r.db --json > old.json || fail "old fit --json"
python3 - old.json <<'PY' || fail "no-verdict JSON"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["verdict"] is None and r["warnings"] == ["fit has no verdict (stored before v3); refit"], r
PY

diag='{"verdict": "unconstrained", "reasons": ["alpha_params is at its bound: params spans 7.7x; add widths down to 32 or up to 512"],
 "converged_starts": 3, "polished_starts": 8, "at_bound": ["alpha_params"], "rel_se": {"E": 0.1, "alpha_params": null},
 "x_span": {"params": {"min": 858896, "max": 6.6e6, "ratio": 7.7}, "tokens": {"min": 2e6, "max": 3.2e7, "ratio": 16}},
 "compute": {"min": 3e12, "max": 2e15}, "mixers": ["power"], "pooled_mixers": false}'
sql "UPDATE fits SET verdict = 'unconstrained', diagnostics_json = ? WHERE id = 1" "$diag"
$SCALELAB recommend --budget 1e16 --fit 1 --db r.db > out.txt 2> err.txt
[ $? -eq 1 ] || fail "an unconstrained fit was answered: $(cat out.txt)"
grep -q '^scalelab: recommend: fit 1 is unconstrained: alpha_params is at its bound: params spans 7.7x' err.txt ||
  fail "unconstrained message: $(cat err.txt)"
grep -q 'runs that would fix it: params below 2.86e+05 or above 1.98e+07' err.txt || fail "no runs to fix it: $(cat err.txt)"
[ ! -s out.txt ] || fail "an unconstrained fit printed an answer: $(cat out.txt)"
$SCALELAB recommend --budget 1e16 --fit 1 --db r.db --json > /dev/null 2>&1 && fail "--json answered an unconstrained fit"

weak=${diag/\"verdict\": \"unconstrained\"/\"verdict\": \"weak\"}
weak=${weak/alpha_params is at its bound: params spans 7.7x; add widths down to 32 or up to 512/alpha_params has a wide interval (relative SE 0.6)}
weak=${weak/\"pooled_mixers\": false/\"pooled_mixers\": true}
sql "UPDATE fits SET verdict = 'weak', diagnostics_json = ? WHERE id = 1" "$weak"
$SCALELAB recommend --budget 1e16 --fit 1 --db r.db > weak.txt || fail "a weak fit was refused"
grep -q 'warning: fit is weak: alpha_params has a wide interval (relative SE 0.6)' weak.txt || fail "weak text: $(cat weak.txt)"
grep -q 'warning: pooled mixers: the WSFR reflects the mixer, not the state' weak.txt || fail "pooled label: $(cat weak.txt)"
# the extrapolation factor: budget / the diagnostics' compute.max
grep -q 'extrapolation: 5x the largest compute in the fit' weak.txt || fail "extrapolation text: $(cat weak.txt)"
$SCALELAB recommend --budget 1e16 --fit 1 --db r.db --json > weak.json || fail "weak --json"
python3 - weak.json <<'PY' || fail "weak JSON"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["verdict"] == "weak", r
assert r["warnings"][0] == "fit is weak: alpha_params has a wide interval (relative SE 0.6)", r["warnings"]
assert "pooled mixers: the WSFR reflects the mixer, not the state" in r["warnings"] and r["pooled_mixers"] is True, r
assert abs(r["extrapolation"] - 5) < 1e-12 and r["compute_max"] == 2e15, r
PY

# --- without compute in the diagnostics, the sweep's runs give it; W and S come from the runs ---
sql "UPDATE fits SET verdict = 'ok', diagnostics_json = '{\"verdict\": \"ok\", \"reasons\": []}' WHERE id = 1"
$SCALELAB recommend --budget 1e16 --fit 1 --db r.db --json > ok.json || fail "ok fit"
python3 - ok.json r.db <<'PY' || fail "cost and extrapolation from the runs"
import json, math, sqlite3, sys
r = json.load(open(sys.argv[1]))
con = sqlite3.connect(sys.argv[2])
cmax, = con.execute("SELECT max(training_flops) FROM runs WHERE status = 'done'").fetchone()
assert r["warnings"] == [] and r["verdict"] == "ok", r
assert abs(r["extrapolation"] / (1e16 / cmax) - 1) < 1e-12, (r["extrapolation"], 1e16 / cmax)
c = r["cost"]
assert c["source"] == "runs" and c["n_runs"] == 54, c
# the log-log least squares of W on params over the runs, recomputed here
rows = con.execute("SELECT params, weight_flops_per_token, state_flops_per_token FROM runs").fetchall()
lx = [math.log(n) for n, w, s in rows]; lw = [math.log(w) for n, w, s in rows]
mx, mw = sum(lx) / len(lx), sum(lw) / len(lw)
b = sum((x - mx) * (y - mw) for x, y in zip(lx, lw)) / sum((x - mx) ** 2 for x in lx)
assert abs(c["w_exp"] - b) < 1e-9 and abs(math.log(c["w_coef"]) - (mw - b * mx)) < 1e-9, (c, b)
N, D, W, S = r["N_opt"], r["D_opt"], r["W_opt"], r["S_opt"]
assert abs(W / (c["w_coef"] * N ** c["w_exp"]) - 1) < 1e-9, r
assert abs(W / (2 * N) - 1) > 0.02, ("W = 2 N", W, N)
assert S > 0 and abs(3 * (W + S) * D / 1e16 - 1) < 1e-9, r
assert r["bound"] is None and r["bounds"] == [], r
PY
grep -q "log-log least squares over 54 runs of sweep ws" <($SCALELAB recommend --budget 1e16 --fit 1 --db r.db) ||
  fail "the cost model is not printed"

# --- a fit without runs says which assumption it uses; bounds and bootstrap replicates without an optimum ---
# theta = (log E, log A, alpha, log B, beta); replicate 2 has alpha = 0 (loss never falls with N: the
# smallest N wins), replicate 4 has beta = 0 (tokens do not help: the largest N wins)
inputs='{"source": "csv:made.csv", "form": "additive", "x_cols": ["params", "tokens"], "y_col": "loss",
 "theta": [0.47, 4.09, 0.3, 5.7, 0.3], "bootstrap": 5, "boot_theta": [[0.47, 4.09, 0.31, 5.7, 0.3],
 [0.47, 4.09, 0, 5.7, 0.3], [0.47, 4.1, 0.3, 5.7, 0.29], [0.47, 4.09, 0.3, 5.7, 0], [0.46, 4.09, 0.3, 5.7, 0.3]]}'
sql "INSERT INTO fits (created, form, source, inputs_json, objective, rmse_log, n_points, verdict, diagnostics_json)
     VALUES (0, 'additive', 'csv:made.csv', ?, 0, 0, 20, 'ok', '{\"verdict\": \"ok\", \"reasons\": [], \"compute\": {\"min\": 1e15, \"max\": 1e18}}')" "$inputs"
$SCALELAB recommend --budget 1e21 --fit 2 --db r.db > csv.txt || fail "csv fit"
grep -q '2 of 5 bootstrap replicates have no interior optimum' csv.txt || fail "replicates without optimum: $(cat csv.txt)"
grep -q 'cost: assumed W = 2 N, S = 0 per token (the C = 6 N D convention)' csv.txt || fail "assumption: $(cat csv.txt)"
grep -q 'closed form: N_opt' csv.txt || fail "closed form cross-check: $(cat csv.txt)"
grep -q 'extrapolation: 1e+03x' csv.txt || fail "extrapolation: $(cat csv.txt)"
$SCALELAB recommend --budget 1e21 --fit 2 --db r.db --json --w-per-param 1.8 > csv.json || fail "csv --json"
python3 - csv.json <<'PY' || fail "csv JSON"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["bootstrap_replicates"] == 5 and r["bootstrap_no_optimum"] == 2 and r["bootstrap"] == 3, r
c = r["cost"]
assert c["source"] == "assumed" and c["w_coef"] == 1.8 and c["w_exp"] == 1 and "--w-per-param" in c["note"], c
N, D = r["N_opt"], r["D_opt"]
assert r["W_opt"] == 1.8 * N and abs(3 * 1.8 * N * D / 1e21 - 1) < 1e-9, r
cf = r["closed_form"]
assert abs(cf["N_opt"] / N - 1) < 1e-6 and abs(cf["D_opt"] / D - 1) < 1e-6, (cf, N, D)
PY
# the law itself without an interior optimum: a bound, not an optimum
sql "INSERT INTO fits (created, form, source, inputs_json, objective, rmse_log, n_points, verdict)
     SELECT 0, form, source, replace(inputs_json, '\"theta\": [0.47, 4.09, 0.3,', '\"theta\": [0.47, 4.09, 0,'), 0, 0, 20, 'ok' FROM fits WHERE id = 2"
$SCALELAB recommend --budget 1e21 --fit 3 --db r.db > bound.txt || fail "a bound was refused"
grep -q 'bound: the predicted loss still falls towards N = 1, the smallest model' bound.txt || fail "bound: $(cat bound.txt)"
$SCALELAB recommend --budget 1e21 --fit 3 --db r.db --json | python3 -c '
import json, sys
r = json.load(sys.stdin)
assert r["bound"] == "smallest N" and len(r["bounds"]) == 1, r' || fail "bound JSON"
$SCALELAB recommend --help | grep -q -- '--w-per-param' || fail "help"
echo ok
