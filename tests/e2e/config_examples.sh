#!/usr/bin/env bash
# The example run configs in configs/ load, resolve, and report sensible FLOPs;
# a canonical JSON written out loads back to the same config hash.
set -u
fail() { echo "FAIL: $*"; exit 1; }
for name in tiny small-power small-softmax small-window small-markov; do
  cfg=$SCALELAB_ROOT/configs/$name.yaml
  $SCALELAB flops "$cfg" --json > "$name.json" || fail "$name.yaml"
  python3 - "$name.json" <<'PY' || fail "$name values"
import json, sys
f = json.load(open(sys.argv[1]))
assert f["params"] > f["params_non_embedding"] > 0, f
assert f["weight_flops_per_token"] > f["lm_head_flops_per_token"] > 0, f
assert f["state_flops_per_token"] > 0 and f["state_size"] > 0, f
assert abs(f["wsfr"] - f["weight_flops_per_token"] / f["state_flops_per_token"]) < 1e-9 * f["wsfr"], f
assert f["training_flops"] == 3 * (f["weight_flops_per_token"] + f["state_flops_per_token"]) * f["tokens"], f
assert len(f["config_hash"]) == 16, f
PY
done
# Keys a mixer does not use leave the hash alone; keys it uses change it.
h() { $SCALELAB flops "$SCALELAB_ROOT/configs/small-power.yaml" --json "$@" | python3 -c "import json,sys; print(json.load(sys.stdin)['config_hash'])"; }
[ "$(h)" = "$(h --set model.window=5)" ] || fail "window changed a power run's hash"
[ "$(h)" != "$(h --set model.chunk=32)" ] || fail "chunk did not change a power run's hash"
echo ok
