/* fit/optimum and fit/isoflop: the numeric budget optimum equals the closed form for N-D laws;
 * with an S term it satisfies the first-order conditions (checked by perturbing along the budget
 * constraint); with a cost model measured on runs (W = w N^a, S = s N^b) the budget is spent with
 * that W and S, never W = 2 N; an optimum at the edge of the search is a bound; isoflop parabolas
 * recover a known optimum law, and on the Marin IsoFLOP runs give Chinchilla-like exponents. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>

#include "fit/fit.h"

static fit_law make_law(fit_form form, const char *c0, const char *c1, const char *c2, const double *nat) {
    fit_law l = {0};
    l.form = form;
    l.k = c2 ? 3 : 2;
    l.cols[0] = strdup(c0);
    l.cols[1] = strdup(c1);
    if (c2) l.cols[2] = strdup(c2);
    l.theta[0] = log(nat[0]);
    for (size_t j = 0; j < l.k; j++) {
        l.theta[1 + 2 * j] = log(nat[1 + 2 * j]);
        l.theta[2 + 2 * j] = nat[2 + 2 * j];
    }
    return l;
}

static void test_closed_form_equals_numeric(void **state) {
    (void)state;
    const double laws[][5] = {{1.69, 406.4, 0.34, 410.7, 0.28}, {1.8172, 477.83, 0.3473, 2143.4, 0.3672}, {2, 50, 0.5, 5000, 0.2}};
    for (size_t i = 0; i < 3; i++)
        for (double C = 1e15; C <= 1e25; C *= 1000) {
            fit_law l = make_law(i == 2 ? FIT_ADDITIVE : FIT_CHINCHILLA, "params", "tokens", NULL, laws[i]);
            fit_optimum o;
            char err[256];
            assert_int_equal(fit_law_optimum(&l, C, &o, err, sizeof err), 0);
            assert_true(fabs(o.N / o.closed_N - 1) < 1e-6);
            assert_true(fabs(o.D / o.closed_D - 1) < 1e-6);
            assert_true(fabs(6 * o.N * o.D / C - 1) < 1e-12);
            /* an independent check of the closed form itself: Hoffmann's Approach 3 numbers */
            if (i == 0 && C == 1e24) {
                double G = pow(0.34 * 406.4 / (0.28 * 410.7), 1 / 0.62);
                assert_true(fabs(o.closed_N / (G * pow(C / 6, 0.28 / 0.62)) - 1) < 1e-12);
            }
            fit_law_free(&l);
        }
}

static void test_state_term_optimum(void **state) {
    (void)state;
    /* L = E + A N^-a + B D^-b + K S^-s: more S lowers loss but costs tokens */
    const double nat[7] = {1.7, 400, 0.34, 400, 0.28, 30, 0.2};
    fit_law l = make_law(FIT_ADDITIVE, "params", "tokens", "state_flops_per_token", nat);
    double C = 1e21;
    fit_optimum o;
    char err[256];
    assert_int_equal(fit_law_optimum(&l, C, &o, err, sizeof err), 0);
    assert_true(o.S > 0 && isfinite(o.wsfr));
    assert_true(fabs(3 * (o.W + o.S) * o.D / C - 1) < 1e-12);
    /* no feasible perturbation of (N, S) lowers the loss */
    for (int du = -1; du <= 1; du++)
        for (int dv = -1; dv <= 1; dv++) {
            double N = o.N * exp(1e-3 * du), S = o.S * exp(1e-3 * dv), x[3] = {N, C / (3 * (2 * N + S)), S};
            assert_true(fit_law_predict(&l, x) >= o.loss - 1e-12);
        }
    fit_law_free(&l);
    /* a column the budget cannot place */
    fit_law bad = make_law(FIT_ADDITIVE, "params", "lr", NULL, nat);
    assert_int_not_equal(fit_law_optimum(&bad, C, &o, err, sizeof err), 0);
    assert_non_null(strstr(err, "'lr'"));
    fit_law_free(&bad);
}

static void test_cost_fit(void **state) {
    (void)state;
    /* runs whose W = 1.7 N^1.02 and S = 300 N^0.5 exactly, plus one run that cannot be used */
    double N[9], W[9], S[9];
    for (int i = 0; i < 8; i++) {
        N[i] = 1e5 * pow(3, i);
        W[i] = 1.7 * pow(N[i], 1.02);
        S[i] = 300 * pow(N[i], 0.5);
    }
    N[8] = NAN, W[8] = 1, S[8] = 1;
    fit_cost c;
    char err[256];
    assert_int_equal(fit_cost_fit(N, W, S, 9, &c, err, sizeof err), 0);
    assert_int_equal(c.n_runs, 8);
    assert_true(fabs(c.w_coef / 1.7 - 1) < 1e-9 && fabs(c.w_exp - 1.02) < 1e-12);
    assert_true(fabs(c.s_coef / 300 - 1) < 1e-9 && fabs(c.s_exp - 0.5) < 1e-12);
    assert_true(fabs(fit_cost_w(&c, 1e7) / (1.7 * pow(1e7, 1.02)) - 1) < 1e-9);
    /* runs at one N (a state sweep at fixed weights): W proportional to N, S its geometric mean */
    double N1[3] = {5e6, 5e6, 5e6}, W1[3] = {9e6, 9e6, 9e6}, S1[3] = {1e5, 1e6, 1e7};
    assert_int_equal(fit_cost_fit(N1, W1, S1, 3, &c, err, sizeof err), 0);
    assert_true(c.w_exp == 1 && fabs(c.w_coef - 1.8) < 1e-12 && c.s_exp == 0 && fabs(c.s_coef / 1e6 - 1) < 1e-12);
    /* stateless runs: no state cost */
    double S0[3] = {0, 0, 0};
    assert_int_equal(fit_cost_fit(N, W, S0, 3, &c, err, sizeof err), 0);
    assert_true(c.s_coef == 0 && fit_cost_s(&c, 1e9) == 0);
    assert_int_not_equal(fit_cost_fit(N + 8, W + 8, S + 8, 1, &c, err, sizeof err), 0);
}

static void test_optimum_with_measured_cost(void **state) {
    (void)state;
    const double nat[5] = {1.7, 400, 0.34, 410, 0.28};
    fit_law l = make_law(FIT_ADDITIVE, "params", "tokens", NULL, nat);
    fit_cost c = {.w_coef = 1.7, .w_exp = 1.02, .s_coef = 300, .s_exp = 0.5};
    double C = 1e21;
    fit_optimum o;
    char err[256];
    assert_int_equal(fit_law_optimum_cost(&l, C, &c, &o, err, sizeof err), 0);
    assert_int_equal(o.bound, 0);
    /* the budget is spent with the cost model's W and S, not W = 2 N */
    double W = 1.7 * pow(o.N, 1.02), S = 300 * sqrt(o.N);
    assert_true(fabs(o.W / W - 1) < 1e-12 && fabs(o.S / S - 1) < 1e-12);
    assert_true(fabs(3 * (W + S) * o.D / C - 1) < 1e-12);
    assert_true(fabs(o.W / (2 * o.N) - 1) > 0.1);
    assert_true(isnan(o.closed_N)); /* no closed form for a cost that is not k N */
    /* no feasible N nearby predicts less, by the law written out by hand */
    double best = 1.7 + 400 * pow(o.N, -0.34) + 410 * pow(o.D, -0.28);
    assert_true(fabs(best / o.loss - 1) < 1e-12);
    for (int du = -2; du <= 2; du++) {
        double N = o.N * exp(1e-2 * du), D = C / (3 * (1.7 * pow(N, 1.02) + 300 * sqrt(N)));
        assert_true(1.7 + 400 * pow(N, -0.34) + 410 * pow(D, -0.28) >= best - 1e-12);
    }
    /* W = k N: the closed form with C / (3 k) in place of C / 6 */
    fit_cost_per_param(&c, 1.8);
    assert_int_equal(fit_law_optimum_cost(&l, C, &c, &o, err, sizeof err), 0);
    assert_true(fabs(3 * 1.8 * o.N * o.D / C - 1) < 1e-12);
    assert_true(fabs(o.closed_N / o.N - 1) < 1e-6 && fabs(o.closed_D / o.D - 1) < 1e-6);
    double G = pow(0.34 * 400 / (0.28 * 410), 1 / 0.62);
    assert_true(fabs(o.closed_N / (G * pow(C / (3 * 1.8), 0.28 / 0.62)) - 1) < 1e-12);
    fit_law_free(&l);
}

static void test_bound_not_optimum(void **state) {
    (void)state;
    /* alpha = 0: parameters never help, the loss falls all the way to the smallest N searched;
     * beta = 0: tokens never help, it falls towards the largest N (one token) */
    const double flat_n[5] = {1.7, 400, 0, 410, 0.28}, flat_d[5] = {1.7, 400, 0.34, 410, 0};
    fit_cost c;
    fit_cost_per_param(&c, 2);
    fit_optimum o;
    char err[256];
    fit_law l = make_law(FIT_ADDITIVE, "params", "tokens", NULL, flat_n);
    assert_int_equal(fit_law_optimum_cost(&l, 1e21, &c, &o, err, sizeof err), 0);
    assert_int_equal(o.bound, -1);
    assert_true(o.N == 1 && o.N_lo == 1);
    /* the C = 6 N D wrapper keeps refusing a bound */
    assert_int_not_equal(fit_law_optimum(&l, 1e21, &o, err, sizeof err), 0);
    assert_non_null(strstr(err, "no interior minimum"));
    fit_law_free(&l);
    l = make_law(FIT_ADDITIVE, "params", "tokens", NULL, flat_d);
    assert_int_equal(fit_law_optimum_cost(&l, 1e21, &c, &o, err, sizeof err), 0);
    assert_int_equal(o.bound, 1);
    assert_true(fabs(o.D - 1) < 1e-6 && fabs(o.N / (1e21 / 6) - 1) < 1e-6);
    fit_law_free(&l);
    /* a state capacity column has no cost without a config: refused, naming the family */
    const double nat[7] = {1.7, 400, 0.34, 400, 0.28, 3, 0.25};
    l = make_law(FIT_ADDITIVE, "params", "tokens", "state_size", nat);
    assert_int_not_equal(fit_law_optimum_cost(&l, 1e21, &c, &o, err, sizeof err), 0);
    assert_non_null(strstr(err, "family"));
    assert_int_equal(fit_role_of("state_dim"), FIT_ROLE_STATE);
    assert_int_equal(fit_role_of("params_non_embedding"), FIT_ROLE_N);
    fit_law_free(&l);
}

static void test_isoflop_optimum_placed(void **state) {
    (void)state;
    /* x_opt = 0.1 C^0.5 in tokens: N is where a model spends C on that many tokens */
    fit_law l = {0};
    l.form = FIT_ISOFLOP;
    l.k = 1;
    l.cols[0] = strdup("tokens");
    l.theta[0] = log(0.1), l.theta[1] = 0.5;
    fit_cost c = {.w_coef = 1.7, .w_exp = 1.02, .s_coef = 300, .s_exp = 0.5};
    fit_optimum o;
    char err[256];
    double C = 1e20;
    assert_int_equal(fit_isoflop_optimum(&l, C, &c, &o, err, sizeof err), 0);
    assert_true(fabs(o.D / 1e9 - 1) < 1e-12);
    assert_true(fabs(3 * (1.7 * pow(o.N, 1.02) + 300 * sqrt(o.N)) * o.D / C - 1) < 1e-9);
    assert_true(isnan(o.loss));
    free(l.cols[0]);
    l.cols[0] = strdup("params");
    assert_int_equal(fit_isoflop_optimum(&l, C, &c, &o, err, sizeof err), 0);
    assert_true(fabs(o.N / 1e9 - 1) < 1e-12 && fabs(3 * (o.W + o.S) * o.D / C - 1) < 1e-12);
    free(l.cols[0]);
    l.cols[0] = strdup("lr");
    assert_int_not_equal(fit_isoflop_optimum(&l, C, &c, &o, err, sizeof err), 0);
    fit_law_free(&l);
}

static void test_isoflop_recovers_known_optimum(void **state) {
    (void)state;
    /* per budget: loss = L* + c (log N - log N_opt)^2 with N_opt = 0.1 C^0.5, plus 0.2% noise */
    gsl_rng *g = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(g, 9);
    double x[60], y[60], b[60];
    size_t n = 0;
    for (int k = 0; k < 6; k++) {
        double C = 1e18 * pow(4, k), Nopt = 0.1 * sqrt(C);
        for (int i = 0; i < 10; i++, n++) {
            double u = -1.5 + 3.0 * i / 9;
            x[n] = Nopt * exp(u);
            y[n] = (3.5 - 0.1 * k + 0.05 * u * u) * (1 + 0.002 * gsl_ran_gaussian(g, 1));
            b[n] = C * (1 + 0.01 * (i % 3)); /* budgets are only nominally equal */
        }
    }
    gsl_rng_free(g);
    fit_isoflop r;
    char err[256];
    assert_int_equal(fit_isoflop_fit(x, y, b, n, 0.05, 0.95, "params", &r, err, sizeof err), 0);
    assert_int_equal(r.n_budgets, 6);
    assert_int_equal(r.n_points, 60);
    assert_true(fabs(r.exponent - 0.5) < 0.02);
    assert_true(r.exponent_lo < 0.5 && 0.5 < r.exponent_hi);
    for (size_t i = 0; i < r.n_budgets; i++) {
        double truth = 0.1 * sqrt(r.budgets[i].budget / 1.01);
        assert_true(fabs(log(r.budgets[i].vertex / truth)) < 0.1);
        assert_true(r.budgets[i].lo < r.budgets[i].vertex && r.budgets[i].vertex < r.budgets[i].hi);
    }
    fit_isoflop_free(&r);
    /* one budget only: no law across budgets */
    assert_int_not_equal(fit_isoflop_fit(x, y, b, 10, 0.05, 0.95, "params", &r, err, sizeof err), 0);
    assert_non_null(strstr(err, "need at least 2"));
}

static void test_marin_isoflop(void **state) {
    (void)state;
    static const char *const sets[] = {"comma", "dclm", "nemotron"};
    for (int s = 0; s < 3; s++) {
        char path[4096], err[512];
        const char *root = getenv("SCALELAB_TESTDATA");
        snprintf(path, sizeof path, "%s/marin_isoflop/isoflop-%s.csv", root ? root : "tests/data", sets[s]);
        fit_table t;
        if (fit_table_read_csv(path, &t, err, sizeof err)) fail_msg("%s", err);
        fit_filter f;
        assert_int_equal(fit_filter_parse("Name!~validation-optimal", &f, err, sizeof err), 0);
        double a[2];
        const char *cols[2] = {"parameter_count", "throughput/total_tokens"};
        for (int c = 0; c < 2; c++) {
            fit_data d;
            fit_isoflop r;
            if (fit_data_select(&t, &cols[c], 1, "eval/paloma/macro_loss", "throughput/total_gflops", &f, 1, &d, err, sizeof err))
                fail_msg("%s", err);
            for (size_t i = 0; i < d.n; i++) d.compute[i] *= 1e9;
            if (fit_isoflop_fit(d.x, d.y, d.compute, d.n, 0.05, 0.95, cols[c], &r, err, sizeof err)) fail_msg("%s", err);
            assert_true(r.n_budgets >= 5);
            a[c] = r.exponent;
            print_message("%s %s: %zu budgets, %zu points, exponent %.4f [%.4f, %.4f]\n", sets[s], cols[c], r.n_budgets,
                          r.n_points, r.exponent, r.exponent_lo, r.exponent_hi);
            fit_isoflop_free(&r);
            fit_data_free(&d);
        }
        /* Chinchilla-like: N_opt ~ C^0.4..0.5, D_opt ~ C^0.5..0.6, and since C ~ 6 N D, a_N + a_D ~ 1 */
        assert_true(a[0] > 0.35 && a[0] < 0.55);
        assert_true(a[1] > 0.45 && a[1] < 0.65);
        assert_true(fabs(a[0] + a[1] - 1) < 0.05);
        fit_table_free(&t);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_closed_form_equals_numeric),
        cmocka_unit_test(test_state_term_optimum),
        cmocka_unit_test(test_cost_fit),
        cmocka_unit_test(test_optimum_with_measured_cost),
        cmocka_unit_test(test_bound_not_optimum),
        cmocka_unit_test(test_isoflop_optimum_placed),
        cmocka_unit_test(test_isoflop_recovers_known_optimum),
        cmocka_unit_test(test_marin_isoflop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
