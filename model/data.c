/* model/data: the source dispatcher (synthetic tasks or token shards). */
#include "model/data.h"

#include <stdlib.h>
#include <string.h>

#include "util/util.h"

int model_data_check_source(const char *source, char *err, size_t errlen) {
    if (!strncmp(source, "file:", 5)) {
        if (!source[5]) return util_err(err, errlen, "'file:' needs a path (file:data/corpus.bin)");
        return 0;
    }
    if (!strcmp(source, "synthetic:recall") || !strcmp(source, "synthetic:markov")) return 0;
    if (!strncmp(source, "synthetic:recall:", 17)) {
        char *end;
        long gap = strtol(source + 17, &end, 10);
        if (end == source + 17 || *end || gap < 1)
            return util_err(err, errlen, "'%s': expected synthetic:recall:N with N >= 1 the longest query distance",
                            source);
        return 0;
    }
    return util_err(err, errlen, "unknown source '%s' (expected synthetic:recall, synthetic:recall:N, "
                    "synthetic:markov or file:PATH)", source);
}
