#include "cli/cli.h"

int cli_fit(int argc, char **argv) {
    (void)argc;
    (void)argv;
    return cli_error(CLI_FAIL, "fit", "not implemented yet");
}
