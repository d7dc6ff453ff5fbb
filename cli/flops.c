#include "cli/cli.h"

int cli_flops(int argc, char **argv) {
    (void)argc;
    (void)argv;
    return cli_error(CLI_FAIL, "flops", "not implemented yet");
}
