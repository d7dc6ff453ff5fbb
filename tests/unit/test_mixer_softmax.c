/* Softmax and window forward against a naive causal softmax written here
 * (row by row, GQA by index arithmetic), over shapes that cross the kernel's
 * query blocks (T not a multiple of the block, windows narrower and wider than
 * a block); a window >= T must equal full causal softmax. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include <cmocka.h>

#include "test_mixer_common.h"

static void naive(const mixer_inputs *in, double *y) {
    const kern_mixer_shape *s = &in->s;
    int T = s->seq, d = s->head_dim, nh = s->n_head, nkv = s->n_kv_head;
    int w = s->kind == KERN_MIXER_WINDOW ? s->window : T;
    double *sc = malloc(sizeof(double) * T);
    for (int b = 0; b < s->batch; b++)
        for (int h = 0; h < nh; h++)
            for (int i = 0; i < T; i++) {
                int g = h / (nh / nkv), j0 = i - w + 1 > 0 ? i - w + 1 : 0;
                const double *qi = in->q + ((size_t)(b * T + i) * nh + h) * d;
                double mx = -INFINITY, sum = 0;
                for (int j = j0; j <= i; j++) {
                    const double *kj = in->k + ((size_t)(b * T + j) * nkv + g) * d;
                    sc[j] = 0;
                    for (int f = 0; f < d; f++) sc[j] += s->scale * qi[f] * kj[f];
                    mx = fmax(mx, sc[j]);
                }
                for (int j = j0; j <= i; j++) sum += exp(sc[j] - mx);
                double *yi = y + ((size_t)(b * T + i) * nh + h) * d;
                for (int f = 0; f < d; f++) yi[f] = 0;
                for (int j = j0; j <= i; j++) {
                    const double *vj = in->v + ((size_t)(b * T + j) * nkv + g) * d;
                    for (int f = 0; f < d; f++) yi[f] += exp(sc[j] - mx) / sum * vj[f];
                }
            }
    free(sc);
}

static void check(kern_mixer_kind kind, int T, int window, int nh, int nkv) {
    kern_mixer_shape s = test_shape(kind, 2, T, nh, nkv, 8);
    s.window = window;
    mixer_inputs in;
    inputs_init(&in, &s, 17, 0, 0);
    for (size_t i = 0; i < in.nq; i++) in.q[i] *= 3; /* peaked rows: the max subtraction matters */
    double *y = malloc(sizeof(double) * in.nq), *ref = malloc(sizeof(double) * in.nq);
    forward_f64(&in, y);
    naive(&in, ref);
    double e = rel_err(y, ref, in.nq);
    printf("%s T=%d window=%d heads %d/%d: rel err %.2e\n", kind == KERN_MIXER_SOFTMAX ? "softmax" : "window",
           T, window, nh, nkv, e);
    assert_true(e < 1e-12);
    free(y), free(ref);
    inputs_free(&in);
}

static void test_softmax_naive(void **st) {
    (void)st;
    check(KERN_MIXER_SOFTMAX, 8, 0, 2, 1);
    check(KERN_MIXER_SOFTMAX, 100, 0, 4, 2);
    check(KERN_MIXER_SOFTMAX, 130, 0, 2, 2);
}

static void test_window_naive(void **st) {
    (void)st;
    check(KERN_MIXER_WINDOW, 100, 7, 2, 1);
    check(KERN_MIXER_WINDOW, 130, 64, 2, 2);
    check(KERN_MIXER_WINDOW, 130, 65, 4, 1);
    check(KERN_MIXER_WINDOW, 200, 150, 2, 1);
    check(KERN_MIXER_WINDOW, 64, 1, 2, 2);
}

static void test_wide_window_is_softmax(void **st) {
    (void)st;
    const int windows[] = {100, 101, 1000};
    for (int w = 0; w < 3; w++) {
        kern_mixer_shape s = test_shape(KERN_MIXER_SOFTMAX, 1, 100, 2, 1, 8);
        mixer_inputs in;
        inputs_init(&in, &s, 23, 0, 0);
        double *y = malloc(sizeof(double) * in.nq), *yw = malloc(sizeof(double) * in.nq);
        forward_f64(&in, y);
        in.s.kind = KERN_MIXER_WINDOW, in.s.window = windows[w];
        forward_f64(&in, yw);
        assert_memory_equal(y, yw, sizeof(double) * in.nq);
        free(y), free(yw);
        inputs_free(&in);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_softmax_naive),
        cmocka_unit_test(test_window_naive),
        cmocka_unit_test(test_wide_window_is_softmax),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
