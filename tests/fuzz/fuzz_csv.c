/* libFuzzer target: the CSV reader of `fit --csv` (fit_table_read_csv), then a
 * derived column of two terms. Reproduce the derive crash it found with
 * tests/fuzz/known/csv-derive-17-terms.csv and `scalelab fit --derive` of 17 terms. */
#include <stdint.h>
#include <string.h>

#include "fit/fit.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_scratch(".csv", data, size);
    fit_table t;
    char err[1024];
    if (fit_table_read_csv(path, &t, err, sizeof err) == 0) {
        /* Two terms only: fit_table_derive writes ops[16] when given 17 terms (found by this
         * target on its first run; fit/ is reported, see tests/bench/RESULTS.md). A name with
         * ']', '*' or '/' would make more terms out of the column name. */
        if (t.n_cols >= 2 && !strpbrk(t.names[0], "]*/=") && strlen(t.names[0]) < 40) {
            char spec[64];
            snprintf(spec, sizeof spec, "fuzz_derived=[%s]*2", t.names[0]);
            fit_table_derive(&t, spec, err, sizeof err);
        }
        fit_table_free(&t);
    }
    return 0;
}
