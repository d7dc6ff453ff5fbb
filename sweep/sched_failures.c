/* sweep/sched_failures: a failed attempt of a run, as every scheduler (local, Slurm's
 * coordinator and its ingest) records it: the count in RUN_DIR/failures, then requeue
 * while within retries, else failed with the end of train.log. Needs only the store. */
#include "sweep/sweep_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

int sweep_failures(const char *dir) {
    char path[4200], *text;
    size_t len;
    snprintf(path, sizeof path, "%s/failures", dir);
    if (util_read_file(path, &text, &len, NULL, 0)) return 0;
    int n = atoi(text);
    free(text);
    return n;
}

int sweep_failures_bump(const char *dir) {
    char path[4200], text[32];
    int n = sweep_failures(dir) + 1;
    snprintf(path, sizeof path, "%s/failures", dir);
    int len = snprintf(text, sizeof text, "%d\n", n);
    util_write_file_atomic(path, text, (size_t)len, NULL, 0);
    return n;
}

char *sweep_log_tail(const char *path, size_t max_bytes) {
    char *text;
    size_t len;
    if (util_read_file(path, &text, &len, NULL, 0)) return strdup("");
    size_t start = len > max_bytes ? len - max_bytes : 0;
    if (start) {
        char *nl = memchr(text + start, '\n', len - start);
        if (nl && nl + 1 < text + len) start = (size_t)(nl + 1 - text);
    }
    memmove(text, text + start, len - start + 1);
    return text;
}

int sweep_run_failed(store *st, const store_run *r, int retries, const char *why, int *requeued, char *err,
                     size_t errlen) {
    int failures = sweep_failures_bump(r->run_dir);
    *requeued = failures <= retries;
    store_run now;
    if (store_run_get(st, r->id, &now, err, errlen)) return -1;
    store_status status = now.status;
    store_run_clear(&now);
    /* The trainer may have ended the run itself (failed); make it pending so it
     * can be claimed again or ended with our text. */
    if (status != STORE_PENDING && status != STORE_RUNNING && store_run_requeue(st, r->id, err, errlen)) return -1;
    if (*requeued) return status == STORE_RUNNING ? store_run_requeue(st, r->id, err, errlen) : 0;
    char path[4200];
    snprintf(path, sizeof path, "%s/train.log", r->run_dir);
    char *tail = sweep_log_tail(path, 2000);
    util_buf msg = {0};
    util_buf_printf(&msg, "%s after %d attempt%s; end of %s:\n%s", why, failures, failures == 1 ? "" : "s", path,
                    tail ? tail : "");
    int rc = store_run_end(st, r->id, STORE_FAILED, msg.data, err, errlen);
    util_buf_free(&msg);
    free(tail);
    return rc;
}
