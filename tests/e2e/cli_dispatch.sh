#!/usr/bin/env bash
# The command dispatcher from the outside: `scalelab help CMD` is `scalelab CMD --help`,
# an unknown command names the nearest one when it looks like a typo, and very large
# numbers (training FLOPs reach 1e23) come out of --json intact.
set -u
S=${SCALELAB:?SCALELAB must name the scalelab binary}
. "${SCALELAB_ROOT:?}/tests/e2e/lib/expect.sh"

for c in init train flops sweep runs fit recommend report data; do
  a=$("$S" help "$c" 2>&1); ra=$?
  b=$("$S" "$c" --help 2>&1); rb=$?
  [ "$ra" -eq 0 ] && [ "$ra" -eq "$rb" ] && [ "$a" = "$b" ] || fail "scalelab help $c differs from scalelab $c --help"
done
expect 0 "^usage: scalelab <command>" "$S" help
expect 2 "^scalelab: swep: unknown command; did you mean 'sweep'\?$" "$S" swep
expect 2 "^scalelab: recomend: unknown command; did you mean 'recommend'\?$" "$S" recomend
expect 2 "^scalelab: qqqqqq: unknown command \(scalelab --help lists them\)$" "$S" qqqqqq
expect 2 "^scalelab: fitt: unknown command; did you mean 'fit'\?$" "$S" help fitt

# One style for a bad option in every command, with "did you mean" for a likely typo.
for c in init train flops fit fits recommend report; do
  expect 2 "^scalelab: $c: unknown option --frobnicate \(scalelab $c --help lists them\)$" "$S" $c --frobnicate
done
expect 2 "^scalelab: recommend: unknown option --bugdet; did you mean --budget\?$" "$S" recommend --bugdet 1e20
expect 2 "^scalelab: fit: unknown option --fromm; did you mean --form\?$" "$S" fit --fromm chinchilla
expect 2 "^scalelab: data prepare: unknown option --frm; did you mean --from\?$" "$S" data prepare --frm x
expect 2 "^scalelab: recommend: option --budget needs a value \(scalelab recommend --help\)$" "$S" recommend --budget
expect 2 "^scalelab: fit: unknown option -q " "$S" fit -q

# --format json is --json wherever a command prints JSON.
tiny=${SCALELAB_ROOT:?}/configs/tiny.yaml
[ "$("$S" flops "$tiny" --json)" = "$("$S" flops "$tiny" --format json)" ] || fail "flops --format json differs from --json"
[ "$("$S" flops "$tiny")" = "$("$S" flops "$tiny" --format table)" ] || fail "flops --format table differs from the default"
for c in flops fit recommend; do
  expect 2 "^scalelab: $c: --format xml: expected table or json" "$S" $c --format xml
done

# 1e13 tokens of a 1e9-parameter-class run: training FLOPs far beyond 2^63.
cat > big.yaml <<'YAML'
model: {vocab_size: 256, d_model: 2048, n_layer: 24, n_head: 16, mixer: softmax}
train: {context: 2048, tokens: 10000000000000}
YAML
out=$("$S" flops big.yaml --json 2>&1) || fail "flops --json failed: $out"
python3 - "$out" <<'PY' || fail "training_flops did not survive --json: $out"
import json, sys
d = json.loads(sys.argv[1])
c = d["training_flops"]
assert isinstance(c, (int, float)) and 1e22 < c < 1e25, c
assert abs(c - 3 * (d["weight_flops_per_token"] + d["state_flops_per_token"]) * d["tokens"]) <= 1e-9 * c, c
PY
expect_done cli_dispatch
