/* fit/verdict: the names of fit verdicts (fit/fit.h), one list for the store, the CLI and JSON. */
#include "fit/fit.h"

#include <string.h>

static const char *const verdict_names[] = {"ok", "weak", "unconstrained"};
#define N_VERDICTS (sizeof verdict_names / sizeof *verdict_names)

const char *fit_verdict_name(fit_verdict v) {
    return (unsigned)v < N_VERDICTS ? verdict_names[v] : "?";
}

int fit_verdict_parse(const char *name, fit_verdict *v) {
    for (size_t i = 0; name && i < N_VERDICTS; i++)
        if (!strcmp(name, verdict_names[i])) {
            *v = (fit_verdict)i;
            return 0;
        }
    return -1;
}
