/* scalelab fit: fit a scaling law to finished runs of a sweep or to any CSV, store it, print it. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "fit/fit.h"
#include "store/store.h"
#include "util/accounting.h"
#include "util/util.h"

static void usage(FILE *out) {
    fprintf(out,
        "usage: scalelab fit (--sweep S | --csv FILE) --form F [--x COLS] [--y COL] [options]\n\n"
        "Fits a scaling law, stores it (with its source, an id, a verdict and its diagnostics) and prints it.\n"
        "Every law is physical by construction: E in [0, min loss), A >= 0, exponents in (0, %g].\n"
        "Forms: powerlaw    L = E + A x^-alpha                 (one x column)\n"
        "       chinchilla  L = E + A/N^alpha + B/D^beta       (two: N, then D)\n"
        "       additive    L = E + sum_i A_i x_i^-alpha_i     (one to %d columns)\n"
        "       isoflop     per budget a parabola of loss in log x; x_opt = k C^a over budgets\n\n"
        "  --sweep S         finished runs of sweep S (repeatable: the runs of several sweeps, each\n"
        "                    once); columns: id, params (N), tokens (D),\n"
        "                    state_flops_per_token (S), weight_flops_per_token (W), wsfr,\n"
        "                    training_flops (C), params_non_embedding, state_dim, state_size,\n"
        "                    final_eval_loss (default y), final_train_loss, best_context_loss;\n"
        "                    from each run's config: mixer, window, p, head_dim, n_head (for --where)\n"
        "  --csv FILE        a CSV with a header row (RFC 4180; any column names); a row with an empty,\n"
        "                    NaN or non-numeric cell in a used column is skipped and counted (stderr)\n"
        "  --x COLS          comma-separated x columns (sweep defaults: params,tokens for\n"
        "                    chinchilla; params,tokens,state_flops_per_token for additive;\n"
        "                    training_flops for powerlaw; params for isoflop)\n"
        "  --y COL           loss column (default final_eval_loss for sweeps, loss for CSVs)\n"
        "  --where EXPR      keep rows where EXPR is true; repeatable, all must hold. EXPR: numbers,\n"
        "                    'text', columns (bare, or [any name]), + - * / // %% **, log() exp() min() max(),\n"
        "                    == != < <= > >=, and or not, ( ): --where 'loss < 3 and mixer == \"power\"'.\n"
        "                    Also COL~TEXT / COL!~TEXT (contains / not) and COL==WORD (text, when WORD\n"
        "                    names no column). A row where EXPR has no value (an empty cell) is skipped\n"
        "                    and counted like a missing cell\n"
        "  --derive N=EXPR   new column N: EXPR (as in --where) on every row, e.g.\n"
        "                    --derive 'tokens=[Training FLOP]/6/[Model Size]'; repeatable, in order\n"
        "  --loss huber|l2   sum of Huber(delta) of log residuals (default) or sum of squares in loss\n"
        "  --delta D         Huber delta (default 1e-3)\n"
        "  --method lm|bfgs2 Levenberg-Marquardt on sqrt-Huber residuals (default) or BFGS2\n"
        "  --grid SPEC       starts, e.g. 'e=-1:1:0.5,a=0:25:5,alpha=0:2:0.5' (Hoffmann's, the default)\n"
        "  --bootstrap N     N resampled refits give intervals for every parameter (default 0)\n"
        "  --seed S          bootstrap seed (default 0)\n"
        "  --level L         interval level (default 0.95)\n"
        "  --holdout-top K   fit without the K largest-compute points, report how they are predicted\n"
        "  --compute COL     compute column for --holdout-top and the stored compute span (default:\n"
        "                    training_flops for sweeps, else the product of the x columns)\n"
        "  --budget COL      isoflop: budget column (default training_flops for sweeps)\n"
        "  --budget-scale F  isoflop: budget in FLOPs = COL * F (default 1)\n"
        "  --budget-tol T    isoflop: budgets within relative T are one group (default 0.05)\n"
        "  --pool-mixers     allow a state column (state_size, state_flops_per_token, wsfr, state_dim)\n"
        "                    over runs of several mixers (refused otherwise); the verdict is then at best weak\n"
        "  --json            print {\"id\", \"form\", \"params\", \"intervals\", \"objective\", \"rmse_log\", \"n_points\",\n"
        "                    ..., \"verdict\", \"reasons\", \"diagnostics\"}\n"
        "  --format F        table (default) or json (--json)\n"
        "  --db PATH         the store (default: $SCALELAB_DB, else ./scalelab.db)\n"
        "  -h, --help        this text\n\n"
        "Verdict: ok | weak | unconstrained, with reasons; thresholds in fit/fit.h (unconstrained: a parameter\n"
        "at a bound, singular J^T J, exponent relative SE > %g, an x column spanning < %gx, a state that never\n"
        "moves at fixed weights, isoflop with < %d interior vertices; weak: relative SE > %g, span < %gx,\n"
        "< %g of polished starts converged, pooled mixers, an isoflop vertex or its interval outside its\n"
        "samples, an isoflop exponent whose interval contains 0, or isoflop budgets spanning < %gx).\n"
        "IsoFLOP vertices outside a budget's sampled x are bounds (<= min or >= max), not optima.\n",
        FIT_EXPONENT_MAX, FIT_MAX_TERMS, FIT_RELSE_UNCONSTRAINED, FIT_SPAN_UNCONSTRAINED, FIT_ISOFLOP_MIN_BUDGETS,
        FIT_RELSE_WEAK, FIT_SPAN_WEAK, FIT_CONVERGED_WEAK, FIT_SPAN_WEAK);
}

/* Numbers from the store (the id, every accounting field of util/accounting.h in its
 * order, the losses), then text from each run's config (run_config_cells). */
static const char *const sweep_cols[] = {
    "id", UTIL_ACCOUNTING_FIELDS(UTIL_ACCOUNTING_NAME_) "final_eval_loss", "final_train_loss", "best_context_loss",
    "mixer", "window", "p", "head_dim", "n_head"};
enum { N_SWEEP_COLS = sizeof sweep_cols / sizeof *sweep_cols, N_NUM_COLS = 1 + UTIL_ACCOUNTING_N + 3, N_CONFIG_COLS = 5 };
_Static_assert(N_SWEEP_COLS == N_NUM_COLS + N_CONFIG_COLS, "sweep_cols: numbers then config settings");

/* The config settings of a run, read from its canonical config with the store's JSON
 * reader (SQLite's json_each on $.model); a key the mixer does not use (window for power)
 * is absent from the canonical form and reads as an empty cell. */
static const char *const config_keys[N_CONFIG_COLS] = {"mixer", "window", "p", "head_dim", "n_head"};

static int run_config_cells(store *st, const char *json, char text[][40], char *err, size_t errlen) {
    for (int j = 0; j < N_CONFIG_COLS; j++) text[j][0] = '\0';
    store_json_item *items;
    size_t n;
    if (store_json_each(st, json, "$.model", &items, &n, err, errlen)) return -1;
    for (size_t i = 0; i < n; i++)
        for (int j = 0; j < N_CONFIG_COLS; j++)
            if (!strcmp(items[i].key, config_keys[j]) && items[i].value)
                snprintf(text[j], 40, "%s", items[i].value);
    store_json_items_free(items, n);
    return 0;
}

/* One run as a row: its accounting and losses, then settings from its config. */
static int add_run_row(fit_table *t, store *st, const store_run *r, char *err, size_t errlen) {
    double v[N_NUM_COLS] = {(double)r->id};
    for (int k = 0; k < UTIL_ACCOUNTING_N; k++) v[1 + k] = util_accounting_get(&r->acc, k);
    v[1 + UTIL_ACCOUNTING_N] = r->final_eval_loss;
    v[2 + UTIL_ACCOUNTING_N] = r->final_train_loss;
    v[3 + UTIL_ACCOUNTING_N] = r->best_context_loss;
    char text[N_SWEEP_COLS][40];
    const char *cells[N_SWEEP_COLS];
    for (int j = 0; j < N_NUM_COLS; j++) snprintf(text[j], sizeof text[j], "%.17g", v[j]);
    if (run_config_cells(st, r->config_json, text + N_NUM_COLS, err, errlen)) return -1;
    for (int j = 0; j < N_SWEEP_COLS; j++) cells[j] = text[j];
    return fit_table_add_row(t, cells, 0, err, errlen);
}

/* A run that two of the sweeps hold (identical configs are trained once) is one point. */
static int seen_before(const int64_t *ids, size_t n, int64_t id) {
    for (size_t i = 0; i < n; i++)
        if (ids[i] == id) return 1;
    return 0;
}

/* The finished runs of sweeps[0..n_sweeps) as one table; its source is "sweep:A+B+..."
 * (sweep names never hold '+', sweep/spec.c checks), which recommend reads back. */
static int table_from_sweeps(store *st, const char *const *sweeps, size_t n_sweeps, fit_table *t, char *err,
                       size_t errlen) {
    store_run *runs = NULL;
    size_t n = 0, n_used = 0;
    int64_t *used = NULL;
    util_buf src = {0};
    util_buf_puts(&src, "sweep:");
    for (size_t s = 0; s < n_sweeps; s++) util_buf_printf(&src, "%s%s", s ? "+" : "", sweeps[s]);
    int rc = fit_table_init(t, src.data, sweep_cols, N_SWEEP_COLS, err, errlen);
    for (size_t s = 0; s < n_sweeps && !rc; s++) {
        store_run_filter f = {sweeps[s], STORE_DONE, 0};
        store_runs_free(runs, n);
        runs = NULL, n = 0;
        if ((rc = store_runs_list(st, &f, &runs, &n, err, errlen))) break;
        if (n && !(used = realloc(used, (n_used + n) * sizeof *used))) {
            rc = util_err(err, errlen, "out of memory");
            break;
        }
        if (!n) rc = util_err(err, errlen, "sweep '%s' has no finished runs in the store", sweeps[s]);
        for (size_t i = 0; i < n && !rc; i++) {
            if (seen_before(used, n_used, runs[i].id)) continue;
            used[n_used++] = runs[i].id;
            rc = add_run_row(t, st, &runs[i], err, errlen);
        }
    }
    free(used);
    util_buf_free(&src);
    store_runs_free(runs, n);
    if (rc) fit_table_free(t);
    return rc;
}

/* Splits "a,b,c" into at most max names (pointers into a modified copy). */
static size_t split_cols(char *s, const char **out, size_t max) {
    size_t n = 0;
    for (char *tok = strtok(s, ","); tok && n < max + 1; tok = strtok(NULL, ",")) out[n++] = tok;
    return n;
}

typedef struct fit_cli {
    const char *sweeps[16], *csv, *x, *y, *compute, *budget, *db;
    size_t n_sweeps;
    fit_filter where[32];
    const char *derive[16];
    size_t n_where, n_derive;
    double budget_scale, budget_tol;
    int json, pool_mixers;
    fit_options o;
} fit_cli;

static void print_diagnostics(const fit_diagnostics *g, int isoflop) {
    printf("  verdict: %s\n", fit_verdict_name(g->verdict));
    for (size_t i = 0; i < g->n_reasons; i++) printf("    - %s\n", g->reasons[i]);
    if (!isoflop) printf("  converged: %zu of %zu polished starts\n", g->converged, g->polished);
    printf("  at a bound: ");
    for (size_t i = 0; i < g->n_at_bound; i++) printf("%s%s", i ? ", " : "", g->at_bound[i]);
    printf("%s\n  relative standard errors (%s%s):", g->n_at_bound ? "" : "none",
           isoflop ? "regression" : "J^T J", g->has_boot ? "; bootstrap" : "");
    for (size_t p = 0; p < g->n_params; p++) {
        printf("%s %s ", p ? "," : "", g->names[p]);
        if (isnan(g->rel_se[p])) printf("-");
        else printf("%.2g", g->rel_se[p]);
        if (g->has_boot) printf(isnan(g->rel_se_boot[p]) ? " (-)" : " (%.2g)", g->rel_se_boot[p]);
    }
    printf("%s\n  span:", g->singular ? " (J^T J singular)" : "");
    for (size_t j = 0; j < g->k; j++)
        printf(" %s %.3g..%.3g (%.3gx);", g->cols[j], g->x_min[j], g->x_max[j], g->x_max[j] / g->x_min[j]);
    printf(" compute %.3g..%.3g\n", g->compute_min, g->compute_max);
    if (g->n_mixers) {
        printf("  mixers:");
        for (size_t i = 0; i < g->n_mixers; i++) printf(" %s", g->mixers[i]);
        printf("%s\n", g->pooled_mixers ? " (pooled)" : "");
    }
}

static int print_text_law(const fit_result *r, const fit_options *o, int64_t id, const char *source) {
    char names[FIT_MAX_PARAMS][128];
    double nat[FIT_MAX_PARAMS];
    size_t np = 1 + 2 * r->law.k;
    fit_law_param_names(&r->law, names);
    fit_law_natural(&r->law, r->law.theta, nat);
    printf("fit %lld: %s on %s: %zu points, %zu starts (%zu polished, %zu converged)\n", (long long)id,
           fit_form_name(r->law.form), source, r->n_points, r->n_starts, r->n_polished, r->n_converged);
    for (size_t i = 0; i < np; i++) {
        printf("  %-24s %12.6g", names[i], nat[i]);
        if (r->n_boot) {
            double *v = malloc(r->n_boot * sizeof *v), lo, hi;
            if (!v) return -1;
            for (size_t s = 0; s < r->n_boot; s++) {
                double bn[FIT_MAX_PARAMS];
                fit_law_natural(&r->law, r->boot + s * np, bn);
                v[s] = bn[i];
            }
            fit_percentile_interval(v, r->n_boot, o->level, &lo, &hi);
            printf("   [%.6g, %.6g] (%g%%, %zu bootstrap refits)", lo, hi, 100 * o->level, r->n_boot);
            free(v);
        }
        printf("\n");
    }
    if (r->law.form == FIT_CHINCHILLA)
        printf("  N_opt ~ C^%.4f, D_opt ~ C^%.4f\n", nat[4] / (nat[2] + nat[4]), nat[2] / (nat[2] + nat[4]));
    if (o->loss == FIT_LOSS_HUBER)
        printf("  objective (sum of Huber, delta %g, of log residuals) %.10g\n", o->delta, r->objective);
    else
        printf("  objective (sum of squared loss residuals) %.10g\n", r->objective);
    printf("  rmse of log residuals %.6g\n", r->rmse_log);
    if (r->n_holdout) {
        printf("  holdout: %zu largest-compute points, rmse of log residuals %.6g\n", r->n_holdout, r->holdout_rmse_log);
        for (size_t i = 0; i < r->n_holdout; i++)
            printf("    row %zu: observed %.6g, predicted %.6g\n", r->holdout_row[i] + 1, r->holdout_obs[i],
                   r->holdout_pred[i]);
    }
    return 0;
}

/* One budget's x_opt: the vertex, or the bound it gives when it lies outside the samples. */
static void print_budget(const fit_isoflop_budget *g) {
    char xo[64], iv[80];
    if (g->bound < 0) snprintf(xo, sizeof xo, "<= %.6g", g->x_min);
    else if (g->bound > 0) snprintf(xo, sizeof xo, ">= %.6g", g->x_max);
    else snprintf(xo, sizeof xo, "%.6g", g->vertex);
    if (g->bound) snprintf(iv, sizeof iv, "no interval: a bound");
    else if (isnan(g->lo)) snprintf(iv, sizeof iv, "no interval: %zu points", g->n);
    else snprintf(iv, sizeof iv, "[%12.6g, %12.6g]", g->lo, g->hi);
    printf("  %-12.4g %4zu %14s %30s %10.5g", g->budget, g->n, xo, iv, g->loss);
    if (g->bound) printf("   (vertex %.3g outside %.3g..%.3g)", g->vertex, g->x_min, g->x_max);
    printf("\n");
}

static void print_text_isoflop(const fit_isoflop *r, int64_t id, const char *source) {
    printf("fit %lld: isoflop on %s: %zu points in %zu budgets (%zu groups skipped)\n", (long long)id, source,
           r->n_points, r->n_budgets, r->n_skipped);
    printf("  %-12s %4s %14s %30s %10s\n", "budget", "n", "x_opt", "interval", "loss_opt");
    for (size_t i = 0; i < r->n_budgets; i++) print_budget(&r->budgets[i]);
    if (r->note[0])
        printf("  %s_opt = k * C^a: %s\n", r->col, r->note);
    else
        printf("  %s_opt = %.6g * C^%.4f   (exponent interval [%.4f, %.4f], from %zu budgets with interior vertices)\n",
               r->col, exp(r->log_k), r->exponent, r->exponent_lo, r->exponent_hi, r->n_interior);
    printf("  rmse of log residuals of the parabolas %.6g\n", r->rmse_log);
}

static int run(fit_cli *c, fit_table *t, char *err, size_t errlen) {
    fit_data d = {0};
    fit_result r = {0};
    fit_isoflop iso = {0};
    util_buf inputs = {0}, params = {0}, intervals = {0}, resid = {0}, out = {0}, diag = {0};
    fit_context ctx = {0};
    fit_diagnostics g = {0};
    store *st = NULL;
    int rc = -1;
    char *xcopy = NULL;
    const char *xcols[FIT_MAX_TERMS + 1];
    for (size_t i = 0; i < c->n_derive; i++)
        if (fit_table_derive(t, c->derive[i], err, errlen)) goto out;
    if (!(xcopy = strdup(c->x))) goto out;
    size_t k = split_cols(xcopy, xcols, FIT_MAX_TERMS);
    if (k > FIT_MAX_TERMS) { util_err(err, errlen, "--x: at most %d columns", FIT_MAX_TERMS); goto out; }
    if (c->o.form == FIT_ISOFLOP && k != 1) { util_err(err, errlen, "--x: isoflop takes one x column (N or wsfr)"); goto out; }
    const char *cc = c->o.form == FIT_ISOFLOP ? c->budget : c->compute;
    if (fit_data_select(t, xcols, k, c->y, cc, c->where, c->n_where, &d, err, errlen)) goto out;
    if (d.n_skipped) /* stderr: a note, not part of the fit's output (text or JSON) */
        fprintf(stderr, "scalelab: fit: skipped %zu row%s with a missing, non-numeric or NaN cell in the used columns "
                "or where --where has no value (the first: %s)\n", d.n_skipped, d.n_skipped == 1 ? "" : "s", d.first_skipped);
    if (fit_context_build(t, &d, c->pool_mixers, &ctx, err, errlen)) goto out;
    store_fit sf = {0};
    sf.form = (char *)fit_form_name(c->o.form);
    sf.source = t->source;
    if (c->o.form == FIT_ISOFLOP) {
        if (fit_data_check(&d, 3, err, errlen)) goto out;
        for (size_t i = 0; i < d.n; i++) d.compute[i] *= c->budget_scale;
        if (fit_isoflop_fit(d.x, d.y, d.compute, d.n, c->budget_tol, c->o.level, d.cols[0], &iso, err, errlen)) goto out;
        fit_isoflop_inputs_json(&iso, t->source, d.ycol, c->budget, c->budget_scale, &inputs);
        fit_isoflop_params_json(&iso, &params);
        fit_isoflop_intervals_json(&iso, &intervals);
        fit_isoflop_budgets_json(&iso, &resid);
        if (fit_isoflop_diagnose(&iso, &ctx, &g, err, errlen)) goto out;
        sf.objective = iso.objective;
        sf.rmse_log = iso.rmse_log;
        sf.n_points = (int64_t)iso.n_points;
    } else {
        if (fit_law_fit(&d, &c->o, &r, err, errlen)) goto out;
        fit_law_inputs_json(&r, &d, &c->o, t->source, &inputs);
        fit_result_params_json(&r, &params);
        fit_result_intervals_json(&r, c->o.level, &intervals);
        fit_law_residuals_json(&r, &d, &resid);
        if (fit_law_diagnose(&d, &r, &ctx, &g, err, errlen)) goto out;
        sf.objective = r.objective;
        sf.rmse_log = r.rmse_log;
        sf.n_points = (int64_t)r.n_points;
    }
    const char *where_text[sizeof c->where / sizeof *c->where];
    for (size_t i = 0; i < c->n_where; i++) where_text[i] = c->where[i].expr;
    fit_selection sel = {c->derive, where_text, c->n_derive, c->n_where, cc, c->pool_mixers,
                         c->o.form == FIT_ISOFLOP ? c->budget_tol : NAN, d.n_skipped};
    if (fit_inputs_append_selection(&inputs, &sel)) { util_err(err, errlen, "out of memory"); goto out; }
    sf.inputs_json = inputs.data;
    sf.params_json = params.data;
    sf.intervals_json = intervals.data;
    sf.residuals_json = resid.data;
    fit_diagnostics_json(&g, &diag);
    sf.verdict = (char *)fit_verdict_name(g.verdict);
    sf.diagnostics_json = diag.data;
    int64_t id = 0;
    if (store_open_flags(cli_db_path(c->db), STORE_OPEN_CHECK, &st, err, errlen) || store_fit_insert(st, &sf, &id, err, errlen)) goto out;
    if (c->json) {
        if (c->o.form == FIT_ISOFLOP) fit_isoflop_json(&iso, &out);
        else fit_result_json(&r, &c->o, &out);
        fit_json_append_diagnostics(&out, &g);
        printf("{\"id\": %lld, %s\n", (long long)id, out.data + 1);
    } else if (c->o.form == FIT_ISOFLOP) {
        print_text_isoflop(&iso, id, t->source);
        print_diagnostics(&g, 1);
    } else if (print_text_law(&r, &c->o, id, t->source)) {
        goto out;
    } else {
        print_diagnostics(&g, 0);
    }
    rc = 0;
out:
    if (st) store_close(st);
    free(xcopy);
    fit_data_free(&d);
    fit_result_free(&r);
    fit_isoflop_free(&iso);
    util_buf_free(&inputs);
    util_buf_free(&params);
    util_buf_free(&intervals);
    util_buf_free(&resid);
    util_buf_free(&out);
    util_buf_free(&diag);
    fit_context_free(&ctx);
    fit_diagnostics_free(&g);
    return rc;
}

static int parse_double(const char *s, double *v) {
    char *end;
    *v = strtod(s, &end);
    return !*s || *end || !isfinite(*v);
}

int cli_fit(int argc, char **argv) {
    static const struct option opts[] = {
        {"sweep", 1, 0, 's'}, {"csv", 1, 0, 'c'}, {"form", 1, 0, 'f'}, {"x", 1, 0, 'x'}, {"y", 1, 0, 'y'},
        {"where", 1, 0, 'w'}, {"derive", 1, 0, 'D'}, {"loss", 1, 0, 'l'}, {"delta", 1, 0, 'd'},
        {"method", 1, 0, 'm'}, {"grid", 1, 0, 'g'}, {"bootstrap", 1, 0, 'b'}, {"seed", 1, 0, 'S'},
        {"level", 1, 0, 'L'}, {"holdout-top", 1, 0, 'k'}, {"compute", 1, 0, 'C'}, {"budget", 1, 0, 'B'},
        {"budget-scale", 1, 0, 'F'}, {"budget-tol", 1, 0, 'T'}, {"json", 0, 0, 'j'}, {"format", 1, 0, 'O'}, {"db", 1, 0, 'p'},
        {"pool-mixers", 0, 0, 'P'},
        {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    fit_cli c = {0};
    fit_options_default(&c.o);
    c.budget_scale = 1;
    c.budget_tol = 0.05;
    char err[1024] = "";
    optind = 1;
    opterr = 0; /* cli_option_error says it, once, in scalelab's words */
    int ch;
    double v;
    while ((ch = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (ch) {
        case 's':
            if (c.n_sweeps == sizeof c.sweeps / sizeof *c.sweeps)
                return cli_error(CLI_USAGE, "fit", "--sweep: at most %zu sweeps", sizeof c.sweeps / sizeof *c.sweeps);
            c.sweeps[c.n_sweeps++] = optarg;
            break;
        case 'c': c.csv = optarg; break;
        case 'f':
            if (fit_form_parse(optarg, &c.o.form))
                return cli_error(CLI_USAGE, "fit", "--form '%s': expected powerlaw, chinchilla, additive or isoflop", optarg);
            break;
        case 'x': c.x = optarg; break;
        case 'y': c.y = optarg; break;
        case 'w':
            if (c.n_where == 32) return cli_error(CLI_USAGE, "fit", "at most 32 --where filters");
            if (fit_filter_parse(optarg, &c.where[c.n_where++], err, sizeof err))
                return cli_error(CLI_USAGE, "fit", "--where %s", err);
            break;
        case 'D':
            if (c.n_derive == 16) return cli_error(CLI_USAGE, "fit", "at most 16 --derive columns");
            c.derive[c.n_derive++] = optarg;
            break;
        case 'l':
            if (!strcmp(optarg, "huber")) c.o.loss = FIT_LOSS_HUBER;
            else if (!strcmp(optarg, "l2")) c.o.loss = FIT_LOSS_L2;
            else return cli_error(CLI_USAGE, "fit", "--loss '%s': expected huber or l2", optarg);
            break;
        case 'd':
            if (parse_double(optarg, &c.o.delta) || c.o.delta <= 0)
                return cli_error(CLI_USAGE, "fit", "--delta '%s': expected a positive number", optarg);
            break;
        case 'm':
            if (!strcmp(optarg, "lm")) c.o.method = FIT_METHOD_LM;
            else if (!strcmp(optarg, "bfgs2")) c.o.method = FIT_METHOD_BFGS2;
            else return cli_error(CLI_USAGE, "fit", "--method '%s': expected lm or bfgs2", optarg);
            break;
        case 'g':
            if (fit_grid_parse(optarg, &c.o.grid, err, sizeof err)) return cli_error(CLI_USAGE, "fit", "--%s", err);
            break;
        case 'b':
            if (parse_double(optarg, &v) || v < 0 || v > 1e6 || v != floor(v))
                return cli_error(CLI_USAGE, "fit", "--bootstrap '%s': expected a count from 0 to 1000000", optarg);
            c.o.bootstrap = (int)v;
            break;
        case 'S':
            if (parse_double(optarg, &v) || v < 0 || v != floor(v))
                return cli_error(CLI_USAGE, "fit", "--seed '%s': expected a non-negative integer", optarg);
            c.o.seed = strtoull(optarg, NULL, 10);
            break;
        case 'L':
            if (parse_double(optarg, &c.o.level) || c.o.level <= 0 || c.o.level >= 1)
                return cli_error(CLI_USAGE, "fit", "--level '%s': expected a number between 0 and 1", optarg);
            break;
        case 'k':
            if (parse_double(optarg, &v) || v < 0 || v != floor(v))
                return cli_error(CLI_USAGE, "fit", "--holdout-top '%s': expected a count", optarg);
            c.o.holdout_top = (size_t)v;
            break;
        case 'C': c.compute = optarg; break;
        case 'B': c.budget = optarg; break;
        case 'F':
            if (parse_double(optarg, &c.budget_scale) || c.budget_scale <= 0)
                return cli_error(CLI_USAGE, "fit", "--budget-scale '%s': expected a positive number", optarg);
            break;
        case 'T':
            if (parse_double(optarg, &c.budget_tol) || c.budget_tol < 0)
                return cli_error(CLI_USAGE, "fit", "--budget-tol '%s': expected a non-negative number", optarg);
            break;
        case 'j': c.json = 1; break;
        case 'O':
            if (cli_format_json("fit", optarg, &c.json)) return CLI_USAGE;
            break;
        case 'P': c.pool_mixers = 1; break;
        case 'p': c.db = optarg; break;
        case 'h': usage(stdout); return CLI_OK;
        default: return cli_option_error("fit", ch, argv, opts);
        }
    }
    if (optind < argc) return cli_error(CLI_USAGE, "fit", "unexpected argument '%s'", argv[optind]);
    if (!!c.n_sweeps == !!c.csv)
        return cli_error(CLI_USAGE, "fit", "give exactly one of --sweep S (repeatable) and --csv FILE");
    if (!c.x && c.csv) return cli_error(CLI_USAGE, "fit", "--x COLS is needed with --csv");
    if (!c.x) {
        static const char *const dx[] = {"training_flops", "params,tokens", "params,tokens,state_flops_per_token", "params"};
        c.x = dx[c.o.form];
    }
    if (!c.y) c.y = c.n_sweeps ? "final_eval_loss" : "loss";
    /* A sweep's compute is what its runs cost, not the product of the x columns:
     * recommend's extrapolation factor and --holdout-top rank by it. */
    if (!c.compute && c.n_sweeps) c.compute = "training_flops";
    if (c.o.form == FIT_ISOFLOP && (c.o.bootstrap || c.o.holdout_top))
        return cli_error(CLI_USAGE, "fit", "--bootstrap and --holdout-top apply to powerlaw, chinchilla and additive; "
                                           "isoflop intervals come from the parabolas and the log-log regression");
    if (c.o.form == FIT_ISOFLOP && !c.budget) {
        if (c.csv) return cli_error(CLI_USAGE, "fit", "--budget COL is needed for an isoflop fit of a CSV");
        c.budget = "training_flops";
    }
    fit_table t = {0};
    if (c.csv) {
        if (fit_table_read_csv(c.csv, &t, err, sizeof err)) return cli_error(CLI_FAIL, "fit", "%s", err);
    } else {
        store *st = NULL;
        if (store_open(cli_db_path(c.db), &st, err, sizeof err)) return cli_error(CLI_FAIL, "fit", "%s", err);
        int rc = table_from_sweeps(st, c.sweeps, c.n_sweeps, &t, err, sizeof err);
        store_close(st);
        if (rc) return cli_error(CLI_FAIL, "fit", "%s", err);
    }
    int rc = run(&c, &t, err, sizeof err);
    fit_table_free(&t);
    return rc ? cli_error(CLI_FAIL, "fit", "%s", err) : CLI_OK;
}
