#include "cli/cli.h"

int cli_report(int argc, char **argv) {
    (void)argc;
    (void)argv;
    return cli_error(CLI_FAIL, "report", "not implemented yet");
}
