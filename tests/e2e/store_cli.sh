#!/usr/bin/env bash
# scalelab init and scalelab runs from the outside: messages, exit codes,
# refusals that leave files untouched, and the three output formats.
set -u
S=${SCALELAB:?SCALELAB must name the scalelab binary}
command -v sqlite3 >/dev/null || { echo "skip: the sqlite3 program is not installed"; exit 77; }
command -v python3 >/dev/null || { echo "skip: python3 is not installed (needed to check JSON)"; exit 77; }
V=5   # STORE_SCHEMA_VERSION (store/store.h)
. "${SCALELAB_ROOT:?}/tests/e2e/lib/expect.sh"

# --- init: create, no-op, upgrade -------------------------------------------
expect 0 "usage: scalelab init" "$S" init --help
expect 0 "created store \(schema version $V\)" "$S" init --db a.db
expect 0 "already at schema version $V" "$S" init --db a.db
SCALELAB_DB=env.db expect 0 "env.db: created" "$S" init
[ -f env.db ] || fail "SCALELAB_DB was not honoured"
expect 0 "scalelab.db: created" "$S" init
[ "$(sqlite3 a.db 'PRAGMA journal_mode')" = wal ] || fail "store is not in WAL mode"

sqlite3 v1.db <<'SQL' || fail "cannot build the v1 store"
CREATE TABLE sweeps (name TEXT PRIMARY KEY NOT NULL, spec TEXT NOT NULL, created REAL NOT NULL);
CREATE TABLE runs (id INTEGER PRIMARY KEY, sweep TEXT NOT NULL DEFAULT '', config_json TEXT NOT NULL,
  config_hash TEXT NOT NULL UNIQUE, status TEXT NOT NULL DEFAULT 'pending', attempt INTEGER NOT NULL DEFAULT 0,
  host TEXT, device TEXT, error TEXT, created REAL NOT NULL, started REAL, finished REAL, heartbeat REAL,
  params REAL, params_non_embedding REAL, weight_flops_per_token REAL, state_flops_per_token REAL, wsfr REAL,
  state_dim REAL, state_size REAL, tokens REAL, training_flops REAL, final_train_loss REAL,
  final_eval_loss REAL, best_context_loss REAL);
CREATE TABLE sweep_runs (sweep TEXT NOT NULL, run INTEGER NOT NULL, PRIMARY KEY (sweep, run)) WITHOUT ROWID;
CREATE TABLE metrics (run INTEGER NOT NULL, step INTEGER NOT NULL, tokens REAL, wall_seconds REAL, loss REAL,
  lr REAL, grad_norm REAL, tokens_per_second REAL, eval_loss REAL, PRIMARY KEY (run, step)) WITHOUT ROWID;
CREATE TABLE position_loss (run INTEGER NOT NULL, step INTEGER NOT NULL, position INTEGER NOT NULL, loss REAL,
  PRIMARY KEY (run, step, position)) WITHOUT ROWID;
CREATE TABLE fits (id INTEGER PRIMARY KEY, created REAL NOT NULL, form TEXT NOT NULL, source TEXT NOT NULL DEFAULT '',
  inputs_json TEXT, params_json TEXT, intervals_json TEXT, residuals_json TEXT, objective REAL, rmse_log REAL,
  n_points INTEGER NOT NULL DEFAULT 0);
INSERT INTO runs (id, config_json, config_hash, status, created) VALUES (1, '{}', 'h1', 'done', 0);
PRAGMA user_version = 1;
SQL
expect 0 "upgraded store from schema version 1 to $V" "$S" init --db v1.db
[ "$(sqlite3 v1.db 'SELECT count(*) FROM runs; PRAGMA user_version' | tr '\n' ' ')" = "1 $V " ] ||
  fail "v1 upgrade lost data or version"

# --- init: refusals leave the file alone -------------------------------------
printf 'not a database\n' >text.db
sqlite3 other.db 'CREATE TABLE songs (title TEXT); INSERT INTO songs VALUES ("x");'
sqlite3 newer.db "PRAGMA application_id = $((0x53434C42)); PRAGMA user_version = 9;"
for f in text.db other.db newer.db; do cp "$f" "$f.orig"; done
expect 1 "^scalelab: init: text.db: not a SQLite database" "$S" init --db text.db
expect 1 "other.db: not a scalelab store.*songs" "$S" init --db other.db
expect 1 "newer.db: store schema version 9 is newer than this scalelab knows \($V\)" "$S" init --db newer.db
expect 1 "newer.db: store schema version 9" "$S" runs --db newer.db
for f in text.db other.db newer.db; do
  cmp -s "$f" "$f.orig" || fail "$f was modified by a refused open"
  [ -e "$f-wal" ] && fail "$f grew a WAL file"
done
expect 2 "unknown option --frobnicate" "$S" init --frobnicate
expect 2 "needs a value" "$S" init --db
expect 2 "unexpected argument 'extra'" "$S" init extra

# --- runs ---------------------------------------------------------------------
expect 0 "usage: scalelab runs" "$S" runs --help
expect 1 "nowhere.db: no store here" "$S" runs --db nowhere.db
[ -e nowhere.db ] && fail "runs created a store"
expect 0 "^\[\]$" "$S" runs --db a.db --format json
expect 0 "^id,sweep,status,config_hash,params," "$S" runs --db a.db --format csv
sqlite3 a.db <<'SQL' || fail "cannot seed runs"
INSERT INTO sweeps VALUES ('demo', 'name: demo', 0), ('other', 'name: other', 0);
INSERT INTO runs (id, sweep, config_json, config_hash, status, attempt, host, device, created, params,
  params_non_embedding, weight_flops_per_token, state_flops_per_token, wsfr, state_dim, state_size, tokens,
  training_flops, final_train_loss, final_eval_loss, best_context_loss, error) VALUES
 (1, 'demo', '{"model":{"d_model":64,"mixer":"power","p":2}}', 'aa01', 'done', 1, 'box', 'cpu', 0, 123456, 100000,
  250000, 12000, 20.8333, 528, 67584, 2000000, 1.572e12, 2.345, 2.5, 2.4, NULL),
 (2, 'demo', '{"model":{"d_model":128,"note":"a, \"b\""}}', 'aa02', 'failed', 2, 'box', 'cpu', 0, 523456, NULL,
  1000000, 12000, 83.3, NULL, NULL, 2000000, 6.07e12, NULL, NULL, NULL, 'out of memory, "big"
second line'),
 (3, 'other', '{"model":{"d_model":32}}', 'aa03', 'pending', 0, NULL, NULL, 0, 1000, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
INSERT INTO sweep_runs VALUES ('demo', 1), ('demo', 2), ('other', 3), ('other', 1);
SQL

table=$("$S" runs --db a.db) || fail "runs table failed"
head -1 <<<"$table" | grep -qE "^id +sweep +status +mixer +width +params +W +S +WSFR +tokens +FLOPs +train loss +eval loss +long-ctx loss$" ||
  fail "bad table header: $(head -1 <<<"$table")"
# a header, 3 rows and a two-line legend that names the columns
[ "$(wc -l <<<"$table")" -eq 6 ] || fail "table should have a header, 3 rows and a legend: $table"
grep -qE "^ *1 +demo +done +power p=2 +64 +1.23e\+05 +2.5e\+05 +1.2e\+04 +20.8 +2e\+06 +1.57e\+12 +2.3450 +2.5000 +2.4000$" \
  <<<"$table" || fail "bad table row 1: $table"
# run 3's config has no mixer: mixer and width "-", not a guess
grep -qE "^ *3 +other +pending +- +- +1e\+03 " <<<"$table" || fail "bad table row 3: $table"
grep -q "^width: model.d_model; W, S: weight and state FLOPs per token" <<<"$table" || fail "no legend: $table"
grep -q "long-ctx loss: eval loss on the last 10% of context positions" <<<"$table" || fail "legend lacks long-ctx: $table"
# aligned: every row has the status column at the same offset
[ "$(head -4 <<<"$table" | awk '{ print index($0, $3) }' | sort -u | wc -l)" -eq 1 ] || fail "table columns not aligned: $table"

"$S" runs --db a.db --format csv >runs.csv || fail "runs csv failed"
python3 - runs.csv <<'PY' || fail "CSV check failed"
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1], newline='')))
assert len(rows) == 3, rows
assert rows[0]['config'] == '{"model":{"d_model":64,"mixer":"power","p":2}}', rows[0]['config']
assert rows[1]['error'] == 'out of memory, "big"\nsecond line', rows[1]['error']
assert rows[0]['wsfr'] == '20.8333' and rows[0]['training_flops'] == '1572000000000', rows[0]
assert rows[1]['final_train_loss'] == '' and rows[2]['host'] == '', rows[1]
PY
grep -q $'\r$' runs.csv || fail "CSV lines should end in CRLF (RFC 4180)"

"$S" runs --db a.db --format json >runs.json || fail "runs json failed"
python3 - runs.json <<'PY' || fail "JSON check failed"
import json, sys
runs = json.load(open(sys.argv[1]))
keys = {"id", "sweep", "status", "config_hash", "params", "params_non_embedding", "weight_flops_per_token",
        "state_flops_per_token", "wsfr", "state_dim", "state_size", "tokens", "training_flops",
        "final_train_loss", "final_eval_loss", "best_context_loss", "attempt", "host", "device", "error", "config",
        "run_dir", "created", "started", "finished", "heartbeat"}
assert [r["id"] for r in runs] == [1, 2, 3]
# each object: the fixed keys and its own config's flat keys (none for a key its config lacks)
flat = [{"model.d_model", "model.mixer", "model.p"}, {"model.d_model", "model.note"}, {"model.d_model"}]
for r, f in zip(runs, flat):
    assert set(r) == keys | f, set(r) ^ (keys | f)
assert runs[0]["config"] == {"model": {"d_model": 64, "mixer": "power", "p": 2}}
assert runs[0]["model.mixer"] == "power" and runs[0]["model.d_model"] == 64 and runs[1]["model.note"] == 'a, "b"'
assert runs[1]["config"]["model"]["note"] == 'a, "b"'
assert runs[0]["wsfr"] == 20.8333 and runs[0]["state_size"] == 67584 and runs[0]["best_context_loss"] == 2.4
assert runs[1]["final_train_loss"] is None and runs[1]["error"].startswith("out of memory")
assert runs[2]["status"] == "pending" and runs[2]["host"] is None and runs[2]["attempt"] == 0
PY

ids() { "$S" runs --db a.db --format json "$@" | python3 -c 'import json,sys; print(" ".join(str(r["id"]) for r in json.load(sys.stdin)))'; }
[ "$(ids --sweep demo)" = "1 2" ] || fail "--sweep demo gave $(ids --sweep demo)"
[ "$(ids --sweep other)" = "1 3" ] || fail "--sweep other (a shared run) gave $(ids --sweep other)"
[ "$(ids --status done)" = "1" ] || fail "--status done gave $(ids --status done)"
[ "$(ids --sweep demo --status pending)" = "" ] || fail "--sweep demo --status pending should be empty"
SCALELAB_DB=a.db expect 0 "aa03" "$S" runs --format csv --status pending

expect 2 "unknown status 'finished' \(expected pending, running, done, failed, diverged or cancelled\)" \
  "$S" runs --db a.db --status finished
expect 2 "^scalelab: runs: --format xml: expected table, csv or json \(--json is json\)$" "$S" runs --db a.db --format xml
expect 2 "^scalelab: fits: --format xml: expected table, csv or json \(--json is json\)$" "$S" fits --db a.db --format xml
expect 2 "unknown option --colour" "$S" runs --db a.db --colour
expect 0 "no runs match" "$S" runs --db a.db --sweep nothing --format table

# --- issue 13 item 10: store edges ---------------------------------------------
# A refused store in WAL mode: no -wal/-shm appears beside it (the message says untouched).
sqlite3 owal.db 'PRAGMA journal_mode = WAL; CREATE TABLE songs (title TEXT); INSERT INTO songs VALUES (1);' >/dev/null
sqlite3 nwal.db "PRAGMA journal_mode = WAL; PRAGMA application_id = $((0x53434C42)); PRAGMA user_version = 9; CREATE TABLE x (a);" >/dev/null
for f in owal.db nwal.db; do
  cp "$f" "$f.orig"
  expect 1 "$f: (not a scalelab store|store schema version 9)" "$S" init --db "$f"
  expect 1 "$f: (not a scalelab store|store schema version 9)" "$S" runs --db "$f"
  cmp -s "$f" "$f.orig" || fail "$f was modified by a refused open"
  [ -e "$f-wal" ] || [ -e "$f-shm" ] && fail "$f grew side files although it was refused: $(ls "$f"*)"
done
# A store that fails PRAGMA quick_check is refused, untouched, by init and sweep run.
"$S" init --db bad.db >/dev/null || fail "init bad.db"
sqlite3 bad.db "INSERT INTO sweeps VALUES ('s', 'name: s', 0);
  WITH RECURSIVE i(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM i WHERE n < 400)
  INSERT INTO runs (id, config_json, config_hash, created, error) SELECT n, '{}', 'h' || n, 0, hex(randomblob(200)) FROM i;
  PRAGMA wal_checkpoint(TRUNCATE);" >/dev/null || fail "seed bad.db"
python3 - bad.db <<'PY' || fail "cannot damage bad.db"
import sys
f = open(sys.argv[1], "r+b")
page = int.from_bytes(open(sys.argv[1], "rb").read()[16:18], "big")
for p in (3, 4, 5):          # clobber a few b-tree pages (not the header page)
    f.seek((p - 1) * page + 8)
    f.write(b"\xa5" * 64)
PY
cp bad.db bad.db.orig
expect 1 "bad.db: the store failed SQLite's integrity check .*refusing to write" "$S" init --db bad.db
cat > bad.yaml <<'Y'
name: bad
base:
  model: {d_model: 16, n_layer: 1, n_head: 2, mixer: power, p: 2, chunk: 16}
  train: {context: 32, batch_size: 4, tokens: 2048, warmup_steps: 4, eval_every: 16, eval_tokens: 256}
Y
expect 1 "bad.db: the store failed SQLite's integrity check" "$S" sweep run bad.yaml --db bad.db
cmp -s bad.db bad.db.orig || fail "a damaged store was written"
# A read-only folder: read-only commands work, init says the folder is not writable.
mkdir rodir
"$S" init --db rodir/s.db >/dev/null && sqlite3 rodir/s.db "INSERT INTO sweeps VALUES ('demo', 'name: demo', 0);" ||
  fail "seed rodir"
as_reader=()
if [ "$(id -u)" = 0 ]; then
  command -v setpriv >/dev/null && as_reader=(setpriv --reuid=65534 --regid=65534 --clear-groups)
  chmod 755 . rodir; chmod 644 rodir/s.db
else
  chmod 555 rodir
fi
if [ "$(id -u)" = 0 ] && [ ${#as_reader[@]} = 0 ]; then
  echo "skip: read-only folder checks (root without setpriv)"
elif ! "${as_reader[@]}" test -x "$S"; then
  echo "skip: read-only folder checks (the binary is not reachable by an unprivileged user)"
else
  expect 0 "^\[\]$" "${as_reader[@]}" "$S" runs --db rodir/s.db --format json
  expect 0 "sweep demo: 0 runs" "${as_reader[@]}" "$S" sweep status demo --db rodir/s.db
  expect 1 "rodir/new.db: cannot create store: its folder rodir is not writable" "${as_reader[@]}" "$S" init --db rodir/new.db
  [ -e rodir/s.db-shm ] && fail "a read-only command left rodir/s.db-shm"
fi
chmod 755 rodir
# A full disk is called that, not "not a readable SQLite database".
if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null && unshare -m true 2>/dev/null; then
  mkdir full
  out=$(unshare -m bash -c '
    mount -t tmpfs -o size=256k tmpfs full || exit 3
    "$1" init --db full/s.db >/dev/null || exit 4
    dd if=/dev/zero of=full/fill bs=4k 2>/dev/null
    "$1" init --db full/new.db 2>&1; "$1" runs --db full/s.db 2>&1' _ "$S"); rc=$?
  if [ $rc = 3 ]; then echo "skip: full disk check (cannot mount a tmpfs)"
  else
    grep -q "full/new.db: cannot create store: the disk holding full is full" <<<"$out" || fail "full disk (create): $out"
    grep -q "full/s.db: cannot open store: the disk holding full is full" <<<"$out" || fail "full disk (open): $out"
    grep -q "not a readable SQLite database" <<<"$out" && fail "full disk reported as an unreadable database: $out"
  fi
else
  echo "skip: full disk check (needs root and unshare -m)"
fi

expect_done store_cli
