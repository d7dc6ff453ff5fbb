/* cli: one function per `scalelab <command>`, each in its own file
 * (cli/<command>.c). scalelab.c only dispatches. Commands parse their own
 * options with getopt_long (argv[0] is the command name), print errors through
 * cli_error, and return an exit status: 0 success, 1 failure, 2 usage error. */
#ifndef SCALELAB_CLI_H
#define SCALELAB_CLI_H

#include <stddef.h>

enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2 };

#define SCALELAB_VERSION "0.1.0"

/* Prints "scalelab: <what>: <why>\n" to stderr and returns code. */
int cli_error(int code, const char *what, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The store path: the --db option if given, else $SCALELAB_DB, else ./scalelab.db. */
const char *cli_db_path(const char *db_option);

/* The one message for a bad option, after getopt_long returned ch ('?' or ':') with opterr
 * off and an optstring that starts with ':': "scalelab: CMD: unknown option --bugdet; did you mean
 * --budget?" or "... option --budget needs a value". Returns CLI_USAGE. */
struct option;
int cli_option_error(const char *cmd, int ch, char **argv, const struct option *opts);

/* --format VALUE of CMD: table or json, and csv where csv_ok; the one wording of a bad value
 * (CLI_USAGE after the message, 0 when valid). cli_format_json also sets *json. */
int cli_format_check(const char *cmd, const char *value, int csv_ok);
int cli_format_json(const char *cmd, const char *value, int *json);

/* True when argv holds -h or --help (before a "--"). */
int cli_wants_help(int argc, char **argv);

int cli_init(int argc, char **argv);
int cli_train(int argc, char **argv);
int cli_flops(int argc, char **argv);
int cli_sweep(int argc, char **argv);
int cli_runs(int argc, char **argv);
int cli_fit(int argc, char **argv);
int cli_fits(int argc, char **argv);
int cli_recommend(int argc, char **argv);
int cli_report(int argc, char **argv);
int cli_data(int argc, char **argv);

#endif
