#!/usr/bin/env bash
# scalelab report from outside: every section in HTML and Markdown, the knees
# the fixture was built with, escaping of store text, byte-identical reruns,
# and a clear error with exit 1 for each kind of bad input.
set -uo pipefail
source "$SCALELAB_ROOT/tests/e2e/lib/report_fixture.sh"
command -v sqlite3 >/dev/null || { echo "SKIP: the sqlite3 CLI is missing (make deps)"; exit 77; }
command -v gnuplot >/dev/null || { echo "SKIP: gnuplot is missing (make deps installs gnuplot-nox)"; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }
expect_fail() {   # code, message pattern, command...
  local code=$1 pattern=$2; shift 2
  "$@" > out.txt 2> err.txt; local rc=$?
  [ $rc -eq "$code" ] || fail "'$*' exited $rc, expected $code ($(cat err.txt))"
  grep -q -- "$pattern" err.txt || fail "'$*': stderr lacks '$pattern': $(cat err.txt)"
}

sweep="iso<b>&\"x'"
report_fixture store.db "$sweep" || fail "fixture"
"$SCALELAB" report --db store.db --sweep "$sweep" --out html > out.txt || fail "report html: $(cat out.txt)"
grep -q 'html/index.html' out.txt || fail "report does not say where the page is"
for id in recommendation frontier isoflop context curves runs; do
  grep -q "<section id=\"$id\">" html/index.html || fail "no section $id"
done
for plot in frontier isoflop_wsfr isoflop_params context curves; do
  grep -q "<img src=\"plots/$plot.svg\"" html/index.html || fail "no <img> for $plot"
  [ -s "html/plots/$plot.svg" ] || fail "plots/$plot.svg missing"
  grep -q '</svg>' "html/plots/$plot.svg" || fail "plots/$plot.svg is not a whole SVG"
  [ -s "html/data/$plot.dat" ] && [ -s "html/data/$plot.gp" ] || fail "data or script of $plot missing"
done
grep -q 'Knee rule: the knee of a run is the first position bucket' html/index.html || fail "the knee rule is not stated"
grep -q 'Fitted frontier through the 3 budget optima' html/index.html || fail "no fitted frontier"
grep -q 'http' html/index.html && fail "the page refers to the network"
# Escaping: the sweep name is hostile HTML.
grep -q 'iso&lt;b&gt;&amp;&quot;x&#39;' html/index.html || fail "sweep name not escaped"
grep -qF 'iso<b>' html/index.html && fail "raw HTML from the store reached the page"
# 49 runs in the table (48 done + 1 failed), one row per run.
rows=$(sed -n '/<section id="runs">/,/<\/section>/p' html/index.html | grep -c '<tr><td>')
[ "$rows" -eq 49 ] || fail "runs table has $rows rows, expected 49"
grep -q '<td>.*#49</td><td class="num">softmax</td><td class="num">failed</td>' html/index.html || fail "failed run not listed"

# The knees the fixture was built with: run ids cycle softmax, window w=16,
# power p=1, power p=2 in groups of 4.
awk '/^# knee of run/ {run=$5; getline; split("128 16 32 64", want, " ");
       m=int((run-1)/4)%4+1; if ($1 != want[m]) {print "run " run ": knee " $1 ", want " want[m]; bad=1}; n++}
     END {if (n != 48) {print n " knees, want 48"; bad=1}; exit bad}' html/data/context.dat || fail "wrong knees"

# Markdown: same sections, plots beside it.
"$SCALELAB" report --db store.db --sweep "$sweep" --out md --format md > /dev/null || fail "report md"
for h in "## Recommendation" "## Loss against training compute" "## IsoFLOP curves" "## Context utility" \
         "## Training curves" "## Runs"; do
  grep -q "^$h" md/index.md || fail "markdown lacks '$h'"
done
[ "$(grep -c '](plots/.*\.svg)' md/index.md)" -eq 5 ] || fail "markdown does not show 5 plots"
[ -s md/plots/context.svg ] || fail "markdown plots missing"
grep -q 'iso<b>' md/index.md && fail "markdown let raw HTML through"

# Deterministic: a second report is byte-identical.
"$SCALELAB" report --db store.db --sweep "$sweep" --out html2 > /dev/null || fail "second report"
diff -r html html2 > /dev/null || fail "two reports of the same store differ"

# With a stored fit of the sweep, the recommendation comes from it.
"$SCALELAB" fit --db store.db --sweep "$sweep" --form chinchilla > fit.txt || fail "fit: $(cat fit.txt)"
"$SCALELAB" report --db store.db --sweep "$sweep" --out fitted > /dev/null || fail "report after fit"
grep -q 'Recommendation source: stored fit #1 (chinchilla)' fitted/index.html || fail "the stored fit is not used"

# Bad input: clear errors, exit 1 (2 for usage), nothing created.
expect_fail 1 "no sweep named 'nope'" "$SCALELAB" report --db store.db --sweep nope --out x
[ -e x ] && fail "a failed report created its folder"
expect_fail 1 "no such store" "$SCALELAB" report --db missing.db --out x
[ -e missing.db ] && fail "report created a store"
"$SCALELAB" init --db empty.db > /dev/null
expect_fail 1 "holds no runs" "$SCALELAB" report --db empty.db --out x
sqlite3 store.db "INSERT INTO sweeps (name, spec, created) VALUES ('broken', '', 0);
  INSERT INTO sweep_runs (sweep, run) VALUES ('broken', 49);"
expect_fail 1 "no finished run" "$SCALELAB" report --db store.db --sweep broken --out x
touch afile
expect_fail 1 "afile" "$SCALELAB" report --db store.db --sweep "$sweep" --out afile/report
SCALELAB_GNUPLOT=/nonexistent/gnuplot expect_fail 1 "cannot run /nonexistent/gnuplot" \
  "$SCALELAB" report --db store.db --sweep "$sweep" --out y
expect_fail 2 "expected html or md" "$SCALELAB" report --db store.db --out x --format pdf
expect_fail 2 "--out DIR is required" "$SCALELAB" report --db store.db
"$SCALELAB" report --help | grep -q 'usage: scalelab report' || fail "--help"
echo "report_sections: all checks passed"
