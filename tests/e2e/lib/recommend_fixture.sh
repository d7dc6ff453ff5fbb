# Sourced by tests/e2e/recommend_*.sh: a store whose sweep "ws" holds finished power-retention
# runs whose accounting comes from the real binary (`scalelab flops --json`, so W is the
# weight FLOPs of DESIGN section 4, not 2 N) and whose losses follow a known state law
#   L = 1.6 + 60 N^-0.3 + 300 D^-0.3 + 4 Z^-0.25   (N params, D tokens, Z state_size; 0.3% noise),
# written with python's sqlite3 into the store's tables (a DESIGN section 5 contract), so
# recommend tests need no training.
#
# recommend_fixture DB: 3 widths x 2 depths x 3 degrees p x 3 token counts = 54 runs.
recommend_fixture() {
  local db=$1 base=$SCALELAB_ROOT/configs/small-power.yaml
  "$SCALELAB" init --db "$db" >/dev/null || return 1
  : > flops.jsonl
  local d l p
  for d in 64 128 256; do for l in 2 4; do for p in 1 2 3; do
    "$SCALELAB" flops "$base" --set model.d_model=$d --set model.n_layer=$l --set model.n_head=4 \
      --set model.p=$p --set model.chunk=64 --set train.context=512 --json >> flops.jsonl || return 1
    echo >> flops.jsonl
  done; done; done
  python3 - "$db" flops.jsonl <<'PY'
import json, math, sqlite3, sys
db, path = sys.argv[1], sys.argv[2]
con = sqlite3.connect(db)
con.execute("INSERT INTO sweeps (name, spec, created) VALUES ('ws', 'name: ws', 0)")
rid = 0
for line in open(path):
    if not line.strip():
        continue
    f = json.loads(line)
    for tokens in (2e6, 8e6, 3.2e7):
        rid += 1
        N, W, S, Z = f["params"], f["weight_flops_per_token"], f["state_flops_per_token"], f["state_size"]
        C = 3 * (W + S) * tokens
        # deterministic noise of 0.3% so the bootstrap has something to resample
        loss = (1.6 + 60 * N ** -0.3 + 300 * tokens ** -0.3 + 4 * Z ** -0.25) * (1 + 0.003 * math.sin(rid * 12.9898))
        cfg = json.dumps({"i": rid})
        con.execute("INSERT INTO runs (id, sweep, config_json, config_hash, status, created, params, params_non_embedding,"
                    " weight_flops_per_token, state_flops_per_token, wsfr, state_dim, state_size, tokens, training_flops,"
                    " final_train_loss, final_eval_loss, best_context_loss) VALUES (?, 'ws', ?, ?, 'done', 0, ?, ?, ?, ?, ?,"
                    " ?, ?, ?, ?, ?, ?, ?)",
                    (rid, cfg, "fixture%04d" % rid, N, f["params_non_embedding"], W, S, W / S, f["state_dim"], Z, tokens, C,
                     loss * 1.01, loss, loss))
        con.execute("INSERT INTO sweep_runs (sweep, run) VALUES ('ws', ?)", (rid,))
con.commit()
PY
}
