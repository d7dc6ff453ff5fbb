#!/usr/bin/env bash
# The weight/state answer: a state law (params, tokens, state_size) fitted on a sweep needs a family;
# with one, recommend lists only configs the family builds (each re-resolved by `scalelab flops`,
# which must agree on params, W, S and state size), spends the budget as C = 3 (W + S) tokens with
# their own W (not 2 N), never lists a non-finite loss (skipped and counted), gives the best
# config's quantities and state setting with bootstrap intervals, and marks a best config at the
# family's edge as a bound.
set -u
fail() { echo "FAIL: $*"; exit 1; }
command -v python3 >/dev/null || { echo "skip: python3 not found"; exit 77; }
. "$SCALELAB_ROOT/tests/e2e/lib/recommend_fixture.sh"
recommend_fixture r.db || fail "fixture"
sql() { python3 -c 'import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute(sys.argv[2], sys.argv[3:]); c.commit()' r.db "$@"; }
$SCALELAB fit --sweep ws --form additive --x params,tokens,state_size --grid 'e=0:1:1,a=0:10:5,alpha=0:0.5:0.5' \
  --bootstrap 30 --db r.db > /dev/null || fail "fit"
sql "UPDATE fits SET verdict = 'ok', diagnostics_json = '{\"verdict\": \"ok\", \"reasons\": [], \"mixers\": [\"power\"], \"pooled_mixers\": false}'"
$SCALELAB recommend --budget 1e16 --db r.db 2> err.txt && fail "a state law was answered without a family"
grep -q '^scalelab: recommend: fit 1 is a state law (column state_size): a family is needed to map the state to a configuration' err.txt ||
  fail "state law without family: $(cat err.txt)"
cat > fam.yaml <<'Y'
mixer: [power]
d_model: [64, 128, 256, 512]
n_layer: [2, 4, 8]
n_head: [4, 6]
p: [1, 2, 3, 4]
chunk: [64]
context: [512]
Y
$SCALELAB recommend --budget 1e16 --db r.db --family fam.yaml --top 8 --json > fam.json || fail "family"
python3 - fam.json <<'PY' || fail "family answer"
import json, sys
r = json.load(open(sys.argv[1]))
f, b, cs = r["family"], r["best"], r["configs"]
# n_head 6 divides none of the widths: those combinations are invalid, never proposed
assert f["members"] == 48 and f["combinations"] == 96 and f["invalid"] == 48, f
assert r["N_opt"] is None and b["state_law"] is True, r
assert len(cs) == 8 and cs[0]["setting"] == b["setting"], (cs[0], b)
for c in cs:
    assert c["predicted_loss"] is not None, c
    assert abs(3 * (c["weight_flops_per_token"] + c["state_flops_per_token"]) * c["tokens"] / 1e16 - 1) < 1e-9, c
    assert abs(c["weight_flops_per_token"] / (2 * c["params"]) - 1) > 0.01, ("W = 2 N", c)
    assert c["config"]["model"]["n_head"] == 4 and c["config"]["train"]["tokens"] == round(c["tokens"]), c
losses = [c["predicted_loss"] for c in cs]
assert losses == sorted(losses) and b["predicted_loss"] == losses[0], losses
# the state setting: the keys that set the state (here p), each with an interval over the replicates
assert set(b["state_setting"]) == {"p"} and set(b["setting"]) == {"d_model", "n_layer", "p"}, b
iv = b["intervals"]
for k in ("params", "tokens", "weight_flops_per_token", "state_flops_per_token", "wsfr", "state_size", "predicted_loss", "p"):
    lo, hi = iv[k]
    v = b["setting"]["p"] if k == "p" else b[k]
    assert lo <= v * (1 + 1e-12) and v <= hi * (1 + 1e-12), (k, lo, v, hi)
assert b["bootstrap"] + b["bootstrap_no_optimum"] == b["bootstrap_replicates"] == 30, b
# at this budget the deepest models win: that is a bound of the family, not an optimum
assert b["setting"]["n_layer"] == 8, b["setting"]
assert "bound: the largest n_layer in the family (8) is best; the optimum may lie beyond" in b["bounds"], b["bounds"]
for i, c in enumerate(cs):
    json.dump(c["config"], open("cfg%d.json" % i, "w"))
    json.dump({k: c[k] for k in ("params", "weight_flops_per_token", "state_flops_per_token", "state_size")},
              open("want%d.json" % i, "w"))
PY
# every listed config is buildable: it loads, resolves and its accounting is the one listed
for i in 0 1 2 3 4 5 6 7; do
  $SCALELAB flops "cfg$i.json" --json > got.json || fail "listed config $i does not resolve: $(cat cfg$i.json)"
  python3 - got.json "want$i.json" <<'PY' || fail "config $i accounting"
import json, sys
got, want = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
for k, v in want.items():
    assert got[k] == v, (k, got[k], v)
PY
done
$SCALELAB recommend --budget 1e16 --db r.db --family fam.yaml > fam.txt || fail "family text"
grep -q '^  state setting: p=' fam.txt || fail "state setting text: $(cat fam.txt)"
grep -q 'bound: the largest n_layer in the family (8) is best; the optimum may lie beyond' fam.txt || fail "bound text"
grep -q '48 combinations invalid' fam.txt || fail "invalid count: $(cat fam.txt)"
grep -q 'nan' fam.txt && fail "a nan in the text: $(cat fam.txt)"

# a law that overflows on the larger configs: those are skipped and counted, never listed
inputs='{"source": "sweep:ws", "form": "additive", "x_cols": ["params", "tokens", "state_size"], "y_col": "final_eval_loss",
 "theta": [0.47, 4.09, -50, 5.7, 0.3, 1.4, 0.25], "bootstrap": 0, "boot_theta": []}'
sql "INSERT INTO fits (created, form, source, inputs_json, objective, rmse_log, n_points, verdict)
     VALUES (0, 'additive', 'sweep:ws', ?, 0, 0, 54, 'ok')" "$inputs"
$SCALELAB recommend --budget 1e16 --fit 2 --db r.db --family fam.yaml --top 100 --json > nan.json || fail "overflowing law"
python3 - nan.json <<'PY' || fail "non-finite losses"
import json, sys
r = json.load(open(sys.argv[1]))
f, cs = r["family"], r["configs"]
assert f["skipped_nonfinite"] > 0 and len(cs) == f["members"] - f["skipped_nonfinite"], (f, len(cs))
assert all(c["predicted_loss"] is not None for c in cs), cs
PY
$SCALELAB recommend --budget 1e16 --fit 2 --db r.db --family fam.yaml --top 100 | grep -qi 'nan' && fail "a nan was listed"
# a family mixer the fit never saw is flagged
printf 'mixer: [power, softmax]\nd_model: [128, 256]\nn_layer: [4]\ncontext: [512]\n' > mix.yaml
$SCALELAB recommend --budget 1e16 --fit 1 --db r.db --family mix.yaml > mix.txt || fail "mixers family"
grep -q "warning: the family's mixer softmax is not in the fit's data" mix.txt || fail "unseen mixer: $(cat mix.txt)"
# family file errors name the file and line
printf 'mixer: [power]\nd_modl: [64]\n' > bad.yaml
$SCALELAB recommend --budget 1e16 --db r.db --family bad.yaml 2>err.txt && fail "unknown family key accepted"
grep -q "bad.yaml:2: 'd_modl' is not a run-config key" err.txt || fail "family key error: $(cat err.txt)"
echo ok
