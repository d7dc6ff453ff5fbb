/* Every mixer's gradients (dq, dk, dv, dlog_g) against central finite
 * differences of the float64 forward, loss = sum(y * R) for a fixed random R
 * (so dy = R). Small shapes: B = 2, T = 8, 2 query heads, 1 or 2 kv heads, d = 4. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include <cmocka.h>

#include "test_mixer_common.h"

static double loss(const mixer_inputs *in, const double *r, double *y) {
    forward_f64(in, y);
    double l = 0;
    for (size_t i = 0; i < in->nq; i++) l += y[i] * r[i];
    return l;
}

/* Relative error of the analytic gradient of tensor x (n elements) against FD. */
static double check_tensor(mixer_inputs *in, double *x, size_t n, const double *analytic, const double *r,
                           double *y) {
    const double h = 1e-5;
    double *num = malloc(sizeof(double) * n);
    for (size_t i = 0; i < n; i++) {
        double keep = x[i];
        x[i] = keep + h;
        double lp = loss(in, r, y);
        x[i] = keep - h;
        double lm = loss(in, r, y);
        x[i] = keep;
        num[i] = (lp - lm) / (2 * h);
    }
    double e = rel_err(analytic, num, n);
    free(num);
    return e;
}

static void check_gradients(kern_mixer_shape s, const char *what) {
    mixer_inputs in;
    inputs_init(&in, &s, 42, -1.0, -0.05);
    double *y = malloc(sizeof(double) * in.nq), *r = malloc(sizeof(double) * in.nq);
    uint64_t seed = 7;
    for (size_t i = 0; i < in.nq; i++) r[i] = 2 * test_uniform(&seed) - 1;
    double *saved = malloc(sizeof(double) * kern_mixer_saved_size_f64(&s));
    double *work = malloc(sizeof(double) * kern_mixer_work_size_f64(&s));
    double *dq = malloc(sizeof(double) * in.nq), *dk = malloc(sizeof(double) * in.nk);
    double *dv = malloc(sizeof(double) * in.nk);
    double *dg = in.log_g ? malloc(sizeof(double) * in.ng) : NULL;
    kern_mixer_forward_f64(&s, in.q, in.k, in.v, in.log_g, y, saved, work);
    kern_mixer_backward_f64(&s, in.q, in.k, in.v, in.log_g, y, saved, r, dq, dk, dv, dg, work);
    double eq = check_tensor(&in, in.q, in.nq, dq, r, y), ek = check_tensor(&in, in.k, in.nk, dk, r, y);
    double ev = check_tensor(&in, in.v, in.nk, dv, r, y);
    double eg = in.log_g ? check_tensor(&in, in.log_g, in.ng, dg, r, y) : 0;
    printf("%-34s rel err dq %.2e dk %.2e dv %.2e dlog_g %.2e\n", what, eq, ek, ev, eg);
    assert_true(eq < 1e-6 && ek < 1e-6 && ev < 1e-6 && eg < 1e-6);
    free(saved), free(work), free(dq), free(dk), free(dv), free(dg), free(y), free(r);
    inputs_free(&in);
}

static kern_mixer_shape power(int p, int chunk, int gating, int rms, int nkv) {
    kern_mixer_shape s = test_shape(KERN_MIXER_POWER, 2, 8, 2, nkv, 4);
    s.p = p, s.chunk = chunk, s.gating = gating, s.normalize_rms = rms;
    return s;
}

static void test_softmax(void **st) {
    (void)st;
    check_gradients(test_shape(KERN_MIXER_SOFTMAX, 2, 8, 2, 1, 4), "softmax gqa");
    check_gradients(test_shape(KERN_MIXER_SOFTMAX, 2, 8, 2, 2, 4), "softmax mha");
}

static void test_window(void **st) {
    (void)st;
    kern_mixer_shape s = test_shape(KERN_MIXER_WINDOW, 2, 8, 2, 1, 4);
    s.window = 3;
    check_gradients(s, "window w=3 gqa");
    s.window = 1;
    check_gradients(s, "window w=1");
}

/* T = 70 spans two query blocks of the kernel (64 rows each), so the key
 * ranges and dk/dv accumulation across blocks are checked too. */
static void test_multi_block(void **st) {
    (void)st;
    kern_mixer_shape s = test_shape(KERN_MIXER_SOFTMAX, 1, 70, 2, 1, 2);
    check_gradients(s, "softmax T=70 (two blocks)");
    s.kind = KERN_MIXER_WINDOW, s.window = 20;
    check_gradients(s, "window T=70 w=20 (two blocks)");
}

static void test_power_p1(void **st) {
    (void)st;
    check_gradients(power(1, 4, 1, 1, 1), "power p=1 rms gated c=4");
    check_gradients(power(1, 2, 0, 1, 2), "power p=1 rms ungated c=2");
}

static void test_power_p2(void **st) {
    (void)st;
    check_gradients(power(2, 4, 1, 0, 1), "power p=2 sum gated c=4 gqa");
    check_gradients(power(2, 2, 0, 0, 2), "power p=2 sum ungated c=2");
    check_gradients(power(2, 8, 1, 0, 2), "power p=2 sum gated c=T");
    check_gradients(power(2, 1, 1, 1, 2), "power p=2 rms gated c=1");
}

static void test_power_p3_p4(void **st) {
    (void)st;
    check_gradients(power(3, 4, 1, 1, 1), "power p=3 rms gated c=4");
    check_gradients(power(4, 2, 1, 0, 2), "power p=4 sum gated c=2");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_softmax),  cmocka_unit_test(test_window), cmocka_unit_test(test_multi_block),      cmocka_unit_test(test_power_p1),
        cmocka_unit_test(test_power_p2), cmocka_unit_test(test_power_p3_p4),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
