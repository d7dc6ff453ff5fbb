/* scalelab: the command-line entry point. Only dispatch lives here; each
 * command is cli_<name>() in cli/<name>.c. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "util/util.h"

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *summary;
} commands[] = {
    {"init", cli_init, "create or upgrade the store"},
    {"train", cli_train, "train one run on cpu or cuda"},
    {"flops", cli_flops, "params, weight/state FLOPs, WSFR and state size of a run"},
    {"sweep", cli_sweep, "plan | run | status | cancel a sweep spec"},
    {"runs", cli_runs, "list runs in the store"},
    {"fit", cli_fit, "fit a scaling law to runs or a CSV"},
    {"fits", cli_fits, "list the stored fits, or show one with its inputs and verdict"},
    {"recommend", cli_recommend, "compute-optimal configuration for a budget"},
    {"report", cli_report, "HTML/Markdown report with plots"},
    {"data", cli_data, "prepare token shards from text"},
};

#define N_COMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *out) {
    fprintf(out, "usage: scalelab <command> [options]   (scalelab <command> --help for more)\n\ncommands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\nThe store is ./scalelab.db unless --db PATH or SCALELAB_DB says otherwise.\n");
}

/* "scalelab: swep: unknown command; did you mean 'sweep'?" */
static int unknown_command(const char *name) {
    const char *names[N_COMMANDS];
    for (size_t i = 0; i < N_COMMANDS; i++) names[i] = commands[i].name;
    const char *near = util_closest(name, names, N_COMMANDS);
    if (near) return cli_error(CLI_USAGE, name, "unknown command; did you mean '%s'?", near);
    return cli_error(CLI_USAGE, name, "unknown command (scalelab --help lists them)");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return CLI_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || (!strcmp(argv[1], "help") && argc == 2)) {
        usage(stdout);
        return CLI_OK;
    }
    /* `scalelab help CMD` is `scalelab CMD --help`. */
    if (!strcmp(argv[1], "help")) {
        if (argc > 3) return cli_error(CLI_USAGE, "help", "expected one command, e.g. scalelab help sweep");
        for (size_t i = 0; i < N_COMMANDS; i++)
            if (!strcmp(argv[2], commands[i].name)) {
                char *hargv[] = {argv[2], "--help", NULL};
                return commands[i].fn(2, hargv);
            }
        return unknown_command(argv[2]);
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
        printf("scalelab %s\n", SCALELAB_VERSION);
        return CLI_OK;
    }
    /* Training mixes OpenMP loops with OpenBLAS's own threads on shared machines:
     * OpenMP workers that spin-wait after every loop steal the cores those threads
     * (and other processes) need (1.4-2x slower steps, tests/bench/RESULTS.md).
     * libgomp reads its wait policy only at load, hence a re-exec; a user's own
     * OMP_WAIT_POLICY is respected. */
    if (!strcmp(argv[1], "train")) util_reexec_with_env(argv, "OMP_WAIT_POLICY", "passive");
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].fn(argc - 1, argv + 1);
    return unknown_command(argv[1]);
}
