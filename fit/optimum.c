/* fit/optimum: the compute-optimal point of a fitted law under C = 3 (W + S) tokens.
 *
 * Cost. W and S per token come from a cost model (fit_cost): W(N) = w N^a, S(N) = s N^b, measured
 * by least squares in log-log space over the runs a fit came from, or assumed (W = k N, S = 0;
 * k = 2 is the C = 6 N D convention). Never W = 2 N silently: the caller says which it used.
 *
 * Method. Without an S column the law is a function of u = log N alone, D = C / (3 (W(N) + S(N))):
 * u ranges over [0, u_max], u_max where one token exhausts the budget (bisection, 200 halvings);
 * a scan of 512 points brackets the minimum, then Brent's method (gsl_min_fminimizer_brent)
 * refines it; stopping rule |bracket| < 1e-12 (1 + |u|) or 200 iterations. A scan minimum at
 * either end of the range is a bound, not an optimum: the loss still falls beyond what can be
 * searched, and the result says so (fit_optimum.bound). With an S column the free variables are
 * (log N, log S), D = C / (3 (W(N) + S)); Nelder-Mead (gsl nmsimplex2) starts from the best
 * point of a scan along S = W; stopping rule simplex size < 1e-10 or 5000 iterations; it is a
 * bound when it ends outside N in [1, u_max] or below one token. */
#include "fit/fit.h"

#include <gsl/gsl_errno.h>
#include <gsl/gsl_min.h>
#include <gsl/gsl_multimin.h>
#include <math.h>
#include <stdlib.h>
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
    static const char *const n[] = {"params", "N", "parameter_count", "Model Size", "n_params", "params_non_embedding"};
    static const char *const d[] = {"tokens", "D", "throughput/total_tokens", "Training Tokens"};
    static const char *const s[] = {"state_flops_per_token", "S"};
    static const char *const z[] = {"state_size", "state_dim"};
    for (size_t i = 0; i < sizeof n / sizeof *n; i++) if (!strcasecmp(col, n[i])) return FIT_ROLE_N;
    for (size_t i = 0; i < sizeof d / sizeof *d; i++) if (!strcasecmp(col, d[i])) return FIT_ROLE_D;
    for (size_t i = 0; i < sizeof s / sizeof *s; i++) if (!strcasecmp(col, s[i])) return FIT_ROLE_S;
    for (size_t i = 0; i < sizeof z / sizeof *z; i++) if (!strcasecmp(col, z[i])) return FIT_ROLE_STATE;
    return FIT_ROLE_OTHER;
}

void fit_cost_per_param(fit_cost *c, double k) {
    *c = (fit_cost){.w_coef = k, .w_exp = 1, .s_coef = 0, .s_exp = 0, .n_runs = 0};
}

int fit_cost_for_law(const fit_law *law, const double *params, const double *params_non_embedding, const double *W,
                     const double *S, size_t n, fit_cost *c, const char **n_col, char *err, size_t errlen) {
    /* N is whichever parameter count the law uses */
    int non_emb = 0;
    for (size_t j = 0; j < law->k; j++) non_emb |= law->cols[j] && !strcasecmp(law->cols[j], "params_non_embedding");
    *n_col = non_emb ? "params_non_embedding" : "params";
    return fit_cost_fit(non_emb ? params_non_embedding : params, W, S, n, c, err, errlen);
}

double fit_cost_w(const fit_cost *c, double N) {
    return c->w_coef * pow(N, c->w_exp);
}

double fit_cost_s(const fit_cost *c, double N) {
    return c->s_coef > 0 ? c->s_coef * pow(N, c->s_exp) : 0;
}

double fit_budget_tokens(double C, double W, double S) {
    return C / (3 * (W + S));
}

/* Least squares of y on x (slope, intercept); a constant x gives slope fixed_slope and the mean
 * of y - fixed_slope x as intercept. */
static void line_fit(const double *x, const double *y, size_t n, double fixed_slope, double *a, double *b) {
    double mx = 0, my = 0, sxx = 0, sxy = 0;
    for (size_t i = 0; i < n; i++) mx += x[i], my += y[i];
    mx /= (double)n, my /= (double)n;
    for (size_t i = 0; i < n; i++) sxx += (x[i] - mx) * (x[i] - mx), sxy += (x[i] - mx) * (y[i] - my);
    double span = 0;
    for (size_t i = 0; i < n; i++) span = fmax(span, fabs(x[i] - mx));
    *b = span < 1e-6 ? fixed_slope : sxy / sxx;
    *a = my - *b * mx;
}

int fit_cost_fit(const double *N, const double *W, const double *S, size_t n, fit_cost *c, char *err, size_t errlen) {
    double *lx = malloc(3 * (n ? n : 1) * sizeof *lx), *lw = lx + n, *ls = lw + n;
    if (!lx) return util_err(err, errlen, "out of memory");
    size_t m = 0, ms = 0;
    for (size_t i = 0; i < n; i++) {
        if (!(N[i] > 0 && W[i] > 0 && isfinite(N[i]) && isfinite(W[i]) && S[i] >= 0 && isfinite(S[i]))) continue;
        lx[m] = log(N[i]), lw[m] = log(W[i]);
        ms += S[i] > 0;
        m++;
    }
    if (!m) {
        free(lx);
        return util_err(err, errlen, "no run has positive, finite params and weight FLOPs to measure W(N) on");
    }
    double a, b;
    line_fit(lx, lw, m, 1, &a, &b);
    *c = (fit_cost){.w_coef = exp(a), .w_exp = b, .n_runs = m};
    if (ms) {
        /* S against N over the runs with a state: a state law's runs move S at fixed N, where the
         * constant fit (slope 0) is the honest summary */
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
            if (!(N[i] > 0 && W[i] > 0 && isfinite(N[i]) && isfinite(W[i]) && S[i] > 0 && isfinite(S[i]))) continue;
            lx[k] = log(N[i]), ls[k] = log(S[i]);
            k++;
        }
        line_fit(lx, ls, k, 0, &a, &b);
        c->s_coef = exp(a), c->s_exp = b;
    }
    free(lx);
    return 0;
}

void fit_chinchilla_closed_form(double A, double alpha, double B, double beta, double C, double *N, double *D) {
    double G = pow(alpha * A / (beta * B), 1 / (alpha + beta));
    *N = G * pow(C / 6, beta / (alpha + beta));
    *D = C / (6 * *N);
}

typedef struct budget_law {
    const fit_law *law;
    const fit_cost *cost;
    int role_col[3]; /* column of N, D, S, or -1 */
    double C;
} budget_law;

/* Tokens the budget buys at N (and at state FLOPs S when S is a column, else S(N)). */
static double tokens_at(const budget_law *b, double N, double S) {
    return fit_budget_tokens(b->C, fit_cost_w(b->cost, N), S);
}

static double loss_at(const budget_law *b, double u, double v) {
    double N = exp(u), S = b->role_col[2] >= 0 ? exp(v) : fit_cost_s(b->cost, N), x[FIT_MAX_TERMS];
    x[b->role_col[0]] = N;
    x[b->role_col[1]] = tokens_at(b, N, S);
    if (b->role_col[2] >= 0) x[b->role_col[2]] = S;
    return fit_law_log_predict(b->law, x);
}

static double f1(double u, void *p) {
    return loss_at(p, u, 0);
}

static double f2(const gsl_vector *x, void *p) {
    return loss_at(p, gsl_vector_get(x, 0), gsl_vector_get(x, 1));
}

/* The largest log N at which the budget still buys one token (S(N) included; with S a column,
 * S = 0 there). Bisection: the cost grows with N for any measured W (w_exp > 0). */
static double u_max_of(const budget_law *b) {
    int s_col = b->role_col[2] >= 0;
    double lo = 0, hi = 1;
    while (hi < 700 && tokens_at(b, exp(hi), s_col ? 0 : fit_cost_s(b->cost, exp(hi))) >= 1) lo = hi, hi *= 2;
    for (int i = 0; i < 200; i++) {
        double m = 0.5 * (lo + hi);
        if (tokens_at(b, exp(m), s_col ? 0 : fit_cost_s(b->cost, exp(m))) >= 1) lo = m;
        else hi = m;
    }
    return lo;
}

static int brent(const budget_law *b, double hi, double *u_opt, int *bound) {
    enum { NSCAN = 512 };
    double lo = 0, best = INFINITY;
    size_t ib = 0;
    double fs[NSCAN];
    for (size_t i = 0; i < NSCAN; i++) {
        fs[i] = f1(lo + (hi - lo) * (double)i / (NSCAN - 1), (void *)b);
        if (fs[i] < best) { best = fs[i]; ib = i; }
    }
    *bound = 0;
    if (ib == 0 || ib == NSCAN - 1) {
        *bound = ib == 0 ? -1 : 1;
        *u_opt = ib == 0 ? lo : hi;
        return 0;
    }
    double a = lo + (hi - lo) * (double)(ib - 1) / (NSCAN - 1), z = lo + (hi - lo) * (double)(ib + 1) / (NSCAN - 1);
    double m = lo + (hi - lo) * (double)ib / (NSCAN - 1);
    gsl_function F = {f1, (void *)b};
    gsl_min_fminimizer *s = gsl_min_fminimizer_alloc(gsl_min_fminimizer_brent);
    if (!s) return -1;
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

int fit_law_optimum_cost(const fit_law *law, double C, const fit_cost *cost, fit_optimum *o, char *err,
                         size_t errlen) {
    memset(o, 0, sizeof *o);
    o->closed_N = o->closed_D = NAN;
    if (!(C > 0) || !isfinite(C)) return util_err(err, errlen, "budget must be a positive number of FLOPs, not %g", C);
    if (!(cost->w_coef > 0) || !(cost->w_exp > 0) || !isfinite(cost->w_coef) || !isfinite(cost->w_exp))
        return util_err(err, errlen, "the weight FLOPs model W = %g N^%g does not grow with N", cost->w_coef,
                        cost->w_exp);
    budget_law b = {law, cost, {-1, -1, -1}, C};
    if (law->form == FIT_CHINCHILLA) {
        b.role_col[0] = 0;
        b.role_col[1] = 1;
    } else {
        for (size_t j = 0; j < law->k; j++) {
            fit_role r = fit_role_of(law->cols[j] ? law->cols[j] : "");
            if (r == FIT_ROLE_STATE)
                return util_err(err, errlen,
                                "column '%s' is a state capacity: its cost is the state FLOPs of a concrete config, so "
                                "the optimum needs a family (--family) to map the state to a configuration",
                                law->cols[j]);
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
    int with_s = b.role_col[2] >= 0;
    if (tokens_at(&b, 1, with_s ? 0 : fit_cost_s(cost, 1)) < 1)
        return util_err(err, errlen, "budget %g is too small: one parameter cannot see one token", C);
    double u, umax = u_max_of(&b);
    o->N_lo = 1, o->N_hi = exp(umax);
    if (!with_s) {
        if (brent(&b, umax, &u, &o->bound)) return util_err(err, errlen, "out of memory");
        o->S = fit_cost_s(cost, exp(u));
    } else {
        double best = INFINITY, u0 = 0;
        for (int i = 0; i < 512; i++) {
            double uu = umax * i / 511.0, f = loss_at(&b, uu, log(fit_cost_w(cost, exp(uu))));
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
        gsl_vector_set(x, 1, log(fit_cost_w(cost, exp(u0))));
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
        if (u < 0) o->bound = -1;
        else if (u > umax || tokens_at(&b, exp(u), o->S) < 1) o->bound = 1;
    }
    o->N = exp(u);
    o->W = fit_cost_w(cost, o->N);
    o->D = fit_budget_tokens(C, o->W, o->S);
    o->wsfr = o->S > 0 ? o->W / o->S : NAN;
    o->loss = exp(loss_at(&b, u, o->S > 0 ? log(o->S) : 0));
    /* the closed form holds where the cost is linear in N and stateless: C = 3 k N D */
    if (!with_s && cost->s_coef == 0 && cost->w_exp == 1) {
        double A = exp(law->theta[1 + 2 * b.role_col[0]]), al = law->theta[2 + 2 * b.role_col[0]];
        double B = exp(law->theta[1 + 2 * b.role_col[1]]), be = law->theta[2 + 2 * b.role_col[1]];
        if (al > 0 && be > 0)
            fit_chinchilla_closed_form(A, al, B, be, C * 2 / cost->w_coef, &o->closed_N, &o->closed_D);
        o->closed_D = C / (3 * cost->w_coef * o->closed_N);
    }
    return 0;
}

int fit_isoflop_optimum(const fit_law *law, double C, const fit_cost *cost, fit_optimum *o, char *err,
                        size_t errlen) {
    double x = exp(law->theta[0]) * pow(C, law->theta[1]);
    memset(o, 0, sizeof *o);
    o->closed_N = o->closed_D = o->loss = o->wsfr = NAN;
    if (!(C > 0) || !isfinite(C)) return util_err(err, errlen, "budget must be a positive number of FLOPs, not %g", C);
    fit_role r = fit_role_of(law->cols[0] ? law->cols[0] : "");
    if (r == FIT_ROLE_N) {
        o->N = x;
    } else if (r == FIT_ROLE_D) {
        /* the N whose cost spends C on x tokens (the cost grows with N) */
        double lo = -50, hi = 200;
        for (int i = 0; i < 200; i++) {
            double m = 0.5 * (lo + hi), N = exp(m);
            if (fit_budget_tokens(C, fit_cost_w(cost, N), fit_cost_s(cost, N)) > x) lo = m;
            else hi = m;
        }
        o->N = exp(lo);
    } else if (law->cols[0] && !strcasecmp(law->cols[0], "wsfr")) {
        o->N = o->D = o->W = NAN;
        o->wsfr = x;
        return 0;
    } else {
        return util_err(err, errlen, "isoflop fit in '%s': not N, D or wsfr", law->cols[0] ? law->cols[0] : "?");
    }
    o->W = fit_cost_w(cost, o->N), o->S = fit_cost_s(cost, o->N);
    o->D = r == FIT_ROLE_D ? x : fit_budget_tokens(C, o->W, o->S);
    o->wsfr = o->S > 0 ? o->W / o->S : NAN;
    return 0;
}

int fit_law_optimum(const fit_law *law, double C, fit_optimum *o, char *err, size_t errlen) {
    fit_cost c;
    fit_cost_per_param(&c, 2);
    if (fit_law_optimum_cost(law, C, &c, o, err, errlen)) return -1;
    if (o->bound)
        return util_err(err, errlen, "the predicted loss has no interior minimum over N in [1, %g] at C = %g", o->N_hi, C);
    return 0;
}
