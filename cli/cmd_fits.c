/* scalelab fits: the stored fits, listed or one shown whole, long after `scalelab fit` ran. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "store/store.h"
#include "util/util.h"

static void usage(FILE *out) {
    fprintf(out,
        "usage: scalelab fits [--db PATH] [--format table|csv|json]\n"
        "       scalelab fits show ID [--db PATH] [--format table|json]\n\n"
        "Lists the fits in the store (id, time, form, source, verdict, points, fit quality,\n"
        "parameters), or shows one with everything stored about it: its source, x and y\n"
        "columns, derived columns (--derive), filters (--where), every other option (form, loss,\n"
        "method, grid, bootstrap, seed, level, pool_mixers, ...), verdict and reasons, parameters\n"
        "with their intervals, and diagnostics. --format json gives the stored documents whole.\n\n"
        "  --db PATH     the store (default: $SCALELAB_DB, else ./scalelab.db)\n"
        "  --format F    table (default), csv, or json (stored JSON columns embedded as JSON)\n"
        "  --json        the same as --format json\n"
        "  -h, --help    this text\n");
}

/* ISO 8601 in UTC, to the second. */
static void iso_time(double t, char *buf, size_t len) {
    time_t s = (time_t)t;
    struct tm tm;
    if (!gmtime_r(&s, &tm) || !strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm)) snprintf(buf, len, "?");
}

static const char *or_null(const char *s) {
    return s ? s : "null";
}

static int print_fit_json(util_buf *b, const store_fit *f) {
    char when[32];
    iso_time(f->created, when, sizeof when);
    util_buf_printf(b, "{\"id\": %lld, \"created\": \"%s\", \"form\": ", (long long)f->id, when);
    util_buf_json_str(b, f->form);
    util_buf_puts(b, ", \"source\": ");
    util_buf_json_str(b, f->source);
    util_buf_puts(b, ", \"verdict\": ");
    util_buf_json_str(b, f->verdict);
    util_buf_printf(b, ", \"n_points\": %lld, \"objective\": ", (long long)f->n_points);
    util_buf_json_num(b, f->objective);
    util_buf_puts(b, ", \"rmse_log\": ");
    util_buf_json_num(b, f->rmse_log);
    /* The stored columns are valid JSON (the store checks on insert): embed them as is. */
    return util_buf_printf(b, ", \"params\": %s, \"intervals\": %s, \"diagnostics\": %s, \"inputs\": %s}",
                           or_null(f->params_json), or_null(f->intervals_json), or_null(f->diagnostics_json),
                           or_null(f->inputs_json));
}

static int list(const store_fit *f, size_t n, const char *format) {
    util_buf b = {0};
    char when[32];
    if (!strcmp(format, "json")) {
        util_buf_puts(&b, "[");
        for (size_t i = 0; i < n; i++) {
            if (i) util_buf_puts(&b, ",\n ");
            print_fit_json(&b, &f[i]);
        }
        util_buf_puts(&b, "]\n");
    } else if (!strcmp(format, "csv")) {
        util_buf_puts(&b, "id,created,form,source,verdict,n_points,objective,rmse_log,params\n");
        for (size_t i = 0; i < n; i++) {
            iso_time(f[i].created, when, sizeof when);
            util_buf_printf(&b, "%lld,%s,", (long long)f[i].id, when);
            util_buf_csv_field(&b, f[i].form);
            util_buf_puts(&b, ",");
            util_buf_csv_field(&b, f[i].source);
            util_buf_printf(&b, ",%s,%lld,%.10g,%.10g,", f[i].verdict ? f[i].verdict : "", (long long)f[i].n_points,
                            f[i].objective, f[i].rmse_log);
            util_buf_csv_field(&b, f[i].params_json ? f[i].params_json : "");
            util_buf_puts(&b, "\n");
        }
    } else {
        util_buf_printf(&b, "%4s  %-20s  %-10s  %-24s  %-13s  %6s  %9s  %s\n", "id", "created", "form", "source",
                        "verdict", "points", "rmse_log", "parameters");
        for (size_t i = 0; i < n; i++) {
            iso_time(f[i].created, when, sizeof when);
            util_buf_printf(&b, "%4lld  %-20s  %-10s  %-24.24s  %-13s  %6lld  %9.4g  %.70s\n", (long long)f[i].id,
                            when, f[i].form, f[i].source, f[i].verdict ? f[i].verdict : "(none)",
                            (long long)f[i].n_points, f[i].rmse_log, f[i].params_json ? f[i].params_json : "");
        }
        if (!n) util_buf_puts(&b, "(no fits stored yet: scalelab fit --help)\n");
    }
    int rc = b.data ? fputs(b.data, stdout) < 0 : 0;
    util_buf_free(&b);
    return rc;
}

/* "a, b, c" of the strings at path (nothing when absent). */
static void strings_line(store *st, util_buf *b, const char *json, const char *path, const char *sep) {
    char **v = NULL, e[256];
    size_t n = 0;
    if (store_json_strings(st, json, path, &v, &n, e, sizeof e)) return;
    for (size_t i = 0; i < n; i++) util_buf_printf(b, "%s%s", i ? sep : "", v[i]);
    store_strings_free(v, n);
}

/* Members of a fit's inputs that `show` prints on lines of their own, or not at all (the
 * law's raw numbers: the parameters say them in words). */
static const char *const shown_apart[] = {"source", "form", "x_cols", "y_col", "derive", "where", "theta",
                                          "boot_theta", "n_skipped_rows"};

/* One stored fit in words: what it read (source, columns, derived columns, filters), how
 * (every other option its inputs hold), what it found (verdict and reasons, parameters with
 * their intervals); the diagnostics as stored. Everything is read with the store's JSON
 * functions. */
static int show_table(store *st, const store_fit *f, util_buf *b, char *err, size_t errlen) {
    char when[32];
    iso_time(f->created, when, sizeof when);
    const char *in = f->inputs_json;
    util_buf_printf(b, "fit %lld: %s on %s, %s\n", (long long)f->id, f->form, f->source, when);
    util_buf_printf(b, "  verdict      %s\n", f->verdict ? f->verdict : "(none: stored before verdicts; refit)");
    if (f->diagnostics_json) {
        char **v = NULL;
        size_t n = 0;
        if (store_json_strings(st, f->diagnostics_json, "$.reasons", &v, &n, err, errlen)) return -1;
        for (size_t i = 0; i < n; i++) util_buf_printf(b, "    - %s\n", v[i]);
        store_strings_free(v, n);
    }
    util_buf_printf(b, "  source       %s\n  x columns    ", f->source);
    strings_line(st, b, in, "$.x_cols", ", ");
    util_buf_puts(b, "\n  y column     ");
    strings_line(st, b, in, "$.y_col", "");
    util_buf_puts(b, "\n  derived      ");
    size_t before = b->len;
    strings_line(st, b, in, "$.derive", "\n               ");
    util_buf_puts(b, b->len == before ? "(none)\n  filters      " : "\n  filters      ");
    before = b->len;
    strings_line(st, b, in, "$.where", "\n               ");
    util_buf_puts(b, b->len == before ? "(none)\n" : "\n");
    store_json_item *it = NULL;
    size_t n = 0;
    if (in && store_json_each(st, in, "$", &it, &n, err, errlen)) return -1;
    util_buf_puts(b, "  options     ");
    for (size_t i = 0; i < n; i++) {
        int apart = 0;
        for (size_t k = 0; k < sizeof shown_apart / sizeof *shown_apart; k++) apart |= !strcmp(it[i].key, shown_apart[k]);
        /* json_each gives true and false as 1 and 0: its type says which */
        const char *v = !strcmp(it[i].type, "true") || !strcmp(it[i].type, "false") ? it[i].type
                      : it[i].value ? it[i].value : "null";
        if (!apart) util_buf_printf(b, " %s %s;", it[i].key, v);
    }
    if (b->data[b->len - 1] == ';') b->data[--b->len] = '\0';
    store_json_items_free(it, n);
    double skipped;
    char e[256];
    util_buf_printf(b, "\n  points       %lld", (long long)f->n_points);
    if (in && !store_json_number(st, in, "$.n_skipped_rows", &skipped, e, sizeof e) && skipped > 0)
        util_buf_printf(b, " (%.0f rows skipped for a missing value)", skipped);
    util_buf_printf(b, "\n  objective    %.10g\n  rmse_log     %.6g\n  parameters\n", f->objective, f->rmse_log);
    store_json_item *iv = NULL;
    size_t n_iv = 0;
    if ((f->params_json && store_json_each(st, f->params_json, "$", &it, &n, err, errlen)) ||
        (f->intervals_json && store_json_each(st, f->intervals_json, "$", &iv, &n_iv, err, errlen))) {
        store_json_items_free(it, n);
        return -1;
    }
    if (!f->params_json) n = 0;
    for (size_t i = 0; i < n; i++) {
        util_buf_printf(b, "    %-28s %14s", it[i].key, it[i].value ? it[i].value : "null");
        for (size_t k = 0; k < n_iv; k++) {
            double *lh = NULL;
            size_t m = 0;
            if (strcmp(iv[k].key, it[i].key) || !iv[k].value ||
                store_json_numbers(st, iv[k].value, "$", &lh, &m, e, sizeof e))
                continue;
            if (m == 2) util_buf_printf(b, "   [%.6g, %.6g]", lh[0], lh[1]);
            free(lh);
        }
        util_buf_puts(b, "\n");
    }
    store_json_items_free(it, n);
    store_json_items_free(iv, n_iv);
    return util_buf_printf(b, "  diagnostics  %s\n", or_null(f->diagnostics_json));
}

static int show(store *st, const store_fit *f, const char *format, char *err, size_t errlen) {
    util_buf b = {0};
    int rc = 0;
    if (!strcmp(format, "json")) {
        print_fit_json(&b, f);
        util_buf_puts(&b, "\n");
    } else {
        rc = show_table(st, f, &b, err, errlen);
    }
    if (!rc) rc = fputs(b.data, stdout) < 0;
    util_buf_free(&b);
    return rc;
}

int cli_fits(int argc, char **argv) {
    static const struct option opts[] = {{"db", 1, 0, 'p'},   {"format", 1, 0, 'f'}, {"json", 0, 0, 'j'},
                                         {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    const char *db = NULL, *format = "table";
    int ch;
    optind = 1;
    opterr = 0; /* cli_option_error says it, once, in scalelab's words */
    while ((ch = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (ch) {
        case 'p': db = optarg; break;
        case 'f': format = optarg; break;
        case 'j': format = "json"; break;
        case 'h': usage(stdout); return CLI_OK;
        default: return cli_option_error("fits", ch, argv, opts);
        }
    }
    if (cli_format_check("fits", format, 1)) return CLI_USAGE;
    long long id = 0;
    if (optind < argc) {
        if (strcmp(argv[optind], "show"))
            return cli_error(CLI_USAGE, "fits", "unexpected argument '%s' (scalelab fits show ID shows one fit)",
                             argv[optind]);
        char *end;
        if (optind + 2 != argc || (id = strtoll(argv[optind + 1], &end, 10)) <= 0 || *end)
            return cli_error(CLI_USAGE, "fits", "show: expected one fit id, e.g. scalelab fits show 3");
        if (!strcmp(format, "csv")) return cli_error(CLI_USAGE, "fits", "show: --format table or json");
    }
    char err[1024] = "";
    store *st = NULL;
    int rc = CLI_FAIL;
    if (store_open(cli_db_path(db), &st, err, sizeof err)) return cli_error(CLI_FAIL, "fits", "%s", err);
    if (id) {
        store_fit f;
        if (!store_fit_get(st, id, &f, err, sizeof err)) {
            rc = show(st, &f, format, err, sizeof err) ? CLI_FAIL : CLI_OK;
            store_fit_clear(&f);
        }
    } else {
        store_fit *f;
        size_t n;
        if (!store_fit_list(st, &f, &n, err, sizeof err)) {
            rc = list(f, n, format) ? CLI_FAIL : CLI_OK;
            for (size_t i = 0; i < n; i++) store_fit_clear(&f[i]);
            free(f);
        }
    }
    store_close(st);
    if (*err) return cli_error(CLI_FAIL, "fits", "%s", err);
    return rc;
}
