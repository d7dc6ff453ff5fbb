#!/usr/bin/env bash
# scalelab fits: stored fits listed in three formats and shown one at a time, long
# after the fit ran; bad arguments are usage errors.
set -u
S=${SCALELAB:?}
data=${SCALELAB_TESTDATA:?}/chinchilla/svg_extracted_data.csv
command -v python3 >/dev/null || { echo "skip: python3 is not installed (needed to check JSON)"; exit 77; }
. "${SCALELAB_ROOT:?}/tests/e2e/lib/expect.sh"
export SCALELAB_DB=$PWD/f.db
"$S" init >/dev/null
expect 0 "no fits stored yet" "$S" fits
for form in chinchilla powerlaw; do
  x='Model Size,tokens'; [ $form = powerlaw ] && x='Training FLOP'
  "$S" fit --csv "$data" --form $form --derive 'tokens=[Training FLOP]/6/[Model Size]' --x "$x" --y loss \
    --where 'loss<3.446995' --grid 'e=-1:1:1,a=0:25:12.5,alpha=0:2:1' >/dev/null 2>&1 || fail "fit $form failed"
done
expect 0 "^ +1 .*chinchilla .*240" "$S" fits
expect 0 "^ +2 .*powerlaw" "$S" fits
[ "$("$S" fits --format csv | head -1)" = "id,created,form,source,verdict,n_points,objective,rmse_log,params" ] ||
  fail "csv header changed"
[ "$("$S" fits --format csv | wc -l)" -eq 3 ] || fail "csv should hold a header and 2 fits"
"$S" fits --json | python3 -c '
import json, sys, re
fits = json.load(sys.stdin)
assert [f["id"] for f in fits] == [1, 2], fits
f = fits[0]
assert f["form"] == "chinchilla" and f["n_points"] == 240
assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", f["created"]), f["created"]
assert abs(f["params"]["alpha"] - 0.3473) < 0.01, f["params"]
assert f["inputs"]["x_cols"] == ["Model Size", "tokens"], f["inputs"]
' || fail "fits --json is not what was stored"
expect 0 "^fit 2: powerlaw on csv:" "$S" fits show 2
expect 0 '"form": "chinchilla"' "$S" fits show 1 --json
expect 1 "no fit with id 9" "$S" fits show 9
expect 2 "expected one fit id" "$S" fits show x
expect 2 "unexpected argument 'list'" "$S" fits list
expect 2 "expected table, csv or json" "$S" fits --format xml
expect_done fits_cli
