/* scalelab init: create the store or bring it to the current schema. */
#include <getopt.h>
#include <stdio.h>

#include "cli/cli.h"
#include "store/store.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: scalelab init [--db PATH]\n\n"
            "Creates the store (a SQLite file) or upgrades it to schema version %d.\n"
            "A newer schema, another program's SQLite file, a file that is not SQLite or a\n"
            "store that fails SQLite's integrity check (PRAGMA quick_check) is refused and\n"
            "left untouched.\n\n"
            "  --db PATH   the store (default: $SCALELAB_DB, else ./scalelab.db)\n"
            "  -h, --help  this text\n",
            STORE_SCHEMA_VERSION);
}

int cli_init(int argc, char **argv) {
    static const struct option opts[] = {{"db", required_argument, NULL, 'd'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *db = NULL;
    int c;
    optind = 1;
    opterr = 0; /* cli_option_error says it, once, in scalelab's words */
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': db = optarg; break;
        case 'h': usage(stdout); return CLI_OK;
        default: return cli_option_error("init", c, argv, opts);
        }
    }
    if (optind < argc) return cli_error(CLI_USAGE, "init", "unexpected argument '%s' (try --help)", argv[optind]);
    const char *path = cli_db_path(db);
    char err[1024];
    store *s;
    /* a damaged store is refused before the migration writes into it */
    if (store_open_flags(path, STORE_OPEN_CHECK, &s, err, sizeof err)) return cli_error(CLI_FAIL, "init", "%s", err);
    int from = store_initial_version(s), now = store_schema_version(s);
    store_close(s);
    if (from == 0) printf("%s: created store (schema version %d)\n", path, now);
    else if (from < now) printf("%s: upgraded store from schema version %d to %d\n", path, from, now);
    else printf("%s: already at schema version %d\n", path, now);
    return CLI_OK;
}
