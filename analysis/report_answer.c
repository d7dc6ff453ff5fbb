/* report_answer: what the report says first. The runs are split into arms
 * (report.h: one family whose width varies, or one mixer whose state varies at
 * fixed weights); per arm and budget the IsoFLOP optimum comes from the
 * sweep's stored fit when there is one (its verdict and diagnostics travel
 * with it), else from the report's own parabola, and gets a verdict:
 *   ok         the vertex and its interval lie inside the sampled settings;
 *   weak       a vertex inside, but its interval reaches beyond the settings
 *              or there is none (3 points leave no residual);
 *   bound      the best setting is at an edge (or the vertex beyond it): the
 *              optimum is at most / at least that edge;
 *   undecided  no convex parabola and no edge to point at, or too few settings. */
#include "analysis/report_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "fit/fit.h"

/* Texts here are cut to their buffers on purpose (snprintf); say so once. */
#pragma GCC diagnostic ignored "-Wformat-truncation"

/* ---- stored fits (JSON read with libyaml: JSON is YAML's flow style) ---------- */

static yaml_node_t *jget(yaml_document_t *doc, yaml_node_t *map, const char *key) {
    if (!map || map->type != YAML_MAPPING_NODE) return NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key);
        if (k && k->type == YAML_SCALAR_NODE && !strcmp((const char *)k->data.scalar.value, key))
            return yaml_document_get_node(doc, p->value);
    }
    return NULL;
}

static double jnum(yaml_node_t *n) {
    if (!n || n->type != YAML_SCALAR_NODE) return NAN;
    const char *s = (const char *)n->data.scalar.value;
    char *end;
    double v = strtod(s, &end);
    return end != s && !*end ? v : NAN;
}

static yaml_node_t *jidx(yaml_document_t *doc, yaml_node_t *seq, size_t i) {
    if (!seq || seq->type != YAML_SEQUENCE_NODE) return NULL;
    size_t n = (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
    return i < n ? yaml_document_get_node(doc, seq->data.sequence.items.start[i]) : NULL;
}

static size_t jlen(yaml_node_t *seq) {
    return seq && seq->type == YAML_SEQUENCE_NODE ? (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start) : 0;
}

static int jparse(const char *json, yaml_document_t *doc) {
    if (!json || !*json) return -1;
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) return -1;
    yaml_parser_set_input_string(&parser, (const unsigned char *)json, strlen(json));
    int ok = yaml_parser_load(&parser, doc);
    yaml_parser_delete(&parser);
    if (!ok) return -1;
    if (!yaml_document_get_root_node(doc)) {
        yaml_document_delete(doc);
        return -1;
    }
    return 0;
}

static void read_budgets(yaml_document_t *doc, yaml_node_t *seq, report_stored_fit *f) {
    size_t n = jlen(seq);
    if (!n || f->n_budgets) return;
    f->budgets = calloc(n, sizeof *f->budgets);
    for (size_t i = 0; f->budgets && i < n; i++) {
        yaml_node_t *b = jidx(doc, seq, i);
        report_stored_budget *o = &f->budgets[f->n_budgets];
        o->budget = jnum(jget(doc, b, "budget"));
        if (!(o->budget > 0)) continue;
        o->x_opt = jnum(jget(doc, b, "x_opt"));
        yaml_node_t *iv = jget(doc, b, "x_opt_interval");
        o->lo = jnum(jidx(doc, iv, 0)), o->hi = jnum(jidx(doc, iv, 1));
        o->loss_opt = jnum(jget(doc, b, "loss_opt"));
        yaml_node_t *vb = jget(doc, b, "vertex_bound");
        if (vb && vb->type == YAML_SCALAR_NODE) {
            const char *s = (const char *)vb->data.scalar.value;
            o->bound = !strcmp(s, "lower") ? -1 : !strcmp(s, "upper") ? 1 : 0;
        }
        f->n_budgets++;
    }
}

int report_stored_fit_parse(const char *xcol, const char *params_json, const char *intervals_json,
                            const char *residuals_json, const char *verdict, const char *diagnostics_json,
                            report_stored_fit *f, char *err, size_t errlen) {
    memset(f, 0, sizeof *f);
    snprintf(f->xcol, sizeof f->xcol, "%s", xcol);
    snprintf(f->verdict, sizeof f->verdict, "%s", verdict ? verdict : "");
    f->exponent = f->exponent_lo = f->exponent_hi = NAN;
    char key[48];
    snprintf(key, sizeof key, "a_%s", xcol);
    yaml_document_t doc;
    yaml_document_t pdoc;
    int have_params = !jparse(params_json, &pdoc);
    if (have_params) f->exponent = jnum(jget(&pdoc, yaml_document_get_root_node(&pdoc), key));
    if (!jparse(intervals_json, &doc)) {
        yaml_node_t *iv = jget(&doc, yaml_document_get_root_node(&doc), key);
        f->exponent_lo = jnum(jidx(&doc, iv, 0)), f->exponent_hi = jnum(jidx(&doc, iv, 1));
        yaml_document_delete(&doc);
    }
    /* Diagnostics first (a verdict, reasons, maybe the budgets with their
     * vertex_bound), then the budgets array that fit stores as residuals. */
    if (!jparse(diagnostics_json, &doc)) {
        yaml_node_t *root = yaml_document_get_root_node(&doc);
        yaml_node_t *v = jget(&doc, root, "verdict");
        if (!f->verdict[0] && v && v->type == YAML_SCALAR_NODE)
            snprintf(f->verdict, sizeof f->verdict, "%s", (const char *)v->data.scalar.value);
        yaml_node_t *reasons = jget(&doc, root, "reasons");
        size_t len = 0;
        for (size_t i = 0; i < jlen(reasons); i++) {
            yaml_node_t *r = jidx(&doc, reasons, i);
            if (!r || r->type != YAML_SCALAR_NODE) continue;
            len += (size_t)snprintf(f->reasons + len, sizeof f->reasons - (len < sizeof f->reasons ? len : sizeof f->reasons),
                                    "%s%s", len ? "; " : "", (const char *)r->data.scalar.value);
            if (len >= sizeof f->reasons) break;
        }
        read_budgets(&doc, jget(&doc, root, "budgets"), f);
        yaml_document_delete(&doc);
    }
    if (!jparse(residuals_json, &doc)) {
        yaml_node_t *root = yaml_document_get_root_node(&doc);
        read_budgets(&doc, root->type == YAML_SEQUENCE_NODE ? root : jget(&doc, root, "budgets"), f);
        yaml_document_delete(&doc);
    }
    if (have_params) { /* last resort: a "budgets" array among the parameters */
        read_budgets(&pdoc, jget(&pdoc, yaml_document_get_root_node(&pdoc), "budgets"), f);
        yaml_document_delete(&pdoc);
    }
    if (f->n_budgets == 0) {
        free(f->budgets);
        f->budgets = NULL;
        return util_err(err, errlen, "stored IsoFLOP fit has no budgets");
    }
    return 0;
}

/* ---- arms ----------------------------------------------------------------------- */

static int is_width_col(const char *c) {
    return !strcmp(c, "params") || !strcmp(c, "N") || !strcmp(c, "params_non_embedding");
}
static int is_state_col(const char *c) { return !strcmp(c, "wsfr"); }

static double arm_x(const report_arm *a, const report_run *r) { return a->kind == REPORT_ARM_WIDTH ? r->params : r->wsfr; }

static int member(const report_data *d, const report_run *r, int sweep) {
    return r->budget >= 0 && (d->n_sweeps == 0 || (r->sweeps >> sweep & 1u));
}

static int same(double a, double b, double tol) { return fabs(a - b) <= tol * fmax(fabs(a), fabs(b)); }

/* Does run r belong to arm a? Width: same sweep and label. State: same sweep,
 * mixer and W within 1%. */
static int in_arm(const report_data *d, const report_arm *a, const report_run *r, const char *key) {
    if (!member(d, r, a->sweep)) return 0;
    if (a->kind == REPORT_ARM_WIDTH) return !strcmp(r->label, key);
    return !strcmp(r->mixer, key) && same(r->weight_flops, a->weight_flops, 0.01);
}

int report_run_in_arm(const report_data *d, const report_arm *a, const report_run *r) {
    return in_arm(d, a, r, a->key);
}

static size_t distinct(const double *v, size_t n, double tol) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        int seen = 0;
        for (size_t j = 0; j < i && !seen; j++) seen = same(v[i], v[j], tol);
        k += !seen;
    }
    return k;
}

/* log-log interpolation of y(x) over points sorted by x (ends extrapolate flat). */
static double interp(const double *x, const double *y, size_t n, double at) {
    if (n == 0 || !(at > 0)) return NAN;
    if (at <= x[0] || n == 1) return y[0];
    for (size_t i = 1; i < n; i++)
        if (at <= x[i]) {
            double t = (log(at) - log(x[i - 1])) / (log(x[i]) - log(x[i - 1]));
            return exp(log(y[i - 1]) + t * (log(y[i]) - log(y[i - 1])));
        }
    return y[n - 1];
}

static const report_stored_fit *stored_for(const report_data *d, const report_arm *a, size_t arms_like) {
    for (size_t i = 0; i < d->n_fits; i++) {
        const report_stored_fit *f = &d->fits[i];
        if (f->sweep != a->sweep) continue;
        if (a->kind == REPORT_ARM_WIDTH ? !is_width_col(f->xcol) : !is_state_col(f->xcol)) continue;
        /* A fit over a sweep with several arms of this kind pooled them: not this arm's answer. */
        return arms_like == 1 ? f : NULL;
    }
    return NULL;
}

static void judge(const report_data *d, const report_arm *a, report_arm_budget *ab, int stored_bound, int have_vertex) {
    const char *what = a->kind == REPORT_ARM_WIDTH ? "width" : "state setting";
    const report_run *best = &d->runs[ab->best_run];
    double bx = arm_x(a, best);
    int at_lo = same(bx, ab->x_min, 1e-9), at_hi = same(bx, ab->x_max, 1e-9);
    if (ab->n < 3) {
        snprintf(ab->verdict, sizeof ab->verdict, "undecided");
        snprintf(ab->why, sizeof ab->why, "%zu %s%s sampled: locating an optimum needs 3", ab->n, what,
                 ab->n == 1 ? "" : "s");
    } else if (stored_bound < 0 || (have_vertex && ab->x_opt < ab->x_min) || (!have_vertex && at_lo)) {
        snprintf(ab->verdict, sizeof ab->verdict, "bound");
        snprintf(ab->why, sizeof ab->why, "the optimum lies at or below the smallest sampled %s", what);
    } else if (stored_bound > 0 || (have_vertex && ab->x_opt > ab->x_max) || (!have_vertex && at_hi)) {
        snprintf(ab->verdict, sizeof ab->verdict, "bound");
        snprintf(ab->why, sizeof ab->why, "the optimum lies at or above the largest sampled %s", what);
    } else if (!have_vertex) {
        snprintf(ab->verdict, sizeof ab->verdict, "undecided");
        snprintf(ab->why, sizeof ab->why, "no convex parabola through the %zu runs (noise exceeds the curvature)", ab->n);
    } else if (!isfinite(ab->lo) || !isfinite(ab->hi)) {
        snprintf(ab->verdict, sizeof ab->verdict, "weak");
        snprintf(ab->why, sizeof ab->why, "a vertex but no interval (%zu runs leave no residual)", ab->n);
    } else if (ab->lo < ab->x_min || ab->hi > ab->x_max) {
        snprintf(ab->verdict, sizeof ab->verdict, "weak");
        snprintf(ab->why, sizeof ab->why, "the 95%% interval reaches beyond the sampled %ss", what);
    } else {
        snprintf(ab->verdict, sizeof ab->verdict, "ok");
        snprintf(ab->why, sizeof ab->why, "vertex and 95%% interval inside the sampled %ss", what);
    }
}

static int build_arm(report_data *d, report_arm *a, const char *key, size_t arms_like) {
    a->exponent = a->exponent_lo = a->exponent_hi = NAN;
    a->budgets = calloc(d->n_budgets ? d->n_budgets : 1, sizeof *a->budgets);
    double *x = malloc(3 * (d->n_runs + 1) * sizeof *x);
    if (!a->budgets || !x) {
        free(x);
        return -1;
    }
    double *y = x + d->n_runs + 1, *z = y + d->n_runs + 1;
    const report_stored_fit *sf = stored_for(d, a, arms_like);
    if (sf) {
        a->fit_id = sf->id;
        snprintf(a->fit_verdict, sizeof a->fit_verdict, "%s", sf->verdict);
        snprintf(a->fit_reasons, sizeof a->fit_reasons, "%s", sf->reasons);
        a->exponent = sf->exponent, a->exponent_lo = sf->exponent_lo, a->exponent_hi = sf->exponent_hi;
    }
    /* The arm's W(N) and S(N) for tokens at N_opt: one point per distinct params, sorted. */
    size_t nw = 0;
    double *wn = malloc(3 * (d->n_runs + 1) * sizeof *wn), *ww = wn ? wn + d->n_runs + 1 : NULL, *ws = ww ? ww + d->n_runs + 1 : NULL;
    for (size_t i = 0; wn && i < d->n_runs; i++) {
        const report_run *r = &d->runs[i];
        if (!in_arm(d, a, r, key) || !(r->params > 0)) continue;
        size_t j = 0;
        while (j < nw && !same(wn[j], r->params, 1e-6)) j++;
        if (j < nw) continue;
        size_t at = nw++;
        while (at > 0 && wn[at - 1] > r->params) wn[at] = wn[at - 1], ww[at] = ww[at - 1], ws[at] = ws[at - 1], at--;
        wn[at] = r->params, ww[at] = r->weight_flops, ws[at] = r->state_flops > 0 ? r->state_flops : 1e-30;
    }
    for (size_t k = 0; k < d->n_budgets; k++) {
        size_t n = 0;
        long best = -1;
        double xmin = INFINITY, xmax = -INFINITY;
        for (size_t i = 0; i < d->n_runs; i++) {
            const report_run *r = &d->runs[i];
            if (r->budget != (int)k || !in_arm(d, a, r, key) || !(arm_x(a, r) > 0)) continue;
            x[n] = arm_x(a, r), y[n] = report_run_loss(r), n++;
            xmin = fmin(xmin, arm_x(a, r)), xmax = fmax(xmax, arm_x(a, r));
            if (best < 0 || report_run_loss(r) < report_run_loss(&d->runs[best])) best = (long)i;
        }
        if (n == 0) continue;
        report_arm_budget *ab = &a->budgets[a->n_budgets++];
        ab->budget = (int)k;
        ab->n = distinct(x, n, 1e-6);
        ab->x_min = xmin, ab->x_max = xmax;
        ab->best_run = best;
        ab->nearest_run = -1;
        ab->x_opt = ab->lo = ab->hi = ab->loss_opt = ab->tokens_opt = NAN;
        int have = 0, bound = 0;
        const report_stored_budget *sb = NULL;
        for (size_t j = 0; sf && j < sf->n_budgets && !sb; j++)
            if (same(sf->budgets[j].budget, d->budgets[k].flops, 0.1)) sb = &sf->budgets[j];
        fit_isoflop_budget b;
        (void)z;
        if (ab->n >= 3 && fit_isoflop_parabola(x, y, NULL, n, 0.95, &b) == 1) {
            have = 1;
            ab->has_curve = 1;
            memcpy(ab->coef, b.coef, sizeof ab->coef);
            ab->x_opt = b.vertex, ab->lo = b.lo, ab->hi = b.hi, ab->loss_opt = b.loss;
        }
        if (sb) { /* the stored fit's numbers win */
            have = isfinite(sb->x_opt) && sb->x_opt > 0;
            ab->x_opt = sb->x_opt, ab->lo = sb->lo, ab->hi = sb->hi, ab->loss_opt = sb->loss_opt;
            bound = sb->bound;
        }
        judge(d, a, ab, bound, have);
        double at = !strcmp(ab->verdict, "bound") ? arm_x(a, &d->runs[best]) : have ? ab->x_opt : NAN;
        if (a->kind == REPORT_ARM_WIDTH && isfinite(at) && nw) {
            double w = interp(wn, ww, nw, at), s = interp(wn, ws, nw, at);
            ab->tokens_opt = d->budgets[k].flops / (3 * (w + s));
        }
        if (a->kind == REPORT_ARM_STATE) {
            if (!strcmp(ab->verdict, "bound") || !have) {
                ab->nearest_run = best;
            } else {
                double gap = INFINITY;
                for (size_t i = 0; i < d->n_runs; i++) {
                    const report_run *r = &d->runs[i];
                    if (r->budget != (int)k || !in_arm(d, a, r, key)) continue;
                    double g = fabs(log(r->wsfr) - log(ab->x_opt));
                    if (g < gap) gap = g, ab->nearest_run = (long)i;
                }
            }
        }
    }
    free(wn);
    free(x);
    return 0;
}

int report_find_arms(report_data *d) {
    size_t n_sw = d->n_sweeps ? d->n_sweeps : 1;
    double *v = malloc((d->n_runs + 1) * sizeof *v);
    if (!v) return -1;
    int rc = 0;
    for (int kind = REPORT_ARM_WIDTH; kind <= REPORT_ARM_STATE && !rc; kind++)
        for (size_t s = 0; s < n_sw && !rc; s++) {
            /* Candidate keys: labels (width) or (mixer, W) groups (state). */
            size_t first_arm = d->n_arms;
            for (size_t i = 0; i < d->n_runs && !rc; i++) {
                const report_run *r = &d->runs[i];
                if (!member(d, r, (int)s)) continue;
                report_arm a = {.kind = (report_arm_kind)kind, .sweep = (int)s, .weight_flops = r->weight_flops};
                const char *key = kind == REPORT_ARM_WIDTH ? r->label : r->mixer;
                int seen = 0;
                for (size_t j = first_arm; j < d->n_arms && !seen; j++) {
                    const report_arm *b = &d->arms[j];
                    seen = kind == REPORT_ARM_WIDTH ? !strcmp(b->name, key)
                                                    : !strncmp(b->name, key, strlen(key)) && b->name[strlen(key)] == ' ' &&
                                                          same(b->weight_flops, r->weight_flops, 0.01);
                }
                if (seen) continue;
                size_t n = 0;
                for (size_t j = 0; j < d->n_runs; j++)
                    if (in_arm(d, &a, &d->runs[j], key))
                        v[n++] = kind == REPORT_ARM_WIDTH ? d->runs[j].params : d->runs[j].state_flops;
                if (distinct(v, n, kind == REPORT_ARM_WIDTH ? 0.01 : 1e-6) < 2) continue;
                if (kind == REPORT_ARM_WIDTH) snprintf(a.name, sizeof a.name, "%s", key);
                else snprintf(a.name, sizeof a.name, "%s d=%d", key, r->d_model);
                snprintf(a.xcol, sizeof a.xcol, "%s", kind == REPORT_ARM_WIDTH ? "params" : "wsfr");
                snprintf(a.key, sizeof a.key, "%s", key);
                report_arm *na = realloc(d->arms, (d->n_arms + 1) * sizeof *na);
                if (!na) rc = -1;
                else (d->arms = na)[d->n_arms++] = a;
            }
            size_t like = d->n_arms - first_arm;
            for (size_t j = first_arm; j < d->n_arms && !rc; j++) {
                report_arm *a = &d->arms[j];
                rc = build_arm(d, a, a->key, like);
            }
        }
    free(v);
    return rc;
}

/* ---- the answer in words ----------------------------------------------------------- */

static void fmt(char *out, size_t n, double x) { report_fmt_num(out, n, x); }

/* "12.3 [8.1, 19]" or "12.3 (no interval)" */
static void value_with_interval(char *out, size_t n, const report_arm_budget *ab) {
    char v[32], lo[32], hi[32];
    fmt(v, sizeof v, ab->x_opt), fmt(lo, sizeof lo, ab->lo), fmt(hi, sizeof hi, ab->hi);
    if (isfinite(ab->lo) && isfinite(ab->hi)) snprintf(out, n, "%s [%s, %s]", v, lo, hi);
    else snprintf(out, n, "%s (no interval)", v);
}

int report_arm_budget_text(const report_data *d, const report_arm *a, const report_arm_budget *ab, char *out, size_t n) {
    const report_run *best = &d->runs[ab->best_run];
    char c[32], v[96], t[32], l[32], e[32], ws[32];
    fmt(c, sizeof c, d->budgets[ab->budget].flops);
    int bound = !strcmp(ab->verdict, "bound"), lower = bound && strstr(ab->why, "below");
    if (a->kind == REPORT_ARM_WIDTH) {
        if (bound) {
            fmt(e, sizeof e, lower ? ab->x_min : ab->x_max);
            fmt(t, sizeof t, ab->tokens_opt);
            return snprintf(out, n, "C = %s: N_opt %s %s params (tokens %s %s) — bound: %s", c, lower ? "<=" : ">=", e,
                            lower ? ">=" : "<=", t, ab->why);
        }
        if (isfinite(ab->x_opt)) {
            value_with_interval(v, sizeof v, ab);
            fmt(t, sizeof t, ab->tokens_opt), fmt(l, sizeof l, ab->loss_opt);
            char r[32];
            fmt(r, sizeof r, ab->tokens_opt / ab->x_opt);
            return snprintf(out, n, "C = %s: N_opt = %s params, tokens %s (%s per parameter), loss %s — %s: %s", c, v, t,
                            r, l, ab->verdict, ab->why);
        }
        fmt(e, sizeof e, best->params), fmt(l, sizeof l, report_run_loss(best));
        return snprintf(out, n, "C = %s: best run N = %s params (loss %s) — %s: %s", c, e, l, ab->verdict, ab->why);
    }
    const report_run *set = ab->nearest_run >= 0 ? &d->runs[ab->nearest_run] : best;
    char ss[32];
    fmt(ss, sizeof ss, set->state_size);
    if (bound) {
        fmt(e, sizeof e, lower ? ab->x_min : ab->x_max);
        return snprintf(out, n, "C = %s: WSFR_opt %s %s, best state setting %s (state %s values) — bound: %s", c,
                        lower ? "<=" : ">=", e, set->label, ss, ab->why);
    }
    if (isfinite(ab->x_opt)) {
        value_with_interval(v, sizeof v, ab);
        fmt(l, sizeof l, ab->loss_opt);
        return snprintf(out, n, "C = %s: WSFR_opt = %s, nearest state setting %s (state %s values), loss %s — %s: %s", c,
                        v, set->label, ss, l, ab->verdict, ab->why);
    }
    fmt(ws, sizeof ws, best->wsfr), fmt(l, sizeof l, report_run_loss(best));
    return snprintf(out, n, "C = %s: best run %s (WSFR %s, loss %s) — %s: %s", c, set->label, ws, l, ab->verdict, ab->why);
}

/* The sentence comparing the optimal WSFR with 1 (balanced). */
int report_wsfr_sentence(const report_arm_budget *ab, char *out, size_t n) {
    char v[32], lo[32], hi[32], e[32];
    fmt(v, sizeof v, ab->x_opt), fmt(lo, sizeof lo, ab->lo), fmt(hi, sizeof hi, ab->hi);
    if (!strcmp(ab->verdict, "bound")) {
        int lower = strstr(ab->why, "below") != NULL;
        double edge = lower ? ab->x_min : ab->x_max;
        fmt(e, sizeof e, edge);
        if (!lower && edge >= 1)
            return snprintf(out, n, "WSFR_opt >= %s: weight-heavy, above 1 (balanced) by at least %.2gx.", e, edge);
        if (lower && edge <= 1)
            return snprintf(out, n, "WSFR_opt <= %s: state-heavy, below 1 (balanced) by at least %.2gx.", e, 1 / edge);
        return snprintf(out, n, "WSFR_opt %s %s: the sweep does not reach 1 (balanced) on that side, so it cannot "
                                "say how the optimum compares with 1.", lower ? "<=" : ">=", e);
    }
    if (!isfinite(ab->x_opt)) return snprintf(out, n, "No optimal WSFR to compare with 1 (balanced).");
    if (!isfinite(ab->lo) || !isfinite(ab->hi))
        return snprintf(out, n, "WSFR_opt %s is %s 1 (balanced), without an interval to say how surely.", v,
                        ab->x_opt > 1 ? "above" : "below");
    if (ab->lo > 1)
        return snprintf(out, n, "WSFR_opt %s is above 1 (balanced) with its whole interval [%s, %s]: weight-heavy "
                                "is optimal here.", v, lo, hi);
    if (ab->hi < 1)
        return snprintf(out, n, "WSFR_opt %s is below 1 (balanced) with its whole interval [%s, %s]: state-heavy "
                                "is optimal here.", v, lo, hi);
    return snprintf(out, n, "WSFR_opt %s: its interval [%s, %s] contains 1, consistent with balanced.", v, lo, hi);
}

void report_arm_title(const report_data *d, const report_arm *a, char *out, size_t n) {
    char w[32], src[160];
    if (a->fit_id)
        snprintf(src, sizeof src, "stored IsoFLOP fit #%lld%s%s", (long long)a->fit_id, a->fit_verdict[0] ? ", verdict " : "",
                 a->fit_verdict);
    else
        snprintf(src, sizeof src, "the report's own parabolas (no stored IsoFLOP fit of this arm)");
    const char *sw = d->n_sweeps ? d->sweeps[a->sweep] : "all runs";
    if (a->kind == REPORT_ARM_WIDTH) {
        snprintf(out, n, "Width: %s, sweep %s — N_opt per budget from %s", a->name, sw, src);
    } else {
        fmt(w, sizeof w, a->weight_flops);
        snprintf(out, n, "State at fixed weights: %s (W = %s FLOPs/token), sweep %s — WSFR_opt per budget from %s",
                 a->name, w, sw, src);
    }
}

int report_answer_text(const report_data *d, util_buf *out) {
    char line[1024];
    if (d->n_budgets == 0) {
        size_t done = 0;
        for (size_t i = 0; i < d->n_runs; i++) done += !strcmp(d->runs[i].status, "done");
        return util_buf_printf(out, "No answer yet: %zu runs, none finished with a loss; nothing to fit.\n", d->n_runs);
    }
    if (d->n_arms == 0)
        util_buf_puts(out, "No answer: no arm in these runs moves one thing at a time (widths within one family, "
                           "or the state at fixed weights), so no optimum can be located.\n");
    for (size_t i = 0; i < d->n_arms; i++) {
        const report_arm *a = &d->arms[i];
        report_arm_title(d, a, line, sizeof line);
        util_buf_printf(out, "%s\n", line);
        for (size_t k = 0; k < a->n_budgets; k++) {
            report_arm_budget_text(d, a, &a->budgets[k], line, sizeof line);
            util_buf_printf(out, "  %s\n", line);
            if (a->kind == REPORT_ARM_STATE) {
                report_wsfr_sentence(&a->budgets[k], line, sizeof line);
                util_buf_printf(out, "    %s\n", line);
            }
        }
        if (isfinite(a->exponent)) {
            char e[32], lo[32], hi[32];
            fmt(e, sizeof e, a->exponent), fmt(lo, sizeof lo, a->exponent_lo), fmt(hi, sizeof hi, a->exponent_hi);
            util_buf_printf(out, "  across budgets: %s_opt ~ C^%s, 95%% interval of the exponent [%s, %s]\n", a->kind == REPORT_ARM_WIDTH ? "N" : "WSFR",
                            e, lo, hi);
        }
        if (a->fit_reasons[0]) util_buf_printf(out, "  fit diagnostics: %s\n", a->fit_reasons);
    }
    util_buf noise = {0};
    double worst = 0;
    if (report_noise_pairs(d, &noise, &worst))
        util_buf_printf(out, "Noise floor (runs differing only in the seed): %s\n", noise.data);
    else
        util_buf_puts(out, "Noise floor: unknown (no pair of runs differs only in the seed)\n");
    util_buf_free(&noise);
    return 0;
}
