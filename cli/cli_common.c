#include "cli/cli.h"
#include "util/util.h"

#include <getopt.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cli_error(int code, const char *what, const char *fmt, ...) {
    fprintf(stderr, "scalelab: %s: ", what);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return code;
}

const char *cli_db_path(const char *db_option) {
    if (db_option && *db_option) return db_option;
    const char *env = getenv("SCALELAB_DB");
    return env && *env ? env : "scalelab.db";
}

int cli_wants_help(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--")) break;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) return 1;
    }
    return 0;
}

int cli_option_error(const char *cmd, int ch, char **argv, const struct option *opts) {
    const char *arg = argv[optind - 1];
    if (ch == ':') return cli_error(CLI_USAGE, cmd, "option %s needs a value (scalelab %s --help)", arg, cmd);
    if (arg[0] != '-' || arg[1] != '-') /* a short option: getopt names it in optopt */
        return cli_error(CLI_USAGE, cmd, "unknown option -%c (scalelab %s --help lists them)", optopt, cmd);
    char name[128];
    snprintf(name, sizeof name, "%.*s", (int)strcspn(arg + 2, "="), arg + 2);
    const char *names[128];
    size_t n = 0;
    for (const struct option *o = opts; o && o->name && n < 128; o++) names[n++] = o->name;
    const char *near = util_closest(name, names, n);
    if (near) return cli_error(CLI_USAGE, cmd, "unknown option --%s; did you mean --%s?", name, near);
    return cli_error(CLI_USAGE, cmd, "unknown option --%s (scalelab %s --help lists them)", name, cmd);
}

int cli_format_check(const char *cmd, const char *value, int csv_ok) {
    if (!strcmp(value, "table") || !strcmp(value, "json") || (csv_ok && !strcmp(value, "csv"))) return 0;
    return cli_error(CLI_USAGE, cmd, "--format %s: expected table%s or json (--json is json)", value,
                     csv_ok ? ", csv" : "");
}

int cli_format_json(const char *cmd, const char *value, int *json) {
    if (cli_format_check(cmd, value, 0)) return CLI_USAGE;
    *json = !strcmp(value, "json");
    return 0;
}
