/* fit/optimum: the compute-optimal point of a fitted law under C = 3 (W + S) tokens, W = 2 N.
 *
 * Method. Without an S column the law is a function of u = log N alone (D = C / (6 N)): a scan of
 * 512 points over N in [1, C/6] brackets the minimum, then Brent's method (gsl_min_fminimizer_brent)
 * refines it; stopping rule |bracket| < 1e-12 (1 + |u|) or 200 iterations. With an S column the
 * free variables are (log N, log S), D = C / (3 (2N + S)); Nelder-Mead (gsl nmsimplex2) starts from
 * the S-free optimum with S = W; stopping rule simplex size < 1e-10 or 5000 iterations. */
#include "fit/fit.h"

#include <gsl/gsl_errno.h>
#include <gsl/gsl_min.h>
#include <gsl/gsl_multimin.h>
#include <math.h>
#include <string.h>
#include <strings.h>

static const char *const form_names[] = {"powerlaw", "chinchilla", "additive", "isoflop"};

const char *fit_form_name(fit_form f) {
    return (unsigned)f < 4 ? form_names[f] : "?";
}

int fit_form_parse(const char *name, fit_form *f) {
    for (int i = 0; i < 4; i++)
        if (!strcmp(name, form_names[i])) {
            *f = (fit_form)i;
            return 0;
        }
    return -1;
}

fit_role fit_role_of(const char *col) {
    static const char *const n[] = {"params", "N", "parameter_count", "Model Size", "n_params"};
    static const char *const d[] = {"tokens", "D", "throughput/total_tokens", "Training Tokens"};
    static const char *const s[] = {"state_flops_per_token", "S"};
    for (size_t i = 0; i < sizeof n / sizeof *n; i++) if (!strcasecmp(col, n[i])) return FIT_ROLE_N;
    for (size_t i = 0; i < sizeof d / sizeof *d; i++) if (!strcasecmp(col, d[i])) return FIT_ROLE_D;
    for (size_t i = 0; i < sizeof s / sizeof *s; i++) if (!strcasecmp(col, s[i])) return FIT_ROLE_S;
    return FIT_ROLE_OTHER;
}

void fit_chinchilla_closed_form(double A, double alpha, double B, double beta, double C, double *N, double *D) {
    double G = pow(alpha * A / (beta * B), 1 / (alpha + beta));
    *N = G * pow(C / 6, beta / (alpha + beta));
    *D = C / (6 * *N);
}

typedef struct budget_law {
    const fit_law *law;
    int role_col[3]; /* column of N, D, S, or -1 */
    double C;
} budget_law;

static double loss_at(const budget_law *b, double u, double v) {
    double N = exp(u), S = b->role_col[2] >= 0 ? exp(v) : 0, x[FIT_MAX_TERMS];
    double D = b->C / (3 * (2 * N + S));
    x[b->role_col[0]] = N;
    x[b->role_col[1]] = D;
    if (b->role_col[2] >= 0) x[b->role_col[2]] = S;
    return fit_law_log_predict(b->law, x);
}

static double f1(double u, void *p) {
    return loss_at(p, u, 0);
}

static double f2(const gsl_vector *x, void *p) {
    return loss_at(p, gsl_vector_get(x, 0), gsl_vector_get(x, 1));
}

static int brent(const budget_law *b, double *u_opt, char *err, size_t errlen) {
    enum { NSCAN = 512 };
    double lo = 0, hi = log(b->C / 6), best = INFINITY;
    if (!(hi > lo)) return util_err(err, errlen, "budget %g is too small (C/6 < 1)", b->C);
    size_t ib = 0;
    double fs[NSCAN];
    for (size_t i = 0; i < NSCAN; i++) {
        fs[i] = f1(lo + (hi - lo) * (double)i / (NSCAN - 1), (void *)b);
        if (fs[i] < best) { best = fs[i]; ib = i; }
    }
    if (ib == 0 || ib == NSCAN - 1)
        return util_err(err, errlen, "the predicted loss has no interior minimum over N in [1, C/6] at C = %g", b->C);
    double a = lo + (hi - lo) * (double)(ib - 1) / (NSCAN - 1), z = lo + (hi - lo) * (double)(ib + 1) / (NSCAN - 1);
    double m = lo + (hi - lo) * (double)ib / (NSCAN - 1);
    gsl_function F = {f1, (void *)b};
    gsl_min_fminimizer *s = gsl_min_fminimizer_alloc(gsl_min_fminimizer_brent);
    if (!s) return util_err(err, errlen, "out of memory");
    gsl_set_error_handler_off(); /* statuses are checked; see fit_law_fit */
    int st = gsl_min_fminimizer_set_with_values(s, &F, m, fs[ib], a, fs[ib - 1], z, fs[ib + 1]);
    for (int it = 0; st == GSL_SUCCESS && it < 200; it++) {
        if ((st = gsl_min_fminimizer_iterate(s)) != GSL_SUCCESS) break;
        double l = gsl_min_fminimizer_x_lower(s), h = gsl_min_fminimizer_x_upper(s);
        if (gsl_min_test_interval(l, h, 1e-12, 1e-12) == GSL_SUCCESS) break;
    }
    *u_opt = gsl_min_fminimizer_x_minimum(s);
    gsl_min_fminimizer_free(s);
    /* a flat region can stop Brent early; the scan's point is the fallback */
    if (st != GSL_SUCCESS) *u_opt = m;
    return 0;
}

int fit_law_optimum(const fit_law *law, double C, fit_optimum *o, char *err, size_t errlen) {
    memset(o, 0, sizeof *o);
    o->closed_N = o->closed_D = NAN;
    if (!(C > 0) || !isfinite(C)) return util_err(err, errlen, "budget must be a positive number of FLOPs, not %g", C);
    budget_law b = {law, {-1, -1, -1}, C};
    if (law->form == FIT_CHINCHILLA) {
        b.role_col[0] = 0;
        b.role_col[1] = 1;
    } else {
        for (size_t j = 0; j < law->k; j++) {
            fit_role r = fit_role_of(law->cols[j] ? law->cols[j] : "");
            if (r == FIT_ROLE_OTHER || b.role_col[r] >= 0)
                return util_err(err, errlen,
                                "column '%s' of the fit is not one of N (params), D (tokens), S (state_flops_per_token) "
                                "or appears twice; the budget constraint cannot place it",
                                law->cols[j] ? law->cols[j] : "?");
            b.role_col[r] = (int)j;
        }
        if (b.role_col[0] < 0 || b.role_col[1] < 0)
            return util_err(err, errlen, "a compute optimum needs a fit in both N (params) and D (tokens)");
    }
    double u;
    int with_s = b.role_col[2] >= 0;
    if (!with_s) {
        if (brent(&b, &u, err, errlen)) return -1;
        o->S = 0;
    } else {
        /* S-free start: minimise over N with S = 0 dropped from the law is not defined, so start
         * from the balanced split S = W at the N that the scan of loss_at(u, log 2N) prefers. */
        double best = INFINITY, u0 = 0;
        for (int i = 0; i < 512; i++) {
            double uu = log(C / 6) * i / 511.0, f = loss_at(&b, uu, log(2) + uu);
            if (f < best) { best = f; u0 = uu; }
        }
        gsl_multimin_function F = {f2, 2, &b};
        gsl_vector *x = gsl_vector_alloc(2), *step = gsl_vector_alloc(2);
        gsl_multimin_fminimizer *s = gsl_multimin_fminimizer_alloc(gsl_multimin_fminimizer_nmsimplex2, 2);
        if (!x || !step || !s) {
            gsl_vector_free(x), gsl_vector_free(step);
            if (s) gsl_multimin_fminimizer_free(s);
            return util_err(err, errlen, "out of memory");
        }
        gsl_vector_set(x, 0, u0);
        gsl_vector_set(x, 1, log(2) + u0);
        gsl_vector_set_all(step, 1.0);
        gsl_multimin_fminimizer_set(s, &F, x, step);
        for (int it = 0; it < 5000; it++) {
            if (gsl_multimin_fminimizer_iterate(s) != GSL_SUCCESS) break;
            if (gsl_multimin_test_size(gsl_multimin_fminimizer_size(s), 1e-10) == GSL_SUCCESS) break;
        }
        u = gsl_vector_get(s->x, 0);
        o->S = exp(gsl_vector_get(s->x, 1));
        gsl_multimin_fminimizer_free(s);
        gsl_vector_free(x);
        gsl_vector_free(step);
    }
    o->N = exp(u);
    o->W = 2 * o->N;
    o->D = C / (3 * (o->W + o->S));
    o->wsfr = o->S > 0 ? o->W / o->S : NAN;
    o->loss = exp(loss_at(&b, u, o->S > 0 ? log(o->S) : 0));
    if (!with_s) {
        double A = exp(law->theta[1 + 2 * b.role_col[0]]), al = law->theta[2 + 2 * b.role_col[0]];
        double B = exp(law->theta[1 + 2 * b.role_col[1]]), be = law->theta[2 + 2 * b.role_col[1]];
        if (al > 0 && be > 0) fit_chinchilla_closed_form(A, al, B, be, C, &o->closed_N, &o->closed_D);
    }
    return 0;
}
