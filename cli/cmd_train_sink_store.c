/* `scalelab train` reporting into the store: one transaction per metric batch. */
#include <stdlib.h>

#include "cli/train_sink.h"
#include "util/util.h"

static int sink_metrics(void *ctx, const model_metric *rows, size_t n, char *err, size_t errlen) {
    train_store_sink *s = ctx;
    for (size_t done = 0; done < n;) {
        size_t k = n - done < s->cap ? n - done : s->cap;
        for (size_t i = 0; i < k; i++) {
            const model_metric *m = &rows[done + i];
            s->rows[i] = (store_metric){m->step, m->tokens, m->wall_seconds, m->loss, m->lr,
                                        m->grad_norm, m->tokens_per_second, m->eval_loss};
        }
        if (store_metrics_append(s->db, s->run, s->rows, k, err, errlen)) return -1;
        done += k;
    }
    return 0;
}

static int sink_eval(void *ctx, int64_t step, double eval_loss, const int64_t *bucket_start,
                      const double *bucket_loss, size_t n_buckets, char *err, size_t errlen) {
    (void)eval_loss; /* it travels with the step's metric row */
    train_store_sink *s = ctx;
    enum { MAX_BUCKETS = 64 };
    store_position_loss rows[MAX_BUCKETS];
    if (n_buckets > MAX_BUCKETS) n_buckets = MAX_BUCKETS;
    for (size_t i = 0; i < n_buckets; i++) rows[i] = (store_position_loss){step, bucket_start[i], bucket_loss[i]};
    return store_position_loss_put(s->db, s->run, rows, n_buckets, err, errlen);
}

static int sink_heartbeat(void *ctx, char *err, size_t errlen) {
    train_store_sink *s = ctx;
    return store_run_heartbeat(s->db, s->run, err, errlen);
}

static int sink_started(void *ctx, const char *device, const char *precision, char *err, size_t errlen) {
    train_store_sink *s = ctx;
    return store_run_set_device(s->db, s->run, device, precision, err, errlen);
}

int cli_train_store_sink_init(train_store_sink *s, store *db, int64_t run, size_t cap, model_sink *out,
                          char *err, size_t errlen) {
    s->db = db;
    s->run = run;
    s->cap = cap ? cap : 1;
    s->rows = calloc(s->cap, sizeof *s->rows);
    if (!s->rows) return util_err(err, errlen, "out of memory");
    *out = (model_sink){.ctx = s, .metrics = sink_metrics, .eval = sink_eval, .heartbeat = sink_heartbeat,
                        .started = sink_started};
    return 0;
}

void cli_train_store_sink_free(train_store_sink *s) {
    free(s->rows);
    s->rows = NULL;
}
