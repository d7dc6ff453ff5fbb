/* scalelab runs: list runs of the store as a table, RFC 4180 CSV or JSON. */
#include <assert.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "analysis/report.h"
#include "cli/cli.h"
#include "store/store.h"
#include "util/util.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: scalelab runs [--db PATH] [--sweep S] [--status X] [--format table|csv|json] [--json]\n\n"
            "Lists the runs of the store, oldest first.\n\n"
            "  --db PATH        the store (default: $SCALELAB_DB, else ./scalelab.db)\n"
            "  --sweep S        only runs that sweep S asked for\n"
            "  --status X       only runs in state X: pending, running, done, failed,\n"
            "                   diverged or cancelled\n"
            "  --format F       table (default, for people: mixer with its state setting,\n"
            "                   width, accounting and losses, with a legend), csv (RFC 4180\n"
            "                   with a header) or json (an array of objects)\n"
            "  --json           the same as --format json\n"
            "  -h, --help       this text\n\n"
            "csv and json hold, per run: id, sweep, status, config_hash, the FLOP accounting\n"
            "(params, params_non_embedding, weight_flops_per_token, state_flops_per_token,\n"
            "wsfr, state_dim, state_size, tokens, training_flops), final_train_loss,\n"
            "final_eval_loss, best_context_loss, attempt, host, device, error, config (the\n"
            "canonical config JSON), run_dir, the times created, started, finished and\n"
            "heartbeat (ISO 8601 UTC, e.g. 2026-12-01T07:04:27.412Z; empty or null when\n"
            "unset), then every leaf of the config as its own column, named by its path:\n"
            "data.source, model.d_model, model.mixer, train.context, train.lr, ... (sorted).\n"
            "A CSV cell is empty where a run's config lacks the key (model.window exists\n"
            "only for window runs); a JSON object leaves such keys out. Numbers stay numbers.\n"
            "In pandas: pd.read_csv(\"runs.csv\") or pd.DataFrame(json.load(open(\"runs.json\"))).\n");
}

/* Every leaf of a run's config, sorted by key (store_json_flatten), read while
 * the store is open so the writers below need no store. */
typedef struct runs_flat {
    store_json_item *items;
    size_t n;
} runs_flat;

/* The columns before the config's own, in the names of DESIGN section 4 and in
 * the order of earlier versions (new ones at the end, so positions still hold).
 * One list for CSV and JSON. */
typedef enum { C_INT, C_TEXT, C_OPT_TEXT, C_NUM, C_TIME, C_JSON } col_kind;
typedef struct runs_cell {
    col_kind kind;
    const char *text; /* C_TEXT, C_OPT_TEXT ("" means unset), C_JSON */
    double num;       /* C_INT, C_NUM, C_TIME (0 means unset) */
} runs_cell;
static const char *const fixed_names[] = {
    "id", "sweep", "status", "config_hash", UTIL_ACCOUNTING_FIELDS(UTIL_ACCOUNTING_NAME_) "final_train_loss",
    "final_eval_loss", "best_context_loss", "attempt", "host", "device", "error", "config", "run_dir", "created",
    "started", "finished", "heartbeat"};
/* Where each group of fixed_names starts: the accounting fields (util/accounting.h)
 * after the four identifying columns, then the losses, the run's other text, times. */
enum {
    K_ACC = 4,
    K_LOSS = K_ACC + UTIL_ACCOUNTING_N,
    K_TEXT = K_LOSS + 3,
    K_TIME = K_TEXT + 6,
    N_FIXED = sizeof fixed_names / sizeof fixed_names[0]
};

/* fixed_cell's cases are indexes into fixed_names: a column added there needs its case. */
_Static_assert(N_FIXED == K_TIME + 4, "fixed_names and fixed_cell disagree");

static runs_cell fixed_cell(const store_run *r, int k) {
    const double losses[] = {r->final_train_loss, r->final_eval_loss, r->best_context_loss};
    const double times[] = {r->created, r->started, r->finished, r->heartbeat};
    switch (k) {
    case 0: return (runs_cell){C_INT, NULL, (double)r->id};
    case 1: return (runs_cell){C_TEXT, r->sweep, 0};
    case 2: return (runs_cell){C_TEXT, store_status_name(r->status), 0};
    case 3: return (runs_cell){C_TEXT, r->config_hash, 0};
    case K_TEXT: return (runs_cell){C_INT, NULL, r->attempt};
    case K_TEXT + 1: return (runs_cell){C_OPT_TEXT, r->host, 0};
    case K_TEXT + 2: return (runs_cell){C_OPT_TEXT, r->device, 0};
    case K_TEXT + 3: return (runs_cell){C_OPT_TEXT, r->error, 0};
    case K_TEXT + 4: return (runs_cell){C_JSON, r->config_json, 0};
    case K_TEXT + 5: return (runs_cell){C_OPT_TEXT, r->run_dir, 0};
    default:
        if (k >= K_ACC && k < K_LOSS) return (runs_cell){C_NUM, NULL, util_accounting_get(&r->acc, k - K_ACC)};
        if (k >= K_LOSS && k < K_TEXT) return (runs_cell){C_NUM, NULL, losses[k - K_LOSS]};
        assert(k >= K_TIME && k < N_FIXED);
        return (runs_cell){C_TIME, NULL, times[k - K_TIME]};
    }
}

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

/* ISO 8601 in UTC with milliseconds (2026-12-01T07:04:27.412Z, as JavaScript's
 * toISOString writes it, which pandas and every date library read); "" when unset. */
static void iso_time(double t, char out[32]) {
    out[0] = 0;
    if (!isfinite(t) || t <= 0) return;
    long long ms = llround(t * 1000.0);
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    if (!gmtime_r(&secs, &tm)) return;
    size_t len = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + len, 32 - len, ".%03dZ", (int)(ms % 1000));
}

static int put_cell_json(util_buf *b, runs_cell c) {
    char t[32];
    switch (c.kind) {
    case C_INT: return util_buf_printf(b, "%lld", (long long)c.num);
    case C_TEXT: return util_buf_json_str(b, c.text);
    case C_OPT_TEXT: return util_buf_json_str(b, c.text && *c.text ? c.text : NULL);
    case C_NUM: return put_num(b, c.num, "null");
    case C_TIME: iso_time(c.num, t); return util_buf_json_str(b, *t ? t : NULL);
    /* The store only accepts valid JSON (a CHECK constraint), so the canonical
     * config text nests as it is. */
    case C_JSON: return util_buf_puts(b, c.text && *c.text ? c.text : "null");
    }
    return -1;
}

static int put_cell_csv(util_buf *b, runs_cell c) {
    char t[32];
    switch (c.kind) {
    case C_INT: return util_buf_printf(b, "%lld", (long long)c.num);
    case C_NUM: return put_num(b, c.num, "");
    case C_TIME: iso_time(c.num, t); return util_buf_puts(b, t);
    default: return util_buf_csv_field(b, c.text);
    }
}

static int put_flat_json(util_buf *b, const store_json_item *it) {
    /* store_json_flatten gives numbers as the JSON wrote them and true/false as words:
     * both are JSON as they are. */
    if (!it->value) return util_buf_puts(b, "null");
    if (!strcmp(it->type, "text")) return util_buf_json_str(b, it->value);
    return util_buf_puts(b, it->value);
}

static int item_cmp(const void *a, const void *b) {
    return strcmp(((const store_json_item *)a)->key, ((const store_json_item *)b)->key);
}
static int str_cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int write_json(util_buf *b, const store_run *runs, const runs_flat *flat, size_t n) {
    int rc = util_buf_puts(b, "[");
    for (size_t i = 0; i < n && !rc; i++) {
        rc |= util_buf_puts(b, i ? ",\n  {" : "\n  {");
        for (int k = 0; k < N_FIXED; k++) {
            rc |= util_buf_printf(b, "%s\"%s\": ", k ? ", " : "", fixed_names[k]);
            rc |= put_cell_json(b, fixed_cell(&runs[i], k));
        }
        for (size_t j = 0; j < flat[i].n; j++) {
            rc |= util_buf_puts(b, ", ");
            rc |= util_buf_json_str(b, flat[i].items[j].key);
            rc |= util_buf_puts(b, ": ");
            rc |= put_flat_json(b, &flat[i].items[j]);
        }
        rc |= util_buf_puts(b, "}");
    }
    return rc | util_buf_puts(b, n ? "\n]\n" : "]\n");
}

static int write_csv(util_buf *b, const store_run *runs, const runs_flat *flat, size_t n) {
    /* The header: the fixed columns, then the union of the runs' config keys, sorted. */
    size_t total = 0, n_keys = 0;
    for (size_t i = 0; i < n; i++) total += flat[i].n;
    const char **keys = malloc((total ? total : 1) * sizeof *keys);
    if (!keys) return -1;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < flat[i].n; j++) keys[n_keys++] = flat[i].items[j].key;
    qsort(keys, n_keys, sizeof *keys, str_cmp);
    size_t u = 0;
    for (size_t j = 0; j < n_keys; j++)
        if (!u || strcmp(keys[u - 1], keys[j])) keys[u++] = keys[j];
    n_keys = u;

    int rc = 0;
    for (int k = 0; k < N_FIXED; k++) rc |= util_buf_printf(b, "%s%s", k ? "," : "", fixed_names[k]);
    for (size_t j = 0; j < n_keys; j++) {
        rc |= util_buf_puts(b, ",");
        rc |= util_buf_csv_field(b, keys[j]);
    }
    rc |= util_buf_puts(b, "\r\n"); /* RFC 4180 line ends */
    for (size_t i = 0; i < n && !rc; i++) {
        for (int k = 0; k < N_FIXED; k++) {
            if (k) rc |= util_buf_puts(b, ",");
            rc |= put_cell_csv(b, fixed_cell(&runs[i], k));
        }
        for (size_t j = 0; j < n_keys; j++) {
            rc |= util_buf_puts(b, ",");
            store_json_item probe = {.key = (char *)keys[j]};
            const store_json_item *it = bsearch(&probe, flat[i].items, flat[i].n, sizeof probe, item_cmp);
            if (it && it->value) rc |= util_buf_csv_field(b, it->value);
        }
        rc |= util_buf_puts(b, "\r\n");
    }
    free(keys);
    return rc;
}

/* Flattens each run's config while the store is open. A config leaf at the top
 * level whose name is a fixed column's ("params") is renamed config.NAME, so no
 * CSV header or JSON object names one thing twice; canonical configs nest every
 * key in a section, so this only guards hand-made rows. */
static int flatten_all(store *s, const store_run *runs, size_t n, runs_flat *flat, char *err, size_t errlen) {
    for (size_t i = 0; i < n; i++) {
        if (store_json_flatten(s, runs[i].config_json, &flat[i].items, &flat[i].n, err, errlen)) return -1;
        /* A config that is one scalar (never a canonical one) has a leaf without a
         * name: `config` already holds it. Sorted first, so it is items[0]. */
        if (flat[i].n && !*flat[i].items[0].key) {
            store_json_items_free(flat[i].items, flat[i].n);
            flat[i].items = NULL;
            flat[i].n = 0;
        }
        for (size_t j = 0; j < flat[i].n; j++)
            for (int k = 0; k < N_FIXED; k++) {
                if (strcmp(flat[i].items[j].key, fixed_names[k])) continue;
                size_t len = strlen(fixed_names[k]) + sizeof "config.";
                char *name = malloc(len);
                if (!name) return util_err(err, errlen, "out of memory");
                snprintf(name, len, "config.%s", fixed_names[k]);
                free(flat[i].items[j].key);
                flat[i].items[j].key = name;
            }
        /* Sorted by key for bsearch (the rename above may have moved one). */
        qsort(flat[i].items, flat[i].n, sizeof *flat[i].items, item_cmp);
    }
    return 0;
}

/* The human table: short numbers, aligned columns, "-" for unknown, and a legend. */
enum { T_COLS = 14, T_CELL = 48 };
static const char *const table_head[T_COLS] = {"id",     "sweep", "status", "mixer",      "width",     "params",
                                               "W",      "S",     "WSFR",   "tokens",     "FLOPs",     "train loss",
                                               "eval loss", "long-ctx loss"};
static const char table_legend[] =
    "width: model.d_model; W, S: weight and state FLOPs per token (forward); WSFR: W/S; FLOPs: training FLOPs,\n"
    "3 (W + S) tokens; long-ctx loss: eval loss on the last 10% of context positions. All columns: --format csv|json\n";

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
        /* The family label the report uses ("power p=2", "window w=16"). */
        report_run rr = {.id = r->id};
        char perr[256];
        int parsed = !report_config_parse(r->config_json, &rr, perr, sizeof perr);
        snprintf(row[3], T_CELL, "%s", parsed && *rr.label ? rr.label : "-");
        if (parsed && rr.d_model > 0) snprintf(row[4], T_CELL, "%d", rr.d_model);
        else snprintf(row[4], T_CELL, "-");
        const double *acc = &r->acc.params;
        table_num(row[5], acc[0], "%.3g");
        table_num(row[6], acc[2], "%.3g");
        table_num(row[7], acc[3], "%.3g");
        table_num(row[8], acc[4], "%.3g");
        table_num(row[9], acc[7], "%.3g");
        table_num(row[10], acc[8], "%.3g");
        table_num(row[11], r->final_train_loss, "%.4f");
        table_num(row[12], r->final_eval_loss, "%.4f");
        table_num(row[13], r->best_context_loss, "%.4f");
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
            int left = k >= 1 && k <= 3;
            rc |= util_buf_printf(b, "%s%*s", k ? "  " : "", left ? -width[k] : width[k], cells[i][k]);
        }
        while (b->len && b->data[b->len - 1] == ' ') b->data[--b->len] = 0;
        rc |= util_buf_puts(b, "\n");
    }
    free(cells);
    return rc | util_buf_puts(b, table_legend);
}

int cli_runs(int argc, char **argv) {
    static const struct option opts[] = {{"db", required_argument, NULL, 'd'},
                                         {"sweep", required_argument, NULL, 's'},
                                         {"status", required_argument, NULL, 't'},
                                         {"format", required_argument, NULL, 'f'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *db = NULL, *format = "table";
    store_run_filter filter = {NULL, -1, 0};
    int c;
    optind = 1;
    opterr = 0; /* cli_option_error says it, once, in scalelab's words */
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
        case 'j': format = "json"; break;
        case 'h': usage(stdout); return CLI_OK;
        default: return cli_option_error("runs", c, argv, opts);
        }
    }
    if (optind < argc) return cli_error(CLI_USAGE, "runs", "unexpected argument '%s' (try --help)", argv[optind]);
    if (cli_format_check("runs", format, 1)) return CLI_USAGE;

    const char *path = cli_db_path(db);
    struct stat sb;
    if (stat(path, &sb))
        return cli_error(CLI_FAIL, "runs", "%s: %s (create a store with scalelab init)", path,
                         errno == ENOENT ? "no store here" : strerror(errno));
    char err[512] = "";
    store *s;
    if (store_open_flags(path, STORE_OPEN_READONLY, &s, err, sizeof err)) return cli_error(CLI_FAIL, "runs", "%s", err);
    store_run *runs;
    size_t n;
    int rc = store_runs_list(s, &filter, &runs, &n, err, sizeof err);
    if (rc) {
        store_close(s);
        return cli_error(CLI_FAIL, "runs", "%s", err);
    }
    int table = !strcmp(format, "table");
    runs_flat *flat = calloc(n ? n : 1, sizeof *flat);
    if (!flat) rc = util_err(err, sizeof err, "out of memory");
    else if (!table) rc = flatten_all(s, runs, n, flat, err, sizeof err);
    store_close(s);

    util_buf out = {0};
    if (!rc) {
        if (!strcmp(format, "json")) rc = write_json(&out, runs, flat, n);
        else if (!strcmp(format, "csv")) rc = write_csv(&out, runs, flat, n);
        else if (n) rc = write_table(&out, runs, n);
        else fprintf(stderr, "scalelab: runs: no runs match in %s\n", path);
        if (rc) snprintf(err, sizeof err, "out of memory"); /* the writers fail only on that */
    }
    for (size_t i = 0; flat && i < n; i++) store_json_items_free(flat[i].items, flat[i].n);
    free(flat);
    store_runs_free(runs, n);
    if (rc) {
        util_buf_free(&out);
        return cli_error(CLI_FAIL, "runs", "%s", err);
    }
    if (out.len && fwrite(out.data, 1, out.len, stdout) != out.len) rc = -1;
    util_buf_free(&out);
    if (rc || fflush(stdout)) return cli_error(CLI_FAIL, "runs", "cannot write output: %s", strerror(errno));
    return CLI_OK;
}
