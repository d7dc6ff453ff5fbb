/* model/train: the training loop.
 * Optimizer: AdamW (beta1 0.9, beta2 0.95, eps 1e-8) with decoupled weight decay
 * (p -= lr * wd * p) on the matrices only (see model_net_tensor.decay); global
 * gradient-norm clipping to grad_clip before the update; warmup + cosine.
 * Step s (1-based) trains on train batch s - 1, so the data position is the step.
 * Every eval_every steps (and at the last step): evaluation on eval_tokens of
 * the validation split (the same batches each time), then a checkpoint; also a
 * checkpoint every checkpoint_every_s seconds and when *stop is raised. A resumed
 * run restores parameters, moments, step and loss state, so it reproduces the
 * uninterrupted run's losses bit for bit. Nothing is allocated inside a step. */
#include <math.h>
#include <omp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "model/model.h"
#include "model/train_internal.h"
#include "util/util.h"

#define ADAM_BETA1 0.9
#define ADAM_BETA2 0.95
#define ADAM_EPS 1e-8
#define LOSS_EMA 0.9
#define HEARTBEAT_S 5.0

typedef struct trainer {
    const model_config *cfg;
    const model_train_opts *opts;
    const model_sink *sink;
    const kern_backend *be;
    model_precision precision; /* cfg->precision resolved for be (never auto) */
    model_net *net;
    model_data *data;
    float *m, *v;
    int32_t *tokens;
    /* The next step's training batch, drawn while the device runs this step (train_step),
     * and its batch index; -1 when none is ready. */
    int32_t *next_tokens;
    int64_t next_index;
    void *ckpt;
    model_metric *rows;
    size_t n_rows, cap_rows;
    double *pos_sum, *bucket_loss;
    int64_t *bucket_start;
    size_t n_buckets;
    char ckpt_path[4096], hash[17];
    FILE *log;
    model_train_state st;
    int64_t total;
    double t0, last_flush_t, last_ckpt_t, last_hb_t;
    int64_t last_flush_step;
} trainer;

int64_t model_train_total_steps(const model_config *cfg) {
    int64_t per = (int64_t)cfg->batch_size * cfg->context;
    return (cfg->tokens + per - 1) / per;
}

double model_train_lr(const model_config *cfg, int64_t step, int64_t total_steps) {
    if (cfg->warmup_steps > 0 && step <= cfg->warmup_steps) return cfg->lr * (double)step / cfg->warmup_steps;
    int64_t decay_steps = total_steps - cfg->warmup_steps;
    double progress = decay_steps > 0 ? (double)(step - cfg->warmup_steps) / decay_steps : 1.0;
    if (progress > 1) progress = 1;
    return cfg->lr * (cfg->min_lr_ratio + (1 - cfg->min_lr_ratio) * 0.5 * (1 + cos(M_PI * progress)));
}

static void say(trainer *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(trainer *t, const char *fmt, ...) {
    va_list ap;
    if (!t->opts->quiet) {
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        fflush(stdout);
    }
    if (t->log) {
        va_start(ap, fmt);
        vfprintf(t->log, fmt, ap);
        va_end(ap);
        fflush(t->log);
    }
}

static double elapsed(const trainer *t) { return t->st.wall_seconds + util_monotonic() - t->t0; }

static int flush_rows(trainer *t, char *err, size_t errlen) {
    if (!t->n_rows) return 0;
    if (t->sink && t->sink->metrics && t->sink->metrics(t->sink->ctx, t->rows, t->n_rows, err, errlen)) return -1;
    const model_metric *r = &t->rows[t->n_rows - 1];
    double mean = 0;
    for (size_t i = 0; i < t->n_rows; i++) mean += t->rows[i].loss / t->n_rows;
    say(t, "step %lld/%lld  loss %.4f  lr %.3e  grad_norm %.3f  tok/s %.0f%s", (long long)r->step,
        (long long)t->total, mean, r->lr, r->grad_norm, r->tokens_per_second, isnan(r->eval_loss) ? "\n" : "");
    if (!isnan(r->eval_loss)) say(t, "  eval_loss %.4f  best_context_loss %.4f\n", r->eval_loss, t->st.last_best_context);
    t->n_rows = 0;
    t->last_flush_t = util_monotonic();
    t->last_flush_step = r->step;
    return 0;
}

/* Validation loss over eval_tokens, by position bucket (1, 2-3, 4-7, ... 1-based)
 * and over the last 10% of positions. */
static int evaluate(trainer *t, int64_t step, char *err, size_t errlen) {
    const model_config *c = t->cfg;
    int B = c->batch_size, T = c->context;
    int64_t per = (int64_t)B * T, n_batches = (c->eval_tokens + per - 1) / per;
    if (n_batches < 1) n_batches = 1;
    memset(t->pos_sum, 0, (size_t)T * sizeof *t->pos_sum);
    for (int64_t i = 0; i < n_batches; i++) {
        if (model_data_batch(t->data, MODEL_SPLIT_VALID, i, B, T, t->tokens, err, errlen)) return -1;
        model_net_forward(t->net, t->tokens);
        for (int b = 0; b < B; b++)
            for (int p = 0; p < T; p++) t->pos_sum[p] += t->net->host_losses[(size_t)b * T + p];
    }
    double n_seq = (double)n_batches * B, total = 0;
    for (int p = 0; p < T; p++) total += t->pos_sum[p];
    for (size_t k = 0; k < t->n_buckets; k++) {
        int64_t lo = t->bucket_start[k], hi = 2 * lo - 1 < T ? 2 * lo - 1 : T;
        double s = 0;
        for (int64_t p = lo; p <= hi; p++) s += t->pos_sum[p - 1];
        t->bucket_loss[k] = s / (n_seq * (double)(hi - lo + 1));
    }
    int last = T / 10 > 0 ? T / 10 : 1;
    double best = 0;
    for (int p = T - last; p < T; p++) best += t->pos_sum[p];
    t->st.last_eval_loss = total / (n_seq * T);
    t->st.last_best_context = best / (n_seq * last);
    if (t->sink && t->sink->eval &&
        t->sink->eval(t->sink->ctx, step, t->st.last_eval_loss, t->bucket_start, t->bucket_loss, t->n_buckets, err,
                      errlen))
        return -1;
    return 0;
}

static int checkpoint(trainer *t, char *err, size_t errlen) {
    size_t n = t->net->n_params, bytes = n * sizeof(float);
    t->st.wall_seconds = elapsed(t);
    t->t0 = util_monotonic();
    t->be->download(model_ckpt_tensor(t->ckpt, n, 0), t->net->params, bytes);
    t->be->download(model_ckpt_tensor(t->ckpt, n, 1), t->m, bytes);
    t->be->download(model_ckpt_tensor(t->ckpt, n, 2), t->v, bytes);
    t->last_ckpt_t = util_monotonic();
    return model_ckpt_write(t->ckpt_path, t->ckpt, n, t->hash, &t->st, err, errlen);
}

/* One count for both pools, OpenMP (row loops, mixer) and OpenBLAS (matmuls); 0 =
 * every core this process may run on (its affinity mask). Set before the network is
 * allocated, since the mixer's work buffer has a slice per thread. Results do not
 * depend on the count (tests/unit/test_train.c checks 1 against 2). */
static void use_threads(int requested) {
    int n = requested > 0 ? requested : omp_get_num_procs();
    omp_set_num_threads(n);
    openblas_set_num_threads(n);
}

static int setup(trainer *t, char *err, size_t errlen) {
    const model_config *c = t->cfg;
    const char *dev = t->opts->device ? t->opts->device : "auto";
    char why[256] = "";
    const kern_backend *be = kern_backend_select(dev, why, sizeof why);
    if (!be) return util_err(err, errlen, kern_device_check(dev, NULL, 0) ? "device: %s" : "%s", why);
    use_threads(t->opts->threads);
    /* The one place train.precision auto is resolved: here the device is known. The
     * CUDA backend is the one with a bf16 variant, so auto is bf16 exactly there. */
    const kern_backend *bf16 = kern_backend_bf16(be);
    t->precision = model_precision_resolve(c->precision, bf16 != NULL);
    /* The CPU backend is FP32 only: a bf16 run there would silently be another run. */
    if (t->precision == MODEL_PRECISION_BF16 && !(be = bf16))
        return util_err(err, errlen, "train.precision bf16 needs the CUDA backend (%s); use precision fp32 on the CPU",
                        strcmp(dev, "cpu") ? why : "--device cpu");
    t->be = be;
    if (t->sink && t->sink->started &&
        t->sink->started(t->sink->ctx, bf16 ? "cuda" : "cpu", model_precision_name(t->precision), err, errlen))
        return -1;
    const char *dir = t->opts->run_dir ? t->opts->run_dir : ".";
    if (util_mkdir_p(dir, err, errlen)) return -1;
    snprintf(t->ckpt_path, sizeof t->ckpt_path, "%s/%s", dir, MODEL_CHECKPOINT_FILE);
    char log_path[4096];
    snprintf(log_path, sizeof log_path, "%s/train.log", dir);
    t->log = fopen(log_path, "a");
    if (!t->log) return util_err(err, errlen, "%s: cannot open for appending", log_path);
    model_config_hash(c, t->hash);
    t->total = model_train_total_steps(c);
    if (model_data_open(c->data_source, c->vocab_size, c->seed, &t->data, err, errlen)) return -1;
    if (model_net_alloc(c, c->batch_size, t->be, &t->net, err, errlen)) return -1;
    size_t n = t->net->n_params;
    int T = c->context;
    t->m = t->be->alloc(n * sizeof(float));
    t->v = t->be->alloc(n * sizeof(float));
    t->tokens = malloc((size_t)c->batch_size * (T + 1) * sizeof *t->tokens);
    t->next_tokens = malloc((size_t)c->batch_size * (T + 1) * sizeof *t->next_tokens);
    t->next_index = -1;
    t->ckpt = malloc(model_ckpt_bytes(n));
    t->cap_rows = (size_t)(t->opts->log_every > 0 ? t->opts->log_every : 10) + 1;
    t->rows = calloc(t->cap_rows, sizeof *t->rows);
    t->pos_sum = calloc((size_t)T, sizeof *t->pos_sum);
    for (int64_t s = 1; s <= T; s *= 2) t->n_buckets++;
    t->bucket_start = calloc(t->n_buckets, sizeof *t->bucket_start);
    t->bucket_loss = calloc(t->n_buckets, sizeof *t->bucket_loss);
    if (!t->m || !t->v || !t->tokens || !t->next_tokens || !t->ckpt || !t->rows || !t->pos_sum || !t->bucket_start ||
        !t->bucket_loss)
        return util_err(err, errlen, "out of memory for %zu parameters", n);
    for (size_t k = 0; k < t->n_buckets; k++) t->bucket_start[k] = (int64_t)1 << k;
    t->st.last_eval_loss = t->st.last_best_context = NAN;
    int found;
    if (model_ckpt_read(t->ckpt_path, t->ckpt, n, t->hash, &t->st, &found, err, errlen)) return -1;
    if (found) {
        size_t bytes = n * sizeof(float);
        t->be->upload(t->net->params, model_ckpt_tensor(t->ckpt, n, 0), bytes);
        t->be->upload(t->m, model_ckpt_tensor(t->ckpt, n, 1), bytes);
        t->be->upload(t->v, model_ckpt_tensor(t->ckpt, n, 2), bytes);
        say(t, "resumed from %s at step %lld\n", t->ckpt_path, (long long)t->st.step);
    } else if (model_net_init_params(t->net, c->seed, err, errlen)) {
        return -1;
    }
    /* Also from scratch (step 0): rows of an attempt that died before its first
     * checkpoint are stale too. */
    if (t->sink && t->sink->resumed && t->sink->resumed(t->sink->ctx, t->st.step, err, errlen)) return -1;
    say(t, "training %s: %zu parameters, %lld steps of %d x %d tokens, device %s\n", t->hash, n,
        (long long)t->total, c->batch_size, T, t->be->name);
    return 0;
}

static void teardown(trainer *t) {
    if (t->be) {
        t->be->free(t->m);
        t->be->free(t->v);
    }
    model_net_free(t->net);
    model_data_close(t->data);
    free(t->tokens);
    free(t->next_tokens);
    free(t->ckpt);
    free(t->rows);
    free(t->pos_sum);
    free(t->bucket_start);
    free(t->bucket_loss);
    if (t->log) fclose(t->log);
}

/* One optimizer step; returns the loss (non-finite: diverged, nothing updated). */
static double train_step(trainer *t, int64_t step, double lr, double *grad_norm, char *err, size_t errlen,
                         int *failed) {
    const model_config *c = t->cfg;
    model_net *net = t->net;
    *failed = 0;
    if (t->next_index == step - 1) { /* drawn during the last step */
        int32_t *swap = t->tokens;
        t->tokens = t->next_tokens;
        t->next_tokens = swap;
    } else if (model_data_batch(t->data, MODEL_SPLIT_TRAIN, step - 1, c->batch_size, c->context, t->tokens, err,
                                errlen)) {
        *failed = 1;
        return NAN;
    }
    t->next_index = -1;
    /* Forward and backward are issued back to back and the loss is read after the
     * gradient norm: on the GPU the step then waits for the device once (sum_squares'
     * download) instead of also after the forward. Safe: the same ops run in the same
     * order on the same data (the backward does not depend on the loss value and never
     * writes the per-position losses), and the decisions are the same: a non-finite
     * loss still returns before any update (the backward's gradients are discarded:
     * nothing reads net->grads before the next backward overwrites them). */
    model_net_forward_launch(net, t->tokens);
    model_net_backward(net);
    /* While the device runs this step, the host draws the next one's batch: a synthetic task
     * costs ~0.3-0.5 ms of CPU for 16k tokens, time in which the GPU would otherwise wait
     * for its next step. It is the batch the next step would draw (a batch is a function of
     * its index); a failure is not reported here: the next step draws it again and says why. */
    if (step < t->total &&
        !model_data_batch(t->data, MODEL_SPLIT_TRAIN, step, c->batch_size, c->context, t->next_tokens, NULL, 0))
        t->next_index = step;
    double norm = sqrt(t->be->sum_squares(net->n_params, net->grads));
    double loss = model_net_forward_loss(net); /* the device is done: no wait */
    if (step == t->opts->fault_nan_step) loss = NAN;
    if (!isfinite(loss)) return loss;
    *grad_norm = norm;
    if (!isfinite(norm)) return norm;
    if (c->grad_clip > 0 && norm > c->grad_clip) t->be->scale(net->n_params, net->grads, (float)(c->grad_clip / norm));
    model_net_adamw(net, t->m, t->v, lr, ADAM_BETA1, ADAM_BETA2, ADAM_EPS, c->weight_decay, step);
    return loss;
}

int model_train(const model_config *cfg, const model_train_opts *opts, const model_sink *sink,
                model_train_result *result, char *err, size_t errlen) {
    trainer t;
    memset(&t, 0, sizeof t);
    t.cfg = cfg;
    t.opts = opts;
    t.sink = sink;
    memset(result, 0, sizeof *result);
    result->final_train_loss = result->final_eval_loss = result->best_context_loss = NAN;
    int rc = setup(&t, err, errlen);
    /* Fault injection for the tests of failure handling (SQLite's habit): a run whose
     * train.seed equals SCALELAB_FAULT_SEED fails at its first step, as a broken data file
     * or device would, now that every spec problem is caught at plan time. */
    const char *fault = getenv("SCALELAB_FAULT_SEED");
    if (!rc && fault && *fault && strtoull(fault, NULL, 10) == (unsigned long long)cfg->seed)
        rc = util_err(err, errlen, "injected fault: train.seed %llu is SCALELAB_FAULT_SEED",
                      (unsigned long long)cfg->seed);
    t.t0 = t.last_flush_t = t.last_ckpt_t = t.last_hb_t = util_monotonic();
    t.last_flush_step = t.st.step;
    result->outcome = MODEL_TRAIN_DONE;
    int64_t tokens_per_step = (int64_t)cfg->batch_size * cfg->context;
    for (int64_t step = t.st.step + 1; !rc && step <= t.total; step++) {
        double lr = model_train_lr(cfg, step, t.total), grad_norm = NAN;
        int failed;
        double loss = train_step(&t, step, lr, &grad_norm, err, errlen, &failed);
        if (failed) {
            rc = -1;
            break;
        }
        double now = util_monotonic();
        model_metric *row = &t.rows[t.n_rows++];
        row->step = step;
        row->tokens = (double)step * tokens_per_step;
        row->wall_seconds = elapsed(&t);
        row->loss = loss;
        row->lr = lr;
        row->grad_norm = grad_norm;
        row->tokens_per_second = (double)(step - t.last_flush_step) * tokens_per_step / fmax(now - t.last_flush_t, 1e-9);
        row->eval_loss = NAN;
        if (!isfinite(loss) || !isfinite(grad_norm)) {
            result->outcome = MODEL_TRAIN_DIVERGED;
            result->diverged_step = step;
            rc = flush_rows(&t, err, errlen);
            say(&t, "diverged at step %lld (loss %g, grad_norm %g)\n", (long long)step, loss, grad_norm);
            break;
        }
        t.st.step = step;
        t.st.loss_ema = LOSS_EMA * t.st.loss_ema + (1 - LOSS_EMA) * loss;
        t.st.loss_ema_weight = LOSS_EMA * t.st.loss_ema_weight + (1 - LOSS_EMA);
        int eval_now = (cfg->eval_every > 0 && step % cfg->eval_every == 0) || step == t.total;
        if (eval_now) {
            if ((rc = evaluate(&t, step, err, errlen))) break;
            row->eval_loss = t.st.last_eval_loss;
            if (!isfinite(row->eval_loss)) {
                result->outcome = MODEL_TRAIN_DIVERGED;
                result->diverged_step = step;
                rc = flush_rows(&t, err, errlen);
                say(&t, "diverged at step %lld (eval loss %g)\n", (long long)step, row->eval_loss);
                break;
            }
        }
        int stop = opts->stop && *opts->stop;
        int time_ckpt = opts->checkpoint_every_s > 0 && now - t.last_ckpt_t >= opts->checkpoint_every_s;
        if (eval_now || stop || time_ckpt || t.n_rows == t.cap_rows ||
            (opts->log_every > 0 && step % opts->log_every == 0))
            if ((rc = flush_rows(&t, err, errlen))) break;
        if ((eval_now || stop || time_ckpt) && (rc = checkpoint(&t, err, errlen))) break;
        if (sink && sink->heartbeat && now - t.last_hb_t >= HEARTBEAT_S) {
            if ((rc = sink->heartbeat(sink->ctx, err, errlen))) break;
            t.last_hb_t = now;
        }
        if (stop) {
            result->outcome = MODEL_TRAIN_STOPPED;
            say(&t, "stopped at step %lld; checkpoint written\n", (long long)step);
            break;
        }
    }
    result->steps = t.st.step;
    if (t.st.loss_ema_weight > 0) result->final_train_loss = t.st.loss_ema / t.st.loss_ema_weight;
    result->final_eval_loss = t.st.last_eval_loss;
    result->best_context_loss = t.st.last_best_context;
    teardown(&t);
    return rc;
}
