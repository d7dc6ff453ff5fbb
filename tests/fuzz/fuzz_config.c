/* libFuzzer target: run configs (model_config_load), then resolve, canonical JSON and hash. */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_common.h"
#include "model/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_scratch(".yaml", data, size);
    model_config c;
    char err[1024];
    model_config_default(&c);
    if (model_config_load(&c, path, err, sizeof err) == 0 && model_config_resolve(&c, err, sizeof err) == 0) {
        char *json = model_config_canonical_json(&c);
        free(json);
        char hash[17];
        model_config_hash(&c, hash);
    }
    return 0;
}
