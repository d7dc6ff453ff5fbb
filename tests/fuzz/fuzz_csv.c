/* libFuzzer target: the CSV reader of `fit --csv` (fit_table_read_csv), then a derived column. */
#include <stdint.h>

#include "fit/fit.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_scratch(".csv", data, size);
    fit_table t;
    char err[1024];
    if (fit_table_read_csv(path, &t, err, sizeof err) == 0) {
        if (t.n_cols >= 2) {
            char spec[64];
            snprintf(spec, sizeof spec, "fuzz_derived=[%s]*2", t.names[0]);
            fit_table_derive(&t, spec, err, sizeof err);
        }
        fit_table_free(&t);
    }
    return 0;
}
