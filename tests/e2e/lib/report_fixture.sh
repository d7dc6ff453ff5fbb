# Sourced by tests/e2e/report_*.sh: a small store of IsoFLOP runs drawn from a
# known law, written with `scalelab init` and the sqlite3 CLI (the store's
# tables are a DESIGN section 5 contract), so report tests need no training.
#
# report_fixture DB SWEEP: 3 budgets x 4 mixers x 4 widths = 48 finished runs,
# one failed run, metrics and loss-by-position curves. The context curves fall
# linearly in log2(position) up to a mixer-specific knee, then stay flat:
# window w=16 -> 16, power p=1 -> 32, power p=2 -> 64, softmax -> 128 (the last
# bucket), so a report must find exactly those knees.
report_fixture() {
  local db=$1 sweep=$2
  "$SCALELAB" init --db "$db" >/dev/null || return 1
  awk -v sweep="$sweep" 'BEGIN {
    q = sweep; gsub(/\x27/, "\x27\x27", q)
    print "BEGIN;"
    printf "INSERT INTO sweeps (name, spec, created) VALUES (\x27%s\x27, \x27name: fixture\x27, 0);\n", q
    split("1e13 3e13 1e14", budgets, " ")
    split("softmax window power power", mixers, " ")
    split("0 0 1 2", ps, " ")
    split("0 16 0 0", windows, " ")
    split("128 16 32 64", knees, " ")
    split("0 0.25 0.15 0.03", penalty, " ")
    split("2000 150 300 1200", sper, " ")
    split("32 64 96 128", widths, " ")
    id = 0
    for (b = 1; b <= 3; b++) for (m = 1; m <= 4; m++) for (w = 1; w <= 4; w++) {
      id++
      C = budgets[b] + 0; d = widths[w]
      N = 24 * d * d + 512 * d; W = 2 * N; S = sper[m] * d; wsfr = W / S
      D = C / (3 * (W + S))
      loss = 1.7 + 30 / N ^ 0.34 + 60 / D ^ 0.28 + penalty[m]
      if (mixers[m] == "power") { label = sprintf("\"p\":%d,", ps[m]) } else if (mixers[m] == "window") { label = sprintf("\"window\":%d,", windows[m]) } else label = ""
      cfg = sprintf("{\"data\":{\"source\":\"synthetic:recall\"},\"model\":{\"d_model\":%d,\"mixer\":\"%s\",\"n_head\":2,\"n_layer\":2,%s\"vocab_size\":256},\"train\":{\"context\":256,\"tokens\":%d}}", d, mixers[m], label, D)
      printf "INSERT INTO runs (id, sweep, config_json, config_hash, status, created, params, params_non_embedding, weight_flops_per_token, state_flops_per_token, wsfr, state_dim, state_size, tokens, training_flops, final_train_loss, final_eval_loss, best_context_loss) VALUES (%d, \x27%s\x27, \x27%s\x27, \x27fixture%04d\x27, \x27done\x27, 0, %.17g, %.17g, %.17g, %.17g, %.17g, %d, %d, %.17g, %.17g, %.9g, %.9g, %.9g);\n", id, q, cfg, id, N, N, W, S, wsfr, d, 2 * d * 128, D, C, loss + 0.01, loss, loss - 0.3
      printf "INSERT INTO sweep_runs (sweep, run) VALUES (\x27%s\x27, %d);\n", q, id
      for (i = 1; i <= 10; i++)
        printf "INSERT INTO metrics (run, step, tokens, wall_seconds, loss, lr) VALUES (%d, %d, %.17g, %d, %.9g, 0.003);\n", id, i * 10, D * i / 10, i, loss + 2.5 * (1 - i / 10) ^ 2
      k = log(knees[m]) / log(2)
      for (j = 0; j <= 7; j++) {
        pos = 2 ^ j; f = (j < k ? j : k) / 7
        printf "INSERT INTO position_loss (run, step, position, loss) VALUES (%d, 100, %d, %.9g);\n", id, pos, loss + 1.2 * (1 - f)
        printf "INSERT INTO position_loss (run, step, position, loss) VALUES (%d, 50, %d, %.9g);\n", id, pos, loss + 3
      }
    }
    id++
    printf "INSERT INTO runs (id, sweep, config_json, config_hash, status, created, error) VALUES (%d, \x27%s\x27, \x27{\"model\":{\"mixer\":\"softmax\",\"d_model\":512}}\x27, \x27fixture-failed\x27, \x27failed\x27, 0, \x27out of memory\x27);\n", id, q
    printf "INSERT INTO sweep_runs (sweep, run) VALUES (\x27%s\x27, %d);\n", q, id
    print "COMMIT;"
  }' | sqlite3 "$db"
}
