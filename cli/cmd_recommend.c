/* scalelab recommend: what a stored fit says about a budget, and only what its data support.
 * Parses, calls and prints: the optimum is fit_law_optimum_cost, the cost model fit_cost_fit,
 * the family sweep_family_load, the ranking fit_rank_candidates, the runs to measure the cost on
 * store_source_run_costs; the stored law and its diagnostics are read with SQLite's JSON
 * functions (store_fit_inputs_read, store_json_*). */
#include <getopt.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli/cli.h"
#include "fit/fit.h"
#include "model/model.h"
#include "store/store.h"
#include "sweep/sweep.h"
#include "util/util.h"

static void usage(FILE *out) {
    fprintf(out,
        "usage: scalelab recommend --budget C [--fit ID] [--family FAMILY.yaml] [--top K]\n"
        "                          [--w-per-param K] [--format table|json] [--json] [--db PATH]\n\n"
        "Answers what a stored fit supports at training budget C, under C = 3 (W + S) tokens:\n"
        "  - an unconstrained fit is refused (exit 1) with its reasons and the runs that would fix it;\n"
        "    a weak one, or one stored before verdicts existed, is answered with a warning;\n"
        "  - the extrapolation factor: C / the largest compute in the fit's data;\n"
        "  - W and S come from the runs, never W = 2 N: for a fit of a sweep, log W and log S are\n"
        "    fitted against log N over the sweep's finished runs (the cost model is printed); a fit\n"
        "    without runs (a CSV) assumes W = K N, S = 0 (--w-per-param, default 2: C = 6 N D);\n"
        "  - the optimum over N (Brent) or (N, S) (Nelder-Mead); one at the edge of the searched\n"
        "    range is reported as a bound, not an optimum; the closed form\n"
        "    N_opt = G (C/(3K))^(beta/(alpha+beta)) is printed as a cross-check where W = K N, S = 0;\n"
        "  - intervals from the fit's bootstrap; replicates without an interior optimum are counted.\n"
        "With --family only configurations the family builds are considered (their W, S and state\n"
        "size from the FLOP accounting, tokens = C / (3 (W + S))), ranked by predicted loss; a config\n"
        "whose loss is not finite is skipped and counted; the best config's quantities carry intervals\n"
        "from the argmin config of each bootstrap replicate; a best config at the family's smallest or\n"
        "largest value of a key is marked as a bound. A state law (columns params, tokens and\n"
        "state_size or state_dim) needs --family: the family maps the state to a configuration.\n"
        "An isoflop fit gives x_opt = k C^a; with --family, configs nearest to it in log x.\n\n"
        "  --budget C        training FLOPs (e.g. 1e21)\n"
        "  --fit ID          the stored fit (default: the latest)\n"
        "  --family FILE     search the configs of this family (format: sweep/sweep.h;\n"
        "                    examples: configs/family-*.yaml)\n"
        "  --top K           how many configs to list (default 5)\n"
        "  --w-per-param K   assume W = K N, S = 0 instead of measuring W and S on the fit's runs\n"
        "  --json            {\"fit\", \"form\", \"source\", \"budget\", \"verdict\", \"warnings\", \"extrapolation\",\n"
        "                    \"compute_max\", \"cost\", \"N_opt\", \"D_opt\", \"W_opt\", \"S_opt\", \"wsfr_opt\",\n"
        "                    \"loss_opt\", \"bound\", \"closed_form\", \"bootstrap\", \"bootstrap_replicates\",\n"
        "                    \"bootstrap_no_optimum\", \"intervals\", \"bounds\"[, \"family\", \"best\", \"configs\"]}\n"
        "  --format F        table (default) or json (--json)\n"
        "  --db PATH         the store (default: $SCALELAB_DB, else ./scalelab.db)\n"
        "  -h, --help        this text\n");
}

enum { Q_N, Q_D, Q_W, Q_S, Q_WSFR, Q_LOSS, N_Q };
static const char *const q_names[N_Q] = {"N_opt", "D_opt", "W_opt", "S_opt", "wsfr_opt", "loss_opt"};

static void opt_values(const fit_optimum *o, double *q) {
    /* S = 0 means the cost has no state: S_opt (and WSFR) do not apply */
    q[Q_N] = o->N, q[Q_D] = o->D, q[Q_W] = o->W, q[Q_S] = o->S > 0 ? o->S : NAN, q[Q_WSFR] = o->wsfr,
    q[Q_LOSS] = o->loss;
}

static int optimum(const fit_law *law, double C, const fit_cost *cost, fit_optimum *o, char *err, size_t errlen) {
    return law->form == FIT_ISOFLOP ? fit_isoflop_optimum(law, C, cost, o, err, errlen)
                                    : fit_law_optimum_cost(law, C, cost, o, err, errlen);
}

/* ---- what the fit's diagnostics say (read with SQLite's JSON functions) ---- */

typedef struct diag {
    char **reasons;
    size_t n_reasons;
    double compute_max;         /* NAN when unknown */
    int pooled_mixers;
    char **mixers;
    size_t n_mixers;
    store_json_item *span;      /* x_span: key = column, value = {"min", "max", "ratio"} */
    size_t n_span;
} diag;

static void diag_free(diag *d) {
    store_strings_free(d->reasons, d->n_reasons);
    store_strings_free(d->mixers, d->n_mixers);
    store_json_items_free(d->span, d->n_span);
    memset(d, 0, sizeof *d);
}

/* A number of a diagnostics document; NAN when absent (older fits lack some). */
static double json_number(store *st, const char *json, const char *path) {
    double v = NAN;
    char e[256];
    store_json_number(st, json, path, &v, e, sizeof e);
    return v;
}

static int diag_read(store *st, const char *json, diag *d, char *err, size_t errlen) {
    memset(d, 0, sizeof *d);
    d->compute_max = NAN;
    if (!json) return 0;
    store_json_item *it;
    size_t m;
    if (store_json_strings(st, json, "$.reasons", &d->reasons, &d->n_reasons, err, errlen) ||
        store_json_strings(st, json, "$.mixers", &d->mixers, &d->n_mixers, err, errlen) ||
        store_json_each(st, json, "$.x_span", &d->span, &d->n_span, err, errlen))
        return -1;
    d->compute_max = json_number(st, json, "$.compute.max");
    if (store_json_each(st, json, "$.pooled_mixers", &it, &m, err, errlen)) return -1;
    d->pooled_mixers = m == 1 && !strcmp(it[0].type, "true");
    store_json_items_free(it, m);
    return 0;
}

/* "reason; reason" and, for each x column a reason names, the runs that would widen it. */
static void unconstrained_message(store *st, const diag *d, util_buf *b) {
    for (size_t i = 0; i < d->n_reasons; i++) util_buf_printf(b, "%s%s", i ? "; " : "", d->reasons[i]);
    if (!d->n_reasons) util_buf_puts(b, "the diagnostics give no reason");
    for (size_t j = 0; j < d->n_span; j++) {
        int named = 0;
        for (size_t i = 0; i < d->n_reasons; i++) named |= strstr(d->reasons[i], d->span[j].key) != NULL;
        if (!named || !d->span[j].value) continue;
        double lo = json_number(st, d->span[j].value, "$.min"), hi = json_number(st, d->span[j].value, "$.max");
        if (!isfinite(lo) || !isfinite(hi)) continue;
        util_buf_printf(b, "; runs that would fix it: %s below %.3g or above %.3g (the data span %.3g to %.3g)",
                        d->span[j].key, lo / 3, hi * 3, lo, hi);
    }
}

/* ---- the cost model: measured on the fit's runs, or assumed ---- */

typedef struct cost_info {
    fit_cost c;
    int measured;
    double runs_compute_max;   /* largest training_flops of the source sweep's runs (NAN: none) */
    char note[512];
} cost_info;

static int cost_model(store *st, const char *source, const fit_law *law, double w_per_param, cost_info *ci,
                      char *err, size_t errlen) {
    memset(ci, 0, sizeof *ci);
    store_run_costs rc;
    if (store_source_run_costs(st, source, &rc, err, errlen)) return -1;
    ci->runs_compute_max = rc.training_flops_max;
    int fail = 0;
    const char *n_col;
    if (!isnan(w_per_param)) {
        fit_cost_per_param(&ci->c, w_per_param);
        snprintf(ci->note, sizeof ci->note, "assumed W = %g N, S = 0 per token (--w-per-param)", w_per_param);
    } else if (rc.n) {
        if (!(fail = fit_cost_for_law(law, rc.params, rc.params_non_embedding, rc.weight_flops_per_token,
                                      rc.state_flops_per_token, rc.n, &ci->c, &n_col, err, errlen))) {
            ci->measured = 1;
            snprintf(ci->note, sizeof ci->note,
                     "W = %.4g N^%.4f, S = %.4g N^%.4f per token (N = %s), log-log least squares over %zu runs of "
                     "sweep %s",
                     ci->c.w_coef, ci->c.w_exp, ci->c.s_coef, ci->c.s_exp, n_col, ci->c.n_runs, source + 6);
        }
    } else {
        fit_cost_per_param(&ci->c, 2);
        snprintf(ci->note, sizeof ci->note,
                 "assumed W = 2 N, S = 0 per token (the C = 6 N D convention): the fit's source %s has no runs to "
                 "measure W and S on; --w-per-param K sets another K",
                 source);
    }
    store_run_costs_free(&rc);
    return fail;
}

/* ---- family candidates: the law's column values from each config's accounting ---- */

static const char *short_key(const char *key) {
    const char *d = strchr(key, '.');
    return d ? d + 1 : key;
}

static double column_value(const fit_law *law, size_t j, const sweep_family_member *m, double C) {
    const char *c = law->cols[j] ? law->cols[j] : "";
    fit_role r = law->form == FIT_CHINCHILLA ? (j ? FIT_ROLE_D : FIT_ROLE_N) : fit_role_of(c);
    double v = sweep_family_value(m, c);
    if (!isnan(v)) return v;
    if (r == FIT_ROLE_N) return m->params;
    if (r == FIT_ROLE_D) return NAN; /* filled from the budget by fit_rank_candidates */
    if (r == FIT_ROLE_S) return m->S;
    if (!strcmp(c, "W")) return m->W;
    if (!strcasecmp(c, "training_flops") || !strcmp(c, "C")) return C;
    return NAN;
}

typedef struct answer {
    sweep_family fam;
    fit_rank rank;
    size_t best;
    double *qv;       /* per candidate: params, tokens, W, S, wsfr, state_size, loss (A_* order) */
    double lo[8], hi[8];
    size_t n_boot_ok;
} answer;

enum { A_PARAMS, A_TOKENS, A_W, A_S, A_WSFR, A_STATE, A_LOSS, N_A };
static const char *const a_names[N_A] = {"params", "tokens", "weight_flops_per_token", "state_flops_per_token",
                                         "wsfr", "state_size", "predicted_loss"};
static const char *const a_short[N_A] = {"params", "tokens", "W", "S", "WSFR", "state_size", "loss"};

static int family_answer(const char *path, const fit_law *law, const double *boot, size_t n_boot, double C,
                         answer *a, char *err, size_t errlen) {
    if (sweep_family_load(path, &a->fam, err, errlen)) return -1;
    size_t n = a->fam.n, k = law->form == FIT_ISOFLOP ? 1 : law->k;
    double *x = malloc(n * k * sizeof *x), *W = malloc(n * sizeof *W), *S = malloc(n * sizeof *S);
    int rc = -1;
    if (!x || !W || !S || !(a->qv = malloc(N_A * n * sizeof *a->qv))) {
        util_err(err, errlen, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const sweep_family_member *m = &a->fam.members[i];
        W[i] = m->W, S[i] = m->S;
        for (size_t j = 0; j < k; j++) x[i * k + j] = column_value(law, j, m, C);
    }
    if (fit_rank_candidates(law, boot, n_boot, x, W, S, n, C, 0.95, &a->rank, err, errlen)) goto out;
    if (!a->rank.n_ranked) {
        util_err(err, errlen, "%s: no config of the family has a finite predicted loss under the fit (%zu skipped)",
                 path, a->rank.n_skipped);
        goto out;
    }
    a->best = a->rank.order[0];
    for (size_t i = 0; i < n; i++) {
        const sweep_family_member *m = &a->fam.members[i];
        double v[N_A] = {m->params, a->rank.tokens[i], m->W, m->S, m->wsfr, m->state_size, a->rank.loss[i]};
        for (int q = 0; q < N_A; q++) a->qv[q * n + i] = v[q];
    }
    for (int q = 0; q < N_A; q++) {
        if (q == A_LOSS) a->lo[q] = a->rank.loss_lo[a->best], a->hi[q] = a->rank.loss_hi[a->best];
        else fit_rank_interval(&a->rank, a->qv + q * n, 0.95, &a->lo[q], &a->hi[q]);
    }
    a->n_boot_ok = a->rank.n_boot - a->rank.n_boot_none;
    rc = 0;
out:
    free(x), free(W), free(S);
    return rc;
}

static void answer_free(answer *a) {
    fit_rank_free(&a->rank);
    sweep_family_free(&a->fam);
    free(a->qv);
}

/* A state key's numeric interval over the replicates' argmin configs (NAN when not numeric). */
static void key_interval(const answer *a, size_t key, double *lo, double *hi) {
    *lo = *hi = NAN;
    double *v = malloc(a->fam.n * sizeof *v);
    if (!v) return;
    for (size_t i = 0; i < a->fam.n; i++) {
        char *end;
        v[i] = strtod(a->fam.members[i].values[key], &end);
        if (*end || end == a->fam.members[i].values[key]) { free(v); return; }
    }
    fit_rank_interval(&a->rank, v, 0.95, lo, hi);
    free(v);
}

/* The bound messages of the family's best config: a key at the family's edge, or a law column
 * at the candidates' edge. A state key counts only for a law that sees the state (a state law
 * or an S column): otherwise the state is pure cost and its smallest setting wins trivially. */
static void family_bounds(const fit_law *law, const answer *a, int law_sees_state, char ***out, size_t *n) {
    for (size_t k = 0; k < a->fam.n_keys; k++) {
        int e = sweep_family_edge(&a->fam, a->best, k);
        if (!e || (sweep_family_key_is_state(a->fam.keys[k]) && !law_sees_state)) continue;
        util_buf b = {0};
        util_buf_printf(&b, "bound: the %s %s in the family (%s) is best; the optimum may lie beyond",
                        e > 0 ? "largest" : "smallest", short_key(a->fam.keys[k]), a->fam.members[a->best].values[k]);
        char **v = realloc(*out, (*n + 1) * sizeof *v);
        if (!v || !b.data) { util_buf_free(&b); return; }
        *out = v, v[(*n)++] = b.data;
    }
    for (size_t j = 0; j < a->rank.k && law->form != FIT_ISOFLOP; j++) {
        fit_role r = law->form == FIT_CHINCHILLA ? (j ? FIT_ROLE_D : FIT_ROLE_N) : fit_role_of(law->cols[j]);
        if (!a->rank.bound[j] || r == FIT_ROLE_D) continue; /* tokens follow from W + S */
        util_buf b = {0};
        util_buf_printf(&b, "bound: the best config has the %s %s of all the family's configs",
                        a->rank.bound[j] > 0 ? "largest" : "smallest", law->cols[j]);
        char **v = realloc(*out, (*n + 1) * sizeof *v);
        if (!v || !b.data) { util_buf_free(&b); return; }
        *out = v, v[(*n)++] = b.data;
    }
}

/* ---- printing ---- */

static void json_num_or_null(util_buf *b, double x) {
    util_buf_json_num(b, x); /* NAN and infinities print as null */
}

static void json_strs(util_buf *b, char **v, size_t n) {
    util_buf_puts(b, "[");
    for (size_t i = 0; i < n; i++) {
        util_buf_puts(b, i ? ", " : "");
        util_buf_json_str(b, v[i]);
    }
    util_buf_puts(b, "]");
}

static void json_interval(util_buf *b, double lo, double hi) {
    if (isnan(lo)) { util_buf_puts(b, "null"); return; }
    util_buf_puts(b, "[");
    util_buf_json_num(b, lo);
    util_buf_puts(b, ", ");
    util_buf_json_num(b, hi);
    util_buf_puts(b, "]");
}

static void json_setting(util_buf *b, const answer *a, size_t i, int state_only) {
    util_buf_puts(b, "{");
    int first = 1;
    for (size_t k = 0; k < a->fam.n_keys; k++) {
        if (!sweep_family_key_varies(&a->fam, k) || (state_only && !sweep_family_key_is_state(a->fam.keys[k])))
            continue;
        util_buf_puts(b, first ? "" : ", ");
        util_buf_json_str(b, short_key(a->fam.keys[k]));
        util_buf_puts(b, ": ");
        const char *v = a->fam.members[i].values[k];
        char *end;
        double x = strtod(v, &end);
        if (*v && !*end && isfinite(x)) util_buf_json_num(b, x);
        else util_buf_json_str(b, v);
        first = 0;
    }
    util_buf_puts(b, "}");
}

static void print_row(const char *name, double v, double lo, double hi, size_t n_ok) {
    printf("  %-12s %14.6g", name, v);
    if (!isnan(lo)) printf("   [%.6g, %.6g] (95%%, %zu bootstrap fits)", lo, hi, n_ok);
    printf("\n");
}

static void print_setting(const answer *a, size_t i, int state_only) {
    int any = 0;
    for (size_t k = 0; k < a->fam.n_keys; k++) {
        if (!sweep_family_key_varies(&a->fam, k) || (state_only && !sweep_family_key_is_state(a->fam.keys[k])))
            continue;
        printf("%s%s=%s", any ? " " : "", short_key(a->fam.keys[k]), a->fam.members[i].values[k]);
        any = 1;
    }
    if (!any) printf("(the family's only setting)");
}

int cli_recommend(int argc, char **argv) {
    static const struct option opts[] = {{"budget", 1, 0, 'b'}, {"fit", 1, 0, 'f'},  {"family", 1, 0, 'F'},
                                         {"top", 1, 0, 'k'},    {"json", 0, 0, 'j'}, {"format", 1, 0, 'O'}, {"db", 1, 0, 'p'},
                                         {"w-per-param", 1, 0, 'w'}, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    double C = NAN, w_per_param = NAN;
    long long fit_id = 0;
    long top = 5;
    const char *family = NULL, *db = NULL;
    int json = 0, ch;
    char *end, err[2048] = "";
    optind = 1;
    opterr = 0; /* cli_option_error says it, once, in scalelab's words */
    while ((ch = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (ch) {
        case 'b':
            C = strtod(optarg, &end);
            if (*end || !(C > 0) || !isfinite(C))
                return cli_error(CLI_USAGE, "recommend", "--budget '%s': expected a positive number of FLOPs", optarg);
            break;
        case 'f':
            fit_id = strtoll(optarg, &end, 10);
            if (*end || fit_id <= 0) return cli_error(CLI_USAGE, "recommend", "--fit '%s': expected a fit id", optarg);
            break;
        case 'F': family = optarg; break;
        case 'k':
            top = strtol(optarg, &end, 10);
            if (*end || top <= 0) return cli_error(CLI_USAGE, "recommend", "--top '%s': expected a positive count", optarg);
            break;
        case 'w':
            w_per_param = strtod(optarg, &end);
            if (*end || !(w_per_param > 0) || !isfinite(w_per_param))
                return cli_error(CLI_USAGE, "recommend", "--w-per-param '%s': expected a positive number", optarg);
            break;
        case 'j': json = 1; break;
        case 'O':
            if (cli_format_json("recommend", optarg, &json)) return CLI_USAGE;
            break;
        case 'p': db = optarg; break;
        case 'h': usage(stdout); return CLI_OK;
        default: return cli_option_error("recommend", ch, argv, opts);
        }
    }
    if (optind < argc) return cli_error(CLI_USAGE, "recommend", "unexpected argument '%s'", argv[optind]);
    if (isnan(C)) return cli_error(CLI_USAGE, "recommend", "--budget C is required");

    store *st = NULL;
    store_fit sf = {0};
    fit_law law = {0};
    diag dg = {0};
    cost_info ci;
    answer ans = {0};
    int have_family = 0;
    double *boot = NULL, *qs = NULL;
    size_t n_boot = 0, n_ok = 0, n_warn = 0, n_bounds = 0, n_fbounds = 0;
    char **warn = NULL, **bounds = NULL, **fbounds = NULL;
    util_buf b = {0};
    int rc = CLI_FAIL;
#define ADD_MSG(list, n, ...)                                                                       \
    do {                                                                                           \
        util_buf m_ = {0};                                                                         \
        util_buf_printf(&m_, __VA_ARGS__);                                                         \
        char **v_ = realloc(list, (n + 1) * sizeof *v_);                                           \
        if (!v_ || !m_.data) { util_buf_free(&m_); goto oom; }                                     \
        list = v_, list[n++] = m_.data;                                                            \
    } while (0)
    if (store_open(cli_db_path(db), &st, err, sizeof err)) goto fail;
    if (store_fit_get(st, fit_id, &sf, err, sizeof err)) goto fail;
    if (!sf.inputs_json) {
        util_err(err, sizeof err, "fit %lld has no inputs to use", (long long)sf.id);
        goto fail;
    }
    store_fit_inputs in;
    if (store_fit_inputs_read(st, sf.inputs_json, &in, err, sizeof err)) goto fail;
    int law_rc = fit_law_from_parts(in.form, (const char *const *)in.x_cols, in.n_x, in.theta, in.n_theta, in.boot_theta,
                                    in.n_boot_values, &law, &boot, &n_boot, err, sizeof err);
    store_fit_inputs_free(&in);
    if (law_rc) goto fail;
    if (diag_read(st, sf.diagnostics_json, &dg, err, sizeof err)) goto fail;

    /* the verdict gates the answer: an unconstrained law answers nothing */
    if (sf.verdict && !strcmp(sf.verdict, "unconstrained")) {
        util_buf m = {0};
        unconstrained_message(st, &dg, &m);
        util_err(err, sizeof err, "fit %lld is unconstrained: %s", (long long)sf.id, m.data ? m.data : "");
        util_buf_free(&m);
        goto fail;
    }
    if (!sf.verdict) ADD_MSG(warn, n_warn, "fit has no verdict (stored before v3); refit");
    else if (!strcmp(sf.verdict, "weak")) {
        util_buf m = {0};
        for (size_t i = 0; i < dg.n_reasons; i++) util_buf_printf(&m, "%s%s", i ? "; " : "", dg.reasons[i]);
        ADD_MSG(warn, n_warn, "fit is weak: %s", m.data ? m.data : "the diagnostics give no reason");
        util_buf_free(&m);
    }
    if (dg.pooled_mixers) ADD_MSG(warn, n_warn, "pooled mixers: the WSFR reflects the mixer, not the state");

    int state_law = 0, law_sees_state = 0;
    for (size_t j = 0; j < law.k && law.form != FIT_ISOFLOP; j++) {
        fit_role r = fit_role_of(law.cols[j]);
        state_law |= r == FIT_ROLE_STATE;
        law_sees_state |= r == FIT_ROLE_STATE || r == FIT_ROLE_S;
    }
    if (state_law && !family) {
        size_t js = 0;
        for (size_t j = 0; j < law.k; j++)
            if (fit_role_of(law.cols[j]) == FIT_ROLE_STATE) js = j;
        util_err(err, sizeof err,
                 "fit %lld is a state law (column %s): a family is needed to map the state to a configuration; "
                 "add --family FAMILY.yaml",
                 (long long)sf.id, law.cols[js]);
        goto fail;
    }
    if (cost_model(st, sf.source, &law, w_per_param, &ci, err, sizeof err)) goto fail;
    double compute_max = isfinite(dg.compute_max) ? dg.compute_max : ci.runs_compute_max;
    double extrap = compute_max > 0 ? C / compute_max : NAN;

    /* the continuous optimum (not for a state law: its state has no cost without a config) */
    fit_optimum o;
    memset(&o, 0, sizeof o);
    double q[N_Q], lo[N_Q], hi[N_Q];
    size_t n_no_opt = 0;
    for (int i = 0; i < N_Q; i++) q[i] = lo[i] = hi[i] = NAN;
    o.closed_N = o.closed_D = NAN;
    int have_opt = 0;
    if (!state_law) {
        /* with a family the configs still answer when the law has no continuous optimum (a column
         * the budget cannot place); without one that is the whole answer, so it is an error */
        if (optimum(&law, C, &ci.c, &o, err, sizeof err)) {
            if (!family) goto fail;
            ADD_MSG(warn, n_warn, "no continuous optimum: %s", err);
            memset(&o, 0, sizeof o);
            o.closed_N = o.closed_D = NAN;
        } else {
            have_opt = 1;
        }
    }
    if (have_opt) {
        opt_values(&o, q);
        if (o.bound)
            ADD_MSG(bounds, n_bounds,
                    "bound: the predicted loss still falls towards N = %.3g, the %s model the budget allows; there "
                    "is no interior optimum",
                    o.bound < 0 ? o.N_lo : o.N_hi, o.bound < 0 ? "smallest" : "largest");
        size_t np = 1 + 2 * law.k;
        if (n_boot && law.form != FIT_ISOFLOP && !(qs = malloc(n_boot * N_Q * sizeof *qs))) goto oom;
        for (size_t s = 0; qs && s < n_boot; s++) {
            fit_law bl = law;
            fit_optimum bo;
            char e2[512];
            memcpy(bl.theta, boot + s * np, np * sizeof(double));
            if (optimum(&bl, C, &ci.c, &bo, e2, sizeof e2) || bo.bound) { n_no_opt++; continue; }
            double bq[N_Q];
            opt_values(&bo, bq);
            for (int i = 0; i < N_Q; i++) qs[i * n_boot + n_ok] = bq[i];
            n_ok++;
        }
        for (int i = 0; i < N_Q && n_ok; i++) fit_percentile_interval(qs + i * n_boot, n_ok, 0.95, &lo[i], &hi[i]);
    }

    if (family) {
        if (family_answer(family, &law, boot, law.form == FIT_ISOFLOP ? 0 : n_boot, C, &ans, err, sizeof err))
            goto fail;
        have_family = 1;
        family_bounds(&law, &ans, law_sees_state, &fbounds, &n_fbounds);
        /* Without a state term the law cannot prefer one state over another, and the cheapest
         * state leaves the most tokens: the listed state setting is that, not an answer. */
        for (size_t k = 0; k < ans.fam.n_keys && !law_sees_state; k++)
            if (sweep_family_key_varies(&ans.fam, k) && sweep_family_key_is_state(ans.fam.keys[k])) {
                ADD_MSG(warn, n_warn,
                        "the law has no state term: its state setting is the family's cheapest, not one the data "
                        "chose; a state answer needs a state law (fit --x params,tokens,state_size over runs "
                        "that move the state at fixed weights)");
                break;
            }
        /* a family mixer the fit never saw extrapolates the law across mixers */
        for (size_t k = 0; k < ans.fam.n_keys && dg.n_mixers; k++) {
            if (strcmp(ans.fam.keys[k], "model.mixer")) continue;
            for (size_t i = 0; i < ans.fam.n; i++) {
                const char *mx = ans.fam.members[i].values[k];
                char text[256];
                int seen = 0, listed = 0;
                snprintf(text, sizeof text,
                         "the family's mixer %s is not in the fit's data: its predicted loss extrapolates the law", mx);
                for (size_t m = 0; m < dg.n_mixers; m++) seen |= !strcmp(dg.mixers[m], mx);
                for (size_t w = 0; w < n_warn; w++) listed |= !strcmp(warn[w], text);
                if (!seen && !listed) ADD_MSG(warn, n_warn, "%s", text);
            }
        }
        if ((size_t)top > ans.rank.n_ranked) top = (long)ans.rank.n_ranked;
    }

    if (json) {
        util_buf_printf(&b, "{\"fit\": %lld, \"form\": \"%s\", \"source\": ", (long long)sf.id, fit_form_name(law.form));
        util_buf_json_str(&b, sf.source);
        util_buf_puts(&b, ", \"budget\": ");
        util_buf_json_num(&b, C);
        util_buf_puts(&b, ", \"verdict\": ");
        if (sf.verdict) util_buf_json_str(&b, sf.verdict);
        else util_buf_puts(&b, "null");
        util_buf_puts(&b, ", \"warnings\": ");
        json_strs(&b, warn, n_warn);
        util_buf_printf(&b, ", \"pooled_mixers\": %s, \"extrapolation\": ", dg.pooled_mixers ? "true" : "false");
        json_num_or_null(&b, extrap);
        util_buf_puts(&b, ", \"compute_max\": ");
        json_num_or_null(&b, compute_max);
        util_buf_printf(&b, ", \"cost\": {\"source\": \"%s\", \"w_coef\": ", ci.measured ? "runs" : "assumed");
        util_buf_json_num(&b, ci.c.w_coef);
        util_buf_puts(&b, ", \"w_exp\": ");
        util_buf_json_num(&b, ci.c.w_exp);
        util_buf_puts(&b, ", \"s_coef\": ");
        util_buf_json_num(&b, ci.c.s_coef);
        util_buf_puts(&b, ", \"s_exp\": ");
        util_buf_json_num(&b, ci.c.s_exp);
        util_buf_printf(&b, ", \"n_runs\": %zu, \"note\": ", ci.c.n_runs);
        util_buf_json_str(&b, ci.note);
        util_buf_puts(&b, "}");
        for (int i = 0; i < N_Q; i++) {
            util_buf_printf(&b, ", \"%s\": ", q_names[i]);
            json_num_or_null(&b, q[i]);
        }
        util_buf_printf(&b, ", \"bound\": %s", !o.bound ? "null" : o.bound < 0 ? "\"smallest N\"" : "\"largest N\"");
        util_buf_puts(&b, ", \"closed_form\": {\"N_opt\": ");
        json_num_or_null(&b, o.closed_N);
        util_buf_puts(&b, ", \"D_opt\": ");
        json_num_or_null(&b, o.closed_D);
        util_buf_printf(&b, "}, \"bootstrap\": %zu, \"bootstrap_replicates\": %zu, \"bootstrap_no_optimum\": %zu, "
                            "\"intervals\": {", n_ok, have_opt && law.form != FIT_ISOFLOP ? n_boot : 0, n_no_opt);
        for (int i = 0, first = 1; i < N_Q && n_ok; i++) {
            if (isnan(lo[i])) continue;
            util_buf_printf(&b, "%s\"%s\": ", first ? "" : ", ", q_names[i]);
            json_interval(&b, lo[i], hi[i]);
            first = 0;
        }
        util_buf_puts(&b, "}, \"bounds\": ");
        json_strs(&b, bounds, n_bounds);
        if (have_family) {
            const answer *a = &ans;
            util_buf_puts(&b, ", \"family\": {\"path\": ");
            util_buf_json_str(&b, family);
            util_buf_printf(&b, ", \"members\": %zu, \"combinations\": %zu, \"invalid\": %zu, \"duplicates\": %zu, "
                                "\"skipped_nonfinite\": %zu, \"keys\": [",
                            a->fam.n, a->fam.n_combinations, a->fam.n_invalid, a->fam.n_duplicates, a->rank.n_skipped);
            for (size_t k = 0, first = 1; k < a->fam.n_keys; k++) {
                if (!sweep_family_key_varies(&a->fam, k)) continue;
                util_buf_puts(&b, first ? "" : ", ");
                util_buf_json_str(&b, short_key(a->fam.keys[k]));
                first = 0;
            }
            util_buf_printf(&b, "]}, \"best\": {\"state_law\": %s", state_law ? "true" : "false");
            for (int qq = 0; qq < N_A; qq++) {
                util_buf_printf(&b, ", \"%s\": ", a_names[qq]);
                json_num_or_null(&b, a->qv[qq * a->fam.n + a->best]);
            }
            util_buf_puts(&b, ", \"setting\": ");
            json_setting(&b, a, a->best, 0);
            util_buf_puts(&b, ", \"state_setting\": ");
            json_setting(&b, a, a->best, 1);
            util_buf_puts(&b, ", \"intervals\": {");
            for (int qq = 0, first = 1; qq < N_A; qq++) {
                if (isnan(a->lo[qq])) continue;
                util_buf_printf(&b, "%s\"%s\": ", first ? "" : ", ", a_names[qq]);
                json_interval(&b, a->lo[qq], a->hi[qq]);
                first = 0;
            }
            for (size_t k = 0; k < a->fam.n_keys; k++) {
                double klo, khi;
                if (!sweep_family_key_varies(&a->fam, k) || !sweep_family_key_is_state(a->fam.keys[k])) continue;
                key_interval(a, k, &klo, &khi);
                if (isnan(klo)) continue;
                util_buf_puts(&b, ", ");
                util_buf_json_str(&b, short_key(a->fam.keys[k]));
                util_buf_puts(&b, ": ");
                json_interval(&b, klo, khi);
            }
            util_buf_puts(&b, "}, \"bounds\": ");
            json_strs(&b, fbounds, n_fbounds);
            util_buf_printf(&b, ", \"bootstrap\": %zu, \"bootstrap_replicates\": %zu, \"bootstrap_no_optimum\": %zu, "
                                "\"bootstrap_at_edge\": %zu, \"config\": ",
                            a->n_boot_ok, a->rank.n_boot, a->rank.n_boot_none, a->rank.n_boot_edge);
            char *cj = NULL;
            {
                model_config c = a->fam.configs[a->best];
                c.tokens = (int64_t)llround(a->rank.tokens[a->best]); /* the config runs at the budget */
                cj = model_config_canonical_json(&c);
            }
            util_buf_puts(&b, cj ? cj : "null");
            free(cj);
            util_buf_puts(&b, "}, \"configs\": [");
            for (long t = 0; t < top; t++) {
                size_t i = a->rank.order[t];
                util_buf_printf(&b, "%s{\"rank\": %ld", t ? ", " : "", t + 1);
                for (int qq = 0; qq < N_A; qq++) {
                    util_buf_printf(&b, ", \"%s\": ", a_names[qq]);
                    json_num_or_null(&b, a->qv[qq * a->fam.n + i]);
                }
                util_buf_puts(&b, ", \"loss_interval\": ");
                json_interval(&b, a->rank.loss_lo[i], a->rank.loss_hi[i]);
                util_buf_puts(&b, ", \"setting\": ");
                json_setting(&b, a, i, 0);
                model_config c = a->fam.configs[i];
                c.tokens = (int64_t)llround(a->rank.tokens[i]);
                char *cj2 = model_config_canonical_json(&c);
                util_buf_printf(&b, ", \"config\": %s}", cj2 ? cj2 : "null");
                free(cj2);
            }
            util_buf_puts(&b, "]");
        }
        util_buf_puts(&b, "}\n");
        fputs(b.data, stdout);
    } else {
        printf("fit %lld (%s, %s) at C = %.4g FLOPs:\n", (long long)sf.id, fit_form_name(law.form), sf.source, C);
        printf("  verdict: %s\n", sf.verdict ? sf.verdict : "none");
        for (size_t i = 0; i < n_warn; i++) printf("  warning: %s\n", warn[i]);
        if (isfinite(extrap))
            printf("  extrapolation: %.3gx the largest compute in the fit's data (%.4g FLOPs)%s\n", extrap, compute_max,
                   extrap <= 1 ? ", within the data" : "");
        else
            printf("  extrapolation: unknown (the fit records no compute range; refit)\n");
        if (state_law) printf("  cost: each family config's own W and S (FLOP accounting); tokens = C / (3 (W + S))\n");
        else printf("  cost: %s\n", ci.note);
        for (int i = 0; i < N_Q; i++) {
            if (isnan(q[i])) continue;
            print_row(q_names[i], q[i], n_ok ? lo[i] : NAN, hi[i], n_ok);
        }
        if (!isnan(o.closed_N))
            printf("  closed form: N_opt %.6g, D_opt %.6g (relative difference %.2g)\n", o.closed_N, o.closed_D,
                   fabs(o.closed_N / o.N - 1));
        if (n_no_opt) printf("  %zu of %zu bootstrap replicates have no interior optimum\n", n_no_opt, n_boot);
        for (size_t i = 0; i < n_bounds; i++) printf("  %s\n", bounds[i]);
        if (have_family) {
            const answer *a = &ans;
            printf("\nbest config of %s (%zu configs; %zu combinations invalid, %zu duplicates; %zu with a non-finite "
                   "predicted loss skipped)%s:\n",
                   family, a->fam.n, a->fam.n_invalid, a->fam.n_duplicates, a->rank.n_skipped,
                   law.form == FIT_ISOFLOP ? ", nearest to the isoflop optimum" : "");
            for (int qq = 0; qq < N_A; qq++) {
                double v = a->qv[qq * a->fam.n + a->best];
                if (isnan(v)) continue;
                print_row(a_short[qq], v, a->lo[qq], a->hi[qq], a->n_boot_ok);
            }
            printf("  setting:       ");
            print_setting(a, a->best, 0);
            printf("\n  state setting: ");
            print_setting(a, a->best, 1);
            printf("\n");
            for (size_t k = 0; k < a->fam.n_keys; k++) {
                double klo, khi;
                if (!sweep_family_key_varies(&a->fam, k) || !sweep_family_key_is_state(a->fam.keys[k])) continue;
                key_interval(a, k, &klo, &khi);
                if (!isnan(klo))
                    printf("  %-12s %14s   [%.6g, %.6g] (95%%, %zu bootstrap fits)\n", short_key(a->fam.keys[k]),
                           a->fam.members[a->best].values[k], klo, khi, a->n_boot_ok);
            }
            for (size_t i = 0; i < n_fbounds; i++) printf("  %s\n", fbounds[i]);
            if (a->rank.n_boot_none)
                printf("  %zu of %zu bootstrap replicates have no config with a finite predicted loss\n",
                       a->rank.n_boot_none, a->rank.n_boot);
            if (a->rank.n_boot_edge)
                printf("  in %zu of %zu bootstrap replicates the best config is at an edge of the family\n",
                       a->rank.n_boot_edge, a->rank.n_boot);
            printf("\ntop %ld %s:\n", top, law.form == FIT_ISOFLOP ? "nearest to the isoflop optimum" : "by predicted loss");
            printf("  %4s", "rank");
            for (size_t k = 0; k < a->fam.n_keys; k++)
                if (sweep_family_key_varies(&a->fam, k)) printf(" %9s", short_key(a->fam.keys[k]));
            printf(" %11s %10s %10s %9s %11s %11s %9s  %s\n", "params", "W", "S", "WSFR", "state_size", "tokens", "loss",
                   "loss interval");
            for (long t = 0; t < top; t++) {
                size_t i = a->rank.order[t];
                const sweep_family_member *m = &a->fam.members[i];
                printf("  %4ld", t + 1);
                for (size_t k = 0; k < a->fam.n_keys; k++)
                    if (sweep_family_key_varies(&a->fam, k)) printf(" %9s", m->values[k]);
                printf(" %11.4g %10.4g %10.4g %9.3g %11.4g %11.4g %9.5g", m->params, m->W, m->S, m->wsfr, m->state_size,
                       a->rank.tokens[i], a->rank.loss[i]);
                if (!isnan(a->rank.loss_lo[i])) printf("  [%.5g, %.5g]", a->rank.loss_lo[i], a->rank.loss_hi[i]);
                printf("\n");
            }
        }
    }
    rc = CLI_OK;
    goto out;
oom:
    util_err(err, sizeof err, "out of memory");
fail:
    cli_error(CLI_FAIL, "recommend", "%s", err);
out:
#undef ADD_MSG
    util_buf_free(&b);
    for (size_t i = 0; i < n_warn; i++) free(warn[i]);
    free(warn);
    for (size_t i = 0; i < n_bounds; i++) free(bounds[i]);
    free(bounds);
    for (size_t i = 0; i < n_fbounds; i++) free(fbounds[i]);
    free(fbounds);
    answer_free(&ans); /* safe on a zeroed or half-built answer */
    diag_free(&dg);
    free(qs);
    free(boot);
    fit_law_free(&law);
    store_fit_clear(&sf);
    if (st) store_close(st);
    return rc;
}
