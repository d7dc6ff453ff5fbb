/* Fits a researcher can trust (fit/law.c's constraints, fit/diagnose.c's verdict):
 * - a clean synthetic law (2% noise, 6 budgets, N spanning far more than 10x) is recovered, its
 *   verdict is ok, and its compute-optimal N 10x past the largest budget is within 25% of the
 *   true law's (both by fit_law_optimum);
 * - demo-like plateau data (N spanning 2.3x, loss flat at 4.16 with 1% noise) come out
 *   unconstrained, with a reason that names the span, and no non-positive exponent (a plateau over
 *   a wide column is unconstrained too, by its bounds);
 * - data that want a negative exponent cannot produce one, by LM or BFGS2, bootstrap included;
 * - each verdict threshold of fit/fit.h moves the verdict where it says (span, relative error,
 *   converged starts, pooled mixers, a state that never moves at fixed weights);
 * - an IsoFLOP set whose vertices lie outside the samples gives bounds and no exponent. */
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

/* A fit_data of n points and k columns named by cols; x and y filled by the caller. */
static void data_alloc(fit_data *d, size_t n, size_t k, const char *const *cols) {
    memset(d, 0, sizeof *d);
    d->n = n;
    d->k = k;
    d->x = calloc(n * k, sizeof *d->x);
    d->y = calloc(n, sizeof *d->y);
    d->compute = calloc(n, sizeof *d->compute);
    d->row = calloc(n, sizeof *d->row);
    d->cols = calloc(k, sizeof *d->cols);
    for (size_t j = 0; j < k; j++) d->cols[j] = strdup(cols[j]);
    d->ycol = strdup("loss");
    for (size_t i = 0; i < n; i++) d->row[i] = i;
}

static void small_grid(fit_options *o) {
    fit_options_default(o);
    assert_int_equal(fit_grid_parse("e=-1:1:1,a=0:15:5,alpha=0:1:0.5", &o->grid, NULL, 0), 0);
}

static int has_reason(const fit_diagnostics *g, const char *needle) {
    for (size_t i = 0; i < g->n_reasons; i++)
        if (strstr(g->reasons[i], needle)) return 1;
    return 0;
}

static void print_diag(const fit_diagnostics *g) {
    print_message("verdict %s\n", fit_verdict_name(g->verdict));
    for (size_t i = 0; i < g->n_reasons; i++) print_message("  - %s\n", g->reasons[i]);
}

/* Every law and bootstrap replicate is physical: E in [0, Lmin) (a replicate's Lmin is that of its
 * resampled points, at most ymax), A >= 0, exponents in (0, max]. */
static void assert_physical(const fit_result *r, double lmin, double ymax) {
    size_t np = 1 + 2 * r->law.k;
    for (size_t s = 0; s <= r->n_boot; s++) {
        const double *th = s ? r->boot + (s - 1) * np : r->law.theta;
        double nat[FIT_MAX_PARAMS];
        fit_law_natural(&r->law, th, nat);
        assert_true(nat[0] >= 0 && nat[0] < (s ? ymax : lmin));
        for (size_t j = 0; j < r->law.k; j++) {
            assert_true(nat[1 + 2 * j] >= 0);
            assert_true(nat[2 + 2 * j] > 0 && nat[2 + 2 * j] <= FIT_EXPONENT_MAX);
        }
    }
}

static double min_y(const fit_data *d) {
    double m = INFINITY;
    for (size_t i = 0; i < d->n; i++) m = fmin(m, d->y[i]);
    return m;
}

static double max_y(const fit_data *d) {
    double m = 0;
    for (size_t i = 0; i < d->n; i++) m = fmax(m, d->y[i]);
    return m;
}

/* ---- a clean synthetic law ---- */

static const double truth[5] = {1.69, 406.4, 0.34, 410.7, 0.28}; /* Hoffmann et al. 2022 */

static void truth_law(fit_law *law) {
    memset(law, 0, sizeof *law);
    law->form = FIT_CHINCHILLA;
    law->k = 2;
    double th[5] = {log(truth[0]), log(truth[1]), truth[2], log(truth[3]), truth[4]};
    memcpy(law->theta, th, sizeof th);
    law->cols[0] = strdup("N");
    law->cols[1] = strdup("D");
}

/* 6 budgets 1e18..3.2e20 (half a decade apart), 40 model sizes each from the true optimum / 10
 * to x 10 (100x), D = C / (6 N), loss times (1 + 0.02 z). Why 40: at 2% noise the compute-optimal N
 * 10x past the data is the hard part. Over seeds 1-12, 9 sizes per budget put it within 25% for
 * only 5 (errors up to 71%, every verdict ok: the exponents' relative errors were 0.1-0.2);
 * 15 for 8; 40 for all 12 (largest error 17.5%). */
static void clean_law(fit_data *d, unsigned long seed) {
    static const char *const cols[] = {"N", "D"};
    data_alloc(d, 240, 2, cols);
    fit_law law;
    truth_law(&law);
    gsl_rng *g = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(g, seed);
    for (size_t b = 0, i = 0; b < 6; b++) {
        double C = 1e18 * pow(10, 0.5 * (double)b);
        fit_optimum opt;
        assert_int_equal(fit_law_optimum(&law, C, &opt, NULL, 0), 0);
        for (int s = 0; s < 40; s++, i++) {
            double N = opt.N * pow(10, -1 + 2.0 * s / 39), D = C / (6 * N), x[2] = {N, D};
            d->x[2 * i] = N;
            d->x[2 * i + 1] = D;
            d->y[i] = fit_law_predict(&law, x) * (1 + 0.02 * gsl_ran_gaussian(g, 1));
            d->compute[i] = C;
        }
    }
    gsl_rng_free(g);
    fit_law_free(&law);
}

static void test_clean_law_ok_and_optimum(void **state) {
    (void)state;
    fit_data d;
    clean_law(&d, 2026);
    fit_options o;
    small_grid(&o);
    fit_result r;
    char err[256];
    assert_int_equal(fit_law_fit(&d, &o, &r, err, sizeof err), 0);
    double p[5];
    fit_law_natural(&r.law, r.law.theta, p);
    fit_diagnostics g;
    assert_int_equal(fit_law_diagnose(&d, &r, NULL, &g, err, sizeof err), 0);
    print_message("E %.4g A %.4g alpha %.4g B %.4g beta %.4g; rel se alpha %.3g beta %.3g\n", p[0], p[1], p[2], p[3],
                  p[4], g.rel_se[2], g.rel_se[4]);
    print_diag(&g);
    /* tolerances for 2% noise on 240 points: E 10%, exponents 0.06 absolute, A and B a factor 3:
     * they trade off against the exponents (beta 0.05 off moves B by D^0.05 = 3x at D = 1e10) */
    assert_true(fabs(p[0] / truth[0] - 1) < 0.1);
    assert_true(fabs(p[2] - truth[2]) < 0.06 && fabs(p[4] - truth[4]) < 0.06);
    assert_true(fabs(log(p[1] / truth[1])) < log(3) && fabs(log(p[3] / truth[3])) < log(3));
    assert_int_equal(g.verdict, FIT_VERDICT_OK);
    assert_int_equal(g.n_reasons, 0);
    assert_int_equal(g.n_at_bound, 0);
    assert_false(g.singular);
    for (size_t q = 0; q < 5; q++) assert_true(isfinite(g.rel_se[q]) && g.rel_se[q] > 0);
    assert_true(g.x_max[0] / g.x_min[0] > 10);
    assert_true(fabs(g.compute_min / 1e18 - 1) < 1e-12 && fabs(g.compute_max / 3.1622776601683795e20 - 1) < 1e-12);
    /* the compute-optimal N 10x past the largest budget */
    fit_law law;
    truth_law(&law);
    fit_optimum want, got;
    double C = 10 * 3.1622776601683795e20;
    assert_int_equal(fit_law_optimum(&law, C, &want, err, sizeof err), 0);
    assert_int_equal(fit_law_optimum(&r.law, C, &got, err, sizeof err), 0);
    print_message("N_opt at %.3g: fitted %.4g, true %.4g (%.1f%% off)\n", C, got.N, want.N, 100 * (got.N / want.N - 1));
    assert_true(fabs(got.N / want.N - 1) < 0.25);
    /* the diagnostics document has the contract's keys */
    util_buf b = {0};
    assert_int_equal(fit_diagnostics_json(&g, &b), 0);
    const char *keys[] = {"\"verdict\": \"ok\"", "\"reasons\": []", "\"converged_starts\": ", "\"polished_starts\": ",
                          "\"at_bound\": []", "\"rel_se\": {\"E\": ", "\"x_span\": {\"N\": {\"min\": ",
                          "\"compute\": {\"min\": ", "\"mixers\": []", "\"pooled_mixers\": false"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
        if (!strstr(b.data, keys[i])) fail_msg("diagnostics lack %s: %s", keys[i], b.data);
    util_buf_free(&b);
    fit_law_free(&law);
    fit_diagnostics_free(&g);
    fit_result_free(&r);
    fit_data_free(&d);
}

static void one_column(fit_data *d, double span, double noise, unsigned long seed);
static fit_verdict verdict_of(const fit_data *d, const fit_context *ctx, fit_result *r, fit_diagnostics *g);

/* ---- demo-like plateau data ---- */

/* 24 runs: N from 1e6 to 2.3e6, D from 2e6 to 4e6, loss 4.16 (1 + 0.01 z). */
static void plateau(fit_data *d) {
    static const char *const cols[] = {"params", "tokens"};
    data_alloc(d, 24, 2, cols);
    gsl_rng *g = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(g, 7);
    for (size_t i = 0; i < 24; i++) {
        d->x[2 * i] = 1e6 * pow(2.3, (double)(i % 6) / 5);
        d->x[2 * i + 1] = 2e6 * pow(2, (double)(i / 6) / 3);
        d->y[i] = 4.16 * (1 + 0.01 * gsl_ran_gaussian(g, 1));
        d->compute[i] = 6 * d->x[2 * i] * d->x[2 * i + 1];
    }
    gsl_rng_free(g);
}

static void test_plateau_unconstrained(void **state) {
    (void)state;
    fit_data d;
    plateau(&d);
    for (int m = 0; m < 2; m++) {
        fit_options o;
        fit_options_default(&o); /* Hoffmann's grid, as the demo used */
        o.method = m ? FIT_METHOD_BFGS2 : FIT_METHOD_LM;
        o.bootstrap = 20;
        fit_result r;
        char err[256];
        assert_int_equal(fit_law_fit(&d, &o, &r, err, sizeof err), 0);
        assert_physical(&r, min_y(&d), max_y(&d));
        fit_diagnostics g;
        assert_int_equal(fit_law_diagnose(&d, &r, NULL, &g, err, sizeof err), 0);
        print_diag(&g);
        assert_int_equal(g.verdict, FIT_VERDICT_UNCONSTRAINED);
        assert_true(has_reason(&g, "alpha is not constrained: params spans 2.3x"));
        assert_true(has_reason(&g, "add runs with params down to"));
        /* the stored parameters hold no non-positive exponent */
        char names[FIT_MAX_PARAMS][128];
        double nat[FIT_MAX_PARAMS];
        fit_law_param_names(&r.law, names);
        fit_law_natural(&r.law, r.law.theta, nat);
        assert_string_equal(names[2], "alpha");
        assert_string_equal(names[4], "beta");
        assert_true(nat[2] > 0 && nat[4] > 0);
        fit_diagnostics_free(&g);
        fit_result_free(&r);
    }
    fit_data_free(&d);
    /* a plateau over a wide column is unconstrained too, by its bounds, not its span */
    one_column(&d, 100, 0.01, 1);
    for (size_t i = 0; i < d.n; i++) d.y[i] = 4.16 * d.y[i] / (2 + 50 * pow(d.x[i], -0.3));
    fit_result r;
    fit_diagnostics g;
    assert_int_equal(verdict_of(&d, NULL, &r, &g), FIT_VERDICT_UNCONSTRAINED);
    assert_true(g.n_at_bound > 0 && !has_reason(&g, "spans"));
    assert_physical(&r, min_y(&d), max_y(&d));
    fit_diagnostics_free(&g);
    fit_result_free(&r);
    fit_data_free(&d);
}

/* ---- a law that wants a negative exponent ---- */

static void test_negative_exponent_impossible(void **state) {
    (void)state;
    static const char *const cols[] = {"params"};
    fit_data d;
    data_alloc(&d, 20, 1, cols);
    for (size_t i = 0; i < 20; i++) {
        d.x[i] = 1e6 * pow(1000, (double)i / 19);
        d.y[i] = 3 + 0.05 * pow(d.x[i] / 1e6, 0.2); /* loss grows with N: exponent -0.2 fits */
        d.compute[i] = d.x[i];
    }
    for (int m = 0; m < 2; m++) {
        fit_options o;
        small_grid(&o);
        o.form = FIT_POWERLAW;
        o.method = m ? FIT_METHOD_BFGS2 : FIT_METHOD_LM;
        o.bootstrap = 10;
        fit_result r;
        char err[256];
        assert_int_equal(fit_law_fit(&d, &o, &r, err, sizeof err), 0);
        assert_physical(&r, min_y(&d), max_y(&d));
        fit_diagnostics g;
        assert_int_equal(fit_law_diagnose(&d, &r, NULL, &g, err, sizeof err), 0);
        print_diag(&g);
        assert_int_equal(g.verdict, FIT_VERDICT_UNCONSTRAINED);
        assert_true(g.n_at_bound > 0);
        fit_diagnostics_free(&g);
        fit_result_free(&r);
    }
    fit_data_free(&d);
}

/* ---- each threshold ---- */

/* A powerlaw L = 2 + 50 x^-0.3 over x spanning `span`, 40 points, noise. */
static void one_column(fit_data *d, double span, double noise, unsigned long seed) {
    static const char *const cols[] = {"params"};
    data_alloc(d, 40, 1, cols);
    gsl_rng *g = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(g, seed);
    for (size_t i = 0; i < 40; i++) {
        d->x[i] = 1e6 * pow(span, (double)i / 39);
        d->y[i] = (2 + 50 * pow(d->x[i], -0.3)) * (1 + noise * gsl_ran_gaussian(g, 1));
        d->compute[i] = d->x[i];
    }
    gsl_rng_free(g);
}

static fit_verdict verdict_of(const fit_data *d, const fit_context *ctx, fit_result *r, fit_diagnostics *g) {
    fit_options o;
    small_grid(&o);
    o.form = FIT_POWERLAW;
    assert_int_equal(fit_law_fit(d, &o, r, NULL, 0), 0);
    assert_int_equal(fit_law_diagnose(d, r, ctx, g, NULL, 0), 0);
    print_diag(g);
    return g->verdict;
}

static void test_thresholds(void **state) {
    (void)state;
    fit_data d;
    fit_result r;
    fit_diagnostics g;
    /* a wide, clean column: ok */
    one_column(&d, 1000, 0.001, 1);
    assert_int_equal(verdict_of(&d, NULL, &r, &g), FIT_VERDICT_OK);
    assert_true(g.rel_se[2] < FIT_RELSE_WEAK);
    /* the same points with fewer than half of the polished starts converged: weak */
    fit_diagnostics_free(&g);
    r.n_converged = r.n_polished / 2 - 1;
    assert_int_equal(fit_law_diagnose(&d, &r, NULL, &g, NULL, 0), 0);
    assert_int_equal(g.verdict, FIT_VERDICT_WEAK);
    assert_true(has_reason(&g, "polished starts converged"));
    fit_diagnostics_free(&g);
    /* pooled mixers: at best weak, the mixers named */
    r.n_converged = r.n_polished;
    char *mixers[] = {"power", "softmax"};
    fit_context ctx = {mixers, 2, 1, {0}};
    assert_int_equal(fit_law_diagnose(&d, &r, &ctx, &g, NULL, 0), 0);
    assert_int_equal(g.verdict, FIT_VERDICT_WEAK);
    assert_true(has_reason(&g, "pooled mixers (power, softmax)"));
    util_buf b = {0};
    fit_diagnostics_json(&g, &b);
    assert_non_null(strstr(b.data, "\"mixers\": [\"power\", \"softmax\"], \"pooled_mixers\": true"));
    util_buf_free(&b);
    fit_diagnostics_free(&g);
    /* a state column that never moves at fixed weights: unconstrained */
    fit_context st = {NULL, 0, 0, {1}};
    assert_int_equal(fit_law_diagnose(&d, &r, &st, &g, NULL, 0), 0);
    assert_int_equal(g.verdict, FIT_VERDICT_UNCONSTRAINED);
    assert_true(has_reason(&g, "the state never moves at fixed weights"));
    fit_diagnostics_free(&g);
    fit_result_free(&r);
    fit_data_free(&d);
    /* span between FIT_SPAN_UNCONSTRAINED and FIT_SPAN_WEAK: weak, and says so */
    one_column(&d, 5, 0.0005, 2);
    assert_int_not_equal(verdict_of(&d, NULL, &r, &g), FIT_VERDICT_OK);
    assert_true(has_reason(&g, "alpha is weakly constrained: params spans 5x"));
    fit_diagnostics_free(&g);
    fit_result_free(&r);
    fit_data_free(&d);
    /* wide enough columns under noise: the exponent's relative standard error decides (these seeds
     * give 0.49 and 1.6, between FIT_RELSE_WEAK and FIT_RELSE_UNCONSTRAINED and above it) */
    one_column(&d, 30, 0.02, 3);
    assert_int_equal(verdict_of(&d, NULL, &r, &g), FIT_VERDICT_WEAK);
    assert_true(g.rel_se[2] > FIT_RELSE_WEAK && g.rel_se[2] < FIT_RELSE_UNCONSTRAINED);
    assert_true(has_reason(&g, "alpha is weakly constrained: relative standard error"));
    fit_diagnostics_free(&g);
    fit_result_free(&r);
    fit_data_free(&d);
    one_column(&d, 10, 0.03, 3);
    assert_int_equal(verdict_of(&d, NULL, &r, &g), FIT_VERDICT_UNCONSTRAINED);
    assert_true(g.rel_se[2] > FIT_RELSE_UNCONSTRAINED);
    assert_true(has_reason(&g, "alpha is not constrained: relative standard error"));
    fit_diagnostics_free(&g);
    fit_result_free(&r);
    fit_data_free(&d);
}

static void test_state_moves(void **state) {
    (void)state;
    double w[] = {1e6, 2e6, 1.005e6}, s1[] = {10, 20, 40}, s2[] = {10, 20, 10.05};
    assert_true(fit_state_moves_at_fixed_weights(w, s1, 3));  /* runs 0 and 2: same W, state 4x */
    assert_false(fit_state_moves_at_fixed_weights(w, s2, 3)); /* same W, same state */
    assert_false(fit_state_moves_at_fixed_weights(w, s1, 2));
    assert_true(fit_is_state_column("state_size") && fit_is_state_column("wsfr"));
    assert_false(fit_is_state_column("params"));
}

static void test_context_refuses_pooled_mixers(void **state) {
    (void)state;
    static const char *const names[] = {"params", "state_size", "weight_flops_per_token", "mixer", "loss"};
    fit_table t;
    char err[512];
    assert_int_equal(fit_table_init(&t, "test", names, 5, err, sizeof err), 0);
    for (int i = 0; i < 12; i++) {
        char c[4][32];
        snprintf(c[0], 32, "%g", 1e6 * (1 + i % 3));
        snprintf(c[1], 32, "%g", 1e3 * (1 + i / 3));
        snprintf(c[2], 32, "%g", 2e6 * (1 + i % 3));
        snprintf(c[3], 32, "%g", 3 + 1.0 / (1 + i));
        const char *cells[] = {c[0], c[1], c[2], i % 2 ? "softmax" : "power", c[3]};
        assert_int_equal(fit_table_add_row(&t, cells, 0, err, sizeof err), 0);
    }
    const char *x[] = {"params", "state_size"};
    fit_data d;
    assert_int_equal(fit_data_select(&t, x, 2, "loss", NULL, NULL, 0, &d, err, sizeof err), 0);
    fit_context ctx;
    assert_int_not_equal(fit_context_build(&t, &d, 0, &ctx, err, sizeof err), 0);
    print_message("%s\n", err);
    assert_non_null(strstr(err, "(power, softmax)"));
    assert_non_null(strstr(err, "--where mixer==power"));
    assert_non_null(strstr(err, "--pool-mixers"));
    assert_int_equal(fit_context_build(&t, &d, 1, &ctx, err, sizeof err), 0);
    assert_int_equal(ctx.n_mixers, 2);
    assert_true(ctx.pooled_mixers);
    assert_false(ctx.state_static[1]); /* W repeats (every 3rd run) with a different state */
    fit_context_free(&ctx);
    fit_data_free(&d);
    /* one mixer: no refusal, nothing pooled */
    fit_filter f;
    assert_int_equal(fit_filter_parse("mixer==power", &f, err, sizeof err), 0);
    assert_int_equal(fit_data_select(&t, x, 2, "loss", NULL, &f, 1, &d, err, sizeof err), 0);
    assert_int_equal(fit_context_build(&t, &d, 0, &ctx, err, sizeof err), 0);
    assert_int_equal(ctx.n_mixers, 1);
    assert_false(ctx.pooled_mixers);
    fit_context_free(&ctx);
    fit_data_free(&d);
    fit_table_free(&t);
    /* every run has its own W: the state never moves at fixed weights */
    assert_int_equal(fit_table_init(&t, "test", names, 5, err, sizeof err), 0);
    for (int i = 0; i < 12; i++) {
        char c[4][32];
        snprintf(c[0], 32, "%g", 1e6 * (1 + i));
        snprintf(c[1], 32, "%g", 1e3 * (1 + i % 4));
        snprintf(c[2], 32, "%g", 2e6 * (1 + i));
        snprintf(c[3], 32, "%g", 3 + 1.0 / (1 + i));
        const char *cells[] = {c[0], c[1], c[2], "power", c[3]};
        assert_int_equal(fit_table_add_row(&t, cells, 0, err, sizeof err), 0);
    }
    assert_int_equal(fit_data_select(&t, x, 2, "loss", NULL, NULL, 0, &d, err, sizeof err), 0);
    assert_int_equal(fit_context_build(&t, &d, 0, &ctx, err, sizeof err), 0);
    assert_false(ctx.state_static[0]); /* params is no state column */
    assert_true(ctx.state_static[1]);
    fit_context_free(&ctx);
    fit_data_free(&d);
    fit_table_free(&t);
}

/* ---- isoflop ---- */

/* Appends budget k's m points to x, y, b at n (returns the new n): x from Nopt * lo to
 * Nopt * lo * span, log-spaced; loss 3.5 - 0.2 k + curv u^2 (u = log(x / Nopt)) plus a fixed
 * pattern of scatter of amplitude amp / 2. */
static size_t budget_points(double *x, double *y, double *b, size_t n, int k, double C, double Nopt, double lo,
                            double span, int m, double curv, double amp) {
    for (int i = 0; i < m; i++, n++) {
        x[n] = Nopt * lo * pow(span, (double)i / (m - 1));
        double u = log(x[n] / Nopt);
        y[n] = 3.5 - 0.2 * k + curv * u * u + amp * ((i * 7 + k) % 5 - 2) / 2.0;
        b[n] = C;
    }
    return n;
}

static void test_isoflop_vertices_outside(void **state) {
    (void)state;
    /* 4 budgets, parabolas in log N with the vertex at 0.1 sqrt(C), sampled only below it
     * (N_opt / 30 to N_opt / 3): every vertex lies above its samples */
    double x[32], y[32], b[32];
    size_t n = 0;
    for (int k = 0; k < 4; k++) {
        double C = 1e18 * pow(10, k);
        n = budget_points(x, y, b, n, k, C, 0.1 * sqrt(C), 1.0 / 30, 10, 8, 0.05, 0.001);
    }
    fit_isoflop r;
    char err[256];
    assert_int_equal(fit_isoflop_fit(x, y, b, n, 0.05, 0.95, "params", &r, err, sizeof err), 0);
    assert_int_equal(r.n_budgets, 4);
    assert_int_equal(r.n_interior, 0);
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(r.budgets[i].bound, 1);
        assert_true(r.budgets[i].vertex > r.budgets[i].x_max);
    }
    assert_true(isnan(r.exponent) && isnan(r.log_k));
    assert_non_null(strstr(r.note, "no exponent: 0 of 4 budgets"));
    fit_diagnostics g;
    assert_int_equal(fit_isoflop_diagnose(&r, NULL, &g, err, sizeof err), 0);
    print_diag(&g);
    assert_int_equal(g.verdict, FIT_VERDICT_UNCONSTRAINED);
    assert_int_equal(g.n_at_bound, 4);
    assert_true(has_reason(&g, "known to be >="));
    util_buf j = {0};
    assert_int_equal(fit_isoflop_json(&r, &j), 0);
    assert_non_null(strstr(j.data, "\"a_params\": null"));
    assert_non_null(strstr(j.data, "\"vertex_bound\": \"upper\""));
    assert_non_null(strstr(j.data, "\"exponent_note\": \"no exponent"));
    util_buf_free(&j);
    fit_diagnostics_free(&g);
    fit_isoflop_free(&r);
    /* two of the four budgets sampled around their vertices: still no exponent (two points always
     * lie on a line), the other two bounds */
    n = 0;
    for (int k = 0; k < 4; k++) {
        double C = 1e18 * pow(10, k);
        n = budget_points(x, y, b, n, k, C, 0.1 * sqrt(C), k < 2 ? 1.0 / 5 : 1.0 / 30, k < 2 ? 25 : 10, 8, 0.05,
                          0.001);
    }
    assert_int_equal(fit_isoflop_fit(x, y, b, n, 0.05, 0.95, "params", &r, err, sizeof err), 0);
    assert_int_equal(r.n_interior, 2);
    assert_true(isnan(r.exponent));
    assert_non_null(strstr(r.note, "no exponent: 2 of 4 budgets"));
    assert_int_equal(fit_isoflop_diagnose(&r, NULL, &g, err, sizeof err), 0);
    assert_int_equal(g.verdict, FIT_VERDICT_UNCONSTRAINED);
    assert_int_equal(g.n_at_bound, 2);
    fit_diagnostics_free(&g);
    fit_isoflop_free(&r);
    /* the same budgets sampled around their vertices, one with only 3 points: interior vertices,
     * an exponent, and "no interval: 3 points" instead of a NaN interval */
    n = 0;
    for (int k = 0; k < 4; k++) {
        double C = 1e18 * pow(10, k);
        n = budget_points(x, y, b, n, k, C, 0.1 * sqrt(C), 1.0 / 5, 25, k == 0 ? 3 : 8, 0.05, 0.001);
    }
    assert_int_equal(fit_isoflop_fit(x, y, b, n, 0.05, 0.95, "params", &r, err, sizeof err), 0);
    assert_int_equal(r.n_interior, 4);
    assert_true(fabs(r.exponent - 0.5) < 0.02 && r.note[0] == '\0');
    assert_true(isnan(r.budgets[0].lo));
    assert_int_equal(fit_isoflop_json(&r, &j), 0);
    assert_non_null(strstr(j.data, "\"x_opt_interval\": null, \"interval_note\": \"no interval: 3 points\""));
    util_buf_free(&j);
    assert_int_equal(fit_isoflop_diagnose(&r, NULL, &g, err, sizeof err), 0);
    print_diag(&g);
    assert_int_equal(g.verdict, FIT_VERDICT_OK);
    fit_diagnostics_free(&g);
    /* pooled mixers make an isoflop fit weak too */
    char *mixers[] = {"power", "softmax"};
    fit_context ctx = {mixers, 2, 1, {0}};
    assert_int_equal(fit_isoflop_diagnose(&r, &ctx, &g, err, sizeof err), 0);
    assert_int_equal(g.verdict, FIT_VERDICT_WEAK);
    assert_true(has_reason(&g, "pooled mixers (power, softmax)"));
    fit_diagnostics_free(&g);
    fit_isoflop_free(&r);
}

/* Vertices inside their samples are not enough: three budgets on x_opt ~ C^0.5 with the middle
 * vertex 1.35x off the line give a relative standard error of the exponent of ~0.15 (under
 * the weak threshold), yet with one degree of freedom its 95% interval contains 0, so whether
 * x_opt grows with C is undecided (weak); a budget sampled on one side of a flat parabola has an interior
 * vertex whose interval leaves the samples (weak, "add runs below/above"). */
static void test_isoflop_sign_undecided(void **state) {
    (void)state;
    double x[24], y[24], b[24];
    const double shift[3] = {1.0, 1.35, 1.0};
    size_t n = 0;
    for (int k = 0; k < 3; k++) {
        double C = 1e18 * pow(10, k);
        n = budget_points(x, y, b, n, k, C, 0.1 * sqrt(C) * shift[k], 1.0 / 5, 25, 8, 0.05, 0.001);
    }
    fit_isoflop r;
    char err[256];
    assert_int_equal(fit_isoflop_fit(x, y, b, n, 0.05, 0.95, "params", &r, err, sizeof err), 0);
    assert_int_equal(r.n_interior, 3);
    assert_true(r.exponent_lo < 0 && r.exponent_hi > 0);
    assert_true(r.exponent_se / r.exponent < FIT_RELSE_WEAK);
    fit_diagnostics g;
    assert_int_equal(fit_isoflop_diagnose(&r, NULL, &g, err, sizeof err), 0);
    print_diag(&g);
    assert_int_equal(g.verdict, FIT_VERDICT_WEAK);
    assert_true(has_reason(&g, "do not decide whether params_opt grows or shrinks"));
    assert_false(has_reason(&g, "reaches beyond"));
    fit_diagnostics_free(&g);
    fit_isoflop_free(&r);
    /* the C^0.5 trend, but budget 1e19 sampled from 0.7 to 4.2 x_opt on a flatter, noisier
     * parabola: its vertex is inside and its interval reaches below the samples */
    n = 0;
    for (int k = 0; k < 3; k++) {
        double C = 1e18 * pow(10, k);
        n = budget_points(x, y, b, n, k, C, 0.1 * sqrt(C), k == 1 ? 0.7 : 0.2, k == 1 ? 6 : 25, 8,
                          k == 1 ? 0.01 : 0.05, k == 1 ? 0.004 : 0.002);
    }
    assert_int_equal(fit_isoflop_fit(x, y, b, n, 0.05, 0.95, "params", &r, err, sizeof err), 0);
    assert_int_equal(r.budgets[1].bound, 0);
    assert_true(r.budgets[1].lo < r.budgets[1].x_min);
    assert_int_equal(fit_isoflop_diagnose(&r, NULL, &g, err, sizeof err), 0);
    print_diag(&g);
    assert_int_equal(g.verdict, FIT_VERDICT_WEAK);
    assert_true(has_reason(&g, "budget 1e+19: the optimum's interval"));
    assert_true(has_reason(&g, "reaches beyond the sampled params"));
    fit_diagnostics_free(&g);
    fit_isoflop_free(&r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clean_law_ok_and_optimum),
        cmocka_unit_test(test_plateau_unconstrained),
        cmocka_unit_test(test_negative_exponent_impossible),
        cmocka_unit_test(test_thresholds),
        cmocka_unit_test(test_state_moves),
        cmocka_unit_test(test_context_refuses_pooled_mixers),
        cmocka_unit_test(test_isoflop_vertices_outside),
        cmocka_unit_test(test_isoflop_sign_undecided),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
