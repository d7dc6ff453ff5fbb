/* libFuzzer target: the checkpoint loader (model_ckpt_read) on arbitrary files,
 * for a model of FUZZ_PARAMS parameters and a fixed config hash. The seed corpus
 * holds valid checkpoints written by model_ckpt_write (tests/fuzz/make_corpus.sh). */
#include <stdint.h>
#include <stdlib.h>

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
    model_ckpt_read(path, image, FUZZ_PARAMS, "0123456789abcdef", &st, &found, err, sizeof err);
    return 0;
}
