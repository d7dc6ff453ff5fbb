/* kernels/cuda/writes.h against what the ops really write. The bf16 backend's ops declare their
 * writes from writes.h so that the bf16 matmul keeps its copies of everything else (backend.cu,
 * matmul.cu); a range left out there would let a product read a stale copy. Here a "spy"
 * backend runs the CPU backend's ops (the same contracts) with all memory in one arena, and
 * after every op compares the arena byte by byte with a snapshot taken before it: every byte
 * that changed must lie in a range writes.h declares for that call. Whole training steps
 * (forward, backward, gradient clipping, AdamW) of tiny models of each mixer and norm, GQA,
 * gated and ungated power retention, tied and untied heads, run through it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kernels/cuda/writes.h"
#include "model/model.h"

enum { ARENA = 8 << 20, BATCH = 2, SEQ = 8, VOCAB = 11 };

/* The spy's state: the arena (bump allocated, never freed until the next model), its snapshot,
 * and what the checks found. */
static struct {
    unsigned char *arena, *shadow;
    size_t used;
    long ops;
    long bad;
    char first[200];
} S;

static void *spy_alloc(size_t bytes) {
    size_t at = (S.used + 63) / 64 * 64;
    if (at + bytes > ARENA) return NULL;
    S.used = at + (bytes ? bytes : 1);
    memset(S.arena + at, 0, bytes);
    return S.arena + at;
}
static void spy_free(void *p) { (void)p; }

static void before(void) { memcpy(S.shadow, S.arena, S.used); }

/* Every changed byte inside one of the n ranges w. */
static void after(const char *op, const kcu_span *w, int n) {
    S.ops++;
    for (size_t i = 0; i < S.used; i++) {
        if (S.arena[i] == S.shadow[i]) continue;
        const unsigned char *b = S.arena + i;
        int in = 0;
        for (int j = 0; j < n && !in; j++) {
            const unsigned char *lo = w[j].p;
            in = lo && b >= lo && b < lo + w[j].bytes;
        }
        if (!in) {
            if (!S.bad++) snprintf(S.first, sizeof S.first, "%s wrote byte %zu of the arena outside its ranges", op, i);
            return;
        }
    }
}

#define CPU kern_cpu_backend()
#define SPY(name, ...)                                                                             \
    do {                                                                                           \
        before();                                                                                  \
        CPU->name(__VA_ARGS__);                                                                    \
        kcu_span w_[KCU_WRITES_MAX];                                                               \
        after(#name, w_, kcu_writes_##name(__VA_ARGS__, w_));                                      \
    } while (0)

static void s_upload(void *d, const void *s, size_t b) { SPY(upload, d, s, b); }
static void s_download(void *d, const void *s, size_t b) { SPY(download, d, s, b); }
static void s_matmul(int ta, int tb, int m, int n, int k, float al, const float *a, const float *b, float be,
                     float *c) {
    SPY(matmul, ta, tb, m, n, k, al, a, b, be, c);
}
static void s_matmul_bias(int ta, int tb, int m, int n, int k, const float *a, const float *b, const float *bias,
                          float *c) {
    SPY(matmul_bias, ta, tb, m, n, k, a, b, bias, c);
}
static void s_matmul_bias_gelu(int ta, int tb, int m, int n, int k, const float *a, const float *b, const float *bias,
                               float *pre, float *c) {
    SPY(matmul_bias_gelu, ta, tb, m, n, k, a, b, bias, pre, c);
}
static void s_matmul_dgelu(int ta, int tb, int m, int n, int k, const float *a, const float *b, const float *pre,
                           float *c, float *dbias) {
    SPY(matmul_dgelu, ta, tb, m, n, k, a, b, pre, c, dbias);
}
static void s_matmul_add(int ta, int tb, int m, int n, int k, const float *a, const float *b, const float *bias,
                         const float *r, float *c) {
    SPY(matmul_add, ta, tb, m, n, k, a, b, bias, r, c);
}
static void s_add_bias(int n, int dim, float *x, const float *bias) { SPY(add_bias, n, dim, x, bias); }
static void s_bias_backward(int n, int dim, const float *dy, float *db) { SPY(bias_backward, n, dim, dy, db); }
static void s_add(size_t n, const float *x, float *y) { SPY(add, n, x, y); }
static void s_zero(size_t n, float *x) { SPY(zero, n, x); }
static void s_layernorm_forward(int n, int dim, const float *x, const float *w, const float *b, float eps, float *y,
                                float *mean, float *rstd) {
    SPY(layernorm_forward, n, dim, x, w, b, eps, y, mean, rstd);
}
static void s_layernorm_backward(int n, int dim, const float *x, const float *w, const float *mean, const float *rstd,
                                 const float *dy, float *dx, float *dw, float *db) {
    SPY(layernorm_backward, n, dim, x, w, mean, rstd, dy, dx, dw, db);
}
static void s_rmsnorm_forward(int n, int dim, const float *x, const float *w, float eps, float *y, float *rstd) {
    SPY(rmsnorm_forward, n, dim, x, w, eps, y, rstd);
}
static void s_rmsnorm_backward(int n, int dim, const float *x, const float *w, const float *rstd, const float *dy,
                               float *dx, float *dw) {
    SPY(rmsnorm_backward, n, dim, x, w, rstd, dy, dx, dw);
}
static void s_gelu_forward(size_t n, const float *x, float *y) { SPY(gelu_forward, n, x, y); }
static void s_gelu_backward(size_t n, const float *x, const float *dy, float *dx) { SPY(gelu_backward, n, x, dy, dx); }
static void s_rope_forward(int rows, int seq, int nh, int d, const float *c, const float *sn, float *x) {
    SPY(rope_forward, rows, seq, nh, d, c, sn, x);
}
static void s_rope_backward(int rows, int seq, int nh, int d, const float *c, const float *sn, float *dx) {
    SPY(rope_backward, rows, seq, nh, d, c, sn, dx);
}
static void s_embedding_forward(int n, int dim, const int32_t *t, const float *table, float *out) {
    SPY(embedding_forward, n, dim, t, table, out);
}
static void s_logsigmoid_forward(size_t n, float *x) { SPY(logsigmoid_forward, n, x); }
static void s_logsigmoid_backward(size_t n, const float *lg, const float *dlg, float *dz) {
    SPY(logsigmoid_backward, n, lg, dlg, dz);
}
static void s_xent_forward(int n, int vocab, const float *logits, const int32_t *t, float *loss) {
    SPY(xent_forward, n, vocab, logits, t, loss);
}
static void s_xent_backward(int n, int vocab, const float *logits, const int32_t *t, float scale, float *dl) {
    SPY(xent_backward, n, vocab, logits, t, scale, dl);
}
static double s_sum_squares(size_t n, const float *x) {
    before();
    double r = CPU->sum_squares(n, x);
    kcu_span w[KCU_WRITES_MAX];
    after("sum_squares", w, kcu_writes_sum_squares(n, x, w));
    return r;
}
static void s_scale(size_t n, float *x, float a) { SPY(scale, n, x, a); }
static void s_adamw(size_t n, float *p, const float *g, float *m, float *v, double lr, double b1, double b2, double eps,
                    double wd, int64_t step) {
    before();
    CPU->adamw(n, p, g, m, v, lr, b1, b2, eps, wd, step);
    kcu_span w[KCU_WRITES_MAX];
    after("adamw", w, kcu_writes_adamw(n, p, g, m, v, w));
}
static void s_mixer_forward(const kern_mixer_shape *s, const float *q, const float *k, const float *v,
                            const float *log_g, float *y, float *saved, float *work) {
    before();
    CPU->mixer_forward(s, q, k, v, log_g, y, saved, work);
    kcu_span w[KCU_WRITES_MAX];
    after("mixer_forward", w,
          kcu_writes_mixer_forward(s, q, k, v, log_g, y, saved, work, CPU->mixer_saved_size(s),
                                   CPU->mixer_work_size(s), w));
}
static void s_mixer_backward(const kern_mixer_shape *s, const float *q, const float *k, const float *v,
                             const float *log_g, const float *y, const float *saved, const float *dy, float *dq,
                             float *dk, float *dv, float *dlog_g, float *work) {
    before();
    CPU->mixer_backward(s, q, k, v, log_g, y, saved, dy, dq, dk, dv, dlog_g, work);
    kcu_span w[KCU_WRITES_MAX];
    after("mixer_backward", w,
          kcu_writes_mixer_backward(s, q, k, v, log_g, y, saved, dy, dq, dk, dv, dlog_g, work, CPU->mixer_work_size(s),
                                    w));
}

/* The CPU table with every op that writes.h covers spied on (embedding_backward as it is). */
static kern_backend spy_table(void) {
    kern_backend be = *CPU;
    be.name = "spy";
    be.alloc = spy_alloc, be.free = spy_free, be.upload = s_upload, be.download = s_download;
    be.matmul = s_matmul, be.matmul_bias = s_matmul_bias, be.matmul_bias_gelu = s_matmul_bias_gelu;
    be.matmul_dgelu = s_matmul_dgelu, be.add_bias = s_add_bias, be.bias_backward = s_bias_backward;
    be.matmul_add = s_matmul_add;
    be.add = s_add, be.zero = s_zero, be.layernorm_forward = s_layernorm_forward;
    be.layernorm_backward = s_layernorm_backward, be.rmsnorm_forward = s_rmsnorm_forward;
    be.rmsnorm_backward = s_rmsnorm_backward, be.gelu_forward = s_gelu_forward, be.gelu_backward = s_gelu_backward;
    be.rope_forward = s_rope_forward, be.rope_backward = s_rope_backward, be.embedding_forward = s_embedding_forward;
    be.logsigmoid_forward = s_logsigmoid_forward, be.logsigmoid_backward = s_logsigmoid_backward;
    be.xent_forward = s_xent_forward, be.xent_backward = s_xent_backward, be.sum_squares = s_sum_squares;
    be.scale = s_scale, be.adamw = s_adamw, be.mixer_forward = s_mixer_forward, be.mixer_backward = s_mixer_backward;
    return be;
}

static model_config tiny(model_mixer mixer) {
    model_config c;
    memset(&c, 0, sizeof c);
    c.vocab_size = VOCAB, c.d_model = 8, c.n_layer = 2, c.n_head = 2, c.n_kv_head = 2, c.head_dim = 4;
    c.mlp_hidden = 16, c.mixer = mixer, c.p = 2, c.chunk = 4, c.window = 3, c.norm = MODEL_NORM_LAYERNORM;
    c.context = SEQ, c.batch_size = BATCH;
    return c;
}

/* Two training steps of c through the spy: forward, backward, the gradient norm and its
 * clipping, AdamW (model_net_adamw, as model/train.c issues them). Returns the ops checked. */
static long steps_through_spy(model_config c) {
    S.used = 0, S.ops = 0, S.bad = 0, S.first[0] = 0;
    kern_backend be = spy_table();
    char err[256];
    model_net *net;
    assert_int_equal(model_net_alloc(&c, BATCH, &be, &net, err, sizeof err), 0);
    assert_int_equal(model_net_init_params(net, 3, err, sizeof err), 0);
    float *m = be.alloc(net->n_params * sizeof(float)), *v = be.alloc(net->n_params * sizeof(float));
    assert_non_null(m);
    assert_non_null(v);
    int32_t seqs[BATCH * (SEQ + 1)];
    for (int step = 1; step <= 2; step++) {
        for (int i = 0; i < BATCH * (SEQ + 1); i++) seqs[i] = (int32_t)((i * 7 + step * 3 + i * i % 5) % VOCAB);
        double loss = model_net_forward(net, seqs);
        assert_true(loss > 0);
        model_net_backward(net);
        double norm = be.sum_squares(net->n_params, net->grads);
        be.scale(net->n_params, net->grads, (float)(0.5 / (norm + 1)));
        model_net_adamw(net, m, v, 1e-3, 0.9, 0.95, 1e-8, 0.1, step);
    }
    model_net_free(net);
    if (S.bad) printf("  %s\n", S.first);
    return S.ops;
}

static void check(model_config c, const char *label) {
    long ops = steps_through_spy(c);
    printf("  %-28s %ld ops checked, %ld wrote outside writes.h's ranges\n", label, ops, S.bad);
    assert_true(ops > 100);
    assert_int_equal(S.bad, 0);
}

static void test_mixers(void **state) {
    (void)state;
    model_config c = tiny(MODEL_MIXER_SOFTMAX);
    c.n_kv_head = 1;
    check(c, "softmax gqa layernorm");
    c = tiny(MODEL_MIXER_WINDOW);
    c.norm = MODEL_NORM_RMSNORM, c.tie_embeddings = 1;
    check(c, "window rmsnorm tied");
    c = tiny(MODEL_MIXER_POWER);
    c.gating = 1;
    check(c, "power p2 gated");
    c = tiny(MODEL_MIXER_POWER);
    c.p = 3, c.normalize = MODEL_NORMALIZE_RMS, c.n_kv_head = 1;
    check(c, "power p3 rms gqa ungated");
}

/* The spy itself can fail: a range declared too short is caught. */
static void test_spy_catches(void **state) {
    (void)state;
    S.used = 0, S.bad = 0;
    kern_backend be = spy_table();
    float *x = be.alloc(16 * sizeof(float)), *y = be.alloc(16 * sizeof(float));
    float ones[16];
    for (int i = 0; i < 16; i++) ones[i] = 1;
    be.upload(x, ones, sizeof ones);
    before();
    CPU->add(16, x, y);
    kcu_span w[KCU_WRITES_MAX];
    kcu_writes_add(15, x, y, w); /* one float short */
    after("add (declared one short)", w, 1);
    assert_int_equal(S.bad, 1);
}

static int setup(void **state) {
    (void)state;
    S.arena = malloc(ARENA), S.shadow = malloc(ARENA);
    return S.arena && S.shadow ? 0 : -1;
}
static int teardown(void **state) {
    (void)state;
    free(S.arena), free(S.shadow);
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_mixers), cmocka_unit_test(test_spy_catches)};
    return cmocka_run_group_tests(tests, setup, teardown);
}
