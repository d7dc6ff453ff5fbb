/* DESIGN.md section 4 against one real forward and backward pass of the network:
 * a counting backend forwards every op to the CPU backend and adds, for each
 * matmul, 2*m*n*k (the multiply-adds it really asks OpenBLAS for; noting which
 * touch the LM head), and for each mixer call the gemms the CPU mixer really
 * executes (the counting hook of kernels/cpu/mixer_count.h; test_gemm_count.h
 * names each power gemm by its shape and takes its DESIGN share: the causal
 * half of a c x c block, all of a state query or update). Per token, these must
 * equal model_flops_compute's W, its LM head share and S, for 6 shapes per mixer
 * (GQA, tied, gating off, p = 1..3, window wider and narrower than the context,
 * both norms). For softmax and window the hook sees block shapes, not the mask,
 * so S comes from kern_mixer_count_flops's model count there, and the executed
 * blocks must equal that counter's implementation count.
 *
 * Training: the backward pass's matmuls are exactly twice the forward's (each
 * weight product gives a weight gradient and an input gradient, layer 0's too,
 * since the embedding needs it), so forward + backward = 3 x forward for the
 * weights. What is counted: matmuls only; norms, biases, GELU, RoPE, softmax and
 * cross-entropy, the embedding lookup and AdamW count 0, as in DESIGN. The
 * mixer backward is counted too: its model work (executed, less the documented
 * recomputation of states and scores) must be exactly twice the forward's, so
 * that 3 x forward holds for the state as well. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <omp.h>

#include "model/model.h"
#include "test_gemm_count.h"

/* The backend table has no context pointer, so the tally is file-scope (test only). */
static struct tally {
    const float *params, *grads; /* the network's two parameter-layout vectors */
    size_t n_params, head, head_size;
    int backward;
    double weight[2], head_flops[2], state[2]; /* [forward, backward] */
    int stray;                                 /* matmuls touching no parameter */
    int unknown_gemms;                         /* mixer gemms of no known shape */
    double attn_executed[2], attn_impl;        /* softmax/window: executed gemm FLOPs, the counter's */
    double recomputed, recomputed_want;        /* power backward: recomputed scores, executed and expected */
} tally;

static int within(const float *p, const float *base, size_t off, size_t n) {
    return p >= base + off && p < base + off + n;
}

static int touches(const float *p, size_t off, size_t n) {
    return within(p, tally.params, off, n) || within(p, tally.grads, off, n);
}

/* One product's 2*m*n*k, whichever op (plain or with an epilogue) asked for it. */
static void tally_matmul(int m, int n, int k, const float *a, const float *b, const float *c) {
    double flops = 2.0 * m * n * k;
    tally.weight[tally.backward] += flops;
    if (touches(a, tally.head, tally.head_size) || touches(b, tally.head, tally.head_size) ||
        touches(c, tally.head, tally.head_size))
        tally.head_flops[tally.backward] += flops;
    if (!touches(a, 0, tally.n_params) && !touches(b, 0, tally.n_params) && !touches(c, 0, tally.n_params))
        tally.stray++;
}

static void count_matmul(int ta, int tb, int m, int n, int k, float alpha, const float *a, const float *b,
                         float beta, float *c) {
    tally_matmul(m, n, k, a, b, c);
    kern_cpu_backend()->matmul(ta, tb, m, n, k, alpha, a, b, beta, c);
}
static void count_matmul_bias(int ta, int tb, int m, int n, int k, const float *a, const float *b,
                              const float *bias, float *c) {
    tally_matmul(m, n, k, a, b, c);
    kern_cpu_backend()->matmul_bias(ta, tb, m, n, k, a, b, bias, c);
}
static void count_matmul_bias_gelu(int ta, int tb, int m, int n, int k, const float *a, const float *b,
                                   const float *bias, float *pre, float *c) {
    tally_matmul(m, n, k, a, b, c);
    kern_cpu_backend()->matmul_bias_gelu(ta, tb, m, n, k, a, b, bias, pre, c);
}
static void count_matmul_dgelu(int ta, int tb, int m, int n, int k, const float *a, const float *b,
                               const float *pre, float *c, float *dbias) {
    tally_matmul(m, n, k, a, b, c);
    kern_cpu_backend()->matmul_dgelu(ta, tb, m, n, k, a, b, pre, c, dbias);
}
static void count_matmul_add(int ta, int tb, int m, int n, int k, const float *a, const float *b, const float *bias,
                             const float *r, float *c) {
    tally_matmul(m, n, k, a, b, c);
    kern_cpu_backend()->matmul_add(ta, tb, m, n, k, a, b, bias, r, c);
}

/* Adds one mixer call's executed gemms (log) to the tally. */
static void tally_mixer(const kern_mixer_shape *s, const gemm_log *log, int backward) {
    if (s->kind == KERN_MIXER_POWER) {
        power_split sp = split_power(s, log, backward);
        tally.unknown_gemms += sp.unknown;
        if (!backward) {
            tally.state[0] += sp.state + sp.intra;
        } else {
            tally.state[1] += sp.state - power_recomputed_states(s) + sp.intra;
            tally.recomputed += sp.recomputed_scores;
            tally.recomputed_want += power_recomputed_scores(s);
        }
        return;
    }
    kern_flop_count fc;
    kern_mixer_count_flops(s, &fc);
    double executed = 0;
    for (int i = 0; i < log->n; i++) executed += gemm_flops(&log->v[i]);
    tally.attn_executed[backward] += executed;
    if (!backward) {
        tally.attn_impl += fc.implementation;
        tally.state[0] += fc.model;
    } else {
        /* the executed gradient products (all but the recomputed scores, half a forward), at the model's masked share */
        tally.state[1] += (executed - 0.5 * fc.implementation) * (fc.model / fc.implementation);
    }
}

static void count_mixer_forward(const kern_mixer_shape *s, const float *q, const float *k, const float *v,
                                const float *log_g, float *y, float *saved, float *work) {
    gemm_log log = {0};
    kern_cpu_set_gemm_hook(log_gemm, &log);
    kern_cpu_backend()->mixer_forward(s, q, k, v, log_g, y, saved, work);
    kern_cpu_set_gemm_hook(NULL, NULL);
    tally_mixer(s, &log, 0);
    free(log.v);
}

static void count_mixer_backward(const kern_mixer_shape *s, const float *q, const float *k, const float *v,
                                 const float *log_g, const float *y, const float *saved, const float *dy, float *dq,
                                 float *dk, float *dv, float *dlog_g, float *work) {
    gemm_log log = {0};
    kern_cpu_set_gemm_hook(log_gemm, &log);
    kern_cpu_backend()->mixer_backward(s, q, k, v, log_g, y, saved, dy, dq, dk, dv, dlog_g, work);
    kern_cpu_set_gemm_hook(NULL, NULL);
    tally_mixer(s, &log, 1);
    free(log.v);
}

static kern_backend counting_backend(void) {
    kern_backend be = *kern_cpu_backend();
    be.name = "counting";
    be.matmul = count_matmul;
    be.matmul_bias = count_matmul_bias;
    be.matmul_bias_gelu = count_matmul_bias_gelu;
    be.matmul_dgelu = count_matmul_dgelu;
    be.matmul_add = count_matmul_add;
    be.mixer_forward = count_mixer_forward;
    be.mixer_backward = count_mixer_backward;
    return be;
}

typedef struct shape {
    const char *mixer;
    int H, h, hk, L, T, chunk, p, window, gating, tied, rms;
} shape;

static void check_shape(const shape *sh) {
    char sets[14][64], err[512];
    const char *ptr[14];
    int n = 0;
    snprintf(sets[n++], 64, "model.mixer=%s", sh->mixer);
    snprintf(sets[n++], 64, "model.d_model=%d", sh->H);
    snprintf(sets[n++], 64, "model.n_head=%d", sh->h);
    snprintf(sets[n++], 64, "model.n_kv_head=%d", sh->hk);
    snprintf(sets[n++], 64, "model.n_layer=%d", sh->L);
    snprintf(sets[n++], 64, "train.context=%d", sh->T);
    snprintf(sets[n++], 64, "train.eval_tokens=%d", sh->T);
    snprintf(sets[n++], 64, "model.chunk=%d", sh->chunk);
    snprintf(sets[n++], 64, "model.p=%d", sh->p);
    snprintf(sets[n++], 64, "model.window=%d", sh->window);
    snprintf(sets[n++], 64, "model.gating=%s", sh->gating ? "true" : "false");
    snprintf(sets[n++], 64, "model.tie_embeddings=%s", sh->tied ? "true" : "false");
    snprintf(sets[n++], 64, "model.norm=%s", sh->rms ? "rmsnorm" : "layernorm");
    snprintf(sets[n++], 64, "model.mlp_hidden=%d", 3 * sh->H);
    for (int i = 0; i < n; i++) ptr[i] = sets[i];
    model_config c;
    model_config_default(&c);
    if (model_config_apply_sets(&c, ptr, (size_t)n, err, sizeof err) || model_config_resolve(&c, err, sizeof err))
        fail_msg("%s", err);
    model_flops f;
    model_flops_compute(&c, &f);

    enum { BATCH = 2 };
    kern_backend be = counting_backend();
    model_net *net;
    if (model_net_alloc(&c, BATCH, &be, &net, err, sizeof err)) fail_msg("%s", err);
    if (model_net_init_params(net, 3, err, sizeof err)) fail_msg("%s", err);
    memset(&tally, 0, sizeof tally);
    tally.params = net->params;
    tally.grads = net->grads;
    tally.n_params = net->n_params;
    tally.head = net->lm_head;
    tally.head_size = (size_t)c.vocab_size * c.d_model;
    int32_t *seqs = malloc((size_t)BATCH * (c.context + 1) * sizeof *seqs);
    for (int i = 0; i < BATCH * (c.context + 1); i++) seqs[i] = (int32_t)((i * 37 + 11) % c.vocab_size);
    double loss = model_net_forward(net, seqs);
    tally.backward = 1;
    model_net_backward(net);
    assert_true(isfinite(loss));

    double N = (double)BATCH * c.context;
    double w = tally.weight[0] / N, head = tally.head_flops[0] / N, s = tally.state[0] / N;
    printf("%-7s H%-3d h%d/%d L%d T%-4d c%-3d p%d w%-3d gate%d tied%d  W %.0f (counted %.0f)  head %.0f (%.0f)  "
           "S %.6g (%.6g)\n",
           sh->mixer, sh->H, sh->h, sh->hk, sh->L, sh->T, sh->chunk, sh->p, sh->window, sh->gating, sh->tied,
           f.weight_flops_per_token, w, f.lm_head_flops_per_token, head, f.state_flops_per_token, s);
    assert_int_equal(tally.stray, 0);
    /* Integers far below 2^53: exact. */
    if (w != f.weight_flops_per_token) fail_msg("%s: W %.17g, counted %.17g", sets[0], f.weight_flops_per_token, w);
    if (head != f.lm_head_flops_per_token)
        fail_msg("%s: LM head %.17g, counted %.17g", sets[0], f.lm_head_flops_per_token, head);
    /* The window formula divides by T: equal to rounding. */
    if (fabs(s - f.state_flops_per_token) > 1e-12 * f.state_flops_per_token)
        fail_msg("%s: S %.17g, counted %.17g", sets[0], f.state_flops_per_token, s);
    if (tally.weight[1] != 2 * tally.weight[0] || tally.head_flops[1] != 2 * tally.head_flops[0])
        fail_msg("%s: backward matmuls %.17g (head %.17g), forward %.17g (head %.17g): expected twice", sets[0],
                 tally.weight[1], tally.head_flops[1], tally.weight[0], tally.head_flops[0]);
    assert_int_equal(tally.unknown_gemms, 0);
    if (fabs(tally.state[1] - 2 * tally.state[0]) > 1e-12 * tally.state[0])
        fail_msg("%s: the mixer backward executes %.17g model FLOPs, expected twice the forward's %.17g", sets[0],
                 tally.state[1], tally.state[0]);
    if (tally.recomputed != tally.recomputed_want)
        fail_msg("%s: the power backward recomputes %.17g FLOPs of scores, expected %.17g", sets[0], tally.recomputed,
                 tally.recomputed_want);
    if (tally.attn_executed[0] != tally.attn_impl)
        fail_msg("%s: the attention forward executes %.17g gemm FLOPs, the counter says %.17g", sets[0],
                 tally.attn_executed[0], tally.attn_impl);
    if (tally.attn_executed[1] != 2.5 * tally.attn_executed[0])
        fail_msg("%s: the attention backward executes %.17g gemm FLOPs, expected 2.5 x forward %.17g", sets[0],
                 tally.attn_executed[1], tally.attn_executed[0]);
    free(seqs);
    model_net_free(net);
}

static void test_softmax(void **state) {
    (void)state;
    static const shape shapes[] = {
        /* mixer     H   h  hk L  T   c  p  w  gate tied rms */
        {"softmax", 32, 2, 2, 1, 16, 16, 2, 16, 0, 0, 0},
        {"softmax", 64, 4, 2, 2, 32, 32, 2, 32, 0, 0, 0},  /* GQA */
        {"softmax", 48, 4, 1, 2, 24, 24, 2, 24, 0, 1, 1},  /* GQA to one kv head, tied, rmsnorm */
        {"softmax", 32, 1, 1, 3, 40, 40, 2, 40, 0, 1, 0},  /* one head, tied */
        {"softmax", 64, 8, 4, 1, 64, 64, 2, 64, 0, 0, 1},
        {"softmax", 16, 2, 2, 2, 1, 1, 2, 1, 0, 0, 0},     /* a one-token context */
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) check_shape(&shapes[i]);
}

static void test_window(void **state) {
    (void)state;
    static const shape shapes[] = {
        {"window", 32, 2, 2, 1, 32, 32, 2, 64, 0, 0, 0},   /* T < w: full causal attention */
        {"window", 64, 4, 2, 2, 64, 64, 2, 16, 0, 0, 0},   /* T > w, GQA */
        {"window", 32, 2, 1, 2, 48, 48, 2, 48, 0, 1, 1},   /* T = w, tied, rmsnorm */
        {"window", 48, 4, 4, 1, 100, 4, 2, 7, 0, 0, 0},    /* odd window */
        {"window", 32, 4, 2, 3, 65, 5, 2, 64, 0, 1, 0},    /* T = w + 1 */
        {"window", 16, 2, 2, 1, 20, 20, 2, 1, 0, 0, 1},    /* each token sees itself only */
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) check_shape(&shapes[i]);
}

static void test_power(void **state) {
    (void)state;
    static const shape shapes[] = {
        {"power", 32, 2, 2, 2, 64, 16, 2, 16, 1, 0, 0},     /* default-like: p=2 gated */
        {"power", 64, 4, 2, 1, 32, 8, 2, 16, 1, 0, 1},      /* GQA, rmsnorm */
        {"power", 32, 2, 2, 2, 48, 16, 2, 16, 0, 1, 0},     /* gating off, tied */
        {"power", 32, 4, 1, 1, 32, 4, 1, 16, 1, 0, 0},      /* p=1, GQA to one kv head */
        {"power", 24, 3, 3, 1, 24, 24, 3, 16, 0, 0, 1},     /* p=3, one chunk (c = T) */
        {"power", 16, 2, 2, 2, 16, 1, 2, 16, 1, 1, 0},      /* chunk 1: all state */
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) check_shape(&shapes[i]);
}

int main(void) {
    omp_set_num_threads(1); /* tiny shapes: threads only add contention */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_softmax),
        cmocka_unit_test(test_window),
        cmocka_unit_test(test_power),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
