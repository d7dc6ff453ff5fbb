/* model/data: token sources (DESIGN.md section 8): byte-level shards made by
 * `scalelab data prepare`, and synthetic tasks generated from a seed. */
#ifndef SCALELAB_MODEL_DATA_H
#define SCALELAB_MODEL_DATA_H

#include <stddef.h>
#include <stdint.h>

typedef struct model_data model_data;

enum { MODEL_SPLIT_TRAIN = 0, MODEL_SPLIT_VALID = 1 };

/* source: "synthetic:recall", "synthetic:<language-like task>", "file:PATH".
 * vocab_size must match a shard's header (clear error otherwise). */
int model_data_open(const char *source, int vocab_size, uint64_t seed, model_data **out,
                    char *err, size_t errlen);
void model_data_close(model_data *d);
/* Added: checks the syntax of a source string (known synthetic task, non-empty
 * file path) without opening anything; config validation uses it. */
int model_data_check_source(const char *source, char *err, size_t errlen);
/* batch_size sequences of context+1 tokens each (inputs [0,T), targets [1,T]).
 * Deterministic in (seed, split, batch_index), so a resumed run sees the same data. */
int model_data_batch(model_data *d, int split, int64_t batch_index, int batch_size, int context,
                     int32_t *tokens, char *err, size_t errlen);

/* Shards. Header: magic "SLTOKENS", version, vocab size, token width (bytes), token
 * count; then the tokens. Documents are separated by the reserved token
 * MODEL_DATA_DOC_SEP (for byte-level shards: 0, since text files hold no NUL). */
#define MODEL_DATA_DOC_SEP 0
typedef struct model_data_prepare_stats {
    int64_t files_read, files_skipped, documents, bytes;
} model_data_prepare_stats;
int model_data_prepare(const char *const *paths, size_t n_paths, const char *out_path,
                       model_data_prepare_stats *stats, char *err, size_t errlen);

#endif
