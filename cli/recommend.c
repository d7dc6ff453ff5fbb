/* scalelab recommend: the compute-optimal allocation of a budget under a stored fit, and
 * optionally the best concrete configurations of a model family at that budget. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli/cli.h"
#include "cli/family.h"
#include "fit/fit.h"
#include "store/store.h"
#include "util/util.h"

static void usage(FILE *out) {
    fprintf(out,
        "usage: scalelab recommend --budget C [--fit ID] [--family FAMILY.yaml] [--top K] [--json] [--db PATH]\n\n"
        "Minimises the fitted loss subject to C = 3 (W + S) tokens with W = 2 N (C = 6 N D for a\n"
        "fit without S), numerically; for a fit in N and D it also prints the closed form\n"
        "N_opt = G (C/6)^(beta/(alpha+beta)), G = (alpha A / (beta B))^(1/(alpha+beta)).\n"
        "An isoflop fit gives x_opt = k C^a directly. Intervals come from the fit's bootstrap.\n\n"
        "  --budget C        training FLOPs (e.g. 1e21)\n"
        "  --fit ID          the stored fit (default: the latest)\n"
        "  --family FILE     list the best concrete configs of this family at the budget\n"
        "                    (format: cli/family.h; examples: configs/family*.yaml)\n"
        "  --top K           how many configs to list (default 5)\n"
        "  --json            {\"fit\", \"budget\", \"N_opt\", \"D_opt\", \"W_opt\", \"S_opt\", \"wsfr_opt\",\n"
        "                    \"loss_opt\", \"closed_form\", \"intervals\", \"configs\"}\n"
        "  --db PATH         the store (default: $SCALELAB_DB, else ./scalelab.db)\n"
        "  -h, --help        this text\n");
}

enum { Q_N, Q_D, Q_W, Q_S, Q_WSFR, Q_LOSS, N_Q };
static const char *const q_names[N_Q] = {"N_opt", "D_opt", "W_opt", "S_opt", "wsfr_opt", "loss_opt"};

static void opt_values(const fit_optimum *o, double *q) {
    /* S = 0 means the fit has no state term: S_opt (and WSFR) do not apply */
    q[Q_N] = o->N, q[Q_D] = o->D, q[Q_W] = o->W, q[Q_S] = o->S > 0 ? o->S : NAN, q[Q_WSFR] = o->wsfr,
    q[Q_LOSS] = o->loss;
}

/* Isoflop: x_opt = k C^a; the other quantities follow from C = 6 N D when x is N or D. */
static int isoflop_optimum(const fit_law *law, double C, fit_optimum *o, char *err, size_t errlen) {
    double x = exp(law->theta[0]) * pow(C, law->theta[1]);
    memset(o, 0, sizeof *o);
    o->closed_N = o->closed_D = o->loss = o->wsfr = NAN;
    fit_role r = fit_role_of(law->cols[0]);
    if (r == FIT_ROLE_N) o->N = x, o->D = C / (6 * x);
    else if (r == FIT_ROLE_D) o->D = x, o->N = C / (6 * x);
    else if (!strcasecmp(law->cols[0], "wsfr")) {
        o->N = o->D = o->W = NAN;
        o->wsfr = x;
        return 0;
    } else return util_err(err, errlen, "isoflop fit in '%s': not N, D or wsfr", law->cols[0]);
    o->W = 2 * o->N;
    return 0;
}

static int optimum(const fit_law *law, double C, fit_optimum *o, char *err, size_t errlen) {
    return law->form == FIT_ISOFLOP ? isoflop_optimum(law, C, o, err, errlen) : fit_law_optimum(law, C, o, err, errlen);
}

typedef struct ranked {
    size_t i;
    double tokens, loss, score;
} ranked;

static int by_score(const void *a, const void *b) {
    const ranked *x = a, *y = b;
    if (x->score != y->score) return x->score < y->score ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

/* The value of a fit column for a concrete config (by the names `scalelab runs` uses). */
static double member_value(const fit_law *law, size_t j, const model_flops *f, double tokens, double C) {
    const char *c = law->cols[j];
    fit_role r = law->form == FIT_CHINCHILLA ? (j ? FIT_ROLE_D : FIT_ROLE_N) : fit_role_of(c);
    if (r == FIT_ROLE_N) return f->params;
    if (r == FIT_ROLE_D) return tokens;
    if (r == FIT_ROLE_S) return f->state_flops_per_token;
    if (!strcasecmp(c, "weight_flops_per_token") || !strcmp(c, "W")) return f->weight_flops_per_token;
    if (!strcasecmp(c, "wsfr")) return f->wsfr;
    if (!strcasecmp(c, "training_flops") || !strcmp(c, "C")) return C;
    if (!strcasecmp(c, "params_non_embedding")) return f->params_non_embedding;
    if (!strcasecmp(c, "state_size")) return f->state_size;
    return NAN;
}

static void print_json_q(util_buf *b, const double *q) {
    for (int i = 0; i < N_Q; i++) {
        util_buf_printf(b, ", \"%s\": ", q_names[i]);
        util_buf_json_num(b, q[i]);
    }
}

int cli_recommend(int argc, char **argv) {
    static const struct option opts[] = {{"budget", 1, 0, 'b'}, {"fit", 1, 0, 'f'}, {"family", 1, 0, 'F'},
                                         {"top", 1, 0, 'k'},    {"json", 0, 0, 'j'}, {"db", 1, 0, 'p'},
                                         {"help", 0, 0, 'h'},   {0, 0, 0, 0}};
    double C = NAN;
    long long fit_id = 0;
    long top = 5;
    const char *family = NULL, *db = NULL;
    int json = 0, ch;
    char *end, err[1024] = "";
    optind = 1;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
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
        case 'j': json = 1; break;
        case 'p': db = optarg; break;
        case 'h': usage(stdout); return CLI_OK;
        default: usage(stderr); return CLI_USAGE;
        }
    }
    if (optind < argc) return cli_error(CLI_USAGE, "recommend", "unexpected argument '%s'", argv[optind]);
    if (isnan(C)) return cli_error(CLI_USAGE, "recommend", "--budget C is required");

    store *st = NULL;
    store_fit sf = {0};
    fit_law law = {0};
    double *boot = NULL, *qs = NULL;
    size_t n_boot = 0, n_members = 0, n_invalid = 0;
    family_member *members = NULL;
    ranked *rk = NULL;
    util_buf b = {0};
    int rc = CLI_FAIL;
    if (store_open(cli_db_path(db), &st, err, sizeof err)) goto fail;
    if (store_fit_get(st, fit_id, &sf, err, sizeof err)) goto fail;
    if (!sf.inputs_json || fit_law_from_json(sf.inputs_json, &law, &boot, &n_boot, err, sizeof err)) {
        if (!sf.inputs_json) util_err(err, sizeof err, "fit %lld has no inputs to use", (long long)sf.id);
        goto fail;
    }
    fit_optimum o;
    if (optimum(&law, C, &o, err, sizeof err)) goto fail;
    double q[N_Q], lo[N_Q], hi[N_Q];
    opt_values(&o, q);
    size_t np = 1 + 2 * law.k, n_ok = 0;
    if (n_boot && !(qs = malloc(n_boot * N_Q * sizeof *qs))) goto oom;
    for (size_t s = 0; s < n_boot; s++) {
        fit_law bl = law;
        fit_optimum bo;
        memcpy(bl.theta, boot + s * np, np * sizeof(double));
        double bq[N_Q];
        if (optimum(&bl, C, &bo, err, sizeof err)) continue; /* a replicate without an interior optimum */
        opt_values(&bo, bq);
        for (int i = 0; i < N_Q; i++) qs[i * n_boot + n_ok] = bq[i];
        n_ok++;
    }
    for (int i = 0; i < N_Q; i++) {
        lo[i] = hi[i] = NAN;
        if (n_ok) fit_percentile_interval(qs + i * n_boot, n_ok, 0.95, &lo[i], &hi[i]);
    }
    if (family) {
        if (family_enumerate(family, &members, &n_members, &n_invalid, err, sizeof err)) goto fail;
        if (!(rk = malloc(n_members * sizeof *rk))) goto oom;
        for (size_t i = 0; i < n_members; i++) {
            const model_flops *f = &members[i].flops;
            double x[FIT_MAX_TERMS];
            rk[i].i = i;
            rk[i].tokens = C / (3 * (f->weight_flops_per_token + f->state_flops_per_token));
            rk[i].loss = NAN;
            if (law.form == FIT_ISOFLOP) { /* nearest to x_opt in log space */
                double v = member_value(&law, 0, f, rk[i].tokens, C), target = exp(law.theta[0]) * pow(C, law.theta[1]);
                rk[i].score = fabs(log(v / target));
            } else {
                for (size_t j = 0; j < law.k; j++) x[j] = member_value(&law, j, f, rk[i].tokens, C);
                rk[i].loss = rk[i].score = fit_law_predict(&law, x);
            }
            if (isnan(rk[i].score)) {
                util_err(err, sizeof err, "fit column '%s' has no value for a concrete config", law.cols[0]);
                goto fail;
            }
        }
        qsort(rk, n_members, sizeof *rk, by_score);
        if ((size_t)top > n_members) top = (long)n_members;
    }

    if (json) {
        util_buf_printf(&b, "{\"fit\": %lld, \"form\": \"%s\", \"budget\": ", (long long)sf.id, fit_form_name(law.form));
        util_buf_json_num(&b, C);
        print_json_q(&b, q);
        util_buf_puts(&b, ", \"closed_form\": {\"N_opt\": ");
        util_buf_json_num(&b, o.closed_N);
        util_buf_puts(&b, ", \"D_opt\": ");
        util_buf_json_num(&b, o.closed_D);
        util_buf_printf(&b, "}, \"bootstrap\": %zu, \"intervals\": {", n_ok);
        for (int i = 0; i < N_Q && n_ok; i++) {
            util_buf_printf(&b, "%s\"%s\": [", i ? ", " : "", q_names[i]);
            util_buf_json_num(&b, lo[i]);
            util_buf_puts(&b, ", ");
            util_buf_json_num(&b, hi[i]);
            util_buf_puts(&b, "]");
        }
        util_buf_puts(&b, "}");
        if (family) {
            util_buf_printf(&b, ", \"family\": {\"members\": %zu, \"invalid\": %zu}, \"configs\": [", n_members, n_invalid);
            for (long t = 0; t < top; t++) {
                family_member *m = &members[rk[t].i];
                m->cfg.tokens = (int64_t)llround(rk[t].tokens); /* the config runs at the budget */
                char *cj = model_config_canonical_json(&m->cfg);
                util_buf_printf(&b, "%s{\"params\": ", t ? ", " : "");
                util_buf_json_num(&b, m->flops.params);
                util_buf_puts(&b, ", \"weight_flops_per_token\": ");
                util_buf_json_num(&b, m->flops.weight_flops_per_token);
                util_buf_puts(&b, ", \"state_flops_per_token\": ");
                util_buf_json_num(&b, m->flops.state_flops_per_token);
                util_buf_puts(&b, ", \"wsfr\": ");
                util_buf_json_num(&b, m->flops.wsfr);
                util_buf_puts(&b, ", \"tokens\": ");
                util_buf_json_num(&b, rk[t].tokens);
                util_buf_puts(&b, ", \"predicted_loss\": ");
                util_buf_json_num(&b, rk[t].loss);
                util_buf_printf(&b, ", \"config\": %s}", cj ? cj : "null");
                free(cj);
            }
            util_buf_puts(&b, "]");
        }
        util_buf_puts(&b, "}\n");
        fputs(b.data, stdout);
    } else {
        printf("fit %lld (%s, %s) at C = %.4g FLOPs:\n", (long long)sf.id, fit_form_name(law.form), sf.source, C);
        for (int i = 0; i < N_Q; i++) {
            if (isnan(q[i])) continue;
            printf("  %-10s %14.6g", q_names[i], q[i]);
            if (n_ok) printf("   [%.6g, %.6g] (95%%, %zu bootstrap fits)", lo[i], hi[i], n_ok);
            printf("\n");
        }
        if (!isnan(o.closed_N))
            printf("  closed form: N_opt %.6g, D_opt %.6g (relative difference %.2g)\n", o.closed_N, o.closed_D,
                   fabs(o.closed_N / o.N - 1));
        if (family) {
            printf("\nbest %ld of %zu configs of %s (%zu combinations invalid)%s:\n", top, n_members, family, n_invalid,
                   law.form == FIT_ISOFLOP ? " nearest to the isoflop optimum" : " by predicted loss");
            printf("  %-7s %-8s %7s %6s %3s %5s %7s %12s %10s %10s %8s %11s %9s\n", "mixer", "d_model", "n_layer",
                   "n_head", "p", "chunk", "context", "params", "W", "S", "WSFR", "tokens", "loss");
            for (long t = 0; t < top; t++) {
                const family_member *m = &members[rk[t].i];
                printf("  %-7s %-8d %7d %6d %3d %5d %7d %12.4g %10.4g %10.4g %8.3g %11.4g %9.5g\n",
                       model_mixer_name(m->cfg.mixer), m->cfg.d_model, m->cfg.n_layer, m->cfg.n_head, m->cfg.p,
                       m->cfg.chunk, m->cfg.context, m->flops.params, m->flops.weight_flops_per_token,
                       m->flops.state_flops_per_token, m->flops.wsfr, rk[t].tokens, rk[t].loss);
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
    util_buf_free(&b);
    free(rk);
    free(members);
    free(qs);
    free(boot);
    fit_law_free(&law);
    store_fit_clear(&sf);
    if (st) store_close(st);
    return rc;
}
