#!/usr/bin/env bash
# The report as a reader sees it: rendered by headless Chromium from disk, every
# plot must load and decode (no <img> with naturalWidth 0, no failed resource),
# and a screenshot is kept in the build's test-logs for people to look at.
set -euo pipefail
source "$SCALELAB_ROOT/tests/e2e/lib/report_fixture.sh"
browser=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$browser" ]; then
  echo "SKIP: chromium is not installed (make deps installs Debian's chromium)"
  exit 77
fi
command -v sqlite3 >/dev/null || { echo "SKIP: the sqlite3 CLI is missing (make deps)"; exit 77; }

report_fixture store.db browser
"$SCALELAB" report --db store.db --sweep browser --out report
expected=$(grep -o '<img ' report/index.html | wc -l)
[ "$expected" -ge 5 ] || { echo "FAIL: expected at least 5 plots, the page has $expected"; exit 1; }

# The checker is injected into a copy, so the report itself carries no script.
# It counts resources that fired an error (capture phase sees <img> errors) and,
# once everything has loaded, images that did not decode.
checker='<script>var failed=0;addEventListener("error",function(){failed++},true);
addEventListener("load",function(){var im=document.images,broken=0;
for(var i=0;i<im.length;i++)if(!im[i].complete||im[i].naturalWidth===0)broken++;
var p=document.createElement("pre");p.id="imgcheck";
p.textContent="imgcheck broken="+broken+" total="+im.length+" failed="+failed;document.body.appendChild(p)});</script>'
awk -v s="$checker" '{print} /<head>/ && !done {print s; done=1}' report/index.html > report/check.html
grep -q imgcheck report/check.html || { echo "FAIL: could not inject the checker (no <head>?)"; exit 1; }

profile=$(mktemp -d "${TMPDIR:-/tmp}/scalelab-chromium.XXXXXX")
trap 'rm -rf "$profile"' EXIT
flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking
       --disable-component-update --disable-sync --user-data-dir="$profile" --virtual-time-budget=10000)
timeout 120 "$browser" "${flags[@]}" --dump-dom "file://$PWD/report/check.html" > dom.html 2> chromium.log || {
  echo "FAIL: chromium --dump-dom failed"; tail -20 chromium.log; exit 1; }
line=$(grep -o 'imgcheck broken=[0-9]* total=[0-9]* failed=[0-9]*' dom.html || true)
echo "browser: $line (expected total=$expected)"
[ "$line" = "imgcheck broken=0 total=$expected failed=0" ] || {
  echo "FAIL: some plots did not load in the browser"; tail -20 chromium.log; exit 1; }

logs="$(dirname "$SCALELAB")/test-logs"
mkdir -p "$logs"
shot="$logs/report_browser.png"
rm -f "$shot"
timeout 120 "$browser" "${flags[@]}" --hide-scrollbars --window-size=1280,2400 --screenshot="$shot" \
  "file://$PWD/report/index.html" >> chromium.log 2>&1 || { echo "FAIL: chromium --screenshot failed"; tail -20 chromium.log; exit 1; }
[ -s "$shot" ] || { echo "FAIL: no screenshot written"; exit 1; }
echo "screenshot: $shot ($(stat -c %s "$shot") bytes)"
