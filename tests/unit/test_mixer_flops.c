/* kern_mixer_count_flops (counted from the kernels' loop descriptions) against
 * the DESIGN.md section 4 formulas, written out here independently, for six
 * shapes per mixer; counts are per forward call over batch * seq tokens. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include <cmocka.h>

#include "test_mixer_common.h"

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

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_softmax),
        cmocka_unit_test(test_window),
        cmocka_unit_test(test_power),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
