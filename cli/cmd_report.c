#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "analysis/report.h"
#include "cli/cli.h"
#include "store/store.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: scalelab report [--db PATH] [--sweep S]... --out DIR [--format html|md] [--quiet]\n\n"
            "Writes DIR/index.html (or DIR/index.md) with plots drawn by gnuplot in DIR/plots/\n"
            "and the data and gnuplot script of every plot in DIR/data/. The page starts with the\n"
            "answer: per arm (a family whose width varies, or one mixer whose state varies at\n"
            "fixed weights) and budget, the IsoFLOP optimum with its interval and a verdict (ok,\n"
            "weak, bound, undecided), from the sweep's stored `scalelab fit --form isoflop` where\n"
            "there is one; then the compute frontier, IsoFLOP curves, context-utility curves,\n"
            "training curves (smoothed train and eval loss) and a table of runs. The answer is\n"
            "also printed. The page is self-contained (no network): open it straight from disk.\n\n"
            "  --db PATH       the store (default $SCALELAB_DB or ./scalelab.db)\n"
            "  --sweep S       only the runs of sweep S; repeat for several (default: every run)\n"
            "  --quiet         print only the path of the page, not the answer\n"
            "  --out DIR       output folder, created if missing; existing report files are replaced\n"
            "  --format F      html (default) or md\n");
}

/* The folder must be creatable and writable before any work is done, so a typo
 * fails in milliseconds rather than after the plots. */
static int check_out_dir(const char *dir, char *err, size_t errlen) {
    if (util_mkdir_p(dir, err, errlen)) return -1;
    struct stat st;
    if (stat(dir, &st) || !S_ISDIR(st.st_mode)) return util_err(err, errlen, "%s is not a folder", dir);
    if (access(dir, W_OK | X_OK)) return util_err(err, errlen, "%s is not writable", dir);
    return 0;
}

int cli_report(int argc, char **argv) {
    static const struct option opts[] = {{"db", required_argument, NULL, 'd'},
                                         {"sweep", required_argument, NULL, 's'},
                                         {"out", required_argument, NULL, 'o'},
                                         {"format", required_argument, NULL, 'f'},
                                         {"quiet", no_argument, NULL, 'q'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *db = NULL, *out = NULL, *sweeps[REPORT_MAX_SWEEPS];
    size_t n_sweeps = 0;
    int quiet = 0;
    report_format format = REPORT_HTML;
    optind = 1;
    opterr = 0; /* cli_option_error says it, once, in scalelab's words */
    for (int c; (c = getopt_long(argc, argv, ":h", opts, NULL)) != -1;) {
        switch (c) {
        case 'd': db = optarg; break;
        case 's':
            if (n_sweeps == REPORT_MAX_SWEEPS)
                return cli_error(CLI_USAGE, "report", "--sweep: at most %d sweeps", REPORT_MAX_SWEEPS);
            sweeps[n_sweeps++] = optarg;
            break;
        case 'q': quiet = 1; break;
        case 'o': out = optarg; break;
        case 'f':
            if (!strcmp(optarg, "html")) format = REPORT_HTML;
            else if (!strcmp(optarg, "md") || !strcmp(optarg, "markdown")) format = REPORT_MARKDOWN;
            else return cli_error(CLI_USAGE, "report", "--format %s: expected html or md", optarg);
            break;
        case 'h': usage(stdout); return CLI_OK;
        default: return cli_option_error("report", c, argv, opts);
        }
    }
    if (optind < argc) return cli_error(CLI_USAGE, "report", "unexpected argument '%s' (see --help)", argv[optind]);
    if (!out || !*out) return cli_error(CLI_USAGE, "report", "--out DIR is required (see --help)");
    const char *path = cli_db_path(db);
    if (access(path, F_OK)) return cli_error(CLI_FAIL, "report", "%s: no such store (run scalelab init, then a sweep)", path);

    char err[1024];
    store *s = NULL;
    if (store_open_flags(path, STORE_OPEN_READONLY, &s, err, sizeof err)) return cli_error(CLI_FAIL, "report", "%s", err);
    report_data d;
    int rc = report_load_sweeps(s, sweeps, n_sweeps, &d, err, sizeof err);
    store_close(s);
    if (rc) return cli_error(CLI_FAIL, "report", "%s: %s", path, err);
    snprintf(d.db_path, sizeof d.db_path, "%s", path);
    rc = report_analyse(&d, err, sizeof err);
    if (!rc) rc = check_out_dir(out, err, sizeof err);
    if (!rc) rc = report_write(&d, out, format, err, sizeof err);
    if (!rc && !quiet) {
        util_buf b = {0};
        report_answer_text(&d, &b);
        if (b.data) fputs(b.data, stdout);
        util_buf_free(&b);
    }
    if (!rc)
        printf("report: %zu runs, %zu budgets -> %s/index.%s\n", d.n_runs, d.n_budgets, out,
               format == REPORT_HTML ? "html" : "md");
    report_data_free(&d);
    return rc ? cli_error(CLI_FAIL, "report", "%s", err) : CLI_OK;
}
