/* bench_fit: the issue 5 benchmark. A chinchilla fit of 250 points (drawn from Epoch's fitted
 * law on the Chinchilla runs' N and D ranges, 1% noise, fixed seed) from Hoffmann's 4,500-start
 * grid, then 1,000 bootstrap refits. Target: under 10 s in total on the 2-core box.
 * Peers measured in the same run: the same work on one thread, and the BFGS2 minimiser in place
 * of Levenberg-Marquardt. Every configuration must find the same optimum, with verdict ok (checked).
 * Each bootstrap replicate refits from the optimum and the next 4 polished ends (bootstrap_starts). */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>

#include "fit/fit.h"

static void synth(fit_data *d, size_t n) {
    gsl_rng *g = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(g, 2024);
    memset(d, 0, sizeof *d);
    d->n = n;
    d->k = 2;
    d->x = malloc(2 * n * sizeof *d->x);
    d->y = malloc(n * sizeof *d->y);
    d->compute = malloc(n * sizeof *d->compute);
    d->row = malloc(n * sizeof *d->row);
    d->cols = malloc(2 * sizeof *d->cols);
    d->cols[0] = strdup("N");
    d->cols[1] = strdup("D");
    d->ycol = strdup("loss");
    for (size_t i = 0; i < n; i++) {
        double N = pow(10, 7.8 + 2.4 * gsl_rng_uniform(g)), D = pow(10, 9 + 2.5 * gsl_rng_uniform(g));
        double L = 1.82 + 482.01 * pow(N, -0.3478) + 2085.43 * pow(D, -0.3658);
        d->x[2 * i] = N;
        d->x[2 * i + 1] = D;
        d->y[i] = L * (1 + 0.01 * gsl_ran_gaussian(g, 1));
        d->compute[i] = 6 * N * D;
        d->row[i] = i;
    }
    gsl_rng_free(g);
}

static int run(const fit_data *d, fit_method m, int threads, int bootstrap, const char *label, double *theta) {
    fit_options o;
    fit_options_default(&o);
    o.method = m;
    o.bootstrap = bootstrap;
    o.seed = 1;
    omp_set_num_threads(threads);
    fit_result r;
    char err[256];
    double t0 = util_monotonic();
    if (fit_law_fit(d, &o, &r, err, sizeof err)) {
        fprintf(stderr, "bench_fit: %s\n", err);
        return -1;
    }
    double t = util_monotonic() - t0;
    fit_diagnostics g;
    if (fit_law_diagnose(d, &r, NULL, &g, err, sizeof err)) {
        fprintf(stderr, "bench_fit: %s\n", err);
        fit_result_free(&r);
        return -1;
    }
    int ok = g.verdict == FIT_VERDICT_OK; /* the law is well inside the data: anything else is a bug */
    if (!ok) fprintf(stderr, "bench_fit: %s: verdict %s\n", label, fit_verdict_name(g.verdict));
    fit_diagnostics_free(&g);
    double nat[5];
    fit_law_natural(&r.law, r.law.theta, nat);
    printf("%-34s %2d thread(s) %5zu starts %5zu bootstrap  %7.2f s   E %.4f A %.1f alpha %.4f B %.1f beta %.4f  objective %.9g\n",
           label, threads, r.n_starts, r.n_boot, t, nat[0], nat[1], nat[2], nat[3], nat[4], r.objective);
    if (theta) memcpy(theta, r.law.theta, sizeof r.law.theta[0] * 5);
    fit_result_free(&r);
    return ok ? 0 : -1;
}

int main(void) {
    fit_data d;
    synth(&d, 250);
    int nt = omp_get_num_procs();
    double a[5], b[5], c[5];
    int rc = 0;
    rc |= run(&d, FIT_METHOD_LM, nt, 1000, "lm: grid + 1000 bootstrap (target)", a);
    rc |= run(&d, FIT_METHOD_LM, 1, 1000, "lm: grid + 1000 bootstrap (peer)", b);
    rc |= run(&d, FIT_METHOD_LM, nt, 0, "lm: grid only", NULL);
    rc |= run(&d, FIT_METHOD_BFGS2, nt, 0, "bfgs2: grid only (peer)", c);
    if (memcmp(a, b, sizeof a)) {
        fprintf(stderr, "bench_fit: thread count changed the result\n");
        rc = 1;
    }
    for (int j = 0; j < 5; j++)
        if (fabs(a[j] - c[j]) > 1e-3 * (1 + fabs(a[j]))) {
            fprintf(stderr, "bench_fit: lm and bfgs2 disagree on theta[%d]: %g vs %g\n", j, a[j], c[j]);
            rc = 1;
        }
    fit_data_free(&d);
    return rc;
}
