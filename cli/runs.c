/* scalelab runs: list runs of the store as a table, RFC 4180 CSV or JSON. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "store/store.h"
#include "util/util.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: scalelab runs [--db PATH] [--sweep S] [--status X] [--format table|csv|json]\n\n"
            "Lists the runs of the store, oldest first.\n\n"
            "  --db PATH        the store (default: $SCALELAB_DB, else ./scalelab.db)\n"
            "  --sweep S        only runs that sweep S asked for\n"
            "  --status X       only runs in state X: pending, running, done, failed,\n"
            "                   diverged or cancelled\n"
            "  --format F       table (default, for people), csv (RFC 4180 with a header)\n"
            "                   or json (an array of objects; names as in `scalelab flops --json`)\n"
            "  -h, --help       this text\n");
}

/* Machine-readable columns, in the names of DESIGN section 4. */
static const char *const numeric_names[] = {"params", "params_non_embedding", "weight_flops_per_token",
                                            "state_flops_per_token", "wsfr", "state_dim", "state_size",
                                            "tokens", "training_flops"};
enum { N_NUMERIC = sizeof numeric_names / sizeof numeric_names[0] };

static const double *accounting(const store_run *r) { return &r->acc.params; }

static const char *or_null(const char *s) { return s && *s ? s : NULL; }

/* The shortest %g form that reads back as the same double (20.8, not
 * 20.800000000000001); NaN writes `nan_text`. */
static int put_num(util_buf *b, double x, const char *nan_text) {
    if (!isfinite(x)) return util_buf_puts(b, nan_text);
    char text[40];
    for (int digits = 15; digits <= 17; digits++) {
        snprintf(text, sizeof text, "%.*g", digits, x);
        if (strtod(text, NULL) == x) break;
    }
    return util_buf_puts(b, text);
}

static int write_json(util_buf *b, const store_run *runs, size_t n) {
    int rc = util_buf_puts(b, "[");
    for (size_t i = 0; i < n && !rc; i++) {
        const store_run *r = &runs[i];
        rc |= util_buf_printf(b, "%s\n  {\"id\": %lld, \"sweep\": ", i ? "," : "", (long long)r->id);
        rc |= util_buf_json_str(b, r->sweep);
        rc |= util_buf_printf(b, ", \"status\": \"%s\", \"config_hash\": ", store_status_name(r->status));
        rc |= util_buf_json_str(b, r->config_hash);
        for (int k = 0; k < N_NUMERIC; k++) {
            rc |= util_buf_printf(b, ", \"%s\": ", numeric_names[k]);
            rc |= put_num(b, accounting(r)[k], "null");
        }
        const char *loss_names[] = {"final_train_loss", "final_eval_loss", "best_context_loss"};
        const double losses[] = {r->final_train_loss, r->final_eval_loss, r->best_context_loss};
        for (int k = 0; k < 3; k++) {
            rc |= util_buf_printf(b, ", \"%s\": ", loss_names[k]);
            rc |= put_num(b, losses[k], "null");
        }
        rc |= util_buf_printf(b, ", \"attempt\": %d, \"host\": ", r->attempt);
        rc |= util_buf_json_str(b, or_null(r->host));
        rc |= util_buf_puts(b, ", \"device\": ");
        rc |= util_buf_json_str(b, or_null(r->device));
        rc |= util_buf_puts(b, ", \"error\": ");
        rc |= util_buf_json_str(b, or_null(r->error));
        /* The store only accepts valid JSON (a CHECK constraint), so the
         * canonical config text nests as it is. */
        rc |= util_buf_printf(b, ", \"config\": %s}", *r->config_json ? r->config_json : "null");
    }
    return rc | util_buf_puts(b, n ? "\n]\n" : "]\n");
}

static int write_csv(util_buf *b, const store_run *runs, size_t n) {
    int rc = util_buf_puts(b, "id,sweep,status,config_hash");
    for (int k = 0; k < N_NUMERIC; k++) rc |= util_buf_printf(b, ",%s", numeric_names[k]);
    rc |= util_buf_puts(b, ",final_train_loss,final_eval_loss,best_context_loss,attempt,host,device,error,config\r\n");
    for (size_t i = 0; i < n && !rc; i++) {
        const store_run *r = &runs[i];
        rc |= util_buf_printf(b, "%lld,", (long long)r->id);
        rc |= util_buf_csv_field(b, r->sweep);
        rc |= util_buf_printf(b, ",%s,", store_status_name(r->status));
        rc |= util_buf_csv_field(b, r->config_hash);
        const double losses[] = {r->final_train_loss, r->final_eval_loss, r->best_context_loss};
        for (int k = 0; k < N_NUMERIC + 3; k++) {
            rc |= util_buf_puts(b, ",");
            rc |= put_num(b, k < N_NUMERIC ? accounting(r)[k] : losses[k - N_NUMERIC], "");
        }
        rc |= util_buf_printf(b, ",%d", r->attempt);
        const char *texts[] = {r->host, r->device, r->error, r->config_json};
        for (int k = 0; k < 4; k++) {
            rc |= util_buf_puts(b, ",");
            rc |= util_buf_csv_field(b, texts[k]);
        }
        rc |= util_buf_puts(b, "\r\n"); /* RFC 4180 line ends */
    }
    return rc;
}

/* The human table: short numbers, aligned columns, "-" for unknown. */
enum { T_COLS = 12, T_CELL = 48 };
static const char *const table_head[T_COLS] = {"id",     "sweep",  "status", "params", "W",    "S",
                                               "WSFR",   "tokens", "FLOPs",  "train",  "eval", "ctx"};

static void table_num(char *cell, double x, const char *fmt) {
    if (isnan(x)) snprintf(cell, T_CELL, "-");
    else snprintf(cell, T_CELL, fmt, x);
}

static int write_table(util_buf *b, const store_run *runs, size_t n) {
    char(*cells)[T_COLS][T_CELL] = calloc(n + 1, sizeof *cells);
    if (!cells) return -1;
    int width[T_COLS] = {0};
    for (int k = 0; k < T_COLS; k++) snprintf(cells[0][k], T_CELL, "%s", table_head[k]);
    for (size_t i = 0; i < n; i++) {
        const store_run *r = &runs[i];
        char(*row)[T_CELL] = cells[i + 1];
        snprintf(row[0], T_CELL, "%lld", (long long)r->id);
        snprintf(row[1], T_CELL, "%.24s", *r->sweep ? r->sweep : "-");
        snprintf(row[2], T_CELL, "%s", store_status_name(r->status));
        const double *acc = accounting(r);
        table_num(row[3], acc[0], "%.3g");
        table_num(row[4], acc[2], "%.3g");
        table_num(row[5], acc[3], "%.3g");
        table_num(row[6], acc[4], "%.3g");
        table_num(row[7], acc[7], "%.3g");
        table_num(row[8], acc[8], "%.3g");
        table_num(row[9], r->final_train_loss, "%.4f");
        table_num(row[10], r->final_eval_loss, "%.4f");
        table_num(row[11], r->best_context_loss, "%.4f");
    }
    for (size_t i = 0; i <= n; i++)
        for (int k = 0; k < T_COLS; k++) {
            int w = (int)strlen(cells[i][k]);
            if (w > width[k]) width[k] = w;
        }
    int rc = 0;
    for (size_t i = 0; i <= n && !rc; i++) {
        for (int k = 0; k < T_COLS; k++) {
            /* text columns left-aligned, numbers right-aligned */
            int left = k == 1 || k == 2;
            rc |= util_buf_printf(b, "%s%*s", k ? "  " : "", left ? -width[k] : width[k], cells[i][k]);
        }
        while (b->len && b->data[b->len - 1] == ' ') b->data[--b->len] = 0;
        rc |= util_buf_puts(b, "\n");
    }
    free(cells);
    return rc;
}

int cli_runs(int argc, char **argv) {
    static const struct option opts[] = {{"db", required_argument, NULL, 'd'},
                                         {"sweep", required_argument, NULL, 's'},
                                         {"status", required_argument, NULL, 't'},
                                         {"format", required_argument, NULL, 'f'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *db = NULL, *format = "table";
    store_run_filter filter = {NULL, -1, 0};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': db = optarg; break;
        case 's': filter.sweep = optarg; break;
        case 't': {
            store_status st;
            if (store_status_parse(optarg, &st))
                return cli_error(CLI_USAGE, "runs",
                                 "unknown status '%s' (expected pending, running, done, failed, diverged or "
                                 "cancelled)",
                                 optarg);
            filter.status = (int)st;
            break;
        }
        case 'f': format = optarg; break;
        case 'h': usage(stdout); return CLI_OK;
        case ':': return cli_error(CLI_USAGE, "runs", "option %s needs a value (try --help)", argv[optind - 1]);
        default: return cli_error(CLI_USAGE, "runs", "unknown option %s (try --help)", argv[optind - 1]);
        }
    }
    if (optind < argc) return cli_error(CLI_USAGE, "runs", "unexpected argument '%s' (try --help)", argv[optind]);
    if (strcmp(format, "table") && strcmp(format, "csv") && strcmp(format, "json"))
        return cli_error(CLI_USAGE, "runs", "unknown format '%s' (expected table, csv or json)", format);

    const char *path = cli_db_path(db);
    struct stat sb;
    if (stat(path, &sb))
        return cli_error(CLI_FAIL, "runs", "%s: %s (create a store with scalelab init)", path,
                         errno == ENOENT ? "no store here" : strerror(errno));
    char err[512];
    store *s;
    if (store_open_flags(path, STORE_OPEN_READONLY, &s, err, sizeof err)) return cli_error(CLI_FAIL, "runs", "%s", err);
    store_run *runs;
    size_t n;
    int rc = store_runs_list(s, &filter, &runs, &n, err, sizeof err);
    store_close(s);
    if (rc) return cli_error(CLI_FAIL, "runs", "%s", err);

    util_buf out = {0};
    if (!strcmp(format, "json")) rc = write_json(&out, runs, n);
    else if (!strcmp(format, "csv")) rc = write_csv(&out, runs, n);
    else if (n) rc = write_table(&out, runs, n);
    else fprintf(stderr, "scalelab: runs: no runs match in %s\n", path);
    store_runs_free(runs, n);
    if (rc) {
        util_buf_free(&out);
        return cli_error(CLI_FAIL, "runs", "out of memory");
    }
    if (out.len && fwrite(out.data, 1, out.len, stdout) != out.len) rc = -1;
    util_buf_free(&out);
    if (rc || fflush(stdout)) return cli_error(CLI_FAIL, "runs", "cannot write output: %s", strerror(errno));
    return CLI_OK;
}
