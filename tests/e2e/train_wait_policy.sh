#!/usr/bin/env bash
# scalelab train re-executes itself with OMP_WAIT_POLICY=passive (libgomp reads it
# only at load; spinning OpenMP workers starve OpenBLAS's threads), keeping its PID;
# a policy the user set is left alone.
set -u
fail() { echo "FAIL: $*"; exit 1; }
S=$SCALELAB
cat > c.yaml <<'YAML'
model: {d_model: 16, n_layer: 1, n_head: 2, mixer: softmax}
train: {context: 32, batch_size: 2, tokens: 100000000, eval_every: 1000000, eval_tokens: 64}
data: {source: "synthetic:markov"}
YAML
policy_of() {   # policy the running train process sees, given the caller's environment
  "$@" "$S" train c.yaml --sink files --threads 1 --quiet --run-dir "run$RANDOM" > /dev/null 2>&1 &
  local pid=$! seen=""
  for _ in $(seq 1 100); do
    seen=$(tr '\0' '\n' < /proc/$pid/environ 2>/dev/null | grep '^OMP_WAIT_POLICY=')
    # the exec replaces the environment in place: wait until the process runs scalelab
    [ -n "$seen" ] && break
    sleep 0.05
  done
  kill -TERM $pid 2>/dev/null
  wait $pid 2>/dev/null
  echo "$seen"
}
[ -r /proc/self/environ ] || { echo "SKIP: no /proc"; exit 77; }
got=$(policy_of env -u OMP_WAIT_POLICY)
[ "$got" = "OMP_WAIT_POLICY=passive" ] || fail "default: got '$got', expected OMP_WAIT_POLICY=passive"
got=$(policy_of env OMP_WAIT_POLICY=active)
[ "$got" = "OMP_WAIT_POLICY=active" ] || fail "user setting: got '$got', expected OMP_WAIT_POLICY=active"
echo ok
