/* `scalelab train --sink files`: run files for the sweep ingester (formats in
 * cli/train_sink.h). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli/train_sink.h"
#include "util/util.h"

#define METRICS_HEADER "step\ttokens\twall_seconds\tloss\tlr\tgrad_norm\ttokens_per_second\teval_loss\n"
#define POSITIONS_HEADER "step\tposition\tloss\n"

/* Opens DIR/name for appending, writing the header when the file is new or empty. */
static FILE *open_table(const char *dir, const char *name, const char *header, char *err, size_t errlen) {
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "a");
    if (!f) {
        util_err(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    if (ftell(f) == 0 && (fputs(header, f) < 0 || fflush(f))) {
        util_err(err, errlen, "%s: cannot write the header", path);
        fclose(f);
        return NULL;
    }
    return f;
}

static int files_metrics(void *ctx, const model_metric *rows, size_t n, char *err, size_t errlen) {
    train_files_sink *s = ctx;
    for (size_t i = 0; i < n; i++) {
        const model_metric *m = &rows[i];
        fprintf(s->metrics, "%lld\t%.17g\t%.6f\t%.17g\t%.17g\t%.17g\t%.6g\t%.17g\n", (long long)m->step, m->tokens,
                m->wall_seconds, m->loss, m->lr, m->grad_norm, m->tokens_per_second, m->eval_loss);
    }
    if (fflush(s->metrics) || ferror(s->metrics)) return util_err(err, errlen, "%s/metrics.tsv: write failed", s->dir);
    return 0;
}

static int files_eval(void *ctx, int64_t step, double eval_loss, const int64_t *bucket_start,
                      const double *bucket_loss, size_t n_buckets, char *err, size_t errlen) {
    (void)eval_loss;
    train_files_sink *s = ctx;
    for (size_t i = 0; i < n_buckets; i++)
        fprintf(s->positions, "%lld\t%lld\t%.17g\n", (long long)step, (long long)bucket_start[i], bucket_loss[i]);
    if (fflush(s->positions) || ferror(s->positions))
        return util_err(err, errlen, "%s/position_loss.tsv: write failed", s->dir);
    return 0;
}

static int files_heartbeat(void *ctx, char *err, size_t errlen) {
    (void)ctx, (void)err, (void)errlen;
    return 0;
}

/* Rewrites DIR/name keeping the header and the lines whose step <= last. */
static int truncate_table(const char *dir, const char *name, int64_t last, char *err, size_t errlen) {
    char path[4200], *data = NULL;
    size_t len = 0;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (util_read_file(path, &data, &len, err, errlen)) return -1;
    util_buf out = {0};
    int rc = 0, first = 1;
    for (char *line = data; *line;) {
        char *nl = strchr(line, '\n');
        size_t n = nl ? (size_t)(nl - line + 1) : strlen(line);
        if (first || strtoll(line, NULL, 10) <= last) rc |= util_buf_append(&out, line, n);
        first = 0;
        line += n;
    }
    if (!rc) rc = util_write_file_atomic(path, out.data ? out.data : "", out.len, err, errlen);
    free(data);
    util_buf_free(&out);
    return rc;
}

static int files_resumed(void *ctx, int64_t step, char *err, size_t errlen) {
    train_files_sink *s = ctx;
    fclose(s->metrics);
    fclose(s->positions);
    s->metrics = s->positions = NULL;
    if (truncate_table(s->dir, "metrics.tsv", step, err, errlen) ||
        truncate_table(s->dir, "position_loss.tsv", step, err, errlen))
        return -1;
    s->metrics = open_table(s->dir, "metrics.tsv", METRICS_HEADER, err, errlen);
    s->positions = open_table(s->dir, "position_loss.tsv", POSITIONS_HEADER, err, errlen);
    return s->metrics && s->positions ? 0 : -1;
}

/* device.tsv: "device<TAB>cuda\nprecision<TAB>bf16\n", written when the backend is
 * chosen; the Slurm coordinator copies it into the run's device column on ingest. */
static int files_started(void *ctx, const char *device, const char *precision, char *err, size_t errlen) {
    train_files_sink *s = ctx;
    char path[4200], text[128];
    snprintf(path, sizeof path, "%s/device.tsv", s->dir);
    int n = snprintf(text, sizeof text, "device\t%s\nprecision\t%s\n", device, precision);
    return util_write_file_atomic(path, text, (size_t)n, err, errlen);
}

int cli_train_files_sink_init(train_files_sink *s, const char *dir, model_sink *out, char *err, size_t errlen) {
    memset(s, 0, sizeof *s);
    snprintf(s->dir, sizeof s->dir, "%s", dir);
    if (util_mkdir_p(dir, err, errlen)) return -1;
    s->metrics = open_table(dir, "metrics.tsv", METRICS_HEADER, err, errlen);
    if (!s->metrics) return -1;
    s->positions = open_table(dir, "position_loss.tsv", POSITIONS_HEADER, err, errlen);
    if (!s->positions) {
        fclose(s->metrics);
        s->metrics = NULL;
        return -1;
    }
    *out = (model_sink){.ctx = s, .metrics = files_metrics, .eval = files_eval, .heartbeat = files_heartbeat,
                        .resumed = files_resumed, .started = files_started};
    return 0;
}

void cli_train_files_sink_free(train_files_sink *s) {
    if (s->metrics) fclose(s->metrics);
    if (s->positions) fclose(s->positions);
    s->metrics = s->positions = NULL;
}

int cli_train_files_write_result(const char *dir, const char *status, const model_train_result *r,
                             const char *error_text, char *err, size_t errlen) {
    util_buf b = {0};
    char path[4200];
    snprintf(path, sizeof path, "%s/result.tsv", dir);
    /* The error text is one line: tabs and newlines would break the format. */
    char clean[1024];
    snprintf(clean, sizeof clean, "%s", error_text ? error_text : "");
    for (char *c = clean; *c; c++)
        if (*c == '\t' || *c == '\n' || *c == '\r') *c = ' ';
    int rc = util_buf_printf(&b,
                             "status\t%s\nfinal_train_loss\t%.17g\nfinal_eval_loss\t%.17g\nbest_context_loss\t%.17g\n"
                             "steps\t%lld\nerror\t%s\n",
                             status, r->final_train_loss, r->final_eval_loss, r->best_context_loss,
                             (long long)r->steps, clean);
    if (!rc) rc = util_write_file_atomic(path, b.data, b.len, err, errlen);
    else util_err(err, errlen, "out of memory");
    util_buf_free(&b);
    return rc;
}
