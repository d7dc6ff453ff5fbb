#include "cli/cli.h"

int cli_sweep(int argc, char **argv) {
    (void)argc;
    (void)argv;
    return cli_error(CLI_FAIL, "sweep", "not implemented yet");
}
