/* Every op of kernels/kern_ops.inc: forward against an independent formula and
 * backward against central finite differences, in float64 (the _f64 twins);
 * then the float versions against the float64 ones. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kernels/kernels.h"

static unsigned long long rng_state = 12345;
static double urand(void) { /* xorshift; test-only */
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) / 9007199254740992.0 * 2 - 1;
}
static double *rvec(size_t n, double scale) {
    double *v = malloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++) v[i] = scale * urand();
    return v;
}
static double dot(const double *a, const double *b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

/* A scalar loss of the op's inputs: sum(out * r) for a fixed random r. */
typedef double (*loss_fn)(void *ctx);
static void check_grad(const char *what, loss_fn f, void *ctx, double *x, size_t n, const double *g) {
    const double h = 1e-6;
    for (size_t i = 0; i < n; i++) {
        double save = x[i];
        x[i] = save + h;
        double lp = f(ctx);
        x[i] = save - h;
        double lm = f(ctx);
        x[i] = save;
        double fd = (lp - lm) / (2 * h);
        double scale = fmax(1.0, fmax(fabs(fd), fabs(g[i])));
        if (fabs(fd - g[i]) > 1e-6 * scale) fail_msg("%s[%zu]: analytic %.10g, finite difference %.10g", what, i, g[i], fd);
    }
}

enum { N = 5, D = 8 };

typedef struct norm_ctx {
    double *x, *w, *b, *r, y[N * D], mean[N], rstd[N];
    int rms;
} norm_ctx;
static double norm_loss(void *p) {
    norm_ctx *c = p;
    if (c->rms) kern_rmsnorm_forward_f64(N, D, c->x, c->w, 1e-5, c->y, c->rstd);
    else kern_layernorm_forward_f64(N, D, c->x, c->w, c->b, 1e-5, c->y, c->mean, c->rstd);
    return dot(c->y, c->r, N * D);
}
static void test_norms(void **state) {
    (void)state;
    for (int rms = 0; rms < 2; rms++) {
        norm_ctx c = {.x = rvec(N * D, 2), .w = rvec(D, 1), .b = rvec(D, 1), .r = rvec(N * D, 1), .rms = rms};
        norm_loss(&c);
        /* Forward against the definition. */
        for (int i = 0; i < N; i++) {
            double mu = 0, ms = 0;
            for (int j = 0; j < D; j++) mu += c.x[i * D + j] / D;
            if (rms) mu = 0;
            for (int j = 0; j < D; j++) ms += (c.x[i * D + j] - mu) * (c.x[i * D + j] - mu) / D;
            for (int j = 0; j < D; j++) {
                double want = (c.x[i * D + j] - mu) / sqrt(ms + 1e-5) * c.w[j] + (rms ? 0 : c.b[j]);
                assert_true(fabs(c.y[i * D + j] - want) < 1e-12);
            }
        }
        double dx[N * D], dw[D] = {0}, db[D] = {0};
        for (int i = 0; i < N * D; i++) dx[i] = 0.5; /* dx accumulates: start non-zero */
        if (rms) kern_rmsnorm_backward_f64(N, D, c.x, c.w, c.rstd, c.r, dx, dw);
        else kern_layernorm_backward_f64(N, D, c.x, c.w, c.mean, c.rstd, c.r, dx, dw, db);
        for (int i = 0; i < N * D; i++) dx[i] -= 0.5;
        check_grad(rms ? "rmsnorm dx" : "layernorm dx", norm_loss, &c, c.x, N * D, dx);
        check_grad(rms ? "rmsnorm dw" : "layernorm dw", norm_loss, &c, c.w, D, dw);
        if (!rms) check_grad("layernorm db", norm_loss, &c, c.b, D, db);
        free(c.x), free(c.w), free(c.b), free(c.r);
    }
}

typedef struct ew_ctx {
    double *x, *r, y[N * D];
    int op; /* 0 gelu, 1 logsigmoid */
} ew_ctx;
static double ew_loss(void *p) {
    ew_ctx *c = p;
    if (c->op == 0) kern_gelu_forward_f64(N * D, c->x, c->y);
    else {
        memcpy(c->y, c->x, sizeof c->y);
        kern_logsigmoid_forward_f64(N * D, c->y);
    }
    return dot(c->y, c->r, N * D);
}
static void test_elementwise(void **state) {
    (void)state;
    for (int op = 0; op < 2; op++) {
        ew_ctx c = {.x = rvec(N * D, 4), .r = rvec(N * D, 1), .op = op};
        c.x[0] = op ? 40 : 3; /* saturated ends */
        c.x[1] = op ? -40 : -3;
        ew_loss(&c);
        for (int i = 0; i < N * D; i++) {
            double x = c.x[i];
            double want = op ? -log1p(exp(-x)) : 0.5 * x * (1 + erf(x / sqrt(2)));
            /* tanh GELU is within 1e-3 of the erf form; logsigmoid is exact. */
            assert_true(fabs(c.y[i] - want) < (op ? 1e-12 : 1e-3));
        }
        double g[N * D];
        if (op == 0) kern_gelu_backward_f64(N * D, c.x, c.r, g);
        else kern_logsigmoid_backward_f64(N * D, c.y, c.r, g);
        check_grad(op ? "logsigmoid" : "gelu", ew_loss, &c, c.x, N * D, g);
        free(c.x), free(c.r);
    }
}

enum { SEQ = 4, HEADS = 2, HD = 6 };
typedef struct rope_ctx {
    double *x, *r, y[N * HEADS * HD], cs[SEQ * HD / 2], sn[SEQ * HD / 2];
} rope_ctx;
static double rope_loss(void *p) {
    rope_ctx *c = p;
    memcpy(c->y, c->x, sizeof c->y);
    kern_rope_forward_f64(N, SEQ, HEADS, HD, c->cs, c->sn, c->y);
    return dot(c->y, c->r, N * HEADS * HD);
}
static void test_rope(void **state) {
    (void)state;
    rope_ctx c = {.x = rvec(N * HEADS * HD, 1), .r = rvec(N * HEADS * HD, 1)};
    kern_rope_table_f64(SEQ, HD, 10000.0, c.cs, c.sn);
    rope_loss(&c);
    for (int row = 0; row < N; row++)
        for (int h = 0; h < HEADS; h++)
            for (int i = 0; i < HD / 2; i++) {
                double ang = (row % SEQ) * pow(10000.0, -2.0 * i / HD);
                const double *x = c.x + (row * HEADS + h) * HD;
                const double *y = c.y + (row * HEADS + h) * HD;
                assert_true(fabs(y[i] - (x[i] * cos(ang) - x[i + HD / 2] * sin(ang))) < 1e-12);
                assert_true(fabs(y[i + HD / 2] - (x[i] * sin(ang) + x[i + HD / 2] * cos(ang))) < 1e-12);
            }
    double g[N * HEADS * HD];
    memcpy(g, c.r, sizeof g);
    kern_rope_backward_f64(N, SEQ, HEADS, HD, c.cs, c.sn, g);
    check_grad("rope", rope_loss, &c, c.x, N * HEADS * HD, g);
    free(c.x), free(c.r);
}

enum { VOCAB = 7 };
typedef struct xent_ctx {
    double *logits, loss[N];
    int32_t targets[N];
} xent_ctx;
static double xent_loss(void *p) {
    xent_ctx *c = p;
    kern_xent_forward_f64(N, VOCAB, c->logits, c->targets, c->loss);
    double s = 0;
    for (int i = 0; i < N; i++) s += (i + 1) * c->loss[i]; /* distinct weights per row */
    return s;
}
static void test_xent(void **state) {
    (void)state;
    xent_ctx c = {.logits = rvec(N * VOCAB, 5), .targets = {0, 3, 6, 2, 2}};
    c.logits[1] = 300; /* max subtraction keeps this finite */
    xent_loss(&c);
    for (int i = 0; i < N; i++) {
        double s = 0, mx = -INFINITY;
        for (int j = 0; j < VOCAB; j++) mx = fmax(mx, c.logits[i * VOCAB + j]);
        for (int j = 0; j < VOCAB; j++) s += exp(c.logits[i * VOCAB + j] - mx);
        assert_true(fabs(c.loss[i] - (mx + log(s) - c.logits[i * VOCAB + c.targets[i]])) < 1e-10);
    }
    double g[N * VOCAB];
    for (int i = 0; i < N; i++) kern_xent_backward_f64(1, VOCAB, c.logits + i * VOCAB, c.targets + i, i + 1, g + i * VOCAB);
    check_grad("xent", xent_loss, &c, c.logits, N * VOCAB, g);
    /* In place (dlogits aliasing logits), as the model uses it. */
    double *alias = malloc(sizeof g);
    memcpy(alias, c.logits, sizeof g);
    kern_xent_backward_f64(1, VOCAB, alias + VOCAB, c.targets + 1, 2, alias + VOCAB);
    for (int j = 0; j < VOCAB; j++) assert_true(fabs(alias[VOCAB + j] - g[VOCAB + j]) < 1e-14);
    free(alias), free(c.logits);
}

typedef struct lin_ctx {
    double *x, *w, *bias, *r, y[N * D];
    int32_t tok[N];
} lin_ctx;
/* y = x @ w^T + bias (exercises the transposed matmul and add_bias). */
static double lin_loss(void *p) {
    lin_ctx *c = p;
    kern_matmul_f64(0, 1, N, D, D, 1, c->x, c->w, 0, c->y);
    kern_add_bias_f64(N, D, c->y, c->bias);
    return dot(c->y, c->r, N * D);
}
static void test_matmul_bias(void **state) {
    (void)state;
    lin_ctx c = {.x = rvec(N * D, 1), .w = rvec(D * D, 1), .bias = rvec(D, 1), .r = rvec(N * D, 1)};
    lin_loss(&c);
    for (int i = 0; i < N; i++)
        for (int j = 0; j < D; j++) {
            double s = c.bias[j];
            for (int k = 0; k < D; k++) s += c.x[i * D + k] * c.w[j * D + k];
            assert_true(fabs(c.y[i * D + j] - s) < 1e-12);
        }
    double dx[N * D], dw[D * D], db[D] = {0};
    kern_matmul_f64(0, 0, N, D, D, 1, c.r, c.w, 0, dx);
    kern_matmul_f64(1, 0, D, D, N, 1, c.r, c.x, 0, dw);
    kern_bias_backward_f64(N, D, c.r, db);
    check_grad("matmul dx", lin_loss, &c, c.x, N * D, dx);
    check_grad("matmul dw", lin_loss, &c, c.w, D * D, dw);
    check_grad("bias", lin_loss, &c, c.bias, D, db);
    free(c.x), free(c.w), free(c.bias), free(c.r);
}

/* matmul_add (a residual connection's product): c = x W^T [+ bias] + res against the sum
 * written out, with and without the bias; res is left as it was. */
static void test_matmul_add(void **state) {
    (void)state;
    double *x = rvec(N * D, 1), *w = rvec(D * D, 1), *bias = rvec(D, 1), *res = rvec(N * D, 1), c[N * D];
    double res0[N * D];
    memcpy(res0, res, sizeof res0);
    for (int with_bias = 0; with_bias <= 1; with_bias++) {
        kern_matmul_add_f64(0, 1, N, D, D, x, w, with_bias ? bias : NULL, res, c);
        for (int i = 0; i < N; i++)
            for (int j = 0; j < D; j++) {
                double s = res[i * D + j] + (with_bias ? bias[j] : 0);
                for (int k = 0; k < D; k++) s += x[i * D + k] * w[j * D + k];
                assert_true(fabs(c[i * D + j] - s) < 1e-12);
            }
        assert_memory_equal(res, res0, sizeof res0);
    }
    free(x), free(w), free(bias), free(res);
}

typedef struct emb_ctx {
    double *table, *r, out[N * D];
    int32_t tok[N];
} emb_ctx;
static double emb_loss(void *p) {
    emb_ctx *c = p;
    kern_embedding_forward_f64(N, D, c->tok, c->table, c->out);
    return dot(c->out, c->r, N * D);
}
static void test_embedding(void **state) {
    (void)state;
    emb_ctx c = {.table = rvec(VOCAB * D, 1), .r = rvec(N * D, 1), .tok = {1, 4, 1, 6, 0}}; /* token 1 twice */
    emb_loss(&c);
    for (int i = 0; i < N; i++) assert_memory_equal(c.out + i * D, c.table + c.tok[i] * D, D * sizeof(double));
    double g[VOCAB * D] = {0};
    kern_embedding_backward_f64(N, D, c.tok, c.r, g);
    check_grad("embedding", emb_loss, &c, c.table, VOCAB * D, g);
    free(c.table), free(c.r);
}

static void test_optimizer_ops(void **state) {
    (void)state;
    size_t n = 1000;
    double *x = rvec(n, 3), want = 0;
    for (size_t i = 0; i < n; i++) want += x[i] * x[i];
    assert_true(fabs(kern_sum_squares_f64(n, x) - want) < 1e-9);
    assert_true(kern_sum_squares_f64(0, x) == 0);
    /* AdamW, two steps by hand for one value. */
    double p = 0.5, g = 0.2, m = 0, v = 0;
    double lr = 0.01, b1 = 0.9, b2 = 0.95, eps = 1e-8, wd = 0.1;
    double hp = p, hm = 0, hv = 0;
    for (int t = 1; t <= 2; t++) {
        kern_adamw_f64(1, &p, &g, &m, &v, lr, b1, b2, eps, wd, t);
        hm = b1 * hm + (1 - b1) * g;
        hv = b2 * hv + (1 - b2) * g * g;
        hp -= lr * ((hm / (1 - pow(b1, t))) / (sqrt(hv / (1 - pow(b2, t))) + eps) + wd * hp);
        assert_true(fabs(p - hp) < 1e-15);
    }
    kern_scale_f64(n, x, 0.5);
    assert_true(fabs(kern_sum_squares_f64(n, x) - want / 4) < 1e-9);
    free(x);
}

/* The float ops agree with their float64 twins to float rounding. */
static void test_float_matches_double(void **state) {
    (void)state;
    double *xd = rvec(N * D, 2), *wd = rvec(D, 1), *bd = rvec(D, 1);
    float xf[N * D], wf[D], bf[D], yf[N * D], mf[N], rf[N];
    double yd[N * D], md[N], rd[N];
    for (int i = 0; i < N * D; i++) xf[i] = (float)xd[i];
    for (int i = 0; i < D; i++) wf[i] = (float)wd[i], bf[i] = (float)bd[i];
    kern_layernorm_forward(N, D, xf, wf, bf, 1e-5f, yf, mf, rf);
    kern_layernorm_forward_f64(N, D, xd, wd, bd, 1e-5, yd, md, rd);
    for (int i = 0; i < N * D; i++) assert_true(fabs(yf[i] - yd[i]) < 1e-5);
    kern_gelu_forward(N * D, xf, yf);
    kern_gelu_forward_f64(N * D, xd, yd);
    for (int i = 0; i < N * D; i++) assert_true(fabs(yf[i] - yd[i]) < 1e-5);
    assert_string_equal(kern_cpu_backend()->name, "cpu");
    assert_ptr_equal(kern_cpu_backend_f64()->adamw, kern_adamw_f64);
    free(xd), free(wd), free(bd);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_norms),        cmocka_unit_test(test_elementwise),
        cmocka_unit_test(test_rope),         cmocka_unit_test(test_xent),
        cmocka_unit_test(test_matmul_bias),  cmocka_unit_test(test_matmul_add),  cmocka_unit_test(test_embedding),
        cmocka_unit_test(test_optimizer_ops), cmocka_unit_test(test_float_matches_double),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
