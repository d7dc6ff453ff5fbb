#!/usr/bin/env bash
# Rebuilds every fit, table and figure of the weight/state study from its
# exported CSV, on any machine (no GPU, no store of the study needed):
#   docs/results/wsfr-study/analyse.sh [DATA_DIR] [OUT_DIR]      (or: make study)
# DATA_DIR (default data/ beside this script) holds the runs of each arm as
# `scalelab runs --sweep wsfr-ARM --format csv` wrote them, plus positions.csv
# (loss by context position at the end of each run) and curves.csv (training
# curves). OUT_DIR (default analysis/ beside this script) receives:
#   fits.txt       each fit as `scalelab fits show` prints it (verdict, reasons, intervals)
#   FIT.json       each fit as `scalelab fit --format json` prints it
#   tables.txt     best loss per mixer and budget, seed noise, loss at long context
#   *.svg          the figures (gnuplot)
# The fits run in a throwaway store; nothing else is written.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
data=${1:-$here/data}
out=${2:-$here/analysis}
S=${SCALELAB:-$root/scalelab}
[ -x "$S" ] || { echo "analyse: $S not built (run make)" >&2; exit 1; }
for f in width state mixers seeds positions curves; do
  [ -f "$data/$f.csv" ] || { echo "analyse: $data/$f.csv missing" >&2; exit 1; }
done
command -v sqlite3 > /dev/null && command -v gnuplot > /dev/null ||
  { echo "analyse: needs sqlite3 and gnuplot (make deps)" >&2; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/wsfr-analyse.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export SCALELAB_DB=$tmp/fits.db
mkdir -p "$out"
: > "$out/fits.txt"

# fit NAME CSV ARGS...: one stored fit, its JSON beside the text. A fit that
# scalelab refuses (too few budgets or points) is a result too: its reason is
# kept in fits.txt and in NAME.json as {"refused": "..."}.
fit() {
  local name=$1 csv=$2; shift 2
  echo "== $name: scalelab fit --csv $csv.csv --y final_eval_loss $*" >> "$out/fits.txt"
  # From inside DATA_DIR, so that the fit's source names the file, not this machine's path.
  if (cd "$data" && "$S" fit --csv "$csv.csv" --y final_eval_loss "$@" > "$tmp/$name.txt" 2> "$tmp/$name.err" &&
      "$S" fit --csv "$csv.csv" --y final_eval_loss "$@" --format json > "$out/$name.json" 2>> "$tmp/$name.err"); then
    sed 's/^fit [0-9]*: /fit: /' "$tmp/$name.txt" >> "$out/fits.txt"
  else
    grep -v '^skipped' "$tmp/$name.err" | sed 's/^/refused: /' >> "$out/fits.txt"
    printf '{"refused": "%s"}\n' "$(grep -v '^skipped' "$tmp/$name.err" | head -1 | sed 's/"/\\"/g')" > "$out/$name.json"
  fi
  echo >> "$out/fits.txt"
}
iso=(--form isoflop --budget training_flops)
fit width-params   width  "${iso[@]}" --x params
fit width-wsfr     width  "${iso[@]}" --x wsfr
fit width-chinchilla width --form chinchilla --x params,tokens --bootstrap 200 --seed 0
fit state-window   state  "${iso[@]}" --x wsfr --where model.mixer==window
fit state-power    state  "${iso[@]}" --x wsfr --where model.mixer==power
fit mixers-softmax mixers "${iso[@]}" --x params --where model.mixer==softmax
fit mixers-p1      mixers "${iso[@]}" --x params --where model.mixer==power --where model.p==1
fit mixers-p2      mixers "${iso[@]}" --x params --where model.mixer==power --where model.p==2

# The tables, in SQL over the CSV (sqlite3 reads RFC 4180, quoted JSON cells included).
db=$tmp/study.db
for f in width state mixers seeds positions curves; do
  sqlite3 "$db" ".import --csv $data/$f.csv $f"
done
# One view of every run, the same columns from each arm's CSV (a column that a
# CSV lacks, such as model.window where no run has a window, reads as NULL).
cols=(id model.mixer model.p model.window model.d_model model.n_head train.seed training_flops params tokens
      wsfr final_eval_loss)
union=""
for f in width state mixers seeds; do
  have=" $(sqlite3 "$db" "SELECT group_concat(name, ' ') FROM pragma_table_info('$f')") "
  sel=""
  for c in "${cols[@]}"; do
    if [[ "$have" == *" $c "* ]]; then sel+="\"$c\", "; else sel+="NULL AS \"$c\", "; fi
  done
  union+="${union:+ UNION }SELECT ${sel%, } FROM $f"
done
sqlite3 "$db" "CREATE VIEW allruns AS $union"
sqlite3 "$db" > "$out/tables.txt" <<'SQL'
CREATE VIEW arm AS   -- every run once, named by what it is
  SELECT CAST(id AS INTEGER) id, "model.mixer" || CASE "model.mixer" WHEN 'power' THEN ' p=' || "model.p"
         WHEN 'window' THEN ' w=' || "model.window" ELSE '' END AS mixer,
         CAST("model.d_model" AS INTEGER) d, CAST("model.d_model" AS INTEGER) / CAST("model.n_head" AS INTEGER) hd,
         CAST("train.seed" AS INTEGER) seed, CAST(training_flops AS REAL) C, CAST(params AS REAL) N,
         CAST(tokens AS REAL) D, CAST(wsfr AS REAL) wsfr, CAST(final_eval_loss AS REAL) loss
  FROM allruns;
.mode column
.headers on
.print 'claim c: the best run of each mixer at each budget, on the grid of configs/wsfr-study/mixers.yaml'
.print '(d_model 64, 128, 256 with 32-wide heads; seed 0; widths whose token count fell outside [1e6, 1e8] not run)'
SELECT printf('%.0e', a.C) AS budget, a.mixer, a.d AS d_model, printf('%.4f', a.loss) AS best_loss
FROM arm a JOIN mixers m ON CAST(m.id AS INTEGER) = a.id
WHERE a.loss = (SELECT min(b.loss) FROM arm b JOIN mixers m2 ON CAST(m2.id AS INTEGER) = b.id
                WHERE b.mixer = a.mixer AND abs(b.C / a.C - 1) < 0.05)
ORDER BY a.C, a.loss;
.print ''
.print 'noise: the same config with seeds 0, 1, 2 (the seed also draws the evaluation windows)'
SELECT printf('%.0e', C) AS budget, mixer, d AS d_model, count(*) AS seeds, printf('%.4f', avg(loss)) AS mean_loss,
       printf('%.4f', sqrt((sum(loss * loss) - sum(loss) * sum(loss) / count(*)) / (count(*) - 1))) AS sd,
       printf('%.4f', max(loss) - min(loss)) AS range
FROM arm WHERE (mixer, d, hd, round(C / 1e12)) IN (SELECT mixer, d, hd, round(C / 1e12) FROM arm WHERE seed > 0)
GROUP BY mixer, d, hd, round(C / 1e12) ORDER BY C, mixer;
.print ''
.print 'long context: eval loss by context position (bucket ending at that position) of the best run of'
.print 'each mixer and state setting at 1e14 and 3e14, over every arm (seed 0)'
SELECT printf('%.0e', a.C) AS budget, a.mixer, a.d AS d_model, a.hd AS head_dim,
       printf('%.3f', max(CASE WHEN p.position = '64' THEN CAST(p.loss AS REAL) END)) AS "pos 64",
       printf('%.3f', max(CASE WHEN p.position = '256' THEN CAST(p.loss AS REAL) END)) AS "pos 256",
       printf('%.3f', max(CASE WHEN p.position = '1024' THEN CAST(p.loss AS REAL) END)) AS "pos 1024",
       printf('%.3f', max(CASE WHEN p.position = '2048' THEN CAST(p.loss AS REAL) END)) AS "pos 2048",
       printf('%.4f', a.loss) AS eval_loss
FROM arm a JOIN positions p ON CAST(p.run AS INTEGER) = a.id
WHERE a.seed = 0 AND a.C > 5e13 AND a.loss = (SELECT min(b.loss) FROM arm b WHERE b.mixer = a.mixer AND b.seed = 0
                                              AND abs(b.C / a.C - 1) < 0.05)
GROUP BY a.id ORDER BY a.C, a.loss;
SQL

# Figures: the data of each as a small table, then gnuplot (SVG).
q() { sqlite3 -separator ' ' "$db" "$1"; }
plot_budgets() {   # name, x column, title, x label, the SELECT's WHERE
  local name=$1 x=$2 title=$3 xl=$4 where=$5 cmd="" i=0
  for c in 1e13 3e13 1e14 3e14; do
    q "SELECT $x, loss FROM arm WHERE $where AND seed = 0 AND abs(C / $c - 1) < 0.05 ORDER BY $x" > "$tmp/$name-$c.dat"
    [ -s "$tmp/$name-$c.dat" ] || continue
    [ "$i" -eq 0 ] || cmd+=", "
    cmd+="'$tmp/$name-$c.dat' using 1:2 with linespoints pt 7 title 'C = $c'"
    i=$((i + 1))
  done
  gnuplot <<GP
set terminal svg size 640,420 dynamic font 'sans,11'
set output '$out/$name.svg'
set title "$title"
set logscale x
set xlabel "$xl"
set ylabel 'eval loss (nats/byte)'
set key top right
set grid
plot $cmd
GP
}
plot_budgets width-params N 'Width arm: power p=2, head_dim 32, d_model 32..384' 'parameters N' "mixer = 'power p=2' AND hd = 32 AND id IN (SELECT CAST(id AS INTEGER) FROM width)"
plot_budgets state-window wsfr 'State arm, d_model 128: sliding window 16..2048' 'WSFR = W / S' "mixer LIKE 'window%' AND d = 128"
plot_budgets state-power wsfr 'State arm, d_model 128: power p=2, head_dim 8..64' 'WSFR = W / S' "mixer = 'power p=2' AND d = 128"
for m in 'softmax' 'power p=1' 'power p=2'; do
  q "SELECT C, min(loss) FROM arm a JOIN mixers x ON CAST(x.id AS INTEGER) = a.id WHERE mixer = '$m' GROUP BY round(C / 1e12) ORDER BY C" \
    > "$tmp/frontier-${m// /_}.dat"
done
gnuplot <<GP
set terminal svg size 640,420 dynamic font 'sans,11'
set output '$out/mixers-frontier.svg'
set title 'Claim c: best eval loss per budget, d_model 64/128/256 (mixers.yaml)'
set logscale x
set xlabel 'training FLOPs C'
set ylabel 'best eval loss (nats/byte)'
set grid
plot '$tmp/frontier-softmax.dat' using 1:2 with linespoints pt 7 title 'softmax', \
     '$tmp/frontier-power_p=1.dat' using 1:2 with linespoints pt 7 title 'power p=1 (linear)', \
     '$tmp/frontier-power_p=2.dat' using 1:2 with linespoints pt 7 title 'power p=2'
GP
echo "analyse: $(grep -c '^== ' "$out/fits.txt") fits, tables.txt and $(ls "$out"/*.svg | wc -l) figures in $out"
