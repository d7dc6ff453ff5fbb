/* fit/law: the powerlaw, chinchilla and additive forms.
 *
 * Method. theta = (e, a_1, alpha_1, ..., a_k, alpha_k); log L_pred = LSE(e, a_i - alpha_i log x_i),
 * computed with the max subtracted so no term overflows.
 * Constraints by construction (DESIGN.md section 6): the minimisers never see theta but raw
 * variables z = (u, a_1, v_1, ..., a_k, v_k) with E = Lmin sigmoid(u), A_i = exp(a_i) and
 * alpha_i = FIT_EXPONENT_MAX sigmoid(v_i), Lmin the smallest loss among the points being fitted
 * (per bootstrap replicate too). So every law found has E in [0, Lmin), A_i >= 0 and every exponent
 * in (0, FIT_EXPONENT_MAX = 3]: a law with a negative exponent or a floor above the data cannot be
 * returned, whatever the data. Gradient and Jacobian are the theta ones times the diagonal
 * d theta / d z (chain rule). A grid start theta maps to z with clamping: E/Lmin into
 * [FIT_START_E_MIN, FIT_START_E_MAX], alpha into [FIT_START_ALPHA_MIN, FIT_EXPONENT_MAX (1 - 1e-3)].
 * A parameter that wants to leave its range drives its sigmoid into saturation, where its
 * derivative vanishes and the minimiser stops; fit_law_diagnose reports it as at a bound. The default objective is the SUM over
 * points of Huber_delta(log L_pred - log L_obs) (Hoffmann et al. 2022, Approach 3; Besiroglu et
 * al. 2024); --loss l2 is sum (L_pred - L_obs)^2 in loss space. Both have analytic gradients.
 * Minimiser (method): lm (default) is Levenberg-Marquardt, gsl_multifit_nlinear trust region with
 * the Cholesky solver, on residuals whose squares reproduce the objective (sqrt-Huber); stopping
 * rule: GSL's test with xtol 1e-10, gtol 1e-12, ftol 1e-14, or the iteration cap. bfgs2 is
 * gsl_multimin vector_bfgs2 on the objective and its gradient (initial step 0.01, line-search tol
 * 0.1); stopping rule |gradient|_2 < grad_tol, or no further progress (GSL_ENOPROG, at the optimum
 * to rounding or at a Huber kink), or the iteration cap.
 * Multi-start: every grid start gets screen_iter iterations; the best `polish` screened starts
 * run on to max_iter. The lowest final objective wins; ties go to the earliest start, so the
 * result does not depend on the number of OpenMP threads.
 *
 * Bootstrap: replicate r resamples the n points with replacement from its own generator
 * (MT19937 seeded from seed and r), and refits (to max_iter) from the full-data optimum and from
 * where the next bootstrap_starts best polished starts ended on the full data. Intervals are percentile intervals. */
#include "fit/fit.h"

#include <gsl/gsl_errno.h>
#include <gsl/gsl_multifit_nlinear.h>
#include <gsl/gsl_multimin.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void fit_options_default(fit_options *o) {
    memset(o, 0, sizeof *o);
    o->form = FIT_CHINCHILLA;
    o->method = FIT_METHOD_LM;
    o->loss = FIT_LOSS_HUBER;
    o->delta = 1e-3;
    fit_grid_hoffmann(&o->grid);
    o->screen_iter = 30;
    o->polish = 8;
    o->max_iter = 1000;
    o->grad_tol = 1e-10;
    o->seed = 0;
    o->level = 0.95;
    o->bootstrap_starts = 4;
}

/* Points in the form the objective wants: logs precomputed once. */
typedef struct law_pts {
    size_t n, k;
    const double *lx, *ly, *y; /* n*k, n, n */
    fit_loss loss;
    double delta;
    double log_lmin;           /* log of the ceiling of E (just below the smallest y) */
} law_pts;

/* The raw variables are read clamped to +-RAW_LIMIT (sigmoid(-40) = 4e-18): beyond it a sigmoid
 * would round to 0 or 1 and give an exponent of exactly 0; the objective is flat there (zero
 * derivative), which a minimiser sees as a bound. E's ceiling sits E_MARGIN below the smallest
 * loss so that a sigmoid rounded to 1 still leaves E < Lmin. */
#define RAW_LIMIT 40.0
#define E_MARGIN 1e-9

/* log sigmoid(t) without overflow or cancellation at either tail. */
static double log_sigmoid(double t) {
    return t >= 0 ? -log1p(exp(-t)) : t - log1p(exp(t));
}
static double sigmoid(double t) {
    return t >= 0 ? 1 / (1 + exp(-t)) : exp(t) / (1 + exp(t));
}
static double logit(double q) {
    return log(q / (1 - q));
}

/* theta from the raw variables z, and the diagonal d theta / d z (jac may be NULL). */
static void raw_to_theta(const law_pts *p, const double *z, double *theta, double *jac) {
    double u = fmax(-RAW_LIMIT, fmin(RAW_LIMIT, z[0]));
    theta[0] = p->log_lmin + log_sigmoid(u);
    if (jac) jac[0] = u == z[0] ? sigmoid(-u) : 0; /* d log sigmoid(u) / du = 1 - sigmoid(u) */
    for (size_t j = 0; j < p->k; j++) {
        double v = fmax(-RAW_LIMIT, fmin(RAW_LIMIT, z[2 + 2 * j])), s = sigmoid(v);
        theta[1 + 2 * j] = z[1 + 2 * j];
        theta[2 + 2 * j] = FIT_EXPONENT_MAX * s;
        if (jac) {
            jac[1 + 2 * j] = 1;
            jac[2 + 2 * j] = v == z[2 + 2 * j] ? FIT_EXPONENT_MAX * s * (1 - s) : 0;
        }
    }
}

/* A start theta in raw variables, clamped into the open ranges (an E start at or above Lmin
 * starts just below it, an exponent start of 0 starts small and positive). */
static void theta_to_raw(const law_pts *p, const double *theta, double *z) {
    double q = exp(theta[0] - p->log_lmin);
    if (!(q >= FIT_START_E_MIN)) q = FIT_START_E_MIN;
    if (q > FIT_START_E_MAX) q = FIT_START_E_MAX;
    z[0] = logit(q);
    for (size_t j = 0; j < p->k; j++) {
        double al = theta[2 + 2 * j];
        if (!(al >= FIT_START_ALPHA_MIN)) al = FIT_START_ALPHA_MIN;
        if (al > FIT_EXPONENT_MAX * (1 - 1e-3)) al = FIT_EXPONENT_MAX * (1 - 1e-3);
        z[1 + 2 * j] = theta[1 + 2 * j];
        z[2 + 2 * j] = logit(al / FIT_EXPONENT_MAX);
    }
}

static double lse_terms(const double *theta, const double *lx, size_t k, double *w) {
    double t[FIT_MAX_TERMS + 1], m = theta[0];
    t[0] = theta[0];
    for (size_t j = 0; j < k; j++) {
        t[j + 1] = theta[1 + 2 * j] - theta[2 + 2 * j] * lx[j];
        if (t[j + 1] > m) m = t[j + 1];
    }
    double s = 0;
    for (size_t j = 0; j <= k; j++) s += (w[j] = exp(t[j] - m));
    for (size_t j = 0; j <= k; j++) w[j] /= s;
    return m + log(s);
}

static double pts_objective(const law_pts *p, const double *theta, double *grad) {
    size_t np = 1 + 2 * p->k;
    double f = 0, w[FIT_MAX_TERMS + 1];
    if (grad) memset(grad, 0, np * sizeof *grad);
    for (size_t i = 0; i < p->n; i++) {
        const double *lx = p->lx + i * p->k;
        double lse = lse_terms(theta, lx, p->k, w), g;
        if (p->loss == FIT_LOSS_HUBER) {
            double r = lse - p->ly[i], ar = fabs(r);
            if (ar <= p->delta) { f += 0.5 * r * r; g = r; }
            else { f += p->delta * (ar - 0.5 * p->delta); g = r > 0 ? p->delta : -p->delta; }
        } else {
            double pred = exp(lse), r = pred - p->y[i];
            f += r * r;
            g = 2 * r * pred; /* d f / d lse */
        }
        if (!grad) continue;
        grad[0] += g * w[0];
        for (size_t j = 0; j < p->k; j++) {
            grad[1 + 2 * j] += g * w[j + 1];
            grad[2 + 2 * j] -= g * w[j + 1] * lx[j];
        }
    }
    return f;
}

/* The objective as a function of the raw variables z, gradient by the chain rule. */
static double raw_objective(const law_pts *p, const double *z, double *grad) {
    double theta[FIT_MAX_PARAMS], jac[FIT_MAX_PARAMS];
    raw_to_theta(p, z, theta, grad ? jac : NULL);
    double f = pts_objective(p, theta, grad);
    if (grad)
        for (size_t j = 0; j < 1 + 2 * p->k; j++) grad[j] *= jac[j];
    return f;
}

static double gsl_f(const gsl_vector *v, void *params) {
    return raw_objective(params, v->data, NULL);
}
static void gsl_df(const gsl_vector *v, void *params, gsl_vector *g) {
    raw_objective(params, v->data, g->data);
}
static void gsl_fdf(const gsl_vector *v, void *params, double *f, gsl_vector *g) {
    *f = raw_objective(params, v->data, g->data);
}

/* Minimises from raw z (updated in place); returns the final objective, *converged 1 when the
 * gradient test passed (the gradient in z). */
static double minimise(const law_pts *p, double *theta, int max_iter, double grad_tol, int *converged) {
    size_t np = 1 + 2 * p->k;
    gsl_multimin_function_fdf fn = {gsl_f, gsl_df, gsl_fdf, np, (void *)p};
    gsl_vector_view x0 = gsl_vector_view_array(theta, np);
    gsl_multimin_fdfminimizer *m = gsl_multimin_fdfminimizer_alloc(gsl_multimin_fdfminimizer_vector_bfgs2, np);
    *converged = 0;
    double f0 = raw_objective(p, theta, NULL);
    if (!m || !isfinite(f0)) {
        if (m) gsl_multimin_fdfminimizer_free(m);
        return isfinite(f0) ? f0 : INFINITY;
    }
    gsl_multimin_fdfminimizer_set(m, &fn, &x0.vector, 0.01, 0.1);
    for (int it = 0; it < max_iter; it++) {
        if (gsl_multimin_test_gradient(m->gradient, grad_tol) == GSL_SUCCESS) { *converged = 1; break; }
        if (gsl_multimin_fdfminimizer_iterate(m) != GSL_SUCCESS) break;
    }
    if (!*converged && gsl_multimin_test_gradient(m->gradient, grad_tol) == GSL_SUCCESS) *converged = 1;
    double f = m->f;
    if (isfinite(f)) memcpy(theta, m->x->data, np * sizeof *theta);
    else f = INFINITY;
    gsl_multimin_fdfminimizer_free(m);
    return f;
}

/* One thread's Levenberg-Marquardt state. GSL evaluates the Jacobian at the point whose
 * residuals it last computed, so lm_f keeps each point's LSE weights and chain-rule factor and
 * lm_df reuses them when x is unchanged (half the exp/log work). */
typedef struct lm_work {
    gsl_multifit_nlinear_workspace *w;
    const law_pts *p;
    double *cache;   /* n * (k + 2): weights w_0..w_k, then d f_i / d lse_i */
    double x[FIT_MAX_PARAMS];   /* the raw z of the cache */
    double jac[FIT_MAX_PARAMS]; /* d theta / d z there */
    int valid;
} lm_work;

/* Residuals whose squares reproduce the objective: sqrt-Huber, f = r inside delta and
 * sign(r) sqrt(delta (2|r| - delta)) outside, so 0.5 sum f^2 = sum Huber(r); for l2, f = L_pred - L_obs
 * (0.5 sum f^2 = half the l2 objective, the same minimiser). Jacobian by the chain rule. */
static int lm_f(const gsl_vector *v, void *params, gsl_vector *f) {
    lm_work *lw = params;
    const law_pts *p = lw->p;
    size_t stride = p->k + 2;
    double theta[FIT_MAX_PARAMS];
    raw_to_theta(p, v->data, theta, lw->jac);
    for (size_t i = 0; i < p->n; i++) {
        double *c = lw->cache + i * stride;
        double lse = lse_terms(theta, p->lx + i * p->k, p->k, c);
        double r = lse - p->ly[i], ar = fabs(r);
        if (p->loss == FIT_LOSS_L2) {
            double pred = exp(lse);
            r = pred - p->y[i];
            c[p->k + 1] = pred;
        } else if (ar > p->delta) {
            r = copysign(sqrt(p->delta * (2 * ar - p->delta)), r);
            c[p->k + 1] = p->delta / fabs(r);
        } else {
            c[p->k + 1] = 1;
        }
        gsl_vector_set(f, i, r);
    }
    memcpy(lw->x, v->data, (1 + 2 * p->k) * sizeof(double));
    lw->valid = 1;
    return GSL_SUCCESS;
}

static int lm_df(const gsl_vector *v, void *params, gsl_matrix *J) {
    lm_work *lw = params;
    const law_pts *p = lw->p;
    size_t stride = p->k + 2;
    if (!lw->valid || memcmp(lw->x, v->data, (1 + 2 * p->k) * sizeof(double))) {
        gsl_vector *f = gsl_vector_alloc(p->n);
        if (!f) return GSL_ENOMEM;
        lm_f(v, params, f);
        gsl_vector_free(f);
    }
    for (size_t i = 0; i < p->n; i++) {
        const double *lx = p->lx + i * p->k, *c = lw->cache + i * stride;
        double sc = c[p->k + 1], *row = J->data + i * J->tda;
        const double *jz = lw->jac;
        row[0] = sc * c[0] * jz[0];
        for (size_t j = 0; j < p->k; j++) {
            row[1 + 2 * j] = sc * c[j + 1] * jz[1 + 2 * j];
            row[2 + 2 * j] = -sc * c[j + 1] * lx[j] * jz[2 + 2 * j];
        }
    }
    return GSL_SUCCESS;
}

/* Levenberg-Marquardt (gsl_multifit_nlinear, trust region, GSL's default lm parameters with the
 * Cholesky solver) from theta; stopping rule: GSL's test with xtol 1e-10, gtol 1e-12, ftol 1e-14,
 * or max_iter. Returns the objective at the end. */
static double minimise_lm(const law_pts *p, lm_work *lw, double *theta, int max_iter, int *converged) {
    size_t np = 1 + 2 * p->k;
    lw->p = p;
    lw->valid = 0;
    gsl_multifit_nlinear_fdf fdf = {lm_f, lm_df, NULL, p->n, np, lw, 0, 0, 0};
    gsl_vector_view x0 = gsl_vector_view_array(theta, np);
    *converged = 0;
    if (!isfinite(raw_objective(p, theta, NULL))) return INFINITY;
    if (gsl_multifit_nlinear_init(&x0.vector, &fdf, lw->w) != GSL_SUCCESS) return INFINITY;
    int info = 0;
    int st = gsl_multifit_nlinear_driver((size_t)max_iter, 1e-10, 1e-12, 1e-14, NULL, NULL, &info, lw->w);
    /* GSL's driver reports "no step reduced the cost on the first iteration" as GSL_EMAXITER with
     * info GSL_ENOPROG: the start is already a minimum to rounding (a polish from a screened start
     * that had converged). That counts as converged, like the xtol/gtol/ftol tests. */
    *converged = st == GSL_SUCCESS || (st == GSL_EMAXITER && info == GSL_ENOPROG);
    const gsl_vector *x = gsl_multifit_nlinear_position(lw->w);
    double f = raw_objective(p, x->data, NULL);
    if (!isfinite(f)) return INFINITY;
    memcpy(theta, x->data, np * sizeof *theta);
    return f;
}

/* NULL for bfgs2 (no state) and on allocation failure (run_min then reports an infinite objective). */
static lm_work *lm_alloc(const fit_options *o, size_t n, size_t k) {
    if (o->method != FIT_METHOD_LM) return NULL;
    gsl_multifit_nlinear_parameters prm = gsl_multifit_nlinear_default_parameters();
    prm.solver = gsl_multifit_nlinear_solver_cholesky; /* p <= 13 columns: normal equations are cheap */
    lm_work *lw = calloc(1, sizeof *lw);
    if (!lw) return NULL;
    lw->w = gsl_multifit_nlinear_alloc(gsl_multifit_nlinear_trust, &prm, n, 1 + 2 * k);
    lw->cache = malloc(n * (k + 2) * sizeof *lw->cache);
    if (!lw->w || !lw->cache) {
        if (lw->w) gsl_multifit_nlinear_free(lw->w);
        free(lw->cache);
        free(lw);
        return NULL;
    }
    return lw;
}

static void lm_free(lm_work *lw) {
    if (!lw) return;
    gsl_multifit_nlinear_free(lw->w);
    free(lw->cache);
    free(lw);
}

static double run_min(const law_pts *p, lm_work *lw, const fit_options *o, int max_iter, double *theta,
                      int *converged) {
    if (o->method == FIT_METHOD_BFGS2) return minimise(p, theta, max_iter, o->grad_tol, converged);
    *converged = 0;
    return lw ? minimise_lm(p, lw, theta, max_iter, converged) : INFINITY;
}

void fit_grid_hoffmann(fit_grid *g) {
    *g = (fit_grid){{-1, 1, 0.5}, {0, 25, 5}, {0, 2, 0.5}};
}

static size_t axis_n(const double *a) {
    return (size_t)floor((a[1] - a[0]) / a[2] + 1e-9) + 1;
}

size_t fit_grid_size(const fit_grid *g, size_t k) {
    size_t n = axis_n(g->e), per = axis_n(g->a) * axis_n(g->alpha);
    for (size_t j = 0; j < k; j++) n *= per;
    return n;
}

static void grid_start(const fit_grid *g, size_t k, size_t s, double *theta) {
    size_t na = axis_n(g->a), nal = axis_n(g->alpha);
    for (size_t j = k; j-- > 0;) {
        theta[2 + 2 * j] = g->alpha[0] + (double)(s % nal) * g->alpha[2];
        s /= nal;
        theta[1 + 2 * j] = g->a[0] + (double)(s % na) * g->a[2];
        s /= na;
    }
    theta[0] = g->e[0] + (double)s * g->e[2];
}

int fit_grid_parse(const char *spec, fit_grid *g, char *err, size_t errlen) {
    const char *p = spec;
    while (*p) {
        char key[16];
        double lo, hi, step;
        int used = 0;
        if (sscanf(p, "%15[a-z]=%lf:%lf:%lf%n", key, &lo, &hi, &step, &used) != 4)
            return util_err(err, errlen, "grid '%s': expected KEY=LO:HI:STEP[,...] with KEY e, a or alpha", spec);
        double *axis = !strcmp(key, "e") ? g->e : !strcmp(key, "a") ? g->a : !strcmp(key, "alpha") ? g->alpha : NULL;
        if (!axis) return util_err(err, errlen, "grid '%s': unknown key '%s' (e, a, alpha)", spec, key);
        if (!(step > 0) || hi < lo || !isfinite(lo) || !isfinite(hi))
            return util_err(err, errlen, "grid '%s': %s needs LO <= HI and STEP > 0", spec, key);
        axis[0] = lo, axis[1] = hi, axis[2] = step;
        p += used;
        if (*p == ',') p++;
        else if (*p) return util_err(err, errlen, "grid '%s': unexpected '%c'", spec, *p);
    }
    return 0;
}

double fit_law_log_predict(const fit_law *law, const double *x) {
    double lx[FIT_MAX_TERMS], w[FIT_MAX_TERMS + 1];
    for (size_t j = 0; j < law->k; j++) lx[j] = log(x[j]);
    return lse_terms(law->theta, lx, law->k, w);
}

double fit_law_log_predict_grad(const fit_law *law, const double *x, double *grad) {
    double lx[FIT_MAX_TERMS] = {0}, w[FIT_MAX_TERMS + 1];
    for (size_t j = 0; j < law->k; j++) lx[j] = log(x[j]);
    double lse = lse_terms(law->theta, lx, law->k, w);
    grad[0] = w[0];
    for (size_t j = 0; j < law->k; j++) {
        grad[1 + 2 * j] = w[j + 1];
        grad[2 + 2 * j] = -w[j + 1] * lx[j];
    }
    return lse;
}

double fit_law_predict(const fit_law *law, const double *x) {
    return exp(fit_law_log_predict(law, x));
}

typedef struct pts_store {
    double *lx, *ly, *y;
} pts_store;

static int pts_make(const fit_data *d, const size_t *idx, size_t n, const fit_options *o, law_pts *p,
                    pts_store *s) {
    s->lx = malloc((n ? n : 1) * d->k * sizeof *s->lx);
    s->ly = malloc((n ? n : 1) * sizeof *s->ly);
    s->y = malloc((n ? n : 1) * sizeof *s->y);
    if (!s->lx || !s->ly || !s->y) return -1;
    double lmin = INFINITY;
    for (size_t i = 0; i < n; i++) {
        size_t r = idx ? idx[i] : i;
        for (size_t j = 0; j < d->k; j++) s->lx[i * d->k + j] = log(d->x[r * d->k + j]);
        s->ly[i] = log(d->y[r]);
        s->y[i] = d->y[r];
        if (d->y[r] < lmin) lmin = d->y[r];
    }
    *p = (law_pts){n, d->k, s->lx, s->ly, s->y, o->loss, o->delta, log(lmin) + log1p(-E_MARGIN)};
    return 0;
}

static void pts_free(pts_store *s) {
    free(s->lx);
    free(s->ly);
    free(s->y);
}

double fit_objective(const fit_data *d, const double *theta, fit_loss loss, double delta, double *grad) {
    fit_options o;
    fit_options_default(&o);
    o.loss = loss;
    o.delta = delta;
    law_pts p;
    pts_store s;
    double f = NAN;
    if (!pts_make(d, NULL, d->n, &o, &p, &s)) f = pts_objective(&p, theta, grad);
    pts_free(&s);
    return f;
}

typedef struct start_end {
    double f;
    size_t start;
    int conv;       /* the minimiser's stopping test passed */
} start_end;

/* A polished start counts as converged when its minimiser's stopping test passed or it ended on
 * the optimum's objective (within SAME_OPTIMUM relative): BFGS2 ends at the optimum with no
 * further progress possible to rounding (GSL_ENOPROG) and a gradient near 1e-7, never under
 * grad_tol, yet it has found the minimum every other start found. */
#define SAME_OPTIMUM 1e-6
static size_t count_converged(const start_end *ends, size_t n) {
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += ends[i].conv || ends[i].f - ends[0].f <= SAME_OPTIMUM * fabs(ends[0].f) + 1e-300;
    return c;
}

static int by_f(const void *a, const void *b) {
    const start_end *x = a, *y = b;
    if (x->f != y->f) return x->f < y->f ? -1 : 1;
    return x->start < y->start ? -1 : x->start > y->start;
}

static uint64_t splitmix64(uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

void fit_result_free(fit_result *r) {
    if (!r) return;
    fit_law_free(&r->law);
    free(r->boot);
    free(r->holdout_row);
    free(r->holdout_obs);
    free(r->holdout_pred);
    memset(r, 0, sizeof *r);
}

void fit_law_free(fit_law *law) {
    for (size_t j = 0; j < FIT_MAX_TERMS; j++) free(law->cols[j]);
    memset(law->cols, 0, sizeof law->cols);
}

static int by_compute_desc(const void *a, const void *b, void *ctx) {
    const double *c = ctx;
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    if (c[i] != c[j]) return c[i] > c[j] ? -1 : 1;
    return i < j ? -1 : i > j;
}

int fit_law_fit(const fit_data *d, const fit_options *o, fit_result *r, char *err, size_t errlen) {
    /* GSL aborts the process on a numerical failure (a singular Jacobian from a bad
     * start) unless its handler is off; every status here is checked, so turn it
     * off (process-wide and idempotent: nothing turns it back on). */
    gsl_set_error_handler_off();
    memset(r, 0, sizeof *r);
    size_t k = d->k, np = 1 + 2 * k;
    if (o->form == FIT_ISOFLOP) return util_err(err, errlen, "isoflop is fitted by fit_isoflop_fit");
    if (o->form == FIT_POWERLAW && k != 1) return util_err(err, errlen, "powerlaw takes one x column, not %zu", k);
    if (o->form == FIT_CHINCHILLA && k != 2) return util_err(err, errlen, "chinchilla takes two x columns (N, D), not %zu", k);
    if (!(o->delta > 0)) return util_err(err, errlen, "Huber delta must be positive");
    if (fit_data_check(d, np + o->holdout_top, err, errlen)) return -1;
    size_t n_grid = fit_grid_size(&o->grid, k);
    if (n_grid == 0 || n_grid > 50000000) return util_err(err, errlen, "grid of %zu starts; choose a coarser --grid", n_grid);

    /* Points to fit: all, or all but the holdout_top largest-compute ones. */
    size_t *order = malloc(d->n * sizeof *order);
    start_end *ends = malloc(n_grid * sizeof *ends);
    double *thetas = malloc(n_grid * np * sizeof *thetas);
    pts_store ps = {0};
    law_pts p;
    int rc = -1;
    if (!order || !ends || !thetas) { util_err(err, errlen, "out of memory"); goto out; }
    for (size_t i = 0; i < d->n; i++) order[i] = i;
    qsort_r(order, d->n, sizeof *order, by_compute_desc, d->compute);
    size_t nh = o->holdout_top, nf = d->n - nh;
    const size_t *fit_idx = order + nh;
    if (pts_make(d, fit_idx, nf, o, &p, &ps)) { util_err(err, errlen, "out of memory"); goto out; }

    /* Screening: every start for screen_iter iterations; polishing: the best `polish` of them
     * (by screened objective, ties to the earlier start) run on to max_iter from where they stopped. */
    int screen = o->screen_iter > 0 && o->screen_iter < o->max_iter && o->polish > 0;
    size_t n_polish = screen ? ((size_t)o->polish < n_grid ? (size_t)o->polish : n_grid) : n_grid;
#pragma omp parallel
    {
        lm_work *w = lm_alloc(o, nf, k);
#pragma omp for schedule(dynamic, 16)
        for (size_t s = 0; s < n_grid; s++) {
            double *th = thetas + s * np, t0[FIT_MAX_PARAMS]; /* thetas hold raw z */
            grid_start(&o->grid, k, s, t0);
            theta_to_raw(&p, t0, th);
            ends[s].f = run_min(&p, w, o, screen ? o->screen_iter : o->max_iter, th, &ends[s].conv);
            ends[s].start = s;
        }
        if (screen) {
#pragma omp single
            qsort(ends, n_grid, sizeof *ends, by_f);
#pragma omp for schedule(dynamic, 1)
            for (size_t i = 0; i < n_polish; i++)
                ends[i].f = run_min(&p, w, o, o->max_iter, thetas + ends[i].start * np, &ends[i].conv);
        }
        lm_free(w);
    }
    qsort(ends, n_polish, sizeof *ends, by_f);
    if (!isfinite(ends[0].f)) { util_err(err, errlen, "no start reached a finite objective"); goto out; }
    r->law.form = o->form;
    r->law.k = k;
    raw_to_theta(&p, thetas + ends[0].start * np, r->law.theta, NULL);
    for (size_t j = 0; j < k; j++)
        if (!(r->law.cols[j] = strdup(d->cols[j]))) { util_err(err, errlen, "out of memory"); goto out; }
    r->objective = ends[0].f;
    r->n_points = nf;
    r->n_starts = n_grid;
    r->n_polished = n_polish;
    r->n_converged = count_converged(ends, n_polish);
    double ss = 0;
    for (size_t i = 0; i < nf; i++) {
        double e = fit_law_log_predict(&r->law, d->x + fit_idx[i] * k) - log(d->y[fit_idx[i]]);
        ss += e * e;
    }
    r->rmse_log = sqrt(ss / (double)nf);

    if (nh) {
        r->n_holdout = nh;
        r->holdout_row = malloc(nh * sizeof *r->holdout_row);
        r->holdout_obs = malloc(nh * sizeof(double));
        r->holdout_pred = malloc(nh * sizeof(double));
        if (!r->holdout_row || !r->holdout_obs || !r->holdout_pred) { util_err(err, errlen, "out of memory"); goto out; }
        double hs = 0;
        for (size_t i = 0; i < nh; i++) {
            r->holdout_row[i] = d->row[order[i]];
            r->holdout_obs[i] = d->y[order[i]];
            r->holdout_pred[i] = fit_law_predict(&r->law, d->x + order[i] * k);
            double e = log(r->holdout_pred[i] / r->holdout_obs[i]);
            hs += e * e;
        }
        r->holdout_rmse_log = sqrt(hs / (double)nh);
    }

    if (o->bootstrap > 0) {
        size_t nb = (size_t)o->bootstrap, ns = (size_t)o->bootstrap_starts;
        if (ns > n_polish - 1) ns = n_polish - 1;
        r->boot = malloc(nb * np * sizeof *r->boot);
        if (!r->boot) { util_err(err, errlen, "out of memory"); goto out; }
        r->n_boot = nb;
        int failed = 0;
#pragma omp parallel reduction(| : failed)
        {
        lm_work *w = lm_alloc(o, nf, k);
#pragma omp for schedule(dynamic, 4)
        for (size_t b = 0; b < nb; b++) {
            gsl_rng *g = gsl_rng_alloc(gsl_rng_mt19937);
            size_t *idx = malloc(nf * sizeof *idx);
            pts_store bs = {0};
            law_pts bp;
            if (!g || !idx) { failed = 1; goto next; }
            gsl_rng_set(g, (unsigned long)splitmix64(o->seed ^ splitmix64(b + 1)));
            for (size_t i = 0; i < nf; i++) idx[i] = fit_idx[gsl_rng_uniform_int(g, nf)];
            if (pts_make(d, idx, nf, o, &bp, &bs)) { failed = 1; goto next; }
            double best = INFINITY, th[FIT_MAX_PARAMS], zb[FIT_MAX_PARAMS], *out = r->boot + b * np;
            for (size_t s = 0; s <= ns; s++) {
                int conv;
                /* from the optimum and from where the best polished starts ended (ends[0] is the
                 * optimum), moved into this replicate's raw variables: its Lmin may differ */
                raw_to_theta(&p, thetas + ends[s].start * np, th, NULL);
                theta_to_raw(&bp, th, th);
                double f = run_min(&bp, w, o, o->max_iter, th, &conv);
                if (f < best) { best = f; memcpy(zb, th, np * sizeof *th); }
            }
            if (isfinite(best)) raw_to_theta(&bp, zb, out, NULL);
            else for (size_t j = 0; j < np; j++) out[j] = NAN;
        next:
            pts_free(&bs);
            free(idx);
            if (g) gsl_rng_free(g);
        }
        lm_free(w);
        }
        if (failed) { util_err(err, errlen, "out of memory in the bootstrap"); goto out; }
    }
    rc = 0;
out:
    if (rc) fit_result_free(r);
    pts_free(&ps);
    free(order);
    free(ends);
    free(thetas);
    return rc;
}

void fit_law_param_names(const fit_law *law, char names[][128]) {
    snprintf(names[0], 128, "E");
    for (size_t j = 0; j < law->k; j++) {
        if (law->form == FIT_ADDITIVE) {
            snprintf(names[1 + 2 * j], 128, "A_%s", law->cols[j] ? law->cols[j] : "?");
            snprintf(names[2 + 2 * j], 128, "alpha_%s", law->cols[j] ? law->cols[j] : "?");
        } else {
            snprintf(names[1 + 2 * j], 128, "%s", j ? "B" : "A");
            snprintf(names[2 + 2 * j], 128, "%s", j ? "beta" : "alpha");
        }
    }
}

void fit_law_natural(const fit_law *law, const double *theta, double *out) {
    out[0] = exp(theta[0]);
    for (size_t j = 0; j < law->k; j++) {
        out[1 + 2 * j] = exp(theta[1 + 2 * j]);
        out[2 + 2 * j] = theta[2 + 2 * j];
    }
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void fit_percentile_interval(const double *v, size_t n, double level, double *lo, double *hi) {
    double *s = malloc((n ? n : 1) * sizeof *s);
    size_t m = 0;
    *lo = *hi = NAN;
    if (!s) return;
    for (size_t i = 0; i < n; i++)
        if (!isnan(v[i])) s[m++] = v[i];
    if (m) {
        qsort(s, m, sizeof *s, cmp_double);
        /* linear interpolation between order statistics (numpy's default percentile) */
        double q[2] = {(1 - level) / 2, (1 + level) / 2}, out[2];
        for (int t = 0; t < 2; t++) {
            double pos = q[t] * (double)(m - 1);
            size_t i = (size_t)floor(pos);
            double f = pos - (double)i;
            out[t] = i + 1 < m ? s[i] * (1 - f) + s[i + 1] * f : s[m - 1];
        }
        *lo = out[0];
        *hi = out[1];
    }
    free(s);
}
