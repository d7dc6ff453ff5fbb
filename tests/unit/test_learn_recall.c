/* A tiny state-rich model (one block of gated power retention, p = 2) trained by
 * the real trainer, 1 thread, ~10 s, on synthetic:recall:
 *   - it learns: the loss falls from ln 256 = 5.55 to below 4.0, under the
 *     entropy of the stream given the previous token (4.23 nats, measured on
 *     1.6M generated tokens; unigram 4.86), which no model that looks only at
 *     the current token can beat;
 *   - it uses the context: on the two kinds of token that only the context can
 *     predict, its loss is far below what any context-blind model pays. The key
 *     after QUERY is uniform over 64 keys (>= ln 64 = 4.16 nats without
 *     context; with it, only keys defined earlier are candidates), the value after
 *     QUERY KEY is uniform over 96 values (>= ln 96 = 4.56 nats without context).
 * The trained parameters come from the run's checkpoint (the trainer's own file).
 *
 * Why not "late positions beat early ones": on this generator a context-blind
 * model shows that too (a window-1 model, i.e. a bigram model, measured 4.52 at
 * positions 2-3 and 4.17 at 64-127), because early positions hold no queries
 * (nothing is defined yet) and QUERY tokens are cheap; so it says nothing about
 * context use. The value answers here are copied from values seen in the context
 * (one attention hop); the two-layer induction that binds each value to its key
 * appears only after ~1.2M tokens at d_model 64 (minutes on this machine). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "model/model.h"
#include "model/train_internal.h"
#include "util/util.h"

enum { QUERY = 1, KEY_FIRST = 96, KEY_COUNT = 64, VALUE_FIRST = 160 }; /* model/data_internal.h */

typedef struct capture {
    double first_loss;
    int64_t rows;
} capture;

static int cap_metrics(void *ctx, const model_metric *rows, size_t n, char *err, size_t errlen) {
    capture *c = ctx;
    (void)err, (void)errlen;
    if (!c->rows && n) c->first_loss = rows[0].loss;
    c->rows += (int64_t)n;
    return 0;
}

static char workdir[256];

static int make_dir(void **state) {
    (void)state;
    snprintf(workdir, sizeof workdir, "/tmp/scalelab-test-recall.XXXXXX");
    return mkdtemp(workdir) ? 0 : -1;
}

static int remove_dir(void **state) {
    (void)state;
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", workdir);
    return system(cmd);
}

static void test_learns_and_uses_context(void **state) {
    (void)state;
    model_config c;
    model_config_default(&c);
    char err[512];
    const char *sets[] = {"model.d_model=32", "model.n_layer=1", "model.n_head=2", "model.mixer=power", "model.p=2",
                          "model.gating=true", "model.chunk=16", "train.context=64", "train.batch_size=4",
                          "train.tokens=600000", "train.lr=2e-2", "train.warmup_steps=30", "train.eval_every=100000",
                          "train.eval_tokens=4096", "data.source=synthetic:recall"};
    if (model_config_apply_sets(&c, sets, sizeof sets / sizeof sets[0], err, sizeof err) ||
        model_config_resolve(&c, err, sizeof err))
        fail_msg("%s", err);
    /* The sanitizer pass checks memory, not learning: a short run there (its
     * build is several times slower), with only the first checks. */
    int sanitized = getenv("SCALELAB_SANITIZED") && !strcmp(getenv("SCALELAB_SANITIZED"), "1");
    if (sanitized) c.tokens = 200 * 4 * 64;
    capture cap = {0};
    model_sink sink = {.ctx = &cap, .metrics = cap_metrics};
    model_train_opts o = {.run_dir = workdir, .device = "cpu", .threads = 1, .log_every = 100, .quiet = 1};
    model_train_result r;
    double t0 = util_monotonic();
    if (model_train(&c, &o, &sink, &r, err, sizeof err)) fail_msg("%s", err);
    printf("trained %lld steps in %.1f s: first loss %.3f, final train %.3f, eval %.3f, best-context %.3f\n",
           (long long)r.steps, util_monotonic() - t0, cap.first_loss, r.final_train_loss, r.final_eval_loss,
           r.best_context_loss);
    assert_int_equal(r.outcome, MODEL_TRAIN_DONE);
    assert_true(fabs(cap.first_loss - log(256)) < 0.2);
    if (sanitized) {
        assert_true(r.final_eval_loss < cap.first_loss - 0.5);
        printf("sanitized build: short run, learning thresholds not checked\n");
        return;
    }
    assert_true(r.final_eval_loss < 4.0);
    assert_true(r.final_train_loss < 4.0);

    /* The trained parameters, from the checkpoint the trainer wrote at its last step. */
    model_net *net;
    if (model_net_alloc(&c, c.batch_size, kern_cpu_backend(), &net, err, sizeof err)) fail_msg("%s", err);
    void *image = malloc(model_ckpt_bytes(net->n_params));
    char path[400], hash[17];
    snprintf(path, sizeof path, "%s/%s", workdir, MODEL_CHECKPOINT_FILE);
    model_config_hash(&c, hash);
    model_train_state st;
    int found;
    if (model_ckpt_read(path, image, net->n_params, hash, &st, &found, err, sizeof err)) fail_msg("%s", err);
    assert_true(found);
    assert_int_equal(st.step, r.steps);
    net->be->upload(net->params, model_ckpt_tensor(image, net->n_params, 0), net->n_params * sizeof(float));

    /* Loss on the keys that follow QUERY and on the values that answer QUERY KEY,
     * over validation batches (never trained on). */
    model_data *data;
    if (model_data_open(c.data_source, c.vocab_size, c.seed, &data, err, sizeof err)) fail_msg("%s", err);
    int B = c.batch_size, T = c.context;
    int32_t *tok = malloc((size_t)B * (T + 1) * sizeof *tok);
    double key_loss = 0, value_loss = 0;
    int keys = 0, values = 0;
    for (int64_t batch = 0; batch < 32; batch++) {
        if (model_data_batch(data, MODEL_SPLIT_VALID, batch, B, T, tok, err, sizeof err)) fail_msg("%s", err);
        model_net_forward(net, tok);
        for (int b = 0; b < B; b++) {
            const int32_t *row = tok + (size_t)b * (T + 1);
            for (int p = 0; p < T; p++) { /* host_losses[p] is the loss of predicting row[p + 1] */
                double l = net->host_losses[(size_t)b * T + p];
                if (row[p] == QUERY) {
                    assert_true(row[p + 1] >= KEY_FIRST && row[p + 1] < KEY_FIRST + KEY_COUNT);
                    key_loss += l, keys++;
                } else if (p > 0 && row[p - 1] == QUERY) {
                    assert_true(row[p + 1] >= VALUE_FIRST);
                    value_loss += l, values++;
                }
            }
        }
    }
    key_loss /= keys;
    value_loss /= values;
    printf("keys after QUERY: %.3f nats over %d (context-blind >= ln 64 = %.3f); values answering a query: %.3f "
           "over %d (>= ln 96 = %.3f)\n", key_loss, keys, log(64), value_loss, values, log(96));
    assert_true(keys > 300 && values > 300);
    assert_true(key_loss < log(64) - 1.0);
    /* Half a nat below the context-blind floor: copying values from the context is
     * a phase transition whose timing depends on rounding (1.7 nats below on one
     * machine, 0.68 on another with other BLAS kernels, same seed), so the bar is
     * what any context use clears, not where the transition happened to land. */
    assert_true(value_loss < log(96) - 0.5);
    free(tok);
    free(image);
    model_data_close(data);
    model_net_free(net);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_learns_and_uses_context),
    };
    return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
