#!/usr/bin/env bash
# make demo: a scaling law measured on real text, end to end on a 2-core CPU.
#   1. data: a byte-level shard of the C headers in /usr/include/linux (Debian's
#      linux-libc-dev, on every machine with gcc), its size and hash recorded;
#   2. three sweeps (configs/demo*.yaml): widths of one family at three IsoFLOP
#      budgets (N_opt), the sliding window at fixed weights (WSFR_opt), and a
#      second seed at one point of each (the noise floor);
#   3. IsoFLOP fits of each arm, a Chinchilla law and a state law, stored with
#      their verdicts; recommend turns the laws into configurations of
#      configs/family-demo.yaml (or refuses, with the reason);
#   4. the report, which leads with the answer; the answer is printed here too.
# Everything goes to demo-out/ (DEMO_OUT to change); running it again resumes
# (finished runs are not retrained) and redraws the report. It exits 0 whatever
# the fits make of a noisy machine: a fit the data do not support is reported
# as such, never a failure. DEMO_DATA_FROM picks other text (a file or folder).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${DEMO_OUT:-demo-out}
jobs=${DEMO_JOBS:-2}
from=${DEMO_DATA_FROM:-/usr/include/linux}
db="$out/scalelab.db"
bin=./scalelab
[ -x "$bin" ] || { echo "demo: $bin is missing; run make first" >&2; exit 1; }
mkdir -p "$out/data" "$out/specs"
export SCALELAB_DB="$db"
t0=$SECONDS
step() { printf '\n== %s  (%ds)\n' "$*" $((SECONDS - t0)); }

step "store: $db"
"$bin" init --db "$db"

shard="$out/data/c-headers.bin"
step "data: byte-level shard of $from"
[ -e "$from" ] || { echo "demo: $from is missing: install linux-libc-dev (make deps) or set DEMO_DATA_FROM" >&2; exit 1; }
"$bin" data prepare --from "$from" --out "$shard"
size=$(stat -c %s "$shard")
hash=$(sha256sum "$shard" | cut -d' ' -f1)
printf 'shard %s: %s bytes, sha256 %s, from %s\n' "$shard" "$size" "$hash" "$from" | tee "$out/data/c-headers.txt"

# The specs read the shard from demo-out/data/; with another DEMO_OUT, copies
# that point at it are run instead.
specs=()
for name in demo demo-state demo-noise; do
  spec="configs/$name.yaml"
  if [ "$out" != demo-out ]; then
    sed "s|file:demo-out/|file:$out/|" "$spec" > "$out/specs/$name.yaml"
    spec="$out/specs/$name.yaml"
  fi
  specs+=("$spec")
done

step "plan: ${specs[*]}"
for spec in "${specs[@]}"; do "$bin" sweep plan "$spec" | sed -n '1p;/^total/p;/^dropped/,$p'; done

for spec in "${specs[@]}"; do
  step "sweep: $spec, $jobs jobs at a time (run folders in $out/runs)"
  "$bin" sweep run "$spec" --jobs "$jobs" --runs-dir "$out/runs" | grep -v ' started (pid' || true
done

# A fit the data cannot support exits non-zero with its reason: say so and go on.
# fit_id is the id of the fit just stored ("fit 5: ..."), empty when none was.
fit() {
  fit_id=
  if ! "$bin" fit "$@" > "$out/fit.txt" 2>&1; then
    echo "fit $*: not supported by these runs: $(tail -1 "$out/fit.txt")"
  else
    cat "$out/fit.txt"
    fit_id=$(sed -n '1s/^fit \([0-9]*\):.*/\1/p' "$out/fit.txt")
  fi
}
step "fit: IsoFLOP parabolas of loss in log N per budget (width arm: N_opt)"
fit --sweep demo --form isoflop --x params --y final_eval_loss
step "fit: IsoFLOP parabolas of loss in log WSFR per budget (state arm: WSFR_opt)"
fit --sweep demo-state --form isoflop --x wsfr --y final_eval_loss

# The same question as laws, turned into configurations by recommend: a Chinchilla law over
# the width arm (N and tokens at a budget, with the runs' own W and S as its cost), and a
# state law over both arms (state size as the state variable). recommend refuses a law the
# data do not constrain and says which runs would fix it: that is an answer too.
largest=$(awk '/budgets:/ { gsub(/[][,]/, " "); print $NF; exit }' "${specs[0]}")
beyond=$(awk -v c="$largest" 'BEGIN { printf "%.6g", 10 * c }')
recommend() {
  [ -n "$fit_id" ] || { echo "recommend: no fit to answer from"; return; }
  if ! "$bin" recommend --fit "$fit_id" "$@" > "$out/recommend.txt" 2>&1; then
    echo "recommend $*: refused: $(tail -1 "$out/recommend.txt")"
  else
    cat "$out/recommend.txt"
  fi
}
step "fit: L = E + A N^-alpha + B D^-beta over the width arm"
fit --sweep demo --form chinchilla --x params,tokens --y final_eval_loss --bootstrap 100
step "recommend at C = $largest (the largest budget) and $beyond (10x beyond the data), from configs/family-demo.yaml"
recommend --budget "$largest" --family configs/family-demo.yaml --top 3
recommend --budget "$beyond" --family configs/family-demo.yaml --top 3
step "fit: a state law L = E + A N^-a + B D^-b + G Z^-g (Z = state size) over both arms"
fit --sweep demo --sweep demo-state --form additive --x params,tokens,state_size --y final_eval_loss --bootstrap 100
step "recommend the state at C = $largest from the state law"
recommend --budget "$largest" --family configs/family-demo.yaml --top 3

step "report (the answer first)"
"$bin" report --sweep demo --sweep demo-state --sweep demo-noise --out "$out/report" || {
  echo "demo: the report failed (see above)"; exit 1; }

# CPU time of everything this script waited for (the trainers included):
# bash's `times`, second line, user and system.
times > "$out/times.txt"   # in this shell: a subshell would count only itself
cpu=$(sed -n 2p "$out/times.txt" | awk '{ s = 0; for (i = 1; i <= 2; i++) { split($i, t, /[ms]/); s += t[1] * 60 + t[2] }; printf "%.0f", s }')
step "done in $((SECONDS - t0)) s wall; ${cpu} s CPU (user + system), $((cpu / 2)) s per core on 2 cores"
echo "data: $(cat "$out/data/c-headers.txt")"
echo "Open the report: $(cd "$out/report" && pwd)/index.html"
echo "(Markdown version: $bin report --sweep demo --sweep demo-state --sweep demo-noise --out $out/report-md --format md)"
