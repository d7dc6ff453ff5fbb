/* The mixers' FLOPs against the DESIGN.md section 4 formulas, written out here
 * independently, for six shapes per mixer; counts are per forward call over
 * batch * seq tokens. Two counts:
 *   - kern_mixer_count_flops, counted from the kernels' loop descriptions;
 *   - the gemms the CPU kernels really execute, forward and backward, seen
 *     through the counting hook of kernels/cpu/mixer_count.h. For power, each
 *     executed gemm is named by its shape (the test shapes keep c, d, d+1 and D
 *     apart) and its DESIGN share computed from that: a c x c intra-chunk block
 *     counts its causal half (c(c+1)/2 pairs) without the normaliser column, a
 *     state query or update counts all of it. The sum must equal DESIGN's S, so
 *     a kernel that skipped chunk 0's state query or ran the intra-chunk
 *     product twice fails here. The backward must do exactly twice the forward's
 *     model work (DESIGN's training = 3 x forward) plus its documented
 *     recomputation (the states of chunks 1.., the c x c scores). For softmax
 *     and window, the executed score/value blocks must equal the counter's
 *     implementation count and the backward 2.5 times the forward (4 gradient
 *     products and the recomputed scores). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "test_mixer_common.h"
#include "test_gemm_count.h"

/* ---- gemms really executed --------------------------------------------------- */

static double design_per_token(const kern_mixer_shape *s);

/* Runs the float64 forward and backward on random inputs, logging their gemms. */
static void run_logged(const kern_mixer_shape *s, gemm_log *fwd, gemm_log *bwd) {
    mixer_inputs in;
    inputs_init(&in, s, 3, -1.0, -0.05);
    double *y = malloc(sizeof(double) * in.nq), *dy = malloc(sizeof(double) * in.nq);
    uint64_t seed = 5;
    for (size_t i = 0; i < in.nq; i++) dy[i] = 2 * test_uniform(&seed) - 1;
    double *saved = malloc(sizeof(double) * kern_mixer_saved_size_f64(s));
    double *work = malloc(sizeof(double) * kern_mixer_work_size_f64(s));
    double *dq = malloc(sizeof(double) * in.nq), *dk = malloc(sizeof(double) * in.nk);
    double *dv = malloc(sizeof(double) * in.nk), *dg = in.log_g ? malloc(sizeof(double) * in.ng) : NULL;
    kern_cpu_set_gemm_hook_f64(log_gemm, fwd);
    kern_mixer_forward_f64(s, in.q, in.k, in.v, in.log_g, y, saved, work);
    kern_cpu_set_gemm_hook_f64(log_gemm, bwd);
    kern_mixer_backward_f64(s, in.q, in.k, in.v, in.log_g, y, saved, dy, dq, dk, dv, dg, work);
    kern_cpu_set_gemm_hook_f64(NULL, NULL);
    free(saved), free(work), free(dq), free(dk), free(dv), free(dg), free(y), free(dy);
    inputs_free(&in);
}

static void check_executed(kern_mixer_shape s, const char *what) {
    gemm_log fwd = {0}, bwd = {0};
    run_logged(&s, &fwd, &bwd);
    double want = design_per_token(&s) * s.batch * s.seq;
    double fwd_all = 0, bwd_all = 0;
    for (int i = 0; i < fwd.n; i++) fwd_all += gemm_flops(&fwd.v[i]);
    for (int i = 0; i < bwd.n; i++) bwd_all += gemm_flops(&bwd.v[i]);
    if (s.kind == KERN_MIXER_POWER) {
        power_split f = split_power(&s, &fwd, 0), b = split_power(&s, &bwd, 1);
        double recompute_states = power_recomputed_states(&s), recompute_scores = power_recomputed_scores(&s);
        printf("%-34s executed: S %.6e (design %.6e; state %.4e intra %.4e)  backward state %.4e intra %.4e\n",
               what, f.state + f.intra, want, f.state, f.intra, b.state, b.intra);
        assert_int_equal(f.unknown + b.unknown, 0);
        if (fabs(f.state + f.intra - want) > 1e-12 * want)
            fail_msg("%s: the forward executes %.17g model FLOPs (state %.17g, intra %.17g), DESIGN says %.17g", what,
                     f.state + f.intra, f.state, f.intra, want);
        if (fabs(b.state - (2 * f.state + recompute_states)) > 1e-12 * b.state)
            fail_msg("%s: backward state gemms %.17g, expected 2 x forward %.17g + recomputed states %.17g", what,
                     b.state, f.state, recompute_states);
        if (fabs(b.intra - 2 * f.intra) > 1e-12 * b.intra)
            fail_msg("%s: backward intra-chunk work %.17g, expected 2 x forward %.17g", what, b.intra, f.intra);
        if (b.recomputed_scores != recompute_scores)
            fail_msg("%s: backward recomputes %.17g FLOPs of scores, expected %.17g", what, b.recomputed_scores,
                     recompute_scores);
    } else {
        kern_flop_count fc;
        kern_mixer_count_flops(&s, &fc);
        printf("%-34s executed: forward %.6e (counter's implementation %.6e)  backward %.6e\n", what, fwd_all,
               fc.implementation, bwd_all);
        if (fwd_all != fc.implementation)
            fail_msg("%s: the forward executes %.17g gemm FLOPs, the counter says %.17g", what, fwd_all,
                     fc.implementation);
        if (bwd_all != 2.5 * fwd_all)
            fail_msg("%s: the backward executes %.17g gemm FLOPs, expected 2.5 x forward %.17g", what, bwd_all,
                     fwd_all);
    }
    free(fwd.v);
    free(bwd.v);
}

/* DESIGN section 4, state FLOPs per token of one layer. */
static double design_per_token(const kern_mixer_shape *s) {
    double h = s->n_head, hk = s->n_kv_head, d = s->head_dim, T = s->seq, c = s->chunk, w = s->window;
    switch (s->kind) {
    case KERN_MIXER_SOFTMAX:
        return h * 2 * d * (T + 1);
    case KERN_MIXER_WINDOW:
        if (T < w) return h * 2 * d * (T + 1);
        return h * (4 * d / T) * (w * (w + 1) / 2 + (T - w) * w);
    case KERN_MIXER_POWER: {
        double D = 1; /* C(d+p-1, p) */
        for (int r = 1; r <= s->p; r++) D = D * (d + r - 1) / r;
        return h * 2 * d * (c + 1) + (h + hk) * 2 * D * (d + 1);
    }
    }
    return 0;
}

static void check_executed(kern_mixer_shape s, const char *what);

static void check(kern_mixer_shape s, const char *what) {
    kern_flop_count fc;
    kern_mixer_count_flops(&s, &fc);
    double want = design_per_token(&s) * s.batch * s.seq;
    printf("%-40s model %.6e design %.6e implementation %.6e (x%.2f)\n", what, fc.model, want,
           fc.implementation, fc.implementation / fc.model);
    assert_true(fabs(fc.model - want) <= 1e-12 * want);
    assert_true(fc.implementation >= fc.model);
}

static kern_mixer_shape shape(kern_mixer_kind kind, int b, int T, int h, int hk, int d) {
    return test_shape(kind, b, T, h, hk, d);
}

static void test_softmax(void **st) {
    (void)st;
    check(shape(KERN_MIXER_SOFTMAX, 1, 8, 1, 1, 4), "softmax B1 T8 h1 d4");
    check(shape(KERN_MIXER_SOFTMAX, 2, 64, 4, 2, 32), "softmax B2 T64 h4/2 d32");
    check(shape(KERN_MIXER_SOFTMAX, 1, 100, 2, 1, 16), "softmax B1 T100 (partial block)");
    check(shape(KERN_MIXER_SOFTMAX, 4, 512, 4, 4, 64), "softmax B4 T512 d64");
    check(shape(KERN_MIXER_SOFTMAX, 3, 2048, 8, 2, 32), "softmax B3 T2048 h8/2");
    /* by hand: one 8 x 8 block, 36 causal pairs, 4d FLOPs each; the gemms do all 64 */
    kern_mixer_shape s = shape(KERN_MIXER_SOFTMAX, 1, 8, 1, 1, 4);
    kern_flop_count fc;
    kern_mixer_count_flops(&s, &fc);
    assert_true(fc.model == 36 * 16 && fc.implementation == 64 * 16);
}

static void test_window(void **st) {
    (void)st;
    const int tw[][2] = {{64, 128}, {128, 128}, {512, 128}, {100, 7}, {2048, 256}, {65, 64}};
    for (size_t i = 0; i < sizeof tw / sizeof *tw; i++) {
        kern_mixer_shape s = shape(KERN_MIXER_WINDOW, 2, tw[i][0], 4, 2, 32);
        s.window = tw[i][1];
        char what[64];
        snprintf(what, sizeof what, "window T%d w%d (%s)", tw[i][0], tw[i][1],
                 tw[i][0] < tw[i][1] ? "T<w" : tw[i][0] == tw[i][1] ? "T=w" : "T>w");
        check(s, what);
    }
}

static void test_power(void **st) {
    (void)st;
    /* T, chunk, p, h, h_k, d */
    const int cases[][6] = {{64, 64, 2, 4, 4, 32}, {512, 64, 2, 4, 2, 32}, {256, 16, 1, 2, 1, 8},
                            {128, 8, 3, 2, 2, 4},  {2048, 128, 2, 4, 4, 64}, {64, 1, 4, 1, 1, 3}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const int *c = cases[i];
        kern_mixer_shape s = shape(KERN_MIXER_POWER, 2, c[0], c[3], c[4], c[5]);
        s.chunk = c[1], s.p = c[2];
        char what[64];
        snprintf(what, sizeof what, "power T%d c%d p%d h%d/%d d%d", c[0], c[1], c[2], c[3], c[4], c[5]);
        check(s, what);
    }
}

/* Power shapes whose c, d, d+1 and D differ, so every gemm is named by its shape:
 * T, chunk, p, h, h_k, d, gating, batch. */
static void test_power_executed(void **st) {
    (void)st;
    const int cases[][8] = {{64, 16, 2, 4, 4, 8, 1, 2},  {96, 32, 2, 4, 2, 8, 0, 1}, {48, 12, 1, 2, 1, 8, 1, 2},
                            {40, 10, 3, 2, 2, 4, 1, 1},  {32, 32, 2, 2, 2, 6, 1, 1}, {24, 3, 2, 2, 1, 5, 0, 3},
                            {64, 16, 2, 2, 2, 16, 1, 1}}; /* c == d: told apart by the transposes */
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const int *c = cases[i];
        kern_mixer_shape s = shape(KERN_MIXER_POWER, c[7], c[0], c[3], c[4], c[5]);
        s.chunk = c[1], s.p = c[2], s.gating = c[6];
        char what[64];
        snprintf(what, sizeof what, "power T%d c%d p%d h%d/%d d%d g%d", c[0], c[1], c[2], c[3], c[4], c[5], c[6]);
        check_executed(s, what);
    }
}

static void test_attention_executed(void **st) {
    (void)st;
    check_executed(shape(KERN_MIXER_SOFTMAX, 2, 64, 4, 2, 8), "softmax B2 T64 h4/2 d8");
    check_executed(shape(KERN_MIXER_SOFTMAX, 1, 100, 2, 1, 16), "softmax B1 T100 (partial block)");
    check_executed(shape(KERN_MIXER_SOFTMAX, 1, 200, 2, 2, 4), "softmax B1 T200 (4 blocks)");
    const int tw[][2] = {{64, 128}, {128, 128}, {300, 70}, {100, 7}};
    for (size_t i = 0; i < sizeof tw / sizeof *tw; i++) {
        kern_mixer_shape s = shape(KERN_MIXER_WINDOW, 2, tw[i][0], 4, 2, 8);
        s.window = tw[i][1];
        char what[64];
        snprintf(what, sizeof what, "window T%d w%d", tw[i][0], tw[i][1]);
        check_executed(s, what);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_softmax),
        cmocka_unit_test(test_window),
        cmocka_unit_test(test_power),
        cmocka_unit_test(test_power_executed),
        cmocka_unit_test(test_attention_executed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
