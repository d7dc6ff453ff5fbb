/* The two model_sink implementations `scalelab train` wires to the trainer:
 * the store (metrics, position losses and heartbeats in SQLite) and run files
 * (for cluster tasks that must not write the coordinator's SQLite file). */
#ifndef SCALELAB_CLI_TRAIN_SINK_H
#define SCALELAB_CLI_TRAIN_SINK_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "model/model.h"
#include "store/store.h"

typedef struct train_store_sink {
    store *db;
    int64_t run;
    store_metric *rows; /* conversion buffer, cap rows */
    size_t cap;
} train_store_sink;

/* cap: the most metric rows one callback may carry. */
int cli_train_store_sink_init(train_store_sink *s, store *db, int64_t run, size_t cap, model_sink *out,
                          char *err, size_t errlen);
void cli_train_store_sink_free(train_store_sink *s);

/* Files in DIR (formats are a contract with the sweep ingester):
 *   metrics.tsv        header "step tokens wall_seconds loss lr grad_norm tokens_per_second eval_loss"
 *                      (tab-separated), one line per step, flushed; "nan" where unknown
 *   position_loss.tsv  header "step position loss", one line per bucket per evaluation
 *   result.tsv         at the end, atomically: lines "key<TAB>value" for status
 *                      (done|diverged|failed|stopped), final_train_loss, final_eval_loss,
 *                      best_context_loss, steps, error
 *   device.tsv         when the backend is chosen: lines "device<TAB>cpu|cuda" and
 *                      "precision<TAB>fp32|bf16" (train.precision auto resolved)
 * A resume drops the lines of steps after the checkpoint, which are logged again. */
typedef struct train_files_sink {
    char dir[4096];
    FILE *metrics, *positions;
} train_files_sink;

int cli_train_files_sink_init(train_files_sink *s, const char *dir, model_sink *out, char *err, size_t errlen);
void cli_train_files_sink_free(train_files_sink *s);
int cli_train_files_write_result(const char *dir, const char *status, const model_train_result *r,
                             const char *error_text, char *err, size_t errlen);

#endif
