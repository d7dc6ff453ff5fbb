#include "cli/cli.h"

int cli_recommend(int argc, char **argv) {
    (void)argc;
    (void)argv;
    return cli_error(CLI_FAIL, "recommend", "not implemented yet");
}
