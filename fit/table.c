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
    for (size_t i = 0; i < t->n_rows * t->n_cols; i++) free(t->cells[i]);
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

/* A derived-column term: [name], a number, or a bare name. */
static int derive_term(const fit_table *t, const char **p, long *col, double *num, char *err, size_t errlen) {
    const char *s = *p;
    char name[256];
    size_t n = 0;
    while (*s == ' ') s++;
    if (*s == '[') {
        const char *e = strchr(s + 1, ']');
        if (!e) return util_err(err, errlen, "derive: '[' without ']'");
        n = (size_t)(e - s - 1);
        if (n >= sizeof name) return util_err(err, errlen, "derive: column name too long");
        memcpy(name, s + 1, n);
        s = e + 1;
    } else {
        const char *e = s;
        while (*e && *e != '*' && *e != '/') e++;
        while (e > s && e[-1] == ' ') e--;
        n = (size_t)(e - s);
        if (!n || n >= sizeof name) return util_err(err, errlen, "derive: expected a column or a number");
        memcpy(name, s, n);
        s = e;
    }
    name[n] = 0;
    while (*s == ' ') s++;
    *p = s;
    *col = fit_table_column(t, name);
    if (*col >= 0) return 0;
    if (!parse_number(name, num)) return 0;
    return util_err(err, errlen, "derive: no column '%s' in %s", name, t->source);
}

int fit_table_derive(fit_table *t, const char *spec, char *err, size_t errlen) {
    const char *eq = strchr(spec, '=');
    if (!eq || eq == spec)
        return util_err(err, errlen, "derive '%s': expected NAME=TERM*TERM/TERM...", spec);
    char name[256];
    size_t nl = (size_t)(eq - spec);
    if (nl >= sizeof name) return util_err(err, errlen, "derive: name too long");
    memcpy(name, spec, nl);
    name[nl] = 0;
    if (fit_table_column(t, name) >= 0) return util_err(err, errlen, "derive: column '%s' already exists", name);
    enum { MAXT = 16 };
    long cols[MAXT];
    double nums[MAXT];
    char ops[MAXT];
    size_t nt = 0;
    const char *p = eq + 1;
    ops[0] = '*';
    for (;;) {
        if (derive_term(t, &p, &cols[nt], &nums[nt], err, errlen)) return -1;
        nt++;
        if (!*p) break;
        if (*p != '*' && *p != '/') return util_err(err, errlen, "derive '%s': unexpected '%c'", spec, *p);
        /* checked before the operator is stored: ops[nt] belongs to the next term */
        if (nt == MAXT) return util_err(err, errlen, "derive: more than %d terms", MAXT);
        ops[nt] = *p++;
    }
    char **cells = realloc(t->cells, t->n_rows * (t->n_cols + 1) * sizeof *cells + 1);
    char **names = realloc(t->names, (t->n_cols + 1) * sizeof *names);
    if (names) t->names = names;
    if (!cells || !names) return util_err(err, errlen, "out of memory");
    t->cells = cells;
    /* widen rows in place, from the last row backwards */
    for (size_t r = t->n_rows; r-- > 0;) {
        for (size_t j = t->n_cols; j-- > 0;) cells[r * (t->n_cols + 1) + j] = cells[r * t->n_cols + j];
        cells[r * (t->n_cols + 1) + t->n_cols] = NULL;
    }
    t->names[t->n_cols] = dup_str(name);
    t->n_cols++;
    if (!t->names[t->n_cols - 1]) return util_err(err, errlen, "out of memory");
    for (size_t r = 0; r < t->n_rows; r++) {
        double v = 1;
        int ok = 1;
        for (size_t i = 0; i < nt; i++) {
            double x = nums[i];
            if (cols[i] >= 0 && parse_number(cells[r * t->n_cols + (size_t)cols[i]], &x)) ok = 0;
            v = ops[i] == '*' ? v * x : v / x;
        }
        char buf[64] = "";
        if (ok) snprintf(buf, sizeof buf, "%.17g", v);
        /* an empty cell: a non-numeric input is reported if the derived column is used */
        if (!(cells[r * t->n_cols + t->n_cols - 1] = dup_str(buf))) return util_err(err, errlen, "out of memory");
    }
    return 0;
}

int fit_filter_parse(const char *spec, fit_filter *f, char *err, size_t errlen) {
    static const struct { const char *s; fit_op op; } ops[] = {
        {"<=", FIT_LE}, {">=", FIT_GE}, {"==", FIT_EQ}, {"!=", FIT_NE}, {"!~", FIT_HASNT},
        {"<", FIT_LT}, {">", FIT_GT}, {"~", FIT_HAS},
    };
    memset(f, 0, sizeof *f);
    const char *best = NULL;
    size_t bi = 0;
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) { /* the leftmost operator wins; longer first */
        const char *q = strstr(spec, ops[i].s);
        if (q && (!best || q < best)) { best = q; bi = i; }
    }
    if (!best || best == spec)
        return util_err(err, errlen, "filter '%s': expected COLUMN OP VALUE with OP one of < <= > >= == != ~ !~", spec);
    size_t nl = (size_t)(best - spec);
    while (nl && spec[nl - 1] == ' ') nl--;
    const char *v = best + strlen(ops[bi].s);
    while (*v == ' ') v++;
    if (nl >= sizeof f->column || strlen(v) >= sizeof f->text)
        return util_err(err, errlen, "filter '%s': too long", spec);
    memcpy(f->column, spec, nl);
    f->column[nl] = 0;
    strcpy(f->text, v);
    f->op = ops[bi].op;
    f->numeric = !parse_number(v, &f->value);
    if (!f->numeric && f->op != FIT_EQ && f->op != FIT_NE && f->op != FIT_HAS && f->op != FIT_HASNT)
        return util_err(err, errlen, "filter '%s': '%s' is not a number", spec, v);
    return 0;
}

/* 1 when the row passes, 0 when not, -1 on error. */
static int filter_pass(const fit_table *t, size_t row, const fit_filter *f, long col, char *err, size_t errlen) {
    const char *cell = t->cells[row * t->n_cols + (size_t)col];
    if (f->op == FIT_HAS) return strstr(cell, f->text) != NULL;
    if (f->op == FIT_HASNT) return strstr(cell, f->text) == NULL;
    if (!f->numeric) return (f->op == FIT_EQ) == !strcmp(cell, f->text);
    /* an empty cell is a setting the row does not have (a config key its mixer does not use):
     * it equals no number and orders against none */
    if (!*cell) return f->op == FIT_NE;
    double v;
    if (parse_number(cell, &v)) {
        char w[600];
        where(t, row, w, sizeof w);
        return util_err(err, errlen, "%s, column '%s': '%s' is not a number (filter %s)", w, f->column, cell, f->text);
    }
    switch (f->op) {
    case FIT_LT: return v < f->value;
    case FIT_LE: return v <= f->value;
    case FIT_GT: return v > f->value;
    case FIT_GE: return v >= f->value;
    case FIT_EQ: return v == f->value;
    default: return v != f->value;
    }
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
    long *fc = calloc(n_filters + 1, sizeof *fc);
    if (!fc) return util_err(err, errlen, "out of memory");
    const char *missing = yc < 0 ? ycol : NULL;
    for (size_t j = 0; j < k && !missing; j++)
        if ((xc[j] = fit_table_column(t, xcols[j])) < 0) missing = xcols[j];
    if (!missing && compute_col && (cc = fit_table_column(t, compute_col)) < 0) missing = compute_col;
    for (size_t i = 0; i < n_filters && !missing; i++)
        if ((fc[i] = fit_table_column(t, filters[i].column)) < 0) missing = filters[i].column;
    if (missing) {
        util_buf b = {0};
        for (size_t j = 0; j < t->n_cols; j++) util_buf_printf(&b, "%s'%s'", j ? ", " : "", t->names[j]);
        util_err(err, errlen, "%s: no column '%s' (columns: %s)", t->source, missing, b.data ? b.data : "none");
        util_buf_free(&b);
        free(fc);
        return -1;
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
        for (size_t i = 0; i < n_filters && keep; i++) {
            int p = filter_pass(t, r, &filters[i], fc[i], err, errlen);
            if (p < 0) goto fail;
            keep = p;
        }
        if (!keep) continue;
        double prod = 1;
        char why[640];
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
