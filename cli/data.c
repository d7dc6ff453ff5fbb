#include "cli/cli.h"

int cli_data(int argc, char **argv) {
    (void)argc;
    (void)argv;
    return cli_error(CLI_FAIL, "data", "not implemented yet");
}
