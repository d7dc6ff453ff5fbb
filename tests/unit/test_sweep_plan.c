/* Sweep plans: run configs from points, isoflop token counts against hand-computed
 * FLOP accounting, dropped shapes, deduplication, and config errors with places; and
 * the progress (counts, ETA) that `sweep status` and the scheduler's line share. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <fcntl.h>
#include <unistd.h>

#include "store/store.h"
#include "sweep/sweep_internal.h"

static int plan(const char *text, sweep_spec *s, sweep_plan *p, char *err, size_t errlen) {
    if (sweep_spec_parse("p.yaml", text, strlen(text), s, err, errlen)) return -1;
    int rc = sweep_plan_build(s, p, err, errlen);
    if (rc) sweep_spec_free(s);
    return rc;
}

#define BASE "base: {model: {mixer: softmax, d_model: 16, n_layer: 1, n_head: 2}, " \
             "train: {context: 32, batch_size: 4, eval_tokens: 64}}\n"

static void test_isoflop(void **state) {
    (void)state;
    sweep_spec s;
    sweep_plan p;
    char err[1024];
    const char *spec = "name: iso\n" BASE "grid:\n  model.d_model: [16, 32]\n"
                       "isoflop:\n  budgets: [1e9, 1e10]\n  min_tokens: 10000\n  max_tokens: 100000\n";
    if (plan(spec, &s, &p, err, sizeof err)) fail_msg("%s", err);
    /* By hand (DESIGN section 4), softmax, L=1, h=2, T=32, V=256:
     *   d_model 16: P_layer = 4*16*16 + 2*16*64 = 3072, W = 2*(3072 + 16*256) = 14336,
     *               S = h*2*d*(T+1) = 2*2*8*33 = 1056
     *   d_model 32: P_layer = 4*32*32 + 2*32*128 = 12288, W = 2*(12288 + 32*256) = 40960, S = 2*2*16*33 = 2112
     * tokens = round(budget / (3 (W+S)) / 128) * 128 (batch 4 x context 32):
     *   16, 1e9:  21656.6 -> 169 batches = 21632         16, 1e10: 1692 batches = 216576 > max: dropped
     *   32, 1e9:  60 batches = 7680 < min: dropped      32, 1e10: 77390.4 -> 605 batches = 77440 */
    assert_int_equal(p.n_runs, 2);
    assert_true(p.runs[0].W == 14336 && p.runs[0].S == 1056);
    assert_true(p.runs[0].tokens == 21632 && p.runs[0].budget == 1e9);
    assert_true(p.runs[0].flops == 3.0 * (14336 + 1056) * 21632);
    assert_true(p.runs[1].W == 40960 && p.runs[1].S == 2112);
    assert_true(p.runs[1].tokens == 77440 && p.runs[1].budget == 1e10);
    for (size_t i = 0; i < p.n_runs; i++) /* within half a batch of the budget */
        assert_true(fabs(p.runs[i].flops - p.runs[i].budget) <= 3 * (p.runs[i].W + p.runs[i].S) * 64);
    assert_true(strstr(p.runs[1].config_json, "\"tokens\":77440") != NULL);
    assert_int_equal(p.n_dropped, 2);
    assert_string_equal(p.dropped[0].label, "model.d_model=16");
    assert_true(p.dropped[0].budget == 1e10 && p.dropped[0].tokens == 216576);
    assert_string_equal(p.dropped[1].label, "model.d_model=32");
    assert_true(p.dropped[1].budget == 1e9 && p.dropped[1].tokens == 7680);
    assert_true(p.total_flops == p.runs[0].flops + p.runs[1].flops);
    sweep_plan_free(&p);
    sweep_spec_free(&s);

    /* a budget that no shape can meet is an error at its place */
    spec = "name: iso\n" BASE "isoflop:\n  budgets: [1e9,\n     1e15]\n  max_tokens: 100000\n";
    assert_int_not_equal(plan(spec, &s, &p, err, sizeof err), 0);
    if (!strstr(err, "p.yaml:5:6: isoflop.budgets: no shape can meet budget 1e+15"))
        fail_msg("unexpected error: %s", err);
}

static void test_dedupe_and_derived(void **state) {
    (void)state;
    sweep_spec s;
    sweep_plan p;
    char err[1024];
    /* window is not part of a softmax config, so the three windows are one run per seed */
    const char *spec = "name: d\n" BASE "grid: {model.window: [8, 16, 32]}\nseeds: 2\n"
                       "derived: {model.mlp_hidden: \"${model.d_model} * 3\"}\n";
    if (plan(spec, &s, &p, err, sizeof err)) fail_msg("%s", err);
    assert_int_equal(p.points.n, 6);
    assert_int_equal(p.n_runs, 2);
    assert_int_equal(p.n_duplicates, 4);
    assert_true(strstr(p.runs[0].config_json, "\"mlp_hidden\":48") && strstr(p.runs[0].config_json, "\"seed\":0"));
    assert_true(strstr(p.runs[1].config_json, "\"seed\":1") != NULL);
    assert_string_not_equal(p.runs[0].hash, p.runs[1].hash);
    sweep_plan_free(&p);
    sweep_spec_free(&s);

    /* references fall back to the base config's resolved values (head_dim = 16 / 2) */
    spec = "name: d\n" BASE "derived: {train.warmup_steps: \"${model.head_dim} * 10\"}\n";
    if (plan(spec, &s, &p, err, sizeof err)) fail_msg("%s", err);
    assert_true(strstr(p.runs[0].config_json, "\"warmup_steps\":80") != NULL);
    sweep_plan_free(&p);
    sweep_spec_free(&s);
}

static void test_config_errors(void **state) {
    (void)state;
    const struct { const char *spec, *want; } bad[] = {
        {"name: e\n" BASE "grid:\n  model.d_modle: [16]\n", "p.yaml:4:19: model.d_modle: "},
        {"name: e\n" BASE "grid:\n  model.d_model: [16, many]\n", "p.yaml:4:23: model.d_model:"},
        {"name: e\n" BASE "grid:\n  model.n_head: [2, 3]\n", "p.yaml:4:21: model.n_head: run 2 (model.n_head=3)"},
        /* a base value named by the message, when nothing swept is */
        {"name: e\nbase: {model: {d_model: 30, n_head: 4}}\ngrid:\n  train.lr: [0.001]\n",
         "p.yaml:2:25: model.d_model: run 1 (train.lr=0.001): model.d_model (30) must be divisible"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sweep_spec s;
        sweep_plan p;
        char err[1024] = "";
        if (!plan(bad[i].spec, &s, &p, err, sizeof err)) fail_msg("planned but should fail: %s", bad[i].spec);
        if (!strstr(err, bad[i].want)) fail_msg("error \"%s\" lacks \"%s\"", err, bad[i].want);
    }
}

static int always_alive(void *ctx, int64_t pid) {
    (void)ctx, (void)pid;
    return 1;
}

/* sweep_progress_get (the scheduler's progress line) and `sweep status --json` give
 * the same counts and ETA, and the ETA is the one worked out here by hand: a pending
 * run of 1e12 planned FLOPs, a running run of 2e12 whose latest metric row says a
 * quarter of its tokens in 10 s (5e11 FLOPs done, 1.5e12 left, 5e10 FLOP/s), a done
 * run: (1e12 + 1.5e12) / 5e10 = 50 s. */
static void test_progress_status_agree(void **state) {
    (void)state;
    char dir[] = "/tmp/scalelab-progress-XXXXXX", db[128], out[160], err[1024] = "";
    assert_non_null(mkdtemp(dir));
    snprintf(db, sizeof db, "%s/s.db", dir);
    snprintf(out, sizeof out, "%s/status.json", dir);
    store *st;
    assert_int_equal(store_open(db, &st, err, sizeof err), 0);
    assert_int_equal(store_sweep_put(st, "p", "name: p", err, sizeof err), 0);
    store_run_new rn[3] = {{.config_json = "{\"n\":1}", .config_hash = "a1"}, {.config_json = "{\"n\":2}", .config_hash = "a2"},
                           {.config_json = "{\"n\":3}", .config_hash = "a3"}};
    double flops[3] = {1e12, 2e12, 4e12};
    for (int i = 0; i < 3; i++) rn[i].acc.training_flops = flops[i], rn[i].acc.tokens = 1000;
    int64_t ids[3];
    size_t n_new;
    assert_int_equal(store_runs_insert(st, "p", rn, 3, ids, &n_new, err, sizeof err), 0);
    assert_int_equal(store_run_claim_id(st, ids[2], "h", "cpu", err, sizeof err), 0);
    assert_int_equal(store_run_finish(st, ids[2], 3.0, 3.0, NAN, err, sizeof err), 0);
    assert_int_equal(store_run_claim_id(st, ids[1], "h", "cpu", err, sizeof err), 0);
    store_metric m = {.step = 5, .tokens = 250, .wall_seconds = 10, .loss = 4, .lr = 1e-3, .grad_norm = 1,
                      .tokens_per_second = 25, .eval_loss = NAN};
    assert_int_equal(store_metrics_append(st, ids[1], &m, 1, err, sizeof err), 0);
    /* a live scheduler (on another host, heartbeat fresh), else status says "no scheduler" */
    int claimed;
    store_scheduler h;
    assert_int_equal(store_scheduler_claim(st, "p", "elsewhere", 1, "runs", 120, always_alive, NULL, &claimed, &h,
                                           err, sizeof err), 0);
    assert_true(claimed);

    sweep_progress p;
    assert_int_equal(sweep_progress_get(st, "p", &p, err, sizeof err), 0);
    assert_true(p.total == 3 && p.count[STORE_PENDING] == 1 && p.count[STORE_RUNNING] == 1 && p.count[STORE_DONE] == 1);
    assert_true(fabs(p.flops_left - 2.5e12) < 1 && fabs(p.flops_per_s - 5e10) < 1e-3);
    assert_true(fabs(p.eta_s - 50) < 1e-9);

    fflush(stdout);
    int saved = dup(STDOUT_FILENO), fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(saved >= 0 && fd >= 0);
    dup2(fd, STDOUT_FILENO);
    int rc = sweep_status_print(st, "p", 1, err, sizeof err);
    fflush(stdout);
    dup2(saved, STDOUT_FILENO);
    close(fd), close(saved);
    assert_int_equal(rc, 0);
    char *json;
    size_t len;
    assert_int_equal(util_read_file(out, &json, &len, err, sizeof err), 0);
    char want[256];
    snprintf(want, sizeof want, "\"eta_seconds\":%.17g", p.eta_s);
    if (!strstr(json, want)) fail_msg("status says %s, the scheduler's line %s", json, want);
    assert_non_null(strstr(json, "\"counts\":{\"pending\":1,\"running\":1,\"done\":1,"));
    free(json);
    store_close(st);
    unlink(out);
    snprintf(out, sizeof out, "%s/s.db-wal", dir), unlink(out);
    snprintf(out, sizeof out, "%s/s.db-shm", dir), unlink(out);
    unlink(db);
    rmdir(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_isoflop),
        cmocka_unit_test(test_dedupe_and_derived),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_progress_status_agree),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
