#!/usr/bin/env bash
# scalelab report from outside: the answer first, then every section in HTML
# and Markdown, the knees the fixture was built with, escaping of store text,
# byte-identical reruns, a page (not a failure) for empty series and for a
# sweep with nothing finished, and a clear error with exit 1 for bad input.
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
for id in answer recommendation frontier isoflop context curves runs; do
  grep -q "<section id=\"$id\">" html/index.html || fail "no section $id"
done
# The answer leads: it is the first section of the page, and it is printed.
first=$(grep -o '<section id="[a-z]*">' html/index.html | head -1)
[ "$first" = '<section id="answer">' ] || fail "the first section is $first, not the answer"
# Four mixers, four widths each: one width arm per mixer, each with N_opt per budget.
for label in softmax "window w=16" "power p=1" "power p=2"; do
  grep -q "^Width: $label, sweep " out.txt || fail "no width answer for $label printed: $(head -5 out.txt)"
  grep -q "<h3>Width: $label, sweep " html/index.html || fail "no width answer for $label on the page"
done
grep -q '^  C = 1e13: N_opt' out.txt || fail "no N_opt at C = 1e13 printed"
sed -n '/<section id="answer">/,/<\/section>/p' html/index.html > answer.html
grep -qE '<td class="num">(ok|weak|bound|undecided)</td>' answer.html || fail "the answer has no verdicts"
grep -q 'Noise floor' answer.html || fail "the answer does not say what the noise floor is"
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
grep -q '<td>.*#49</td><td class="num">softmax d=512</td><td class="num">failed</td>' html/index.html || fail "failed run not listed"

# The knees the fixture was built with: run ids cycle softmax, window w=16,
# power p=1, power p=2 in groups of 4.
awk '/^# knee of run/ {run=$5; getline; split("128 16 32 64", want, " ");
       m=int((run-1)/4)%4+1; if ($1 != want[m]) {print "run " run ": knee " $1 ", want " want[m]; bad=1}; n++}
     END {if (n != 48) {print n " knees, want 48"; bad=1}; exit bad}' html/data/context.dat || fail "wrong knees"

# Markdown: same sections, plots beside it.
"$SCALELAB" report --db store.db --sweep "$sweep" --out md --format md > /dev/null || fail "report md"
[ "$(grep -m1 '^## ' md/index.md)" = "## Answer" ] || fail "markdown does not start with the answer"
for h in "## Answer" "## Recommendation" "## Loss against training compute" "## IsoFLOP curves" "## Context utility" \
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
# A stored IsoFLOP fit of the sweep over all its mixers pools four width arms:
# the answer must not take it for one arm's (it stays with its own parabolas).
"$SCALELAB" fit --db store.db --sweep "$sweep" --form isoflop --x params > fit.txt || fail "isoflop fit: $(cat fit.txt)"
"$SCALELAB" report --db store.db --sweep "$sweep" --out pooled > out.txt || fail "report after isoflop fit"
grep -q 'stored IsoFLOP fit #2' out.txt && fail "a pooled IsoFLOP fit was used for one arm"
# One mixer alone in a sweep: its stored IsoFLOP fit is the answer, verdict and all.
sqlite3 store.db "INSERT INTO sweeps (name, spec, created) VALUES ('soft', '', 0);
  INSERT INTO sweep_runs (sweep, run) SELECT 'soft', id FROM runs WHERE json_extract(config_json, '\$.model.mixer') = 'softmax' AND status = 'done';"
"$SCALELAB" fit --db store.db --sweep soft --form isoflop --x params > fit.txt || fail "isoflop fit soft: $(cat fit.txt)"
sqlite3 store.db "UPDATE fits SET verdict = 'weak', diagnostics_json = '{\"verdict\": \"weak\", \"reasons\": [\"made up for the test\"]}' WHERE id = 3"
"$SCALELAB" report --db store.db --sweep soft --out soft > out.txt || fail "report soft"
grep -q '^Width: softmax, sweep soft — N_opt per budget from stored IsoFLOP fit #3, verdict weak' out.txt ||
  fail "the stored IsoFLOP fit is not the answer: $(head -3 out.txt)"
grep -q 'fit diagnostics: made up for the test' out.txt || fail "the fit's reasons are not shown"

# Empty series: a finished run without metrics or position losses, and a
# budget whose every run lacks them, still give a page that says so.
sqlite3 store.db "DELETE FROM metrics WHERE run IN (SELECT id FROM runs WHERE training_flops > 5e13);
  DELETE FROM position_loss WHERE run IN (SELECT id FROM runs WHERE training_flops > 5e13 OR id = 1);"
"$SCALELAB" report --db store.db --sweep "$sweep" --out sparse > out.txt || fail "report with empty series: $(cat out.txt)"
grep -q 'no training curves stored' sparse/data/curves.gp || fail "an empty curves panel does not say so"
grep -q 'no loss-by-position curves stored' sparse/data/context.gp || fail "an empty context panel does not say so"
grep -q 'finished runs without a training curve' sparse/index.html || fail "the page does not say curves are missing"
for plot in frontier isoflop_wsfr isoflop_params context curves; do
  grep -q '</svg>' "sparse/plots/$plot.svg" || fail "plots/$plot.svg not drawn with empty series"
done

# Bad input: clear errors, exit 1 (2 for usage), nothing created.
expect_fail 1 "no sweep named 'nope'" "$SCALELAB" report --db store.db --sweep nope --out x
[ -e x ] && fail "a failed report created its folder"
expect_fail 1 "no such store" "$SCALELAB" report --db missing.db --out x
[ -e missing.db ] && fail "report created a store"
"$SCALELAB" init --db empty.db > /dev/null
expect_fail 1 "holds no runs" "$SCALELAB" report --db empty.db --out x
# A sweep with nothing finished: a page that says there is no answer yet.
sqlite3 store.db "INSERT INTO sweeps (name, spec, created) VALUES ('broken', '', 0);
  INSERT INTO sweep_runs (sweep, run) VALUES ('broken', 49);"
"$SCALELAB" report --db store.db --sweep broken --out broken > out.txt || fail "report of a sweep with no finished run"
grep -q 'No answer yet' out.txt && grep -q 'No answer yet' broken/index.html || fail "no 'No answer yet'"
grep -q '</svg>' broken/plots/frontier.svg || fail "no empty frame drawn"
touch afile
expect_fail 1 "afile" "$SCALELAB" report --db store.db --sweep "$sweep" --out afile/report
SCALELAB_GNUPLOT=/nonexistent/gnuplot expect_fail 1 "cannot run /nonexistent/gnuplot" \
  "$SCALELAB" report --db store.db --sweep "$sweep" --out y
expect_fail 2 "expected html or md" "$SCALELAB" report --db store.db --out x --format pdf
expect_fail 2 "--out DIR is required" "$SCALELAB" report --db store.db
"$SCALELAB" report --help | grep -q 'usage: scalelab report' || fail "--help"
echo "report_sections: all checks passed"
