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
# show says what the fit read and how: derived columns, filters, options, parameters with intervals
expect 0 "^  derived      tokens=\[Training FLOP\]/6/\[Model Size\]$" "$S" fits show 1
expect 0 "^  filters      loss<3.446995$" "$S" fits show 1
expect 0 "^  options .* loss huber; method lm; .*pool_mixers false" "$S" fits show 1
expect 0 "^  x columns    Model Size, tokens$" "$S" fits show 1
expect 0 "^    alpha  +0\.34" "$S" fits show 1
"$S" fits show 1 --json | python3 -c '
import json, sys
f = json.load(sys.stdin)["inputs"]
assert f["where"] == ["loss<3.446995"] and f["derive"] == ["tokens=[Training FLOP]/6/[Model Size]"], f
assert f["method"] == "lm" and f["pool_mixers"] is False and f["loss"] == "huber", f
' || fail "fits show --json lacks where/derive/options"
# non-ASCII column names, and a column named "mixers": its x_span member in the diagnostics
# comes before the diagnostics' own top-level "mixers" list, which recommend must read
printf 'Taille \xc3\xa9,\xe6\xbc\xa2,loss\n' > u.csv
for i in 1 2 3 4 5 6 7 8 9 10 11 12; do
  python3 -c "n=1e6*2**$i; d=2e9*1.5**(($i*7)%12); print(f'{n},{d},{1.7 + 400*n**-0.34 + 2000*d**-0.28:.6f}')" >> u.csv
done
"$S" fit --csv u.csv --form chinchilla --derive 'mixers=[漢] * 1' --x 'Taille é,mixers' --y loss \
  --where '[Taille é] > 0 and log([漢]) > 0' --grid 'e=-1:1:1,a=0:25:12.5,alpha=0:2:1' >/dev/null 2>&1 || fail "fit of u.csv"
expect 0 "^  x columns    Taille é, mixers$" "$S" fits show 3
expect 0 "^  filters      \[Taille é\] > 0 and log\(\[漢\]\) > 0$" "$S" fits show 3
expect 0 "^  derived      mixers=\[漢\] \* 1$" "$S" fits show 3
expect 0 "^    alpha  " "$S" fits show 3
expect 0 "N_opt" "$S" recommend --fit 3 --budget 1e20
expect_done fits_cli
