#!/usr/bin/env bash
# scalelab runs as a notebook reads it (issue 14 item 3): CSV and JSON carry every
# leaf of each run's config as its own column (model.d_model, model.mixer,
# model.window, train.context, ...), empty where a run's mixer has no such key,
# run_dir and ISO 8601 UTC times; the table names its columns plainly and shows
# mixer and width. The store comes from tests/e2e/lib/report_fixture.sh (softmax,
# window and power runs written with sqlite3), so no training is needed; expected
# values are read back from that fixture's own words (its awk program) and the
# config JSON through Python's json module, not through scalelab.
set -u
S=${SCALELAB:?SCALELAB must name the scalelab binary}
command -v sqlite3 >/dev/null || { echo "skip: the sqlite3 program is not installed"; exit 77; }
command -v python3 >/dev/null || { echo "skip: python3 is not installed (needed to read CSV and JSON)"; exit 77; }
source "$SCALELAB_ROOT/tests/e2e/lib/report_fixture.sh"
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

SCALELAB=$S report_fixture store.db mix || { echo "FAIL: fixture"; exit 1; }
# Times and folders: run 1 finished (all four times, one with milliseconds), run 5
# (a window run) only created, the rest as the fixture left them (created 0: unset).
sqlite3 store.db "UPDATE runs SET created = 1764572667.412, started = 1764572668, finished = 1764572730.5,
  heartbeat = 1764572729.9996, run_dir = '/data/runs/mix/1' WHERE id = 1;
  UPDATE runs SET created = 1764576000 WHERE id = 5;" || fail "cannot set times"

"$S" runs --db store.db --format csv >runs.csv || fail "runs --format csv failed"
python3 - runs.csv <<'PY' || fail "CSV check failed"
import csv, json, sys
with open(sys.argv[1], newline='') as f:
    header = next(csv.reader(f))
with open(sys.argv[1], newline='') as f:
    rows = {int(r['id']): r for r in csv.DictReader(f)}
fixed = ["id", "sweep", "status", "config_hash", "params", "params_non_embedding", "weight_flops_per_token",
         "state_flops_per_token", "wsfr", "state_dim", "state_size", "tokens", "training_flops", "final_train_loss",
         "final_eval_loss", "best_context_loss", "attempt", "host", "device", "error", "config", "run_dir",
         "created", "started", "finished", "heartbeat"]
assert header[:len(fixed)] == fixed, header[:len(fixed)]
flat = header[len(fixed):]
# the fixture's configs: data.source; model.d_model, mixer, n_head, n_layer, vocab_size, p (power),
# window (window); train.context, tokens
want = ["data.source", "model.d_model", "model.mixer", "model.n_head", "model.n_layer", "model.p",
        "model.vocab_size", "model.window", "train.context", "train.tokens"]
assert flat == want, flat
assert len(rows) == 49, len(rows)

# Every row's flat cells against its own config, read by Python's json module: the
# value where the config has the key, empty where it has not.
def leaves(obj, prefix=""):
    for k, v in obj.items():
        name = prefix + k
        if isinstance(v, dict): yield from leaves(v, name + ".")
        else: yield name, v
for i, r in rows.items():
    cfg = dict(leaves(json.loads(r['config'])))
    for key in flat:
        want = "" if key not in cfg else str(cfg[key])
        assert r[key] == want, (i, key, r[key], want)

# Named runs, as the fixture builds them (softmax, window w=16, power p=1, power p=2 x widths 32..128).
assert (rows[1]['model.mixer'], rows[1]['model.d_model'], rows[1]['model.window'], rows[1]['model.p']) == \
       ("softmax", "32", "", ""), rows[1]
assert (rows[6]['model.mixer'], rows[6]['model.d_model'], rows[6]['model.window'], rows[6]['model.p']) == \
       ("window", "64", "16", ""), rows[6]
assert (rows[16]['model.mixer'], rows[16]['model.d_model'], rows[16]['model.p'], rows[16]['model.window']) == \
       ("power", "128", "2", ""), rows[16]
assert rows[1]['train.context'] == "256" and rows[1]['data.source'] == "synthetic:recall", rows[1]
# the failed run's config has only model.d_model and model.mixer
assert rows[49]['status'] == "failed" and rows[49]['model.d_model'] == "512" and rows[49]['train.context'] == ""
# A mixer's keys are filled for every run of it and no other: window only for window runs.
for i, r in rows.items():
    assert (r['model.window'] != "") == (r['model.mixer'] == "window"), (i, r['model.mixer'], r['model.window'])
    assert (r['model.p'] != "") == (r['model.mixer'] == "power"), (i, r['model.mixer'], r['model.p'])

# ISO 8601 UTC with milliseconds; empty when unset (the fixture's created = 0).
assert (rows[1]['created'], rows[1]['started'], rows[1]['finished'], rows[1]['heartbeat']) == \
       ("2025-12-01T07:04:27.412Z", "2025-12-01T07:04:28.000Z", "2025-12-01T07:05:30.500Z",
        "2025-12-01T07:05:30.000Z"), rows[1]
assert rows[5]['created'] == "2025-12-01T08:00:00.000Z" and rows[5]['started'] == "", rows[5]
assert rows[2]['created'] == "" and rows[2]['finished'] == "", rows[2]
from datetime import datetime, timezone
t = datetime.fromisoformat(rows[1]['created'].replace("Z", "+00:00"))
assert abs(t.timestamp() - 1764572667.412) < 1e-6 and t.tzinfo == timezone.utc, t
assert rows[1]['run_dir'] == "/data/runs/mix/1" and rows[2]['run_dir'] == "", rows[1]['run_dir']

# pandas, where it is installed: the flat columns come out typed.
try:
    import pandas as pd
except ImportError:
    pd = None
if pd is not None:
    df = pd.read_csv(sys.argv[1])
    assert df["model.d_model"].dtype.kind in "iu", df["model.d_model"].dtype
    assert df.loc[df["model.mixer"] == "window", "model.window"].eq(16).all()
    assert df.loc[df["model.mixer"] != "window", "model.window"].isna().all()
    assert pd.to_datetime(df["created"]).notna().sum() == 2
PY
head -1 runs.csv | grep -q $'\r$' || fail "CSV header should end in CRLF"

"$S" runs --db store.db --format json >runs.json || fail "runs --format json failed"
"$S" runs --db store.db --json >alias.json || fail "runs --json failed"
cmp -s runs.json alias.json || fail "--json and --format json differ"
python3 - runs.json <<'PY' || fail "JSON check failed"
import json, sys
runs = {r["id"]: r for r in json.load(open(sys.argv[1]))}
assert len(runs) == 49
r1, r6, r16 = runs[1], runs[6], runs[16]
# numbers as numbers, strings as strings, absent keys absent
assert r1["model.d_model"] == 32 and r1["model.mixer"] == "softmax" and r1["train.context"] == 256, r1
assert "model.window" not in r1 and "model.p" not in r1, sorted(r1)
assert r6["model.window"] == 16 and isinstance(r6["model.window"], int) and "model.p" not in r6, sorted(r6)
assert r16["model.p"] == 2 and r16["model.mixer"] == "power" and "model.window" not in r16, sorted(r16)
for i, r in runs.items():
    cfg = r["config"]
    for section, keys in cfg.items():
        for k, v in keys.items():
            assert r[section + "." + k] == v, (i, section, k)
assert r1["config"]["model"]["d_model"] == 32  # the nested config is still there
assert r1["run_dir"] == "/data/runs/mix/1" and runs[2]["run_dir"] is None
assert r1["created"] == "2025-12-01T07:04:27.412Z" and r1["heartbeat"] == "2025-12-01T07:05:30.000Z", r1
assert runs[2]["created"] is None and runs[5]["started"] is None and runs[5]["created"] == "2025-12-01T08:00:00.000Z"
PY

# Numbers exactly as the config JSON wrote them (not through a double: a 64-bit seed,
# 0.1 + 0.2), booleans as words, a member name that needs quoting in a JSON path, arrays.
"$S" init --db b.db >/dev/null || fail "init b.db"
sqlite3 b.db "INSERT INTO runs (id, config_json, config_hash, status, created) VALUES (1,
  '{\"model\":{\"mixer\":\"power\",\"tie_embeddings\":true},\"train\":{\"lr\":0.30000000000000004,\"seed\":18446744073709551615,\"odd key\":1.50},\"x\":{\"list\":[[1,2],{\"c\":\"y\"}],\"empty\":{}}}',
  'h1', 'pending', 0)" || fail "cannot seed b.db"
"$S" runs --db b.db --format csv >b.csv || fail "runs b.db csv failed"
python3 - b.csv <<'PY' || fail "exact numbers check failed"
import csv, sys
r = next(csv.DictReader(open(sys.argv[1], newline='')))
assert r["train.lr"] == "0.30000000000000004" and r["train.seed"] == "18446744073709551615", r
assert r["train.odd key"] == "1.50" and r["model.tie_embeddings"] == "true", r
# array elements by index; an empty object gives no column
assert r["x.list[0][1]"] == "2" and r["x.list[1].c"] == "y" and not any(k.startswith("x.empty") for k in r), r
PY
"$S" runs --db b.db --json | python3 -c '
import json, sys
r = json.load(sys.stdin)[0]
assert r["train.seed"] == 18446744073709551615 and r["train.lr"] == 0.30000000000000004, r
assert r["model.tie_embeddings"] is True and r["model.mixer"] == "power", r' || fail "exact numbers in JSON"

# The table: plain column names, mixer (with its state setting) and width, and a legend.
table=$("$S" runs --db store.db --status done) || fail "runs table failed"
head -1 <<<"$table" | grep -qE "^id +sweep +status +mixer +width +params +W +S +WSFR +tokens +FLOPs +train loss +eval loss +long-ctx loss$" ||
  fail "bad table header: $(head -1 <<<"$table")"
grep -qE "^ *1 +mix +done +softmax +32 " <<<"$table" || fail "run 1 should show softmax, width 32: $(head -3 <<<"$table")"
grep -qE "^ *6 +mix +done +window w=16 +64 " <<<"$table" || fail "run 6 should show window w=16, width 64: $(head -3 <<<"$table")"
grep -qE "^ *16 +mix +done +power p=2 +128 " <<<"$table" || fail "run 16 should show power p=2, width 128: $(head -3 <<<"$table")"
grep -q "^width: model.d_model; W, S: weight and state FLOPs per token" <<<"$table" || fail "no legend: $(head -3 <<<"$table")"

"$S" runs --help | grep -q -- "--json *the same as --format json" || fail "--help does not list --json"
"$S" runs --help | grep -q "model.d_model" || fail "--help does not name the flat columns"

[ "$fails" -eq 0 ] && echo "runs_export: all checks passed"
[ "$fails" -eq 0 ]
