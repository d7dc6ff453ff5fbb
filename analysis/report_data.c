/* report_data: the parts of a report that are pure computation on report_data:
 * config summaries, knees, budget groups and labels. */
#include "analysis/report_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

double report_run_loss(const report_run *r) {
    if (isfinite(r->final_eval_loss)) return r->final_eval_loss;
    if (isfinite(r->final_train_loss)) return r->final_train_loss;
    return NAN;
}

long report_knee(const report_point *curve, size_t n, double threshold) {
    if (n == 0) return -1;
    /* later_min[b] = min of loss over buckets after b; computed right to left so
     * the rule costs O(n). NaN buckets (no tokens at that distance) are skipped. */
    double total_min = INFINITY, first = NAN;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(curve[i].y)) continue;
        if (isnan(first)) first = curve[i].y;
        if (curve[i].y < total_min) total_min = curve[i].y;
    }
    if (isnan(first)) return -1;
    double drop = first - total_min;
    double *later_min = malloc(n * sizeof *later_min);
    if (!later_min) return -1;
    double m = INFINITY;
    for (size_t i = n; i-- > 0;) {
        later_min[i] = m;
        if (isfinite(curve[i].y) && curve[i].y < m) m = curve[i].y;
    }
    long knee = -1;
    for (size_t b = 0; b < n && knee < 0; b++) {
        if (!isfinite(curve[b].y)) continue;
        /* The last bucket has nothing after it: the rule holds there trivially. */
        double still_to_fall = isfinite(later_min[b]) ? curve[b].y - later_min[b] : 0.0;
        if (still_to_fall < threshold * drop || drop <= 0) knee = (long)b;
    }
    free(later_min);
    return knee;
}

void report_trim_partial_bucket(report_run *r) {
    if (r->n_pos_loss == 0 || r->context <= 0) return;
    double lo = r->pos_loss[r->n_pos_loss - 1].x, hi = 2 * lo - 1 < r->context ? 2 * lo - 1 : r->context;
    if (hi - lo + 1 < lo / 2) r->n_pos_loss--;
}

/* ---- config summary -------------------------------------------------------- */

static const char *scalar(yaml_document_t *doc, yaml_node_t *map, const char *key) {
    if (!map || map->type != YAML_MAPPING_NODE) return NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key);
        yaml_node_t *v = yaml_document_get_node(doc, p->value);
        if (k && v && k->type == YAML_SCALAR_NODE && v->type == YAML_SCALAR_NODE &&
            !strcmp((const char *)k->data.scalar.value, key))
            return (const char *)v->data.scalar.value;
    }
    return NULL;
}

static yaml_node_t *section(yaml_document_t *doc, yaml_node_t *root, const char *key) {
    if (!root || root->type != YAML_MAPPING_NODE) return NULL;
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key);
        if (k && k->type == YAML_SCALAR_NODE && !strcmp((const char *)k->data.scalar.value, key))
            return yaml_document_get_node(doc, p->value);
    }
    return NULL;
}

static int int_of(const char *s, int fallback) { return s ? atoi(s) : fallback; }

int report_config_parse(const char *config_json, report_run *r, char *err, size_t errlen) {
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser)) return util_err(err, errlen, "run %lld: out of memory", (long long)r->id);
    yaml_parser_set_input_string(&parser, (const unsigned char *)config_json, strlen(config_json));
    if (!yaml_parser_load(&parser, &doc)) {
        int rc = util_err(err, errlen, "run %lld: config JSON does not parse: %s at offset %zu",
                          (long long)r->id, parser.problem ? parser.problem : "?", parser.problem_offset);
        yaml_parser_delete(&parser);
        return rc;
    }
    int rc = 0;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    yaml_node_t *model = section(&doc, root, "model"), *train = section(&doc, root, "train");
    const char *mixer = scalar(&doc, model, "mixer");
    if (!mixer) {
        rc = util_err(err, errlen, "run %lld: config JSON has no model.mixer", (long long)r->id);
    } else {
        snprintf(r->mixer, sizeof r->mixer, "%s", mixer);
        r->d_model = int_of(scalar(&doc, model, "d_model"), 0);
        r->n_layer = int_of(scalar(&doc, model, "n_layer"), 0);
        r->n_head = int_of(scalar(&doc, model, "n_head"), 0);
        r->p = int_of(scalar(&doc, model, "p"), 0);
        r->window = int_of(scalar(&doc, model, "window"), 0);
        r->context = int_of(scalar(&doc, train, "context"), 0);
        r->seed = int_of(scalar(&doc, train, "seed"), 0);
        if (!strcmp(mixer, "power"))
            snprintf(r->label, sizeof r->label, "power p=%d", r->p);
        else if (!strcmp(mixer, "window"))
            snprintf(r->label, sizeof r->label, "window w=%d", r->window);
        else
            snprintf(r->label, sizeof r->label, "%s", mixer);
        size_t len = (size_t)snprintf(r->shape, sizeof r->shape, "%s d=%d", r->label, r->d_model);
        /* Heads matter for power retention (the state grows with the head size). */
        if (!strcmp(mixer, "power") && len < sizeof r->shape)
            snprintf(r->shape + len, sizeof r->shape - len, " h=%d", r->n_head);
    }
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    return rc;
}

/* ---- labels and budgets ----------------------------------------------------- */

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Shapes sort by label, then by parameter count (then name), so a family's
 * widths take neighbouring palette entries in a fixed order. */
static const report_data *sort_data;
static double shape_params(const char *shape) {
    for (size_t i = 0; i < sort_data->n_runs; i++)
        if (!strcmp(sort_data->runs[i].shape, shape)) return sort_data->runs[i].params;
    return 0;
}
static const char *shape_label(const char *shape) {
    for (size_t i = 0; i < sort_data->n_runs; i++)
        if (!strcmp(sort_data->runs[i].shape, shape)) return sort_data->runs[i].label;
    return "";
}
static int cmp_shape(const void *a, const void *b) {
    const char *x = *(char *const *)a, *y = *(char *const *)b;
    int c = strcmp(shape_label(x), shape_label(y));
    if (c) return c;
    double px = shape_params(x), py = shape_params(y);
    if (px != py) return (px > py) - (px < py);
    return strcmp(x, y);
}

int report_collect_labels(report_data *d) {
    d->labels = calloc(d->n_runs ? d->n_runs : 1, sizeof *d->labels);
    d->shapes = calloc(d->n_runs ? d->n_runs : 1, sizeof *d->shapes);
    if (!d->labels || !d->shapes) return -1;
    for (size_t i = 0; i < d->n_runs; i++) {
        int seen = 0;
        for (size_t j = 0; j < d->n_shapes && !seen; j++) seen = !strcmp(d->shapes[j], d->runs[i].shape);
        if (seen) continue;
        if (!(d->shapes[d->n_shapes] = strdup(d->runs[i].shape))) return -1;
        d->n_shapes++;
    }
    sort_data = d;
    qsort(d->shapes, d->n_shapes, sizeof *d->shapes, cmp_shape);
    sort_data = NULL;
    for (size_t i = 0; i < d->n_runs; i++) {
        int seen = 0;
        for (size_t j = 0; j < d->n_labels && !seen; j++) seen = !strcmp(d->labels[j], d->runs[i].label);
        if (seen) continue;
        if (!(d->labels[d->n_labels] = strdup(d->runs[i].label))) return -1;
        d->n_labels++;
    }
    qsort(d->labels, d->n_labels, sizeof *d->labels, cmp_str);
    return 0;
}

typedef struct flops_index {
    double flops;
    size_t run;
} flops_index;

static int cmp_flops(const void *a, const void *b) {
    const flops_index *x = a, *y = b;
    return (x->flops > y->flops) - (x->flops < y->flops);
}

/* Budgets are not stored with runs; an IsoFLOP sweep derives tokens so that
 * every shape lands on its budget up to rounding, so runs within 10% of the
 * smallest member of a group belong to one budget. */
int report_group_budgets(report_data *d) {
    flops_index *ix = malloc((d->n_runs ? d->n_runs : 1) * sizeof *ix);
    d->budgets = calloc(d->n_runs ? d->n_runs : 1, sizeof *d->budgets);
    if (!ix || !d->budgets) {
        free(ix);
        return -1;
    }
    size_t n = 0;
    for (size_t i = 0; i < d->n_runs; i++) {
        d->runs[i].budget = -1;
        if (!strcmp(d->runs[i].status, "done") && isfinite(report_run_loss(&d->runs[i])) &&
            d->runs[i].training_flops > 0)
            ix[n++] = (flops_index){d->runs[i].training_flops, i};
    }
    qsort(ix, n, sizeof *ix, cmp_flops);
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && ix[j].flops <= ix[i].flops * 1.1) j++;
        report_budget *b = &d->budgets[d->n_budgets];
        b->flops = ix[i + (j - i) / 2].flops;
        b->n_runs = j - i;
        b->best_run = -1;
        for (size_t k = i; k < j; k++) {
            report_run *r = &d->runs[ix[k].run];
            r->budget = (int)d->n_budgets;
            if (b->best_run < 0 || report_run_loss(r) < report_run_loss(&d->runs[b->best_run]))
                b->best_run = (long)ix[k].run;
        }
        d->n_budgets++;
        i = j;
    }
    free(ix);
    return 0;
}

void report_data_free(report_data *d) {
    for (size_t i = 0; i < d->n_runs; i++) {
        free(d->runs[i].curve);
        free(d->runs[i].eval_curve);
        free(d->runs[i].pos_loss);
    }
    for (size_t i = 0; i < d->n_shapes; i++) free(d->shapes[i]);
    free(d->shapes);
    for (size_t i = 0; i < d->n_arms; i++) free(d->arms[i].budgets);
    free(d->arms);
    for (size_t i = 0; i < d->n_fits; i++) free(d->fits[i].budgets);
    free(d->fits);
    free(d->runs);
    free(d->budgets);
    for (size_t i = 0; i < d->n_labels; i++) free(d->labels[i]);
    free(d->labels);
    store_fit_inputs_free(&d->fit_inputs);
    memset(d, 0, sizeof *d);
}

size_t report_noise_pairs(const report_data *d, util_buf *out, double *max_diff) {
    size_t n = 0;
    *max_diff = 0;
    for (size_t i = 0; i < d->n_runs; i++)
        for (size_t j = i + 1; j < d->n_runs; j++) {
            const report_run *a = &d->runs[i], *b = &d->runs[j];
            if (a->budget < 0 || b->budget < 0 || a->seed == b->seed || strcmp(a->shape, b->shape) ||
                a->context != b->context || fabs(a->tokens - b->tokens) > 1e-6 * fmax(a->tokens, b->tokens))
                continue;
            double la = report_run_loss(a), lb = report_run_loss(b), diff = fabs(la - lb);
            char c[32];
            report_fmt_num(c, sizeof c, d->budgets[a->budget].flops);
            if (out)
                util_buf_printf(out, "%s%s at C = %s: seed %d %.4f, seed %d %.4f (|difference| %.4f)", n ? "; " : "",
                                a->shape, c, a->seed, la, b->seed, lb, diff);
            if (diff > *max_diff) *max_diff = diff;
            n++;
        }
    return n;
}

/* "4.1e4" rather than "4.096e+04": 3 significant digits and a bare exponent
 * read faster in tables of FLOPs and parameter counts. */
void report_fmt_num(char *out, size_t n, double x) {
    if (!isfinite(x)) {
        snprintf(out, n, "–");
        return;
    }
    if (x == 0 || (fabs(x) < 1e4 && fabs(x) >= 1e-3)) {
        snprintf(out, n, "%.4g", x);
        return;
    }
    char tmp[64], *e;
    snprintf(tmp, sizeof tmp, "%.3g", x);
    if (!(e = strchr(tmp, 'e'))) {
        snprintf(out, n, "%s", tmp);
        return;
    }
    int exponent = atoi(e + 1);
    *e = 0;
    snprintf(out, n, "%se%d", tmp, exponent);
}
