/* libFuzzer target: the checkpoint loader (model_ckpt_read) on arbitrary files,
 * for a model of FUZZ_PARAMS parameters and a fixed config hash. The seed corpus
 * holds valid checkpoints written by model_ckpt_write (version 2, 4 parameters), and
 * inputs starting "W" (a state to write first). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "model/train_internal.h"

enum { FUZZ_PARAMS = 4 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_scratch(".ckpt", data, size);
    static unsigned char image[4096];
    if (model_ckpt_bytes(FUZZ_PARAMS) > sizeof image) abort();
    model_train_state st = {0};
    int found;
    char err[1024];
    /* An input starting "W" is a train state: written with a valid hash, then read, so
     * the header checks behind the hash see arbitrary steps, losses, NaNs and infinities. */
    if (size >= 1 + sizeof st && data[0] == 'W') {
        memcpy(&st, data + 1, sizeof st);
        if (model_ckpt_write(path, image, FUZZ_PARAMS, "0123456789abcdef", &st, err, sizeof err)) return 0;
    }
    model_ckpt_read(path, image, FUZZ_PARAMS, "0123456789abcdef", &st, &found, err, sizeof err);
    return 0;
}
