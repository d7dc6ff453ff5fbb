/* fit: scaling-law fitting and compute-optimal allocation (DESIGN.md section 6).
 * Model-agnostic: it sees tables of numbers with named columns, never run configs.
 * Depends only on util/ and GSL.
 *
 * Forms (x_i are the chosen columns, y the loss):
 *   powerlaw    L = E + A x^-alpha
 *   chinchilla  L = E + A N^-alpha + B D^-beta        (x1 = N, x2 = D)
 *   additive    L = E + sum_i A_i x_i^-alpha_i       (any k >= 1 columns)
 *   isoflop     per compute budget a parabola in log x; its vertex with an interval; then
 *               x_opt = k C^a by least squares in log-log space (fit_isoflop_*).
 * The first three share one parameterisation, theta = (e, a_1, alpha_1, ..., a_k, alpha_k),
 * E = exp(e), A_i = exp(a_i), so that log L_pred = LSE(e, a_i - alpha_i log x_i).
 * Every law fit_law_fit returns is physical by construction (fit/law.c): E in [0, Lmin) with Lmin
 * the smallest fitted loss, every A_i >= 0, every exponent alpha_i in (0, FIT_EXPONENT_MAX].
 *
 * Errors follow util/util.h: 0 on success, non-zero with a one-line reason in err. */
#ifndef SCALELAB_FIT_H
#define SCALELAB_FIT_H

#include <stddef.h>
#include <stdint.h>

#include "util/util.h"

#define FIT_MAX_TERMS 6
#define FIT_MAX_PARAMS (1 + 2 * FIT_MAX_TERMS)

/* The upper bound of every fitted exponent: alpha = FIT_EXPONENT_MAX sigmoid(v). Measured LM
 * exponents lie in 0.05-1 (Kaplan 0.07-0.1, Chinchilla 0.28-0.37); 3 leaves room for any real
 * one while a law that wants more is reported at its bound, not stored as if it were found. */
#define FIT_EXPONENT_MAX 3.0
/* Grid starts outside the open ranges are clamped to these before minimising: E/Lmin into
 * [FIT_START_E_MIN, FIT_START_E_MAX] and each exponent up to at least FIT_START_ALPHA_MIN. */
#define FIT_START_E_MIN 1e-3
#define FIT_START_E_MAX 0.99
#define FIT_START_ALPHA_MIN 0.01

/* ---- tables: a CSV (RFC 4180, header row) or columns the caller fills ---- */

/* Cells are kept as text and parsed only when a column is used, so unused columns
 * may hold anything (empty fields, names). */
typedef struct fit_table {
    char *source;           /* "csv:PATH", "sweep:NAME", ... */
    size_t n_cols, n_rows;
    char **names;           /* n_cols */
    char **cells;           /* n_rows * n_cols, row-major */
    size_t *lines;          /* file line of each row (1 = header), 0 when not from a file */
    char **why;             /* NULL, or n_rows * n_cols: why a derived cell is empty (NULL: it is not) */
} fit_table;

int fit_table_read_csv(const char *path, fit_table *t, char *err, size_t errlen);
/* An empty table with these columns; rows are added with fit_table_add_row. */
int fit_table_init(fit_table *t, const char *source, const char *const *names, size_t n_cols,
                   char *err, size_t errlen);
int fit_table_add_row(fit_table *t, const char *const *cells, size_t line, char *err, size_t errlen);
/* Index of a column by exact name, or -1. */
long fit_table_column(const fit_table *t, const char *name);
/* Adds column NAME computed from "NAME=EXPR" on every row, EXPR in util/util.h's expression
 * language over the columns ([any column name], or a bare name), e.g.
 * "tokens=[Training FLOP]/6/[Model Size]". A row where EXPR has no value (an empty or text cell,
 * log of a non-positive number) gets an empty cell and the reason in t->why, so a fit that uses
 * the column skips the row and says why; a bad EXPR or an unknown column is an error. */
int fit_table_derive(fit_table *t, const char *spec, char *err, size_t errlen);
void fit_table_free(fit_table *t);

/* Row filters (fit --where): an expression of util/util.h's language over the columns, true
 * for the rows to keep ("loss < 3.45", "mixer == 'power' and [Model Size] > 1e8"); a row where
 * it has no value (an empty cell, log of a negative) is skipped and counted like a missing
 * cell. The older form COLUMN OP TEXT stays: ~ and !~ test whether the cell contains TEXT, and
 * == or != against a bare word that names no column compare text (mixer==power). */
typedef enum fit_op { FIT_LT, FIT_LE, FIT_GT, FIT_GE, FIT_EQ, FIT_NE, FIT_HAS, FIT_HASNT } fit_op;
typedef struct fit_filter {
    char expr[512];         /* the filter as given */
    int text_compare;       /* 0: an expression; 1: COLUMN OP TEXT unless TEXT is a column; 2: COLUMN OP TEXT */
    char column[256];
    fit_op op;              /* FIT_EQ, FIT_NE, FIT_HAS or FIT_HASNT when text_compare */
    char text[256];
} fit_filter;
/* Checks the syntax (errors give the column in spec); columns are checked by fit_data_select. */
int fit_filter_parse(const char *spec, fit_filter *f, char *err, size_t errlen);

/* Points to fit: the rows that pass every filter, x columns and y column parsed and checked
 * (finite, x > 0, y > 0). A row whose used cell is empty, not a number or NaN (a crashed run
 * in an export), or where a filter has no value, is skipped and counted; an infinite or non-positive value is an error naming
 * the row, its file line and the column (logs are taken: it is wrong data, not missing data). */
typedef struct fit_data {
    size_t n, k;
    double *x;              /* n * k, row-major */
    double *y;              /* n */
    double *compute;        /* n: the ordering for --holdout-top (product of x when no column) */
    size_t *row;            /* source row (0-based data row) of each point */
    char **cols;            /* k x column names */
    char *ycol;
    size_t n_skipped;       /* rows left out for a missing, non-numeric or NaN cell */
    char first_skipped[640];/* where and why the first of them was ("in.csv line 3 (row 2), column 'D': NaN") */
} fit_data;
int fit_data_select(const fit_table *t, const char *const *xcols, size_t k, const char *ycol,
                    const char *compute_col, const fit_filter *filters, size_t n_filters,
                    fit_data *d, char *err, size_t errlen);
/* Checks a fit with n_params parameters is possible: enough points, no constant x column. */
int fit_data_check(const fit_data *d, size_t n_params, char *err, size_t errlen);
void fit_data_free(fit_data *d);

/* ---- the power-law forms ---- */

typedef enum fit_form { FIT_POWERLAW = 0, FIT_CHINCHILLA, FIT_ADDITIVE, FIT_ISOFLOP } fit_form;
const char *fit_form_name(fit_form f);
int fit_form_parse(const char *name, fit_form *f);

typedef enum fit_loss { FIT_LOSS_HUBER = 0, FIT_LOSS_L2 } fit_loss;

/* Starting grid: every combination of e, then (a_i, alpha_i) per term, from lo to hi by step
 * (inclusive). Hoffmann et al. 2022 (Approach 3): e in -1:1:0.5, a in 0:25:5, alpha in 0:2:0.5,
 * i.e. 5 * (6*5)^2 = 4,500 starts for two terms. */
typedef struct fit_grid {
    double e[3], a[3], alpha[3]; /* lo, hi, step */
} fit_grid;
void fit_grid_hoffmann(fit_grid *g);
/* "e=-1:1:0.5,a=0:25:5,alpha=0:2:0.5"; keys may be left out (Hoffmann's values stay). */
int fit_grid_parse(const char *spec, fit_grid *g, char *err, size_t errlen);
/* Number of starts for k terms. */
size_t fit_grid_size(const fit_grid *g, size_t k);

/* bfgs2: gsl_multimin vector_bfgs2 on the objective and its gradient; lm: gsl_multifit_nlinear
 * (Levenberg-Marquardt) on residuals whose squares reproduce the objective. */
typedef enum fit_method { FIT_METHOD_LM = 0, FIT_METHOD_BFGS2 } fit_method;

typedef struct fit_options {
    fit_form form;
    fit_loss loss;
    fit_method method;
    double delta;           /* Huber delta (1e-3) */
    fit_grid grid;
    int screen_iter;        /* iterations every grid start gets (30) */
    int polish;             /* the best screened starts then run on to max_iter (8) */
    int max_iter;           /* (1000) */
    double grad_tol;        /* stop when |gradient| < grad_tol (1e-10) */
    int bootstrap;          /* replicates (0: none) */
    uint64_t seed;
    double level;           /* interval level (0.95) */
    int bootstrap_starts;   /* polished ends, besides the optimum, each replicate refits from (4) */
    size_t holdout_top;     /* leave out the K largest-compute points and predict them */
} fit_options;
void fit_options_default(fit_options *o);

typedef struct fit_law {
    fit_form form;
    size_t k;               /* terms */
    double theta[FIT_MAX_PARAMS];
    char *cols[FIT_MAX_TERMS];
} fit_law;

typedef struct fit_result {
    fit_law law;
    double objective, rmse_log;
    size_t n_points, n_starts, n_polished, n_converged; /* n_converged: of the polished starts, those
                            * whose stopping test passed or that ended on the best objective
                            * (within 1e-6 relative) */
    size_t n_boot;
    double *boot;           /* n_boot * (1 + 2k) theta of each replicate */
    /* holdout (holdout_top > 0) */
    size_t n_holdout;
    double holdout_rmse_log;
    size_t *holdout_row;
    double *holdout_obs, *holdout_pred;
} fit_result;

/* log L_pred of a law at one point (k x values). */
double fit_law_log_predict(const fit_law *law, const double *x);
/* The Huber or L2 objective of theta on d, and its gradient (grad may be NULL). */
double fit_objective(const fit_data *d, const double *theta, fit_loss loss, double delta, double *grad);

/* Fits a powerlaw, chinchilla or additive law: every grid start is minimised (OpenMP over
 * starts; the result does not depend on the thread count), the lowest objective wins (ties to
 * the earliest start). Then holdout and bootstrap as the options say. */
int fit_law_fit(const fit_data *d, const fit_options *o, fit_result *r, char *err, size_t errlen);
void fit_result_free(fit_result *r);

/* Names of the parameters in the natural scale, in theta order (E, A, alpha, B, beta;
 * E, A_<col>, alpha_<col>, ...): writes into names[i] (each of size 128). */
void fit_law_param_names(const fit_law *law, char names[][128]);
/* Natural-scale parameters (E, A, alpha, ...) from theta. */
void fit_law_natural(const fit_law *law, const double *theta, double *out);

/* ---- isoflop ---- */

typedef struct fit_isoflop_budget {
    double budget;          /* mean budget of the group */
    size_t n;
    double vertex, lo, hi;  /* x at the parabola's minimum and its interval (NAN when n == 3:
                             * no degrees of freedom are left for the residual variance) */
    double x_min, x_max;    /* the sampled x of the budget */
    int bound;              /* 0: vertex inside [x_min, x_max]; -1 ("lower"): below x_min, so the
                             * optimum is only known to be <= x_min; +1 ("upper"): >= x_max */
    double loss;            /* fitted loss at the vertex */
    double curvature;       /* coefficient of (log x)^2 */
    double coef[3];         /* loss = coef[0] + coef[1] u + coef[2] u^2, u = log x */
    double rss, ss_log;     /* residual sum of squares in loss, and of log(fitted / observed) */
} fit_isoflop_budget;

typedef struct fit_isoflop {
    char *col;
    size_t n_budgets;
    fit_isoflop_budget *budgets;
    double log_k, exponent;             /* log x_opt = log_k + exponent log C, over the budgets with
                                         * an interior vertex; NAN when fewer than
                                         * FIT_ISOFLOP_MIN_BUDGETS have one (why: in note) */
    double exponent_lo, exponent_hi, k_lo, k_hi;
    double exponent_se, log_k_se;       /* standard errors of the regression (NAN as above) */
    size_t n_interior;                  /* budgets whose vertex lies inside their sampled x */
    char note[256];                     /* why there is no exponent ("" when there is one) */
    double objective;                   /* residual sum of squares of the parabolas (loss units) */
    double rmse_log;                    /* of the parabolas' fits, in log loss */
    size_t n_points, n_skipped;         /* points used; budget groups left out (< 3 points or concave) */
} fit_isoflop;

/* Groups points by budget (values within rel_tol of each other), fits y = c0 + c1 u + c2 u^2,
 * u = log x, by linear least squares (gsl_multifit_linear) per group; vertex interval by the
 * delta method with Student-t quantiles at level; then log vertex against log budget over the
 * budgets whose vertex lies inside their samples (a vertex outside is a bound, not an optimum),
 * given only when there are at least FIT_ISOFLOP_MIN_BUDGETS of them. Fails when fewer than 2
 * budgets have a convex parabola. */
int fit_isoflop_fit(const double *x, const double *y, const double *budget, size_t n, double rel_tol,
                    double level, const char *col, fit_isoflop *r, char *err, size_t errlen);
void fit_isoflop_free(fit_isoflop *r);
/* One budget's parabola over the points idx[0..n) (idx NULL: 0..n-1), as fit_isoflop_fit does
 * it for each group (budget left 0). Returns 1 with out filled when there is a vertex (>= 3
 * distinct x and a convex fit), 0 when there is none, -1 when out of memory. */
int fit_isoflop_parabola(const double *x, const double *y, const size_t *idx, size_t n, double level,
                         fit_isoflop_budget *out);

/* ---- compute-optimal allocation ---- */

/* Roles of a law's columns for the budget constraint C = 3 (W + S) tokens. */
typedef enum fit_role { FIT_ROLE_N = 0, FIT_ROLE_D, FIT_ROLE_S, FIT_ROLE_OTHER, FIT_ROLE_STATE } fit_role;
/* params/N/parameter_count/Model Size/n_params/params_non_embedding -> N; tokens/D -> D;
 * state_flops_per_token/S -> S; state_size/state_dim -> STATE (a state capacity: its cost is the
 * state FLOPs of a concrete config, so only a family can place it under the budget). */
fit_role fit_role_of(const char *col);

/* The per-token cost of a model of N parameters in C = 3 (W(N) + S(N)) tokens:
 * W(N) = w_coef N^w_exp and S(N) = s_coef N^s_exp (s_coef 0: no state cost). Measured from the
 * runs a fit came from (fit_cost_fit) or assumed (fit_cost_per_param). */
typedef struct fit_cost {
    double w_coef, w_exp, s_coef, s_exp;
    size_t n_runs;  /* runs it was measured on; 0 when assumed */
} fit_cost;
/* Assumed: W = k N, S = 0 (k = 2 is the C = 6 N D convention). */
void fit_cost_per_param(fit_cost *c, double k);
/* Measured: log W = log w_coef + w_exp log N by least squares over the n runs (N, W, S > 0
 * and finite; others are left out), and log S likewise (every S 0: s_coef 0). When N does not
 * vary (log N spans < 1e-6) the fit is W = geomean(W/N) N, S = geomean(S). Needs one run. */
int fit_cost_fit(const double *N, const double *W, const double *S, size_t n, fit_cost *c, char *err,
                 size_t errlen);
/* fit_cost_fit for a law's runs: N is params_non_embedding when the law has that column,
 * else params (*n_col says which). */
int fit_cost_for_law(const fit_law *law, const double *params, const double *params_non_embedding, const double *W,
                     const double *S, size_t n, fit_cost *c, const char **n_col, char *err, size_t errlen);
double fit_cost_w(const fit_cost *c, double N);
double fit_cost_s(const fit_cost *c, double N);
/* The tokens budget C buys at W and S FLOPs per token: C / (3 (W + S)) (DESIGN.md section 4).
 * The one place the constraint is written; the optimum and the ranking both call it. */
double fit_budget_tokens(double C, double W, double S);

typedef struct fit_optimum {
    double N, D, W, S, wsfr, loss;
    double closed_N, closed_D;  /* closed form (chinchilla-like N, D laws, W = k N, S = 0; NAN otherwise) */
    int bound;                  /* 0: an interior minimum; -1: the loss falls towards the smallest N
                                 * searched (N = 1), +1: towards the largest (tokens = 1); N, D, loss
                                 * are then the edge of the search, not an optimum */
    double N_lo, N_hi;          /* the range of N searched */
} fit_optimum;

/* Minimises the law's loss under C = 3 (W(N) + S(N)) D with the cost model: over log N by
 * Brent's method (gsl_min_fminimizer_brent) when the law has no S column, over (log N, log S) by
 * Nelder-Mead (gsl_multimin nmsimplex2) when S is a column (then S is free and W = W(N)).
 * A minimum at the edge of the searched range is returned with bound set (status 0). A law with
 * a state-capacity column (FIT_ROLE_STATE) is refused: it needs a family (fit_rank_candidates). */
int fit_law_optimum_cost(const fit_law *law, double C, const fit_cost *cost, fit_optimum *o, char *err,
                         size_t errlen);
/* An isoflop law's optimum x_opt = k C^a (theta = log k, a) placed under the cost model: x is N
 * (tokens from the budget), D (N solved from 3 (W(N) + S(N)) D = C by bisection in log N), or
 * wsfr (only wsfr is known; N, D, W are NAN). loss is NAN: an isoflop law predicts none. */
int fit_isoflop_optimum(const fit_law *law, double C, const fit_cost *cost, fit_optimum *o, char *err,
                        size_t errlen);
/* The C = 6 N D convention (W = 2 N, S = 0 unless S is a column); a bound is an error. */
int fit_law_optimum(const fit_law *law, double C, fit_optimum *o, char *err, size_t errlen);
/* N_opt = G (C/6)^(beta/(alpha+beta)), G = (alpha A / (beta B))^(1/(alpha+beta)). */
void fit_chinchilla_closed_form(double A, double alpha, double B, double beta, double C,
                                double *N, double *D);
/* Predicted loss at x[0..k), the values of the law's columns in order. */
double fit_law_predict(const fit_law *law, const double *x);

/* Percentile interval [lo, hi] at level of v[0..n) (sorted copy; NaNs dropped). */
void fit_percentile_interval(const double *v, size_t n, double level, double *lo, double *hi);

/* ---- ranking concrete candidates (a family's configs) under a law: fit/rank.c ----
 * Candidates come as arrays: x[i * k + j] the value of the law's column j for candidate i, and
 * its weight and state FLOPs per token W[i], S[i]. The budget fixes the tokens: every column
 * with the role D is set to tokens[i] = C / (3 (W[i] + S[i])) (x's value there is ignored).
 * Score: the predicted loss; candidates whose loss is not finite are skipped and counted. An
 * isoflop law has no loss: the score is |log(x / x_opt)|, x_opt = k C^a. Order: score, then
 * index. Per bootstrap replicate (boot: n_boot thetas) the argmin candidate under that theta;
 * fit_rank_interval gives the percentile interval of any per-candidate quantity over them. */
typedef struct fit_rank {
    size_t n, k;
    size_t n_ranked, n_skipped;     /* candidates with a finite score; those without */
    size_t *order;                  /* n_ranked candidate indices, best first */
    double *tokens;                 /* n: C / (3 (W + S)) */
    double *loss;                   /* n: predicted loss (NAN when skipped, or for isoflop) */
    double *loss_lo, *loss_hi;      /* n: its interval over the replicates (NAN without) */
    int bound[FIT_MAX_TERMS];       /* the best candidate holds the smallest (-1) or the largest (+1)
                                     * value of column j among the ranked ones (0: neither, or the
                                     * column does not vary) */
    size_t n_boot;
    size_t n_boot_none;             /* replicates under which no candidate has a finite loss */
    size_t n_boot_edge;             /* replicates whose argmin is at an edge of a varying column */
    size_t *boot_best;              /* n_boot: argmin candidate, or SIZE_MAX */
} fit_rank;
int fit_rank_candidates(const fit_law *law, const double *boot, size_t n_boot, const double *x,
                        const double *W, const double *S, size_t n, double C, double level, fit_rank *r,
                        char *err, size_t errlen);
/* The percentile interval at level of v[boot_best[s]] over the replicates with an argmin
 * (NAN, NAN when there are none), ends taken as order statistics (floor and ceil of the
 * percentile positions) so that both are values of candidates. v holds one value per candidate. */
void fit_rank_interval(const fit_rank *r, const double *v, double level, double *lo, double *hi);
void fit_rank_free(fit_rank *r);

/* ---- how far a fit can be trusted (DESIGN.md section 6) ----
 * Every fit is stored with a verdict and its diagnostics (store_fit.verdict, .diagnostics_json).
 *   ok             every parameter interior, its relative standard error small, each x column spans
 *                  enough to separate the terms;
 *   weak           usable with a warning (a wide interval, a narrow span, few converged starts);
 *   unconstrained  the data do not determine the law (a parameter at a bound, a singular J^T J, an
 *                  x column too narrow, pooled mixers for a state term): recommend refuses it.
 * diagnostics_json: {"verdict": "ok|weak|unconstrained", "reasons": ["alpha is not constrained: params
 * spans 2.3x; add widths down to ... or up to ...", ...], "converged_starts", "polished_starts",
 * "at_bound": [names], "rel_se": {name: value}, "x_span": {col: {"min", "max", "ratio"}}, ...}. */
typedef enum fit_verdict { FIT_VERDICT_OK = 0, FIT_VERDICT_WEAK, FIT_VERDICT_UNCONSTRAINED } fit_verdict;
const char *fit_verdict_name(fit_verdict v);
/* "ok", "weak", "unconstrained" -> 0, else -1. */
int fit_verdict_parse(const char *name, fit_verdict *v);

/* The verdict's thresholds, all in this one place (fit/diagnose.c applies them):
 *   unconstrained when
 *     - a parameter is at a bound: an exponent within FIT_BOUND_REL (relative) of 0 or of
 *       FIT_EXPONENT_MAX, E below FIT_BOUND_REL * Lmin ("E ~ 0") or above (1 - FIT_BOUND_REL) Lmin,
 *       or a term A_i x_i^-alpha_i below FIT_TERM_NEGLIGIBLE of the predicted loss at every point;
 *     - J^T J of the free parameters is singular (smallest / largest eigenvalue of its
 *       unit-diagonal form below FIT_SINGULAR);
 *     - an exponent's relative standard error exceeds FIT_RELSE_UNCONSTRAINED;
 *     - an x column with an exponent spans less than FIT_SPAN_UNCONSTRAINED (max / min);
 *     - a state term whose state never moves at fixed weights (no two points with weight FLOPs
 *       within FIT_SAME_W_REL of each other and state values apart by more than that);
 *     - isoflop: fewer than FIT_ISOFLOP_MIN_BUDGETS budgets with an interior vertex (no exponent),
 *       or an exponent's relative standard error above FIT_RELSE_UNCONSTRAINED;
 *   weak when (and not unconstrained)
 *     - an exponent's relative standard error exceeds FIT_RELSE_WEAK;
 *     - an x column with an exponent spans less than FIT_SPAN_WEAK;
 *     - fewer than FIT_CONVERGED_WEAK of the polished starts converged;
 *     - mixers were pooled (--pool-mixers);
 *     - isoflop: a budget's vertex lies outside its sampled x, or an interior vertex's interval
 *       reaches beyond it; the exponent's interval contains 0 (whether x_opt grows with C is not
 *       decided); or the budgets span less than FIT_SPAN_WEAK by more than FIT_BUDGET_SPAN_SLACK
 *       (runs train whole steps, so nominal budgets 10x apart measure 9.99x);
 *   ok otherwise.
 * Relative standard errors: E and A_i as the standard error of log E, log A_i; exponents as
 * se(alpha) / alpha. From J^T J at the optimum (J = d log L_pred / d theta over the fitted points,
 * covariance s^2 (J^T J)^-1 with s^2 = RSS / (n - p) of the log residuals, p the free parameters;
 * parameters at a bound are held fixed and get none) and, with a bootstrap, from the replicates (half the central 68% range, relative to
 * the estimate); the verdict uses the larger of the two. */
#define FIT_BOUND_REL 1e-3
#define FIT_TERM_NEGLIGIBLE 1e-3
#define FIT_SINGULAR 1e-12
#define FIT_RELSE_UNCONSTRAINED 1.0
#define FIT_RELSE_WEAK 0.3
#define FIT_SPAN_UNCONSTRAINED 3.0
#define FIT_SPAN_WEAK 10.0
#define FIT_BUDGET_SPAN_SLACK 0.01
#define FIT_CONVERGED_WEAK 0.5
#define FIT_SAME_W_REL 0.01
#define FIT_ISOFLOP_MIN_BUDGETS 3

/* What the points alone do not tell: the mixers of the runs (sweep sources) and state terms. */
typedef struct fit_context {
    char **mixers;             /* distinct mixers of the fitted runs, sorted (none: unknown) */
    size_t n_mixers;
    int pooled_mixers;         /* --pool-mixers: more than one mixer under a state term */
    int state_static[FIT_MAX_TERMS]; /* x column j is a state quantity that never moves at fixed W */
} fit_context;

typedef struct fit_diagnostics {
    fit_verdict verdict;
    char **reasons;            /* n_reasons sentences, the worst first */
    size_t n_reasons, n_unc_reasons; /* the first n_unc_reasons made it unconstrained */
    size_t converged, polished; /* isoflop: 1 of 1 (closed-form solves) */
    char **at_bound;           /* parameter names (isoflop: "x_opt@<budget>") */
    size_t n_at_bound;
    size_t n_params;           /* rel_se: names and values (NAN: none) */
    char names[FIT_MAX_PARAMS][128];
    double rel_se[FIT_MAX_PARAMS], rel_se_boot[FIT_MAX_PARAMS];
    int has_boot, singular;
    size_t k;                  /* x columns: name, min, max */
    char cols[FIT_MAX_TERMS][128];
    double x_min[FIT_MAX_TERMS], x_max[FIT_MAX_TERMS];
    double compute_min, compute_max;
    char **mixers;
    size_t n_mixers;
    int pooled_mixers;
} fit_diagnostics;

/* Fills ctx from the table the points came from: the distinct non-empty values of its "mixer"
 * column among the points, and state_static[j] for every state column j (fit_is_state_column)
 * when the table has weight_flops_per_token. Refuses (non-zero, naming the mixers and
 * --where mixer==NAME) a state column over more than one mixer unless pool_mixers. */
int fit_context_build(const fit_table *t, const fit_data *d, int pool_mixers, fit_context *ctx, char *err,
                      size_t errlen);
void fit_context_free(fit_context *ctx);
/* Diagnoses a law fitted by fit_law_fit to d (the same fit_data; held-out points are left out).
 * ctx may be NULL. Pure: reads d and r only. 0, or -1 out of memory. */
int fit_law_diagnose(const fit_data *d, const fit_result *r, const fit_context *ctx, fit_diagnostics *g,
                     char *err, size_t errlen);
/* d log L_pred / d theta of a law at one point; returns log L_pred. */
double fit_law_log_predict_grad(const fit_law *law, const double *x, double *grad);
void fit_diagnostics_free(fit_diagnostics *g);
/* diagnostics_json: {"verdict", "reasons", "converged_starts", "polished_starts", "at_bound",
 * "rel_se": {name: number or null}, ["rel_se_boot": {...},] "x_span": {col: {"min", "max",
 * "ratio"}}, "compute": {"min", "max"}, "mixers": [names], "pooled_mixers": bool}. */
int fit_diagnostics_json(const fit_diagnostics *g, util_buf *b);
/* Is this column a state quantity (state_size, state_flops_per_token, wsfr, state_dim)? */
int fit_is_state_column(const char *col);
/* 1 when some two points share W (within FIT_SAME_W_REL) while their state s differs by more. */
int fit_state_moves_at_fixed_weights(const double *w, const double *s, size_t n);
/* The isoflop counterpart: bounded vertices, interior budgets, the exponent's standard error. */
int fit_isoflop_diagnose(const fit_isoflop *r, const fit_context *ctx, fit_diagnostics *g, char *err,
                         size_t errlen);

/* ---- JSON of results and the stored-fit reader ---- */

/* {"form", "params", "intervals", "objective", "rmse_log", "n_points"[, "holdout"]}. params holds the
 * law's parameters (fit_law_param_names) and, for chinchilla, N_opt_exponent = beta/(alpha+beta),
 * D_opt_exponent = alpha/(alpha+beta) and G; intervals holds [lo, hi] of each (bootstrap percentiles;
 * empty without a bootstrap). */
int fit_result_json(const fit_result *r, const fit_options *o, util_buf *b);
int fit_result_params_json(const fit_result *r, util_buf *b);
int fit_result_intervals_json(const fit_result *r, double level, util_buf *b);
/* isoflop: params {"k_<col>", "a_<col>"} of x_opt = k C^a (null without an exponent), intervals of
 * both (t intervals of the log-log regression), objective = residual sum of squares of the
 * parabolas, then "n_skipped_budgets", "n_interior_budgets", "exponent_note" (why there is no
 * exponent, or null) and "budgets": [{"budget", "n", "x_opt", "x_opt_interval" ([lo, hi], or null
 * with "interval_note": "no interval: 3 points" or "...: the vertex is outside the samples"), "vertex_bound" ("lower": the vertex lies below the
 * sampled x, so x_opt <= x_range[0]; "upper": above, x_opt >= x_range[1]; null: inside), "x_range",
 * "loss_opt", "curvature"}]. */
int fit_isoflop_json(const fit_isoflop *r, util_buf *b);
/* Appends "verdict", "reasons" and "diagnostics" (fit_diagnostics_json) to the JSON object in b. */
int fit_json_append_diagnostics(util_buf *b, const fit_diagnostics *g);
int fit_isoflop_params_json(const fit_isoflop *r, util_buf *b);
int fit_isoflop_intervals_json(const fit_isoflop *r, util_buf *b);
int fit_isoflop_budgets_json(const fit_isoflop *r, util_buf *b);
/* What a stored fit needs to be used again: form, columns, theta, bootstrap thetas. */
int fit_law_inputs_json(const fit_result *r, const fit_data *d, const fit_options *o,
                        const char *source, util_buf *b);
/* How the points were chosen, recorded with a fit so that `fits show` can say it and the fit
 * can be repeated: the --derive and --where texts as given, the compute column, --pool-mixers,
 * the isoflop budget tolerance (NAN: not isoflop) and the rows skipped for a missing value. */
typedef struct fit_selection {
    const char *const *derive, *const *where;
    size_t n_derive, n_where;
    const char *compute_col;
    int pool_mixers;
    double budget_tol;
    size_t n_skipped;
} fit_selection;
/* Appends "derive", "where", "compute_col", "pool_mixers"[, "budget_tol"], "n_skipped_rows" to
 * the inputs object in b (fit_law_inputs_json or fit_isoflop_inputs_json). */
int fit_inputs_append_selection(util_buf *b, const fit_selection *sel);
/* Per point: {"row", "observed", "predicted", "log_residual"} of the fitted points. */
int fit_law_residuals_json(const fit_result *r, const fit_data *d, util_buf *b);
/* The isoflop counterpart: x_cols = [col], theta = [log k, exponent], budget column and scale. */
int fit_isoflop_inputs_json(const fit_isoflop *r, const char *source, const char *ycol,
                            const char *budget_col, double budget_scale, util_buf *b);
/* The law of a stored fit from the parts its inputs hold (read back by the store:
 * store_fit_inputs_read): form, x columns, theta, and n_boot_values bootstrap numbers (rows of
 * theta's length; none when 0). boot_out is malloc'd (n_boot rows), NULL without a bootstrap. */
int fit_law_from_parts(const char *form, const char *const *cols, size_t n_cols, const double *theta, size_t n_theta,
                       const double *boot, size_t n_boot_values, fit_law *law, double **boot_out, size_t *n_boot,
                       char *err, size_t errlen);
void fit_law_free(fit_law *law);


#endif
