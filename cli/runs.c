#include "cli/cli.h"

int cli_runs(int argc, char **argv) {
    (void)argc;
    (void)argv;
    return cli_error(CLI_FAIL, "runs", "not implemented yet");
}
