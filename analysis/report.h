/* analysis/report: turns the runs of a sweep into a report a researcher reads
 * in a browser (DIR/index.html) or in a Markdown viewer (DIR/index.md), with
 * plots drawn by gnuplot into DIR/plots/NAME.svg and the data behind every plot
 * kept beside them in DIR/data/ (one .dat and one .gp per plot, so any figure
 * can be redrawn or restyled by hand).
 *
 * The pipeline is: report_load (store -> report_data) -> report_analyse (knees,
 * budgets, fits) -> report_write (plots + page). Every stage works on the plain
 * report_data below, so tests can fill one by hand without a store. */
#ifndef SCALELAB_REPORT_H
#define SCALELAB_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include "util/accounting.h"
#include "store/store.h"
#include "util/util.h"

typedef struct store store;

/* The knee rule (stated verbatim in every report): the knee of a context-utility
 * curve is the first position bucket b such that loss(b) - min over later
 * buckets of loss < REPORT_KNEE_THRESHOLD x (loss(first bucket) - min loss). */
#define REPORT_KNEE_THRESHOLD 0.02

typedef struct report_point {
    double x, y;
} report_point;

/* One run, flattened from the store row and its canonical config JSON. */
typedef struct report_run {
    int64_t id;
    char status[16];
    char mixer[16];  /* softmax | window | power */
    char label[48];  /* the family and its state setting: "softmax", "window w=32", "power p=2" */
    char shape[96];  /* label with the width: "window w=32 d=64" (or "... d=64 h=4"); one colour each */
    int d_model, n_layer, n_head, context, p, window, seed;
    /* The store's accounting record (util/accounting.h), W and S also as weight_flops and state_flops. */
    UTIL_ACCOUNTING_MEMBER_ALIASED(acc, UTIL_ACCOUNTING_ALIAS(weight_flops, weight_flops_per_token)
                                            UTIL_ACCOUNTING_ALIAS(state_flops, state_flops_per_token));
    double final_train_loss, final_eval_loss, best_context_loss; /* NAN when unknown */
    report_point *curve;   /* (tokens, training loss), in step order */
    size_t n_curve;
    report_point *eval_curve; /* (tokens, eval loss) at the evaluation steps */
    size_t n_eval;
    unsigned sweeps;       /* bit i: the run belongs to report_data.sweeps[i] */
    report_point *pos_loss; /* (first position of the log2 bucket, loss) at the last evaluation */
    size_t n_pos_loss;
    long knee;             /* index into pos_loss, -1 when there is no curve */
    int budget;            /* index into report_data.budgets, -1 for runs that did not finish */
} report_run;

/* loss = a u^2 + b u + c with u = ln x, least squares over one budget's runs. */
typedef struct report_parabola {
    int ok;                /* 0: fewer than 3 distinct x, not convex, or the vertex lies
                            * beyond half the points' log range outside it */
    double a, b, c;
    double x_opt, loss_opt;
} report_parabola;

typedef struct report_budget {
    double flops;          /* median training FLOPs of the group */
    size_t n_runs;
    long best_run;         /* index into runs of the lowest loss */
    /* The recommendation at this budget (from the fit): what to train. */
    int rec_ok;
    double rec_params, rec_tokens, rec_wsfr, rec_loss;
    char rec_source[320];   /* where the numbers come from, e.g. "IsoFLOP parabola vertex" */
} report_budget;

/* The compute frontier L(C) = E + A C^-alpha through the budgets' optima. */
typedef struct report_frontier {
    int ok;
    double E, A, alpha;
    size_t n_points;
    char note[160];        /* why there is no frontier, when ok == 0 */
} report_frontier;

/* An arm: runs of one sweep that move one thing at fixed everything else, so
 * an IsoFLOP parabola over them answers one question per budget.
 *   REPORT_ARM_WIDTH  one family and state setting (one label), params varies: N_opt
 *   REPORT_ARM_STATE  one mixer at fixed weights (W within 1%), the state varies: WSFR_opt
 * Each budget's answer comes from the sweep's stored IsoFLOP fit over the arm's
 * x column when there is one (with its verdict and diagnostics), else from the
 * report's own parabola, and says which. */
typedef enum report_arm_kind { REPORT_ARM_WIDTH = 0, REPORT_ARM_STATE } report_arm_kind;

typedef struct report_arm_budget {
    int budget;             /* index into report_data.budgets */
    size_t n;               /* runs of the arm at this budget */
    double x_min, x_max;    /* sampled range of x (params or WSFR) */
    double x_opt, lo, hi;   /* vertex and its interval; NAN where there is none */
    double loss_opt;
    int has_curve;          /* coef holds the report's own parabola loss = c0 + c1 u + c2 u^2, u = ln x */
    double coef[3];
    double tokens_opt;      /* width arm: C / (3 (W + S)) at N_opt, W and S interpolated over the arm */
    long best_run;          /* index into runs: lowest observed loss of the arm here */
    long nearest_run;       /* state arm: the run whose WSFR is nearest the vertex (-1 without one) */
    char verdict[16];       /* ok | weak | bound | undecided */
    char why[200];          /* the verdict in words */
} report_arm_budget;

typedef struct report_arm {
    report_arm_kind kind;
    int sweep;              /* index into report_data.sweeps */
    char name[128];         /* "window w=32" (width) or "window d=32" (state) */
    char key[48];           /* the label (width) or the mixer (state) its runs share */
    char xcol[32];          /* "params" or "wsfr" */
    double weight_flops;    /* state arm: the common W */
    int64_t fit_id;         /* the stored fit used, 0: the report's own parabolas */
    char fit_verdict[16];   /* the stored fit's verdict, "" when none or stored before v3 */
    char fit_reasons[512];  /* its reasons from diagnostics_json, joined */
    double exponent, exponent_lo, exponent_hi; /* x_opt = k C^a across budgets (stored fit), NAN if none */
    report_arm_budget *budgets;
    size_t n_budgets;
} report_arm;

/* An IsoFLOP fit as stored by `scalelab fit --sweep S --form isoflop`, the parts the answer needs. */
typedef struct report_stored_budget {
    double budget, x_opt, lo, hi, loss_opt;
    int bound;              /* diagnostics vertex_bound: -1 lower, +1 upper, 0 none or unknown */
} report_stored_budget;

typedef struct report_stored_fit {
    int64_t id;
    int sweep;
    char xcol[32];
    char verdict[16];
    char reasons[512];
    double exponent, exponent_lo, exponent_hi;
    report_stored_budget *budgets;
    size_t n_budgets;
} report_stored_fit;

#define REPORT_MAX_SWEEPS 8

typedef struct report_data {
    char sweep[128];       /* the sweeps' names joined by " + "; "" for every run in the store */
    char sweeps[REPORT_MAX_SWEEPS][128];
    size_t n_sweeps;       /* 0: every run in the store */
    char db_path[512];
    report_run *runs;
    size_t n_runs;
    report_budget *budgets; /* ascending FLOPs */
    size_t n_budgets;
    report_frontier frontier;
    char **labels;         /* distinct run labels, sorted: a label's index picks its colour */
    size_t n_labels;
    /* The latest stored fit of this sweep (`scalelab fit --sweep S`), if any:
     * report_analyse asks it for the recommendation at each budget. */
    int64_t fit_id;        /* 0: none */
    char fit_form[32];
    store_fit_inputs fit_inputs; /* its law, read back by the store (form NULL: unreadable) */
    report_stored_fit *fits; /* the latest IsoFLOP fit per sweep and x column */
    size_t n_fits;
    report_arm *arms;
    size_t n_arms;
    char **shapes;         /* distinct run shapes, sorted by label then params: a shape's index picks its colour */
    size_t n_shapes;
} report_data;

typedef enum report_format { REPORT_HTML = 0, REPORT_MARKDOWN } report_format;

/* The loss a run is judged by: final eval loss, else final training loss (NAN if neither). */
double report_run_loss(const report_run *r);

/* Index of the knee of a context curve (see REPORT_KNEE_THRESHOLD), -1 when n == 0.
 * A curve that never falls has its knee at the first bucket. */
long report_knee(const report_point *curve, size_t n, double threshold);

/* Drops a last position bucket that the training context cuts to less than half
 * its nominal width (with context 128, the bucket starting at 128 holds only
 * position 128): one position per sequence is too noisy to judge a curve by.
 * Buckets are 1-based log2 buckets [lo, 2 lo - 1]; context <= 0 keeps them all. */
void report_trim_partial_bucket(report_run *r);

/* Fills mixer, label and shape fields of r from a run's canonical config JSON
 * (parsed with libyaml, as JSON is YAML's flow style). */
int report_config_parse(const char *config_json, report_run *r, char *err, size_t errlen);

/* Reads the runs of sweep ("" or NULL: all runs) with their metrics and latest
 * position losses. Fails when the sweep does not exist or has no runs. */
int report_load(store *s, const char *sweep, report_data *d, char *err, size_t errlen);
/* The same over several sweeps (a run in two of them is read once); n == 0: all runs. */
int report_load_sweeps(store *s, const char *const *sweeps, size_t n, report_data *d, char *err, size_t errlen);

/* Parses the budgets, verdict and reasons of a stored IsoFLOP fit (its
 * residuals_json or diagnostics_json "budgets" array, params/intervals of the
 * exponent). Missing pieces stay NAN / "" (fits stored before v3). */
int report_stored_fit_parse(const char *xcol, const char *params_json, const char *intervals_json,
                            const char *residuals_json, const char *verdict, const char *diagnostics_json,
                            report_stored_fit *f, char *err, size_t errlen);

/* Arms of the runs (see report_arm) and each budget's answer; called by report_analyse. */
int report_find_arms(report_data *d);

/* The answer in words, one line per arm and budget, as the page's first section
 * and `scalelab report` print it. */
int report_answer_text(const report_data *d, util_buf *out);

/* Knees, labels, budget groups (runs within 10% of each other's FLOPs), IsoFLOP
 * parabolas, arms and their answers, the frontier and the per-budget
 * recommendation. With no finished run there is nothing to fit, not an error:
 * the page then says so. */
int report_analyse(report_data *d, char *err, size_t errlen);

/* The text of one plot's gnuplot data file (blocks separated by two blank lines,
 * one per series, in the order its gnuplot script draws them). name is one of
 * "curves", "frontier", "isoflop_wsfr", "isoflop_params", "context". */
int report_plot_data(const report_data *d, const char *name, util_buf *out, char *err, size_t errlen);

/* Writes DIR/data/NAME.dat and .gp, runs gnuplot (no shell) to make
 * DIR/plots/NAME.svg, then DIR/index.html or DIR/index.md. The page starts with
 * the answer; a plot with no data says so instead of failing. */
int report_write(const report_data *d, const char *dir, report_format format, char *err, size_t errlen);

void report_data_free(report_data *d);

/* Text escaping for the two page formats. */
int report_html_escape(util_buf *b, const char *s);
int report_md_escape(util_buf *b, const char *s);

#endif
