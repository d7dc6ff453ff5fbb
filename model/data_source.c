/* model/data: a token source behind one interface: a synthetic task or a
 * token shard (data_synth.c, data_shard.c). Every batch is a pure function of
 * (seed, split, batch_index), so a resumed run sees exactly the data it would
 * have seen, and the validation split never shares a sequence with train. */
#include "model/data.h"

#include <stdlib.h>
#include <string.h>

#include "model/data_internal.h"
#include "util/util.h"

struct model_data {
    int synthetic;
    data_task task;
    int max_gap; /* recall */
    data_shard *shard;
    uint64_t seed;
};

/* Parses source; on success fills what it names (d may be NULL: syntax only). */
static int parse_source(const char *source, model_data *d, char *err, size_t errlen) {
    if (!strncmp(source, "file:", 5)) {
        if (!source[5]) return util_err(err, errlen, "'file:' needs a path (file:data/corpus.bin)");
        return 0;
    }
    data_task task;
    int max_gap = 1 << 30;
    if (!strcmp(source, "synthetic:recall")) {
        task = DATA_TASK_RECALL;
    } else if (!strncmp(source, "synthetic:recall:", 17)) {
        char *end;
        long gap = strtol(source + 17, &end, 10);
        if (end == source + 17 || *end || gap < 1 || gap > (1 << 30))
            return util_err(err, errlen, "'%s': expected synthetic:recall:N, N >= 1 the longest distance "
                            "between a definition and its query", source);
        task = DATA_TASK_RECALL;
        max_gap = (int)gap;
    } else if (!strcmp(source, "synthetic:markov")) {
        task = DATA_TASK_MARKOV;
    } else {
        return util_err(err, errlen, "unknown source '%s' (expected synthetic:recall, synthetic:recall:N, "
                        "synthetic:markov or file:PATH)", source);
    }
    if (d) {
        d->synthetic = 1;
        d->task = task;
        d->max_gap = max_gap;
    }
    return 0;
}

int model_data_check_source(const char *source, char *err, size_t errlen) {
    return parse_source(source, NULL, err, errlen);
}

int model_data_open(const char *source, int vocab_size, uint64_t seed, model_data **out, char *err,
                    size_t errlen) {
    *out = NULL;
    model_data *d = calloc(1, sizeof *d);
    if (!d) return util_err(err, errlen, "out of memory");
    d->seed = seed;
    if (parse_source(source, d, err, errlen)) {
        free(d);
        return -1;
    }
    if (d->synthetic) {
        int need = model_data_task_min_vocab(d->task);
        if (vocab_size < need) {
            free(d);
            return util_err(err, errlen, "%s uses tokens up to %d: model.vocab_size must be >= %d (it is %d)",
                            source, need - 1, need, vocab_size);
        }
    } else if (model_data_shard_open(source + 5, vocab_size, &d->shard, err, errlen)) {
        free(d);
        return -1;
    }
    *out = d;
    return 0;
}

void model_data_close(model_data *d) {
    if (!d) return;
    model_data_shard_close(d->shard);
    free(d);
}

int model_data_batch(model_data *d, int split, int64_t batch_index, int batch_size, int context,
                     int32_t *tokens, char *err, size_t errlen) {
    if (split != MODEL_SPLIT_TRAIN && split != MODEL_SPLIT_VALID)
        return util_err(err, errlen, "data: split %d is neither train nor validation", split);
    if (batch_size < 1 || context < 1 || batch_index < 0)
        return util_err(err, errlen, "data: batch_size and context must be positive, batch_index >= 0");
    int n = context + 1;
    for (int row = 0; row < batch_size; row++) {
        data_rng r = model_data_rng_for(d->seed, split, batch_index, row);
        int32_t *t = tokens + (size_t)row * (size_t)n;
        if (d->shard) model_data_shard_window(d->shard, split, &r, t, n);
        else if (d->task == DATA_TASK_RECALL) model_data_recall_sequence(&r, d->max_gap, t, n);
        else model_data_markov_sequence(&r, t, n);
    }
    return 0;
}
