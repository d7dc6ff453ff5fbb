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
        "parameters), or shows one with everything stored about it: its inputs (columns,\n"
        "options, the law as fitted), parameters, intervals, verdict and diagnostics.\n\n"
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

static int show(const store_fit *f, const char *format) {
    util_buf b = {0};
    if (!strcmp(format, "json")) {
        print_fit_json(&b, f);
        util_buf_puts(&b, "\n");
    } else {
        char when[32];
        iso_time(f->created, when, sizeof when);
        util_buf_printf(&b, "fit %lld: %s on %s, %s\n", (long long)f->id, f->form, f->source, when);
        util_buf_printf(&b, "  verdict      %s\n", f->verdict ? f->verdict : "(none: stored before verdicts; refit)");
        util_buf_printf(&b, "  points       %lld\n  objective    %.10g\n  rmse_log     %.6g\n", (long long)f->n_points,
                        f->objective, f->rmse_log);
        util_buf_printf(&b, "  parameters   %s\n  intervals    %s\n  diagnostics  %s\n  inputs       %s\n",
                        or_null(f->params_json), or_null(f->intervals_json), or_null(f->diagnostics_json),
                        or_null(f->inputs_json));
    }
    int rc = fputs(b.data, stdout) < 0;
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
    if (strcmp(format, "table") && strcmp(format, "csv") && strcmp(format, "json"))
        return cli_error(CLI_USAGE, "fits", "--format '%s': expected table, csv or json", format);
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
            rc = show(&f, format) ? CLI_FAIL : CLI_OK;
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
