#include "cli/cli.h"

int cli_init(int argc, char **argv) {
    (void)argc;
    (void)argv;
    return cli_error(CLI_FAIL, "init", "not implemented yet");
}
