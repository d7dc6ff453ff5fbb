/* kernels/kern_shape.h, the one home of D = C(d+p-1, p), phi's feature order and
 * coefficients and the mixer shape check, against computations that do not use it:
 * every ordered index tuple enumerated by brute force (d^p of them, sorted into
 * multisets and counted), Pascal's triangle, and the multinomial theorem. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kernels/kernels.h"

enum { MAX_D = 7, P = KERN_POWER_P_MAX, MAX_SETS = 1024 };

/* The distinct sorted tuples among all d^p ordered ones, in lexicographic order, and how
 * many ordered tuples sort to each (the multinomial coefficient, counted, not computed). */
typedef struct multisets {
    int n;
    int idx[MAX_SETS][P];
    long count[MAX_SETS];
} multisets;

static int cmp_int(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }

static int cmp_tuple(const int *a, const int *b, int p) {
    for (int r = 0; r < p; r++)
        if (a[r] != b[r]) return a[r] < b[r] ? -1 : 1;
    return 0;
}

static void brute_force(int d, int p, multisets *m) {
    long total = 1;
    for (int r = 0; r < p; r++) total *= d;
    m->n = 0;
    for (long t = 0; t < total; t++) {
        int key[P] = {0};
        long rest = t;
        for (int r = 0; r < p; r++) key[r] = (int)(rest % d), rest /= d;
        qsort(key, (size_t)p, sizeof key[0], cmp_int);
        int at = 0; /* insertion point that keeps the list sorted */
        while (at < m->n && cmp_tuple(m->idx[at], key, p) < 0) at++;
        if (at < m->n && !cmp_tuple(m->idx[at], key, p)) {
            m->count[at]++;
            continue;
        }
        assert_true(m->n < MAX_SETS);
        memmove(m->idx[at + 1], m->idx[at], sizeof m->idx[0] * (size_t)(m->n - at));
        memmove(&m->count[at + 1], &m->count[at], sizeof m->count[0] * (size_t)(m->n - at));
        memcpy(m->idx[at], key, sizeof key);
        m->count[at] = 1;
        m->n++;
    }
}

static void test_dim_order_and_coefficients(void **state) {
    (void)state;
    static multisets m;
    for (int p = 1; p <= P; p++)
        for (int d = 1; d <= MAX_D; d++) {
            brute_force(d, p, &m);
            assert_int_equal(kern_mx_phi_dim(d, p), m.n);
            assert_true(kern_power_dim(d, p) == (uint64_t)m.n);
            double sum = 0, dp = pow(d, p);
            int idx[P] = {0}, f = 0;
            do { /* the CPU's walk and the GPU's unranking give the same f-th multiset */
                assert_true(f < m.n);
                assert_int_equal(cmp_tuple(idx, m.idx[f], p), 0);
                int un[P] = {0};
                kern_mx_phi_unrank(f, d, p, un);
                assert_int_equal(cmp_tuple(un, m.idx[f], p), 0);
                double c = kern_mx_phi_multinomial(idx, p);
                if (c != (double)m.count[f])
                    fail_msg("d %d p %d feature %d: coefficient %g, counted %ld", d, p, f, c, m.count[f]);
                sum += c;
                if (p == 2) { /* the closed form the GPU's p = 2 kernels use */
                    assert_int_equal(kern_mx_phi2_index(d, idx[0], idx[1]), f);
                    double cf = kern_mx_phi2_coef(idx[0], idx[1]);
                    assert_true(fabs(cf * cf - c) < 1e-6);
                }
                f++;
            } while (kern_mx_phi_next(idx, p, d));
            assert_int_equal(f, m.n);
            assert_true(sum == dp); /* every ordered tuple counted once */
        }
}

/* phi(x).phi(y) = (x.y)^p with the header's features and coefficients (MATH.md). */
static void test_inner_product(void **state) {
    (void)state;
    const double x[5] = {0.3, -1.2, 0.7, 2.0, -0.4}, y[5] = {1.1, 0.5, -0.9, 0.25, 1.7};
    for (int p = 1; p <= P; p++)
        for (int d = 1; d <= 5; d++) {
            double dot = 0, via_phi = 0;
            for (int i = 0; i < d; i++) dot += x[i] * y[i];
            int idx[P] = {0};
            do {
                double fx = sqrt(kern_mx_phi_multinomial(idx, p)), fy = fx;
                for (int r = 0; r < p; r++) fx *= x[idx[r]], fy *= y[idx[r]];
                via_phi += fx * fy;
            } while (kern_mx_phi_next(idx, p, d));
            assert_true(fabs(via_phi - pow(dot, p)) <= 1e-12 * (1 + fabs(pow(dot, p))));
        }
}

/* C(n, k) against Pascal's triangle with saturating sums, up to where it overflows 64 bits. */
static void test_binomial_pascal(void **state) {
    (void)state;
    static uint64_t row[80], next[80];
    memset(row, 0, sizeof row);
    row[0] = 1;
    for (int n = 0; n < 70; n++) {
        for (int k = 0; k <= n; k++) assert_true(kern_binomial(n, k) == row[k]);
        assert_true(kern_binomial(n, -1) == 0 && kern_binomial(n, n + 1) == 0);
        next[0] = 1;
        for (int k = 1; k <= n + 1; k++) {
            uint64_t a = row[k - 1], b = row[k];
            next[k] = (a == UINT64_MAX || b == UINT64_MAX || a > UINT64_MAX - b) ? UINT64_MAX : a + b;
        }
        memcpy(row, next, sizeof row);
    }
    /* D for the widest head the config allows at every degree: no overflow, exact */
    assert_true(kern_power_dim(65536, 1) == 65536);
    assert_true(kern_power_dim(65536, 2) == 65536ull * 65537 / 2);
    assert_true(kern_power_dim(65536, 4) == 65536ull * 65537 * 65538 / 6 * 65539 / 4);
}

static void expect_refused(kern_mixer_shape s, const char *want) {
    char err[512] = "";
    assert_int_equal(kern_mixer_shape_check(&s, err, sizeof err), -1);
    if (!strstr(err, want)) fail_msg("message '%s' lacks '%s'", err, want);
}

/* The one check: what the CPU asserted and the GPU assumed, refused with one message. */
static void test_shape_check(void **state) {
    (void)state;
    kern_mixer_shape s = {.batch = 2, .seq = 64, .n_head = 4, .n_kv_head = 2, .head_dim = 16,
                          .kind = KERN_MIXER_POWER, .p = 2, .chunk = 16, .scale = 0.25, .eps = 1e-6};
    char err[512];
    assert_int_equal(kern_mixer_shape_check(&s, err, sizeof err), 0);
    assert_true(kern_mx_saved_size(&s) == (size_t)2 * 4 * 64);
    kern_mixer_shape t = s;
    t.p = 5, expect_refused(t, "p 5 is outside 1..4");
    t = s, t.p = 0, expect_refused(t, "p 0 is outside 1..4");
    t = s, t.chunk = 48, expect_refused(t, "seq (64) must be a multiple of a positive chunk (48)");
    t = s, t.chunk = 0, expect_refused(t, "chunk (0)");
    t = s, t.n_kv_head = 3, expect_refused(t, "n_head (4) must be a multiple of n_kv_head (3)");
    t = s, t.head_dim = 0, expect_refused(t, "must all be positive");
    t = s, t.head_dim = 512, t.p = 4, expect_refused(t, "head_dim 512 with p 4 gives a power state of D");
    t = s, t.head_dim = 65536, t.p = 4, expect_refused(t, "7.69e+17");
    t = s, t.head_dim = 40000, t.p = 1, expect_refused(t, "head_dim 40000 is more than the power kernels index");
    /* softmax and window: no p, no chunk */
    t = s, t.kind = KERN_MIXER_SOFTMAX, t.p = 9, t.chunk = 0;
    assert_int_equal(kern_mixer_shape_check(&t, err, sizeof err), 0);
    /* the config refuses the same states, naming its keys */
    assert_int_equal(kern_power_check(512, 4, "model.", err, sizeof err), -1);
    assert_non_null(strstr(err, "model.head_dim 512 with model.p 4"));
    assert_int_equal(kern_power_check(128, 4, "model.", err, sizeof err), 0); /* D = 11.2M, x 129 < 2^31 */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dim_order_and_coefficients),
        cmocka_unit_test(test_inner_product),
        cmocka_unit_test(test_binomial_pascal),
        cmocka_unit_test(test_shape_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
