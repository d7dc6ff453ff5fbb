#!/usr/bin/env bash
# make demo: an IsoFLOP sweep of four token mixers on synthetic associative
# recall (configs/demo.yaml), then a fit, a recommendation and the report.
# Everything goes to demo-out/ (DEMO_OUT to change); running it again resumes
# the sweep (finished runs are not retrained) and redraws the report.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${DEMO_OUT:-demo-out}
jobs=${DEMO_JOBS:-2}
db="$out/scalelab.db"
bin=./scalelab
spec=configs/demo.yaml
[ -x "$bin" ] || { echo "demo: $bin is missing; run make first" >&2; exit 1; }
mkdir -p "$out"
export SCALELAB_DB="$db"
t0=$SECONDS
step() { printf '\n== %s  (%ds)\n' "$*" $((SECONDS - t0)); }

step "store: $db"
"$bin" init --db "$db"

step "plan: $spec"
"$bin" sweep plan "$spec"

step "sweep: $jobs jobs at a time (runs/ holds each run's folder and log)"
"$bin" sweep run "$spec" --jobs "$jobs"
"$bin" sweep status "$spec"

# The question scalelab exists for: at each budget, which weight/state FLOP
# ratio gives the lowest loss? (a parabola in log WSFR per budget, then
# WSFR_opt = k C^a across budgets)
step "fit: IsoFLOP parabolas of loss in log WSFR, per budget"
"$bin" fit --sweep demo --form isoflop --x wsfr --y final_eval_loss

# A Chinchilla law over all mixers at once. At demo scale (3 widths, 3 budgets
# within 5x) N and D are poorly separated, so expect loose exponents: this
# shows the plumbing; configs/gpu-linux-isoflop.yaml is sized for real answers.
step "fit: L = E + A N^-alpha + B D^-beta over the finished runs"
"$bin" fit --sweep demo --form chinchilla --x params,tokens --y final_eval_loss

# The recommendation at the demo's largest budget and at 10x beyond it.
largest=$(awk '/budgets:/ { gsub(/[][,]/, " "); print $NF; exit }' "$spec")
step "recommend at C = $largest FLOPs"
"$bin" recommend --budget "$largest"
step "recommend at C = 10 x $largest FLOPs (extrapolated)"
"$bin" recommend --budget "$(awk -v c="$largest" 'BEGIN { printf "%.6g", 10 * c }')"

step "report"
"$bin" report --sweep demo --out "$out/report"

step "done in $((SECONDS - t0)) s"
echo "Open the report: $(cd "$out/report" && pwd)/index.html"
echo "(Markdown version: $bin report --sweep demo --out $out/report-md --format md)"
