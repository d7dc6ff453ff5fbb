/* fit/table: CSV input (RFC 4180), derived columns, row filters, and the selection of
 * the points to fit with every check a fit needs, each error naming row, line and column. */
#include "fit/fit.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static char *dup_str(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p) memcpy(p, s, n);
    return p;
}

void fit_table_free(fit_table *t) {
    if (!t) return;
    for (size_t i = 0; i < t->n_cols; i++) free(t->names[i]);
    for (size_t i = 0; i < t->n_rows * t->n_cols; i++) {
        free(t->cells[i]);
        if (t->why) free(t->why[i]);
    }
    free(t->why);
    free(t->names);
    free(t->cells);
    free(t->lines);
    free(t->source);
    memset(t, 0, sizeof *t);
}

int fit_table_init(fit_table *t, const char *source, const char *const *names, size_t n_cols,
                   char *err, size_t errlen) {
    memset(t, 0, sizeof *t);
    t->source = dup_str(source ? source : "");
    t->names = calloc(n_cols ? n_cols : 1, sizeof *t->names);
    if (!t->source || !t->names) return fit_table_free(t), util_err(err, errlen, "out of memory");
    for (size_t i = 0; i < n_cols; i++) {
        for (size_t j = 0; j < i; j++)
            if (!strcmp(names[i], names[j])) {
                fit_table_free(t);
                return util_err(err, errlen, "column '%s' appears twice in the header", names[i]);
            }
        if (!(t->names[i] = dup_str(names[i]))) return fit_table_free(t), util_err(err, errlen, "out of memory");
        t->n_cols = i + 1;
    }
    return 0;
}

int fit_table_add_row(fit_table *t, const char *const *cells, size_t line, char *err, size_t errlen) {
    size_t n = t->n_rows + 1;
    char **c = realloc(t->cells, n * t->n_cols * sizeof *c);
    if (!c) return util_err(err, errlen, "out of memory");
    t->cells = c;
    size_t *l = realloc(t->lines, n * sizeof *l);
    if (!l) return util_err(err, errlen, "out of memory");
    t->lines = l;
    if (t->why) { /* rows added after a derived column: no reasons yet */
        char **w = realloc(t->why, n * t->n_cols * sizeof *w);
        if (!w) return util_err(err, errlen, "out of memory");
        t->why = w;
        for (size_t j = 0; j < t->n_cols; j++) w[t->n_rows * t->n_cols + j] = NULL;
    }
    for (size_t j = 0; j < t->n_cols; j++) {
        c[t->n_rows * t->n_cols + j] = dup_str(cells[j]);
        if (!c[t->n_rows * t->n_cols + j]) {
            for (size_t i = 0; i < j; i++) free(c[t->n_rows * t->n_cols + i]);
            return util_err(err, errlen, "out of memory");
        }
    }
    l[t->n_rows] = line;
    t->n_rows = n;
    return 0;
}

long fit_table_column(const fit_table *t, const char *name) {
    for (size_t i = 0; i < t->n_cols; i++)
        if (!strcmp(t->names[i], name)) return (long)i;
    return -1;
}

/* One CSV record starting at *p: fields into a growable array. Quoted fields may hold
 * commas, doubled quotes and line breaks; *line advances past every line break read. */
static int csv_record(const char **p, size_t *line, util_buf *field, char ***fields, size_t *n,
                      size_t *cap, const char *path, char *err, size_t errlen) {
    const char *s = *p;
    *n = 0;
    for (;;) {
        util_buf_reset(field);
        if (util_buf_append(field, "", 0)) return util_err(err, errlen, "out of memory");
        if (*s == '"') {
            size_t start_line = *line;
            s++;
            for (;;) {
                if (!*s) return util_err(err, errlen, "%s:%zu: quoted field never closed", path, start_line);
                if (*s == '"' && s[1] == '"') { util_buf_append(field, "\"", 1); s += 2; continue; }
                if (*s == '"') { s++; break; }
                if (*s == '\n') (*line)++;
                if (util_buf_append(field, s, 1)) return util_err(err, errlen, "out of memory");
                s++;
            }
            if (*s && *s != ',' && *s != '\n' && *s != '\r')
                return util_err(err, errlen, "%s:%zu: text after a closing quote", path, *line);
        } else {
            const char *e = s;
            while (*e && *e != ',' && *e != '\n' && *e != '\r') e++;
            if (memchr(s, '"', (size_t)(e - s)))
                return util_err(err, errlen, "%s:%zu: a quote inside an unquoted field", path, *line);
            if (util_buf_append(field, s, (size_t)(e - s))) return util_err(err, errlen, "out of memory");
            s = e;
        }
        if (*n == *cap) {
            size_t nc = *cap ? 2 * *cap : 16;
            char **f = realloc(*fields, nc * sizeof *f);
            if (!f) return util_err(err, errlen, "out of memory");
            for (size_t i = *cap; i < nc; i++) f[i] = NULL;
            *fields = f;
            *cap = nc;
        }
        free((*fields)[*n]);
        if (!((*fields)[(*n)++] = dup_str(field->data))) return util_err(err, errlen, "out of memory");
        if (*s == ',') { s++; continue; }
        if (*s == '\r') s++;
        if (*s == '\n') { s++; (*line)++; }
        break;
    }
    *p = s;
    return 0;
}

int fit_table_read_csv(const char *path, fit_table *t, char *err, size_t errlen) {
    char *text = NULL;
    size_t len = 0;
    memset(t, 0, sizeof *t);
    if (util_read_file(path, &text, &len, err, errlen)) return -1;
    if (strlen(text) != len) {
        free(text);
        return util_err(err, errlen, "%s: holds a NUL byte; not a CSV file", path);
    }
    const char *p = text;
    if (!strncmp(p, "\xEF\xBB\xBF", 3)) p += 3; /* a UTF-8 byte-order mark is not part of the first name */
    util_buf field = {0};
    char **fields = NULL;
    size_t n = 0, cap = 0, line = 1, ncols = 0;
    int rc = -1;
    util_buf src = {0};
    if (!*p) { util_err(err, errlen, "%s: empty file; expected a header row", path); goto out; }
    if (csv_record(&p, &line, &field, &fields, &n, &cap, path, err, errlen)) goto out;
    for (size_t j = 0; j < n; j++)
        if (!fields[j][0]) { util_err(err, errlen, "%s:1: header column %zu has no name", path, j + 1); goto out; }
    ncols = n;
    if (util_buf_printf(&src, "csv:%s", path)) goto out;
    if (fit_table_init(t, src.data, (const char *const *)fields, ncols, err, errlen)) {
        char inner[512];
        snprintf(inner, sizeof inner, "%s", err ? err : "");
        util_err(err, errlen, "%s:1: %s", path, inner);
        goto out;
    }
    while (*p) {
        size_t start = line;
        if (*p == '\n' || (*p == '\r' && p[1] == '\n')) { /* blank line */
            p += *p == '\r' ? 2 : 1;
            line++;
            continue;
        }
        if (csv_record(&p, &line, &field, &fields, &n, &cap, path, err, errlen)) goto out;
        if (n != ncols) {
            util_err(err, errlen, "%s:%zu: ragged row: %zu fields, the header has %zu", path, start, n, ncols);
            goto out;
        }
        if (fit_table_add_row(t, (const char *const *)fields, start, err, errlen)) goto out;
    }
    rc = 0;
out:
    if (rc) fit_table_free(t);
    for (size_t i = 0; i < cap; i++) free(fields[i]);
    free(fields);
    util_buf_free(&field);
    util_buf_free(&src);
    free(text);
    return rc;
}

/* Parses a whole cell as a finite or non-finite double; 0 when it is a number. */
static int parse_number(const char *s, double *v) {
    while (isspace((unsigned char)*s)) s++;
    if (!*s) return -1;
    char *end;
    errno = 0;
    *v = strtod(s, &end);
    while (isspace((unsigned char)*end)) end++;
    return *end ? -1 : 0;
}

static void where(const fit_table *t, size_t row, char *buf, size_t n) {
    if (t->lines && t->lines[row])
        snprintf(buf, n, "%s line %zu (row %zu)", t->source, t->lines[row], row + 1);
    else
        snprintf(buf, n, "%s row %zu", t->source, row + 1);
}

/* The names of t's columns, for "no column" errors: 'a', 'b', ... */
static int no_column(const fit_table *t, const char *name, const char *what, char *err, size_t errlen) {
    util_buf b = {0};
    for (size_t j = 0; j < t->n_cols; j++) util_buf_printf(&b, "%s'%s'", j ? ", " : "", t->names[j]);
    util_err(err, errlen, "%s%s: no column '%s' (columns: %s)", what, t->source, name, b.data ? b.data : "none");
    util_buf_free(&b);
    return -1;
}

/* References of an expression over one row: a column's cell as a number when it parses as
 * one, else as text. An empty cell (a derived value that could not be computed, a setting the
 * row lacks) is missing: the expression fails and the row is skipped, never read as 0. */
typedef struct row_ctx {
    const fit_table *t;
    size_t row;
    char no_column[256];    /* set when a reference names no column: an error, not a skip (a copy:
                             * the evaluator's key lives only while it looks up) */
} row_ctx;

static int row_lookup(void *vctx, const char *key, util_value *out, char *err, size_t errlen) {
    row_ctx *c = vctx;
    long col = fit_table_column(c->t, key);
    if (col < 0) {
        snprintf(c->no_column, sizeof c->no_column, "%s", key);
        return util_err(err, errlen, "no column '%s'", key);
    }
    size_t i = c->row * c->t->n_cols + (size_t)col;
    const char *cell = c->t->cells[i];
    if (!cell || !*cell) {
        const char *why = c->t->why ? c->t->why[i] : NULL;
        return util_err(err, errlen, "column '%s' is empty%s%s", key, why ? ": " : "", why ? why : "");
    }
    double x;
    if (!parse_number(cell, &x)) *out = (util_value){.num = x};
    else *out = (util_value){.is_str = 1, .s = cell, .len = strlen(cell)};
    return 0;
}

/* Evaluates expr on row r: 0 with *v; 1 when the row cannot give a value (why in skip);
 * -1 when expr names no column (an error in err, about every row alike). */
static int row_eval(const fit_table *t, size_t r, const char *label, const char *expr, util_value *v, char *skip,
                    size_t skiplen, char *err, size_t errlen) {
    row_ctx c = {t, r, ""};
    char why[512];
    if (!util_expr_eval(expr, row_lookup, &c, v, NULL, why, sizeof why)) return 0;
    if (c.no_column[0]) {
        char what[320];
        snprintf(what, sizeof what, "%s: ", label);
        return no_column(t, c.no_column, what, err, errlen);
    }
    char w[600];
    where(t, r, w, sizeof w);
    util_err(skip, skiplen, "%s: %s: %s", w, label, why);
    return 1;
}

int fit_table_derive(fit_table *t, const char *spec, char *err, size_t errlen) {
    const char *eq = strchr(spec, '=');
    char name[256];
    size_t nl = eq ? (size_t)(eq - spec) : 0;
    while (nl && spec[nl - 1] == ' ') nl--;
    if (!eq || !nl || eq[1] == '=')
        return util_err(err, errlen, "--derive '%s': expected NAME=EXPR, e.g. tokens=[Training FLOP]/6/[Model Size]", spec);
    if (nl >= sizeof name) return util_err(err, errlen, "--derive '%s': name too long", spec);
    memcpy(name, spec, nl);
    name[nl] = 0;
    const char *expr = eq + 1;
    char why[512];
    if (util_expr_check(expr, NULL, why, sizeof why)) return util_err(err, errlen, "--derive '%s': %s", spec, why);
    if (fit_table_column(t, name) >= 0) return util_err(err, errlen, "--derive: column '%s' already exists", name);
    /* one cell and one reason slot more per row, widened in place from the last row backwards */
    size_t nc = t->n_cols + 1;
    char **cells = realloc(t->cells, t->n_rows * nc * sizeof *cells + 1);
    if (cells) t->cells = cells;
    char **whys = realloc(t->why, t->n_rows * nc * sizeof *whys + 1);
    if (whys && !t->why) memset(whys, 0, t->n_rows * t->n_cols * sizeof *whys);
    if (whys) t->why = whys;
    char **names = realloc(t->names, nc * sizeof *names);
    if (names) t->names = names;
    if (!cells || !whys || !names) return util_err(err, errlen, "out of memory");
    for (size_t r = t->n_rows; r-- > 0;) {
        for (size_t j = t->n_cols; j-- > 0;) {
            cells[r * nc + j] = cells[r * t->n_cols + j];
            whys[r * nc + j] = whys[r * t->n_cols + j];
        }
        cells[r * nc + t->n_cols] = whys[r * nc + t->n_cols] = NULL;
    }
    if (!(t->names[t->n_cols] = dup_str(name))) return util_err(err, errlen, "out of memory");
    t->n_cols = nc;
    char label[320];
    snprintf(label, sizeof label, "--derive '%.280s'", spec);
    for (size_t r = 0; r < t->n_rows; r++) {
        util_value v;
        char buf[64] = "", skip[640];
        /* the new column reads as empty while its own row is computed: a self-reference is missing */
        cells[r * nc + nc - 1] = NULL;
        int rc = row_eval(t, r, label, expr, &v, skip, sizeof skip, err, errlen);
        if (rc < 0) return -1;
        if (rc == 0 && v.is_str) snprintf(buf, sizeof buf, "%.*s", (int)(v.len < 63 ? v.len : 63), v.s);
        else if (rc == 0) snprintf(buf, sizeof buf, "%.17g", v.num);
        /* an empty cell with its reason: a row that uses the column is skipped and says why */
        if (rc > 0 && !(whys[r * nc + nc - 1] = dup_str(skip))) return util_err(err, errlen, "out of memory");
        if (!(cells[r * nc + nc - 1] = dup_str(buf))) return util_err(err, errlen, "out of memory");
    }
    return 0;
}
int fit_filter_parse(const char *spec, fit_filter *f, char *err, size_t errlen) {
    memset(f, 0, sizeof *f);
    if (strlen(spec) >= sizeof f->expr) return util_err(err, errlen, "'%.40s...': too long", spec);
    strcpy(f->expr, spec);
    char why[512];
    int is_expr = !util_expr_check(spec, NULL, why, sizeof why);
    /* The older COLUMN OP TEXT form, kept so that mixer==power and Name!~validation-optimal
     * still work: ~ and !~ (contains, does not contain; not in the expression language), and
     * == or != against a bare word that is no number and not quoted, which is text unless the
     * table has a column of that name (fit_data_select decides). */
    static const struct { const char *s; fit_op op; } ops[] = {
        {"<=", FIT_LE}, {">=", FIT_GE}, {"==", FIT_EQ}, {"!=", FIT_NE}, {"!~", FIT_HASNT},
        {"<", FIT_LT}, {">", FIT_GT}, {"~", FIT_HAS},
    };
    const char *best = NULL;
    size_t bi = 0;
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) { /* the leftmost operator wins; longer first */
        const char *q = strstr(spec, ops[i].s);
        if (q && (!best || q < best)) { best = q; bi = i; }
    }
    fit_op op = best ? ops[bi].op : FIT_LT;
    if (best && best > spec && (op == FIT_EQ || op == FIT_NE || op == FIT_HAS || op == FIT_HASNT)) {
        size_t nl = (size_t)(best - spec);
        while (nl && spec[nl - 1] == ' ') nl--;
        const char *v = best + strlen(ops[bi].s);
        while (*v == ' ') v++;
        double x;
        int word = *v && *v != '"' && *v != '\'' && parse_number(v, &x);
        if (nl && nl < sizeof f->column && (op == FIT_HAS || op == FIT_HASNT || word)) {
            memcpy(f->column, spec, nl);
            f->column[nl] = 0;
            snprintf(f->text, sizeof f->text, "%s", v);
            f->op = op;
            f->text_compare = is_expr ? 1 : 2;
            return 0;
        }
    }
    if (!is_expr) return util_err(err, errlen, "'%s': %s", spec, why);
    return 0;
}

/* 1 when the row passes, 0 when not, 2 when it cannot be evaluated (why in skip), -1 on an error.
 * text is 1 for the COLUMN OP TEXT form (col its column). */
static int filter_pass(const fit_table *t, size_t row, const fit_filter *f, int text, long col, char *skip,
                       size_t skiplen, char *err, size_t errlen) {
    if (text) {
        const char *cell = t->cells[row * t->n_cols + (size_t)col];
        if (!cell) cell = "";
        if (f->op == FIT_HAS) return strstr(cell, f->text) != NULL;
        if (f->op == FIT_HASNT) return strstr(cell, f->text) == NULL;
        return (f->op == FIT_EQ) == !strcmp(cell, f->text);
    }
    char label[600];
    snprintf(label, sizeof label, "--where '%.500s'", f->expr);
    util_value v;
    int rc = row_eval(t, row, label, f->expr, &v, skip, skiplen, err, errlen);
    if (rc) return rc < 0 ? -1 : 2;
    return v.is_str ? v.len > 0 : v.num != 0;
}

void fit_data_free(fit_data *d) {
    if (!d) return;
    for (size_t j = 0; j < d->k; j++) free(d->cols[j]);
    free(d->cols);
    free(d->ycol);
    free(d->x);
    free(d->y);
    free(d->compute);
    free(d->row);
    memset(d, 0, sizeof *d);
}

/* 0: *v holds a usable value; 1: the cell is missing (empty, not a number, NaN) and why is in
 * skip; -1: an error in err. */
static int cell_positive(const fit_table *t, size_t row, long col, const char *what, double *v,
                         char *skip, size_t skiplen, char *err, size_t errlen) {
    const char *cell = t->cells[row * t->n_cols + (size_t)col];
    char w[600];
    where(t, row, w, sizeof w);
    /* util_err formats (and truncates) the reason; its -1 is not this function's answer */
    if (!cell || !*cell) return util_err(skip, skiplen, "%s, column '%s': empty", w, t->names[col]), 1;
    if (parse_number(cell, v))
        return util_err(skip, skiplen, "%s, column '%s': '%.40s' is not a number", w, t->names[col], cell), 1;
    if (isnan(*v)) return util_err(skip, skiplen, "%s, column '%s': NaN", w, t->names[col]), 1;
    if (!isfinite(*v)) return util_err(err, errlen, "%s, column '%s': infinite", w, t->names[col]);
    if (*v <= 0)
        return util_err(err, errlen, "%s, column '%s': %s %g is not positive (logs of it are taken)", w,
                        t->names[col], what, *v);
    return 0;
}

int fit_data_select(const fit_table *t, const char *const *xcols, size_t k, const char *ycol,
                    const char *compute_col, const fit_filter *filters, size_t n_filters,
                    fit_data *d, char *err, size_t errlen) {
    memset(d, 0, sizeof *d);
    if (k == 0 || k > FIT_MAX_TERMS) return util_err(err, errlen, "between 1 and %d x columns, not %zu", FIT_MAX_TERMS, k);
    long xc[FIT_MAX_TERMS], yc = fit_table_column(t, ycol), cc = -1;
    long *fc = calloc(n_filters + 1, sizeof *fc); /* a text filter's column; -1: an expression */
    if (!fc) return util_err(err, errlen, "out of memory");
    const char *missing = yc < 0 ? ycol : NULL;
    for (size_t j = 0; j < k && !missing; j++)
        if ((xc[j] = fit_table_column(t, xcols[j])) < 0) missing = xcols[j];
    if (!missing && compute_col && (cc = fit_table_column(t, compute_col)) < 0) missing = compute_col;
    for (size_t i = 0; i < n_filters && !missing; i++) {
        fc[i] = -1;
        /* mixer==power: text, unless the table has a column 'power' and it parses as an expression */
        if (filters[i].text_compare == 2 || (filters[i].text_compare == 1 && fit_table_column(t, filters[i].text) < 0))
            if ((fc[i] = fit_table_column(t, filters[i].column)) < 0) missing = filters[i].column;
    }
    if (missing) {
        free(fc);
        return no_column(t, missing, "", err, errlen);
    }
    d->k = k;
    d->cols = calloc(k, sizeof *d->cols);
    d->ycol = dup_str(ycol);
    size_t cap = t->n_rows ? t->n_rows : 1;
    d->x = malloc(cap * k * sizeof *d->x);
    d->y = malloc(cap * sizeof *d->y);
    d->compute = malloc(cap * sizeof *d->compute);
    d->row = malloc(cap * sizeof *d->row);
    if (!d->cols || !d->ycol || !d->x || !d->y || !d->compute || !d->row) goto oom;
    for (size_t j = 0; j < k; j++)
        if (!(d->cols[j] = dup_str(xcols[j]))) goto oom;
    for (size_t r = 0; r < t->n_rows; r++) {
        int keep = 1;
        char why[640];
        for (size_t i = 0; i < n_filters && keep == 1; i++)
            keep = filter_pass(t, r, &filters[i], fc[i] >= 0, fc[i], why, sizeof why, err, errlen);
        if (keep < 0) goto fail;
        if (keep == 2) { /* counted like a missing cell: the filter cannot say whether the row belongs */
            if (!d->n_skipped++) memcpy(d->first_skipped, why, sizeof d->first_skipped);
            continue;
        }
        if (!keep) continue;
        double prod = 1;
        int c = 0;
        for (size_t j = 0; j < k && !c; j++) {
            c = cell_positive(t, r, xc[j], "x", &d->x[d->n * k + j], why, sizeof why, err, errlen);
            prod *= d->x[d->n * k + j];
        }
        if (!c) c = cell_positive(t, r, yc, "loss", &d->y[d->n], why, sizeof why, err, errlen);
        d->compute[d->n] = prod;
        if (!c && cc >= 0) c = cell_positive(t, r, cc, "compute", &d->compute[d->n], why, sizeof why, err, errlen);
        if (c < 0) goto fail;
        if (c > 0) {
            if (!d->n_skipped++) memcpy(d->first_skipped, why, sizeof d->first_skipped);
            continue;
        }
        d->row[d->n++] = r;
    }
    free(fc);
    return 0;
oom:
    util_err(err, errlen, "out of memory");
fail:
    free(fc);
    fit_data_free(d);
    return -1;
}

int fit_data_check(const fit_data *d, size_t n_params, char *err, size_t errlen) {
    if (d->n < n_params && d->n_skipped)
        return util_err(err, errlen, "%zu points (after filters; %zu rows skipped for a missing cell, the first %s) "
                        "for %zu parameters; need at least %zu", d->n, d->n_skipped, d->first_skipped, n_params, n_params);
    if (d->n < n_params)
        return util_err(err, errlen, "%zu points (after filters) for %zu parameters; need at least %zu",
                        d->n, n_params, n_params);
    for (size_t j = 0; j < d->k; j++) {
        size_t i = 1;
        while (i < d->n && d->x[i * d->k + j] == d->x[j]) i++;
        if (i == d->n)
            return util_err(err, errlen, "column '%s' is constant (%g in every point): its exponent cannot be fitted",
                            d->cols[j], d->x[j]);
    }
    return 0;
}
