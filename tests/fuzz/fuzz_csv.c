/* libFuzzer target: the CSV reader of `fit --csv` (fit_table_read_csv), then a
 * derived column and a row filter in the expression language (util/expr.c) over its
 * columns. The seed corpus/csv/derive-17-terms.csv is the crash it found in the
 * derive code the language replaced (17 terms of * and /). */
#include <stdint.h>
#include <string.h>

#include "fit/fit.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_scratch(".csv", data, size);
    fit_table t;
    char err[1024];
    if (fit_table_read_csv(path, &t, err, sizeof err) == 0) {
        /* The header's first names as references in brackets (a name holding ']' cannot be
         * written so), with every operator kind; the filter then reads the derived column. */
        if (t.n_cols >= 2 && !strchr(t.names[0], ']') && !strchr(t.names[1], ']') && strlen(t.names[0]) < 40 &&
            strlen(t.names[1]) < 40) {
            char spec[256];
            snprintf(spec, sizeof spec, "fuzz_derived=log(max([%s], 1e-300)) + [%s] ** 2 / (1 + exp(-[%s])) - ([%s] >= 0)",
                     t.names[0], t.names[1], t.names[0], t.names[1]);
            if (!fit_table_derive(&t, spec, err, sizeof err)) {
                fit_filter f;
                const char *x[] = {"fuzz_derived"};
                fit_data d;
                snprintf(spec, sizeof spec, "fuzz_derived > 0 or [%s] == 'a' and not [%s] < 2", t.names[0], t.names[1]);
                if (!fit_filter_parse(spec, &f, err, sizeof err) &&
                    !fit_data_select(&t, x, 1, t.names[1], NULL, &f, 1, &d, err, sizeof err))
                    fit_data_free(&d);
            }
        }
        fit_table_free(&t);
    }
    return 0;
}
