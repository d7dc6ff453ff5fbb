/* fit/rank: candidates ranked under a law from arrays alone. The losses it orders by are checked
 * against the law written out by hand (E + A N^-a + B D^-b, not fit_law_predict's log-sum-exp);
 * the budget buys tokens = C / (3 (W + S)) from each candidate's own W and S; candidates whose loss
 * is not finite are skipped and counted; the best candidate at the edge of a column is flagged;
 * bootstrap replicates give argmins (none when no candidate is finite), and intervals over them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fit/fit.h"

/* L = 1.7 + 400 N^-0.34 + 410 D^-0.28 as theta */
static fit_law nd_law(void) {
    fit_law l = {0};
    l.form = FIT_ADDITIVE;
    l.k = 2;
    l.cols[0] = strdup("params");
    l.cols[1] = strdup("tokens");
    double t[5] = {log(1.7), log(400), 0.34, log(410), 0.28};
    memcpy(l.theta, t, sizeof t);
    return l;
}

static double by_hand(double N, double D) {
    return 1.7 + 400 * pow(N, -0.34) + 410 * pow(D, -0.28);
}

enum { NC = 7 };
/* params and per-token FLOPs of seven candidates; W is deliberately not 2 N */
static const double P[NC] = {1e6, 3e6, 1e7, 3e7, 1e8, 3e8, 1e9};
static const double Wc[NC] = {1.5e6, 4.9e6, 1.8e7, 5.7e7, 1.95e8, 5.9e8, 1.99e9};
static const double Sc[NC] = {4e5, 8e5, 1.6e6, 3.2e6, 6.4e6, 1.28e7, 2.56e7};

static void test_order_tokens_and_losses(void **state) {
    (void)state;
    fit_law l = nd_law();
    double x[NC * 2], C = 1e19;
    for (int i = 0; i < NC; i++) x[2 * i] = P[i], x[2 * i + 1] = -123; /* the tokens column is ignored */
    fit_rank r;
    char err[256];
    assert_int_equal(fit_rank_candidates(&l, NULL, 0, x, Wc, Sc, NC, C, 0.95, &r, err, sizeof err), 0);
    assert_int_equal(r.n_ranked, NC);
    assert_int_equal(r.n_skipped, 0);
    double want[NC];
    int idx[NC];
    for (int i = 0; i < NC; i++) {
        assert_true(fabs(3 * (Wc[i] + Sc[i]) * r.tokens[i] / C - 1) < 1e-12);
        want[i] = by_hand(P[i], C / (3 * (Wc[i] + Sc[i])));
        assert_true(fabs(r.loss[i] / want[i] - 1) < 1e-12);
        assert_true(isnan(r.loss_lo[i]));
        idx[i] = i;
    }
    /* insertion sort of the hand losses */
    for (int i = 1; i < NC; i++)
        for (int j = i; j > 0 && want[idx[j]] < want[idx[j - 1]]; j--) {
            int t = idx[j];
            idx[j] = idx[j - 1], idx[j - 1] = t;
        }
    for (int i = 0; i < NC; i++) assert_int_equal(r.order[i], idx[i]);
    /* at 1e19 FLOPs the best is an interior size: no bound on params */
    assert_true(r.order[0] != 0 && r.order[0] != NC - 1);
    assert_int_equal(r.bound[0], 0);
    fit_rank_free(&r);
    /* at a far larger budget the largest candidate wins: a bound, and tokens then at its smallest */
    assert_int_equal(fit_rank_candidates(&l, NULL, 0, x, Wc, Sc, NC, 1e25, 0.95, &r, err, sizeof err), 0);
    assert_int_equal(r.order[0], NC - 1);
    assert_int_equal(r.bound[0], 1);
    assert_int_equal(r.bound[1], -1);
    fit_rank_free(&r);
    fit_law_free(&l);
}

static void test_nonfinite_skipped(void **state) {
    (void)state;
    fit_law l = nd_law();
    double x[NC * 2], S[NC];
    for (int i = 0; i < NC; i++) x[2 * i] = P[i], S[i] = Sc[i];
    x[2 * 2] = NAN;  /* a column value the candidate lacks */
    x[2 * 4] = 0;    /* 0^-0.34: an infinite loss */
    S[5] = INFINITY; /* no tokens at all */
    fit_rank r;
    char err[256];
    assert_int_equal(fit_rank_candidates(&l, NULL, 0, x, Wc, S, NC, 1e19, 0.95, &r, err, sizeof err), 0);
    assert_int_equal(r.n_skipped, 3);
    assert_int_equal(r.n_ranked, NC - 3);
    for (size_t t = 0; t < r.n_ranked; t++) {
        assert_true(r.order[t] != 2 && r.order[t] != 4 && r.order[t] != 5);
        assert_true(isfinite(r.loss[r.order[t]]));
    }
    assert_true(isnan(r.loss[2]) && isnan(r.loss[4]) && isnan(r.loss[5]));
    fit_rank_free(&r);
    fit_law_free(&l);
}

static void test_bootstrap_argmins(void **state) {
    (void)state;
    fit_law l = nd_law();
    double x[NC * 2], C = 1e19;
    for (int i = 0; i < NC; i++) x[2 * i] = P[i];
    /* four replicates: the law itself; one whose N term is tiny (tokens win: the smallest model);
     * one that is NaN (no candidate is finite under it); one whose D term is tiny (the largest) */
    double boot[4 * 5];
    memcpy(boot, l.theta, sizeof(double) * 5);
    memcpy(boot + 5, l.theta, sizeof(double) * 5);
    boot[5 + 1] = log(1e-6);
    for (int j = 0; j < 5; j++) boot[10 + j] = NAN;
    memcpy(boot + 15, l.theta, sizeof(double) * 5);
    boot[15 + 3] = log(1e-6);
    fit_rank r;
    char err[256];
    assert_int_equal(fit_rank_candidates(&l, boot, 4, x, Wc, Sc, NC, C, 0.95, &r, err, sizeof err), 0);
    assert_int_equal(r.n_boot, 4);
    assert_int_equal(r.n_boot_none, 1);
    assert_int_equal(r.boot_best[0], r.order[0]);
    assert_int_equal(r.boot_best[1], 0);
    assert_true(r.boot_best[2] == SIZE_MAX);
    assert_int_equal(r.boot_best[3], NC - 1);
    assert_int_equal(r.n_boot_edge, 2);
    double lo, hi;
    fit_rank_interval(&r, P, 0.95, &lo, &hi);
    /* over the argmins {best, smallest, largest}: the ends are the smallest and the largest
     * candidates themselves, not values between configs */
    assert_true(lo == P[0] && hi == P[NC - 1]);
    /* the best candidate's loss over the replicates: the NaN one is dropped, the two with a tiny
     * term predict less than the law, so the interval ends at the law's own loss */
    size_t b = r.order[0];
    assert_true(isfinite(r.loss_lo[b]) && r.loss_lo[b] < r.loss[b]);
    assert_true(r.loss_hi[b] <= r.loss[b] * (1 + 1e-12) && r.loss_hi[b] > r.loss_lo[b]);
    fit_rank_free(&r);
    fit_law_free(&l);
}

static void test_isoflop_nearest(void **state) {
    (void)state;
    fit_law l = {0};
    l.form = FIT_ISOFLOP;
    l.k = 1;
    l.cols[0] = strdup("params");
    l.theta[0] = log(0.1), l.theta[1] = 0.5; /* N_opt = 0.1 sqrt(C) = 1e8 at C = 1e18 */
    double x[NC];
    memcpy(x, P, sizeof x);
    fit_rank r;
    char err[256];
    assert_int_equal(fit_rank_candidates(&l, NULL, 0, x, Wc, Sc, NC, 1e18, 0.95, &r, err, sizeof err), 0);
    assert_int_equal(r.order[0], 4);
    assert_true(r.order[1] == 3 || r.order[1] == 5);
    assert_true(isnan(r.loss[4]));
    fit_rank_free(&r);
    fit_law_free(&l);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_tokens_and_losses),
        cmocka_unit_test(test_nonfinite_skipped),
        cmocka_unit_test(test_bootstrap_argmins),
        cmocka_unit_test(test_isoflop_nearest),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
