/* model/data_internal: private to model/data*.c — the shard reader and the
 * synthetic generators behind model_data. */
#ifndef SCALELAB_MODEL_DATA_INTERNAL_H
#define SCALELAB_MODEL_DATA_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

/* Shard header: 32 bytes, little endian. */
#define DATA_MAGIC "SLTOKENS"
enum { DATA_VERSION = 1, DATA_HEADER_BYTES = 32 };

/* A deterministic stream of 64-bit numbers (splitmix64). */
typedef struct data_rng {
    uint64_t state;
} data_rng;
uint64_t model_data_mix64(uint64_t x);
uint64_t model_data_rng_next(data_rng *r);
/* Uniform in [0, n) (n > 0), and in [0, 1). */
uint64_t model_data_rng_below(data_rng *r, uint64_t n);
double model_data_rng_uniform(data_rng *r);
/* The stream for one sequence: a function of (seed, split, batch_index, row) only. */
data_rng model_data_rng_for(uint64_t seed, int split, int64_t batch_index, int row);

/* Synthetic tasks: n tokens of one independent sequence. */
typedef enum data_task { DATA_TASK_RECALL, DATA_TASK_MARKOV } data_task;
void model_data_recall_sequence(data_rng *r, int max_gap, int32_t *tokens, int n);
void model_data_markov_sequence(data_rng *r, int32_t *tokens, int n);
/* Smallest vocabulary each task's tokens fit in. */
int model_data_task_min_vocab(data_task task);

/* Token layout of synthetic:recall (see data_synth.c). */
enum {
    RECALL_QUERY = 1,
    RECALL_FILLER_FIRST = 32, RECALL_FILLER_COUNT = 64,
    RECALL_KEY_FIRST = 96, RECALL_KEY_COUNT = 64,
    RECALL_VALUE_FIRST = 160, RECALL_VALUE_COUNT = 96,
};

/* A token shard, memory-mapped, with its documents split into train/validation. */
typedef struct data_shard data_shard;
int model_data_shard_open(const char *path, int vocab_size, data_shard **out, char *err, size_t errlen);
void model_data_shard_close(data_shard *s);
int64_t model_data_shard_documents(const data_shard *s, int split);
int64_t model_data_shard_tokens(const data_shard *s, int split);
/* n tokens from split starting at a uniformly drawn position (wrapping around the split). */
void model_data_shard_window(const data_shard *s, int split, data_rng *r, int32_t *tokens, int n);

#endif
