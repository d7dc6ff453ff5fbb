/* Every op of the backend table on the CPU and the CUDA backends, on the same
 * random inputs, compared by normalised mean squared error
 * (sum (gpu - cpu)^2 / sum cpu^2) with a per-op tolerance (ggml's
 * test-backend-ops); outputs start as random values, so an element the GPU
 * leaves unwritten fails. Then a few training steps of a tiny model per mixer
 * on both backends: the same losses to 1e-4. Without CUDA or a GPU every test
 * is skipped, saying why. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "kernels/kernels.h"
#include "model/model.h"

static const kern_backend *gpu;
static char gpu_why[256];

static int setup(void **state) {
    (void)state;
#ifdef SCALELAB_CUDA
    if (kern_cuda_available(gpu_why, sizeof gpu_why)) gpu = kern_cuda_backend();
#else
    kern_cuda_available(gpu_why, sizeof gpu_why);
#endif
    if (!gpu) printf("test_backend: skipping every CUDA comparison: %s\n", gpu_why);
    return 0;
}

#define NEED_GPU()                                                                                 \
    do {                                                                                           \
        if (!gpu) skip();                                                                          \
    } while (0)

/* ---- inputs: one xorshift stream per case, the same for both backends ---- */

typedef struct rng {
    uint64_t s;
} rng;
static double urand(rng *r) {
    r->s ^= r->s << 13;
    r->s ^= r->s >> 7;
    r->s ^= r->s << 17;
    return (double)(r->s >> 11) / 9007199254740992.0 * 2 - 1;
}
/* A device (or CPU) buffer of n random floats in [-scale, scale]. */
static float *rnd(const kern_backend *be, rng *r, size_t n, double scale) {
    float *h = malloc(n * sizeof *h + 1);
    for (size_t i = 0; i < n; i++) h[i] = (float)(scale * urand(r));
    float *d = be->alloc(n * sizeof *d);
    assert_non_null(d);
    be->upload(d, h, n * sizeof *h);
    free(h);
    return d;
}
static int32_t *tokens(const kern_backend *be, rng *r, size_t n, int vocab) {
    int32_t *h = malloc(n * sizeof *h + 1);
    for (size_t i = 0; i < n; i++) h[i] = (int32_t)((urand(r) + 1) / 2 * vocab) % vocab;
    int32_t *d = be->alloc(n * sizeof *d);
    be->upload(d, h, n * sizeof *h);
    free(h);
    return d;
}
/* Appends d's n floats to out and frees d. */
static void take(const kern_backend *be, float *out, size_t *at, float *d, size_t n) {
    be->download(out + *at, d, n * sizeof(float));
    *at += n;
    be->free(d);
}

/* ---- the ops ---- */

typedef size_t (*op_run)(const kern_backend *be, rng *r, const void *arg, float *out);

static size_t run_matmul(const kern_backend *be, rng *r, const void *arg, float *out) {
    (void)arg;
    enum { M = 37, N = 53, K = 29 };
    size_t at = 0;
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            float *a = rnd(be, r, M * K, 1), *b = rnd(be, r, K * N, 1), *c = rnd(be, r, M * N, 1);
            be->matmul(ta, tb, M, N, K, 0.7f, a, b, 0.3f, c);
            be->free(a);
            be->free(b);
            take(be, out, &at, c, M * N);
        }
    return at;
}

static size_t run_bias_add(const kern_backend *be, rng *r, const void *arg, float *out) {
    (void)arg;
    enum { N = 33, D = 70 };
    size_t at = 0;
    float *x = rnd(be, r, N * D, 1), *bias = rnd(be, r, D, 1), *db = rnd(be, r, D, 1), *y = rnd(be, r, N * D, 1);
    float *z = rnd(be, r, N * D, 1);
    be->add_bias(N, D, x, bias);
    be->bias_backward(N, D, x, db);
    be->add((size_t)N * D, x, y);
    be->zero((size_t)N * D, z);
    be->free(bias);
    take(be, out, &at, x, N * D);
    take(be, out, &at, db, D);
    take(be, out, &at, y, N * D);
    take(be, out, &at, z, N * D);
    return at;
}

static size_t run_norms(const kern_backend *be, rng *r, const void *arg, float *out) {
    int rms = *(const int *)arg;
    enum { N = 45, D = 96 };
    size_t at = 0;
    float *x = rnd(be, r, N * D, 2), *w = rnd(be, r, D, 1), *b = rnd(be, r, D, 1), *y = rnd(be, r, N * D, 1);
    float *mean = rnd(be, r, N, 1), *rstd = rnd(be, r, N, 1), *dy = rnd(be, r, N * D, 1);
    float *dx = rnd(be, r, N * D, 1), *dw = rnd(be, r, D, 1), *db = rnd(be, r, D, 1);
    if (rms) {
        be->rmsnorm_forward(N, D, x, w, 1e-5f, y, rstd);
        be->rmsnorm_backward(N, D, x, w, rstd, dy, dx, dw);
    } else {
        be->layernorm_forward(N, D, x, w, b, 1e-5f, y, mean, rstd);
        be->layernorm_backward(N, D, x, w, mean, rstd, dy, dx, dw, db);
    }
    be->free(x), be->free(w), be->free(b), be->free(dy);
    take(be, out, &at, y, N * D);
    take(be, out, &at, rstd, N);
    take(be, out, &at, mean, N);
    take(be, out, &at, dx, N * D);
    take(be, out, &at, dw, D);
    take(be, out, &at, db, D);
    return at;
}

static size_t run_elementwise(const kern_backend *be, rng *r, const void *arg, float *out) {
    (void)arg;
    enum { N = 5000 };
    size_t at = 0;
    float *x = rnd(be, r, N, 4), *y = rnd(be, r, N, 1), *dy = rnd(be, r, N, 1), *dx = rnd(be, r, N, 1);
    be->gelu_forward(N, x, y);
    be->gelu_backward(N, x, dy, dx);
    take(be, out, &at, y, N);
    take(be, out, &at, dx, N);
    float *z = rnd(be, r, N, 30), *dz = rnd(be, r, N, 1), *dl = rnd(be, r, N, 1);
    be->logsigmoid_forward(N, z);
    be->logsigmoid_backward(N, z, dl, dz);
    be->scale(N, x, -0.37f);
    be->free(dy), be->free(dl);
    take(be, out, &at, z, N);
    take(be, out, &at, dz, N);
    take(be, out, &at, x, N);
    return at;
}

static size_t run_rope(const kern_backend *be, rng *r, const void *arg, float *out) {
    (void)arg;
    enum { SEQ = 12, ROWS = 2 * SEQ, H = 3, HD = 16 };
    float tab[2 * SEQ * HD / 2];
    kern_rope_table(SEQ, HD, 10000.0, tab, tab + SEQ * HD / 2);
    float *t = be->alloc(sizeof tab);
    be->upload(t, tab, sizeof tab);
    float *x = rnd(be, r, ROWS * H * HD, 1), *dx = rnd(be, r, ROWS * H * HD, 1);
    be->rope_forward(ROWS, SEQ, H, HD, t, t + SEQ * HD / 2, x);
    be->rope_backward(ROWS, SEQ, H, HD, t, t + SEQ * HD / 2, dx);
    be->free(t);
    size_t at = 0;
    take(be, out, &at, x, ROWS * H * HD);
    take(be, out, &at, dx, ROWS * H * HD);
    return at;
}

static size_t run_embedding(const kern_backend *be, rng *r, const void *arg, float *out) {
    (void)arg;
    enum { V = 50, N = 200, D = 24 };
    int32_t *tok = tokens(be, r, N, V);
    float *table = rnd(be, r, V * D, 1), *o = rnd(be, r, N * D, 1), *dout = rnd(be, r, N * D, 1);
    float *dtable = rnd(be, r, V * D, 1);
    be->embedding_forward(N, D, tok, table, o);
    be->embedding_backward(N, D, tok, dout, dtable);
    be->free(tok), be->free(table), be->free(dout);
    size_t at = 0;
    take(be, out, &at, o, N * D);
    take(be, out, &at, dtable, V * D);
    return at;
}

static size_t run_xent(const kern_backend *be, rng *r, const void *arg, float *out) {
    (void)arg;
    enum { N = 20, V = 300 };
    int32_t *tg = tokens(be, r, N, V);
    float *logits = rnd(be, r, N * V, 8), *loss = rnd(be, r, N, 1), *dl = rnd(be, r, N * V, 1);
    be->xent_forward(N, V, logits, tg, loss);
    be->xent_backward(N, V, logits, tg, 1.0f / N, dl);
    be->xent_backward(N, V, logits, tg, 0.5f, logits); /* in place, as the model calls it */
    be->free(tg);
    size_t at = 0;
    take(be, out, &at, loss, N);
    take(be, out, &at, dl, N * V);
    take(be, out, &at, logits, N * V);
    return at;
}

static size_t run_optim(const kern_backend *be, rng *r, const void *arg, float *out) {
    (void)arg;
    enum { N = 100003 };
    float *x = rnd(be, r, N, 1), *g = rnd(be, r, N, 1), *m = rnd(be, r, N, 0.1), *v = rnd(be, r, N, 0.1);
    out[0] = (float)(be->sum_squares(N, x) / N);
    /* v must be >= 0 */
    be->zero(N, v);
    be->adamw(N, x, g, m, v, 1e-3, 0.9, 0.95, 1e-8, 0.1, 3);
    be->adamw(N, x, g, m, v, 1e-3, 0.9, 0.95, 1e-8, 0.0, 4);
    be->free(g);
    size_t at = 1;
    take(be, out, &at, x, N);
    take(be, out, &at, m, N);
    take(be, out, &at, v, N);
    return at;
}

/* A mixer forward and backward: y, saved, dq, dk, dv (and dlog_g). */
static size_t run_mixer(const kern_backend *be, rng *r, const void *arg, float *out) {
    const kern_mixer_shape *s = arg;
    size_t nq = (size_t)s->batch * s->seq * s->n_head * s->head_dim;
    size_t nk = (size_t)s->batch * s->seq * s->n_kv_head * s->head_dim, ng = (size_t)s->batch * s->seq * s->n_kv_head;
    float *q = rnd(be, r, nq, 1), *k = rnd(be, r, nk, 1), *v = rnd(be, r, nk, 1), *dy = rnd(be, r, nq, 1);
    float *lg = rnd(be, r, ng, 3), *y = rnd(be, r, nq, 1), *saved = rnd(be, r, be->mixer_saved_size(s), 1);
    float *dq = rnd(be, r, nq, 1), *dk = rnd(be, r, nk, 1), *dv = rnd(be, r, nk, 1), *dlg = rnd(be, r, ng, 1);
    be->logsigmoid_forward(ng, lg);
    /* Work at an odd float offset: the backend must cope with any. */
    float *work = be->alloc((be->mixer_work_size(s) + 1) * sizeof(float));
    const float *log_g = s->gating ? lg : NULL;
    be->mixer_forward(s, q, k, v, log_g, y, saved, work + 1);
    be->mixer_backward(s, q, k, v, log_g, y, saved, dy, dq, dk, dv, s->gating ? dlg : NULL, work + 1);
    be->free(work), be->free(q), be->free(k), be->free(v), be->free(dy), be->free(lg);
    size_t at = 0;
    take(be, out, &at, y, nq);
    take(be, out, &at, saved, be->mixer_saved_size(s));
    take(be, out, &at, dq, nq);
    take(be, out, &at, dk, nk);
    take(be, out, &at, dv, nk);
    take(be, out, &at, dlg, ng);
    return at;
}

/* ---- the table ---- */

static const int LAYERNORM = 0, RMSNORM = 1;
#define ATTN(kind_, b, t, h, kv, d, w) {.batch = b, .seq = t, .n_head = h, .n_kv_head = kv, .head_dim = d, \
    .kind = kind_, .window = w, .scale = 0.25, .eps = 1e-6}
#define POWER(b, t, h, kv, d, p_, c, gate, rms) {.batch = b, .seq = t, .n_head = h, .n_kv_head = kv, \
    .head_dim = d, .kind = KERN_MIXER_POWER, .p = p_, .chunk = c, .gating = gate, .normalize_rms = rms, \
    .scale = 0.35, .eps = 1e-6}
static const kern_mixer_shape SHAPES[] = {
    ATTN(KERN_MIXER_SOFTMAX, 2, 40, 4, 2, 16, 0),  ATTN(KERN_MIXER_SOFTMAX, 1, 70, 2, 2, 8, 0),
    ATTN(KERN_MIXER_WINDOW, 2, 40, 4, 2, 16, 7),   ATTN(KERN_MIXER_WINDOW, 1, 40, 2, 1, 8, 1),
    ATTN(KERN_MIXER_WINDOW, 2, 37, 2, 2, 8, 64),   ATTN(KERN_MIXER_WINDOW, 1, 96, 3, 1, 8, 16),
    POWER(2, 32, 4, 2, 8, 2, 8, 1, 0),             POWER(1, 32, 2, 2, 16, 1, 16, 0, 1),
    POWER(2, 24, 2, 1, 4, 3, 4, 1, 0),             POWER(1, 16, 2, 2, 8, 2, 16, 1, 0),
    POWER(1, 8, 1, 1, 3, 4, 1, 1, 0),              POWER(2, 64, 2, 2, 8, 2, 16, 0, 0),
    POWER(1, 32, 4, 4, 8, 1, 8, 1, 1),
};

typedef struct op_case {
    const char *name;
    op_run run;
    const void *arg;
    double tol; /* normalised mean squared error */
} op_case;

static const op_case CASES[] = {
    {"matmul (4 transposes)", run_matmul, NULL, 1e-12},
    {"add_bias, bias_backward, add, zero", run_bias_add, NULL, 1e-12},
    {"layernorm fwd+bwd", run_norms, &LAYERNORM, 1e-11},
    {"rmsnorm fwd+bwd", run_norms, &RMSNORM, 1e-11},
    {"gelu, logsigmoid fwd+bwd, scale", run_elementwise, NULL, 1e-12},
    {"rope fwd+bwd", run_rope, NULL, 1e-12},
    {"embedding fwd+bwd", run_embedding, NULL, 1e-12},
    {"xent fwd+bwd (and in place)", run_xent, NULL, 1e-12},
    {"sum_squares, adamw", run_optim, NULL, 1e-12},
    {"softmax B2 T40 H4/2 d16", run_mixer, &SHAPES[0], 1e-10},
    {"softmax B1 T70 H2/2 d8", run_mixer, &SHAPES[1], 1e-10},
    {"window 7 B2 T40 H4/2 d16", run_mixer, &SHAPES[2], 1e-10},
    {"window 1 B1 T40 H2/1 d8", run_mixer, &SHAPES[3], 1e-10},
    {"window 64 > T37", run_mixer, &SHAPES[4], 1e-10},
    {"window 16 B1 T96 H3/1 d8", run_mixer, &SHAPES[5], 1e-10},
    {"power p2 gated c8 H4/2", run_mixer, &SHAPES[6], 1e-9},
    {"power p1 rms c16", run_mixer, &SHAPES[7], 1e-9},
    {"power p3 gated c4 H2/1 d4", run_mixer, &SHAPES[8], 1e-9},
    {"power p2 gated one chunk", run_mixer, &SHAPES[9], 1e-9},
    {"power p4 gated c1 d3", run_mixer, &SHAPES[10], 1e-9},
    {"power p2 ungated c16 T64", run_mixer, &SHAPES[11], 1e-9},
    {"power p1 gated rms c8 H4/4", run_mixer, &SHAPES[12], 1e-9},
};

enum { OUT_MAX = 1 << 20 };

static void test_ops(void **state) {
    (void)state;
    NEED_GPU();
    float *a = malloc(OUT_MAX * sizeof *a), *b = malloc(OUT_MAX * sizeof *b);
    int failures = 0;
    for (size_t c = 0; c < sizeof CASES / sizeof CASES[0]; c++) {
        const op_case *oc = &CASES[c];
        rng r1 = {0x9e3779b97f4a7c15ull + c}, r2 = r1;
        size_t n = oc->run(kern_cpu_backend(), &r1, oc->arg, a);
        size_t m = oc->run(gpu, &r2, oc->arg, b);
        assert_true(n == m && n <= OUT_MAX);
        double num = 0, den = 0, worst = 0;
        size_t wi = 0;
        for (size_t i = 0; i < n; i++) {
            double e = (double)b[i] - a[i];
            num += e * e;
            den += (double)a[i] * a[i];
            if (!(fabs(e) <= worst)) worst = fabs(e), wi = i;
        }
        double nmse = num / (den > 0 ? den : 1);
        int ok = nmse <= oc->tol; /* NaN fails */
        printf("  %-40s %8zu values  nmse %.2e  (tol %.0e)  %s\n", oc->name, n, nmse, oc->tol, ok ? "ok" : "FAIL");
        if (!ok) {
            printf("    worst at %zu: cpu %.8g gpu %.8g\n", wi, a[wi], b[wi]);
            failures++;
        }
    }
    free(a);
    free(b);
    assert_int_equal(failures, 0);
}

/* The GPU's reductions are fixed-order: the same inputs give the same bits. */
static void test_reproducible(void **state) {
    (void)state;
    NEED_GPU();
    static const kern_mixer_shape *pick[] = {&SHAPES[0], &SHAPES[2], &SHAPES[6]};
    float *a = malloc(OUT_MAX * sizeof *a), *b = malloc(OUT_MAX * sizeof *b);
    for (size_t i = 0; i < 3; i++) {
        rng r1 = {42 + i}, r2 = r1;
        size_t n = run_mixer(gpu, &r1, pick[i], a), m = run_mixer(gpu, &r2, pick[i], b);
        assert_true(n == m && memcmp(a, b, n * sizeof *a) == 0);
    }
    rng r1 = {7}, r2 = r1;
    size_t n = run_optim(gpu, &r1, NULL, a), m = run_optim(gpu, &r2, NULL, b);
    assert_true(n == m && memcmp(a, b, n * sizeof *a) == 0);
    free(a);
    free(b);
}

/* ---- a tiny model trained on both backends ---- */

enum { STEPS = 12 };
typedef struct losses {
    double loss[STEPS + 1], norm[STEPS + 1];
    size_t n;
} losses;
static int keep(void *ctx, const model_metric *rows, size_t n, char *err, size_t errlen) {
    losses *l = ctx;
    (void)err, (void)errlen;
    for (size_t i = 0; i < n && l->n < STEPS; i++, l->n++) {
        l->loss[l->n] = rows[i].loss;
        l->norm[l->n] = rows[i].grad_norm;
    }
    return 0;
}
static int ignore_eval(void *ctx, int64_t step, double loss, const int64_t *start, const double *bl, size_t nb,
                       char *err, size_t errlen) {
    (void)ctx, (void)step, (void)loss, (void)start, (void)bl, (void)nb, (void)err, (void)errlen;
    return 0;
}
static int ignore_beat(void *ctx, char *err, size_t errlen) {
    (void)ctx, (void)err, (void)errlen;
    return 0;
}

static void train_on(const char *device, const char *const (*sets)[2], size_t n_sets, const char *dir,
                     losses *out) {
    model_config c;
    model_config_default(&c);
    char err[512];
    for (size_t i = 0; i < n_sets; i++)
        if (model_config_set(&c, sets[i][0], sets[i][1], err, sizeof err)) fail_msg("%s", err);
    c.tokens = (int64_t)STEPS * c.batch_size * c.context;
    if (model_config_resolve(&c, err, sizeof err)) fail_msg("%s", err);
    model_sink sink = {out, keep, ignore_eval, ignore_beat, NULL};
    model_train_opts o = {.run_dir = dir, .device = device, .threads = 1, .log_every = 4, .quiet = 1};
    model_train_result res;
    if (model_train(&c, &o, &sink, &res, err, sizeof err)) fail_msg("%s: %s", device, err);
    assert_int_equal(out->n, STEPS);
}

static void test_training(void **state) {
    (void)state;
    NEED_GPU();
    char tmp[] = "/tmp/scalelab-test-backend.XXXXXX";
    assert_non_null(mkdtemp(tmp));
    static const char *const common[][2] = {
        {"model.d_model", "64"},  {"model.n_layer", "2"},       {"model.n_head", "4"},  {"model.n_kv_head", "2"},
        {"train.context", "64"},  {"train.batch_size", "4"},    {"train.lr", "3e-3"},   {"train.warmup_steps", "2"},
        {"train.eval_every", "1000"}, {"train.eval_tokens", "256"}, {"data.source", "synthetic:recall"}};
    static const char *const mixers[][4][2] = {
        {{"model.mixer", "softmax"}, {"model.norm", "layernorm"}, {"model.tie_embeddings", "true"}, {NULL, NULL}},
        {{"model.mixer", "window"}, {"model.window", "16"}, {"model.norm", "rmsnorm"}, {NULL, NULL}},
        {{"model.mixer", "power"}, {"model.p", "2"}, {"model.chunk", "16"}, {"model.gating", "true"}},
    };
    for (size_t mi = 0; mi < 3; mi++) {
        const char *sets[16][2];
        size_t n = 0;
        for (size_t i = 0; i < sizeof common / sizeof common[0]; i++) sets[n][0] = common[i][0], sets[n++][1] = common[i][1];
        for (size_t i = 0; i < 4 && mixers[mi][i][0]; i++) sets[n][0] = mixers[mi][i][0], sets[n++][1] = mixers[mi][i][1];
        losses cpu = {0}, cuda = {0};
        char d1[300], d2[300];
        snprintf(d1, sizeof d1, "%s/cpu%zu", tmp, mi);
        snprintf(d2, sizeof d2, "%s/cuda%zu", tmp, mi);
        train_on("cpu", (const char *const(*)[2])sets, n, d1, &cpu);
        train_on("cuda", (const char *const(*)[2])sets, n, d2, &cuda);
        double worst = 0;
        for (size_t s = 0; s < STEPS; s++) {
            double e = fabs(cpu.loss[s] - cuda.loss[s]);
            worst = e > worst ? e : worst;
            assert_true(fabs(cpu.norm[s] - cuda.norm[s]) <= 1e-3 * fmax(1, cpu.norm[s]));
        }
        printf("  %s: %d steps, loss %.5f -> %.5f (cpu) vs %.5f -> %.5f (cuda), worst |diff| %.2e\n",
               mixers[mi][0][1], STEPS, cpu.loss[0], cpu.loss[STEPS - 1], cuda.loss[0], cuda.loss[STEPS - 1], worst);
        assert_true(worst < 1e-4);
    }
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    assert_int_equal(system(cmd), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ops),
        cmocka_unit_test(test_reproducible),
        cmocka_unit_test(test_training),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
