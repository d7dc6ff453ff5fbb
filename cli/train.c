#include "cli/cli.h"

int cli_train(int argc, char **argv) {
    (void)argc;
    (void)argv;
    return cli_error(CLI_FAIL, "train", "not implemented yet");
}
