/* sweep/versions: a sweep's spec versions and the runs a newer version left out,
 * in words (the warning of `sweep plan` / `sweep run`) and as listings (`sweep
 * versions`, `sweep status --stale`). The store keeps the facts (store_sweep_update);
 * this file only reads and words them. */
#include "sweep/sweep_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/util.h"

/* Runs named one by one in the warning; the rest are counted. */
enum { NAMED_RUNS = 12 };

/* UTC, to the second: "2026-12-01 08:40:09 UTC". */
static void format_time(double t, char *out, size_t len) {
    time_t secs = (time_t)t;
    struct tm tm;
    if (!gmtime_r(&secs, &tm) || !strftime(out, len, "%Y-%m-%d %H:%M:%S UTC", &tm)) snprintf(out, len, "?");
}

int sweep_update_describe(store *st, const char *sweep, const store_sweep_change *u, int applied, util_buf *b,
                          char *err, size_t errlen) {
    int bad = 0; /* out of memory in a util_buf_printf */
    if (u->changed && u->prev_version) {
        char when[40];
        format_time(u->prev_created, when, sizeof when);
        if (applied)
            bad |= util_buf_printf(b, "sweep %s: spec changed since version %d (%s); keeping version %d, this is "
                                      "version %d (`scalelab sweep versions %s` lists them)\n",
                                   sweep, u->prev_version, when, u->prev_version, u->version, sweep);
        else
            bad |= util_buf_printf(b, "sweep %s: spec changed since version %d (%s); `sweep run` will keep version "
                                      "%d and store this as version %d\n",
                                   sweep, u->prev_version, when, u->prev_version, u->version);
    }
    if (u->n_dropped) {
        bad |= util_buf_printf(b, "sweep %s: version %d %s %zu stored run%s of the sweep:", sweep, u->version,
                               applied ? "no longer plans" : "would no longer plan", u->n_dropped,
                               u->n_dropped == 1 ? "" : "s");
        for (size_t i = 0; i < u->n_dropped && i < NAMED_RUNS; i++) {
            store_run r;
            if (store_run_get(st, u->dropped[i], &r, err, errlen)) return -1;
            bad |= util_buf_printf(b, "%s run %lld (%s)", i ? "," : "", (long long)r.id, store_status_name(r.status));
            store_run_clear(&r);
        }
        if (u->n_dropped > NAMED_RUNS) bad |= util_buf_printf(b, " and %zu more", u->n_dropped - NAMED_RUNS);
        if (applied)
            bad |= util_buf_printf(b, ". They keep their data (`scalelab runs` lists them) but leave the sweep: its "
                                      "status, fits and scheduler no longer count them; pending ones are cancelled, "
                                      "and a version that plans them again takes them back (`scalelab sweep status "
                                      "%s --stale` lists them)\n",
                                   sweep);
        else
            bad |= util_buf_puts(b, ". `sweep run` would leave them out of the sweep, their data kept, and cancel "
                                    "the pending ones\n");
    }
    return bad ? util_err(err, errlen, "sweep %s: out of memory", sweep) : 0;
}

int sweep_versions_print(store *st, const char *sweep, int show, int json, char *err, size_t errlen) {
    store_sweep_version *v;
    size_t n;
    if (store_sweep_versions(st, sweep, &v, &n, err, errlen)) return -1;
    if (!n) {
        store_sweep_versions_free(v, n);
        return util_err(err, errlen, "no sweep named %s", sweep);
    }
    util_buf b = {0};
    int rc = 0;
    if (show) {
        size_t k = 0;
        while (k < n && v[k].version != show) k++;
        if (k == n) {
            rc = util_err(err, errlen, "sweep %s has no version %d (versions 1 to %d)", sweep, show, v[n - 1].version);
        } else if (json) {
            util_buf_printf(&b, "{\"sweep\":");
            util_buf_json_str(&b, sweep);
            util_buf_printf(&b, ",\"version\":%d,\"current\":%s,\"created\":", v[k].version, k == n - 1 ? "true" : "false");
            util_buf_json_num(&b, v[k].created);
            util_buf_puts(&b, ",\"spec\":");
            util_buf_json_str(&b, v[k].spec);
            util_buf_puts(&b, "}\n");
        } else {
            util_buf_puts(&b, v[k].spec); /* the YAML as it was run: `> old.yaml` recovers it */
        }
    } else if (json) {
        util_buf_puts(&b, "{\"sweep\":");
        util_buf_json_str(&b, sweep);
        util_buf_printf(&b, ",\"current\":%d,\"versions\":[", v[n - 1].version);
        for (size_t k = 0; k < n; k++) {
            util_buf_printf(&b, "%s{\"version\":%d,\"created\":", k ? "," : "", v[k].version);
            util_buf_json_num(&b, v[k].created);
            util_buf_puts(&b, ",\"spec\":");
            util_buf_json_str(&b, v[k].spec);
            util_buf_puts(&b, "}");
        }
        util_buf_puts(&b, "]}\n");
    } else {
        util_buf_printf(&b, "sweep %s: %zu spec version%s\n", sweep, n, n == 1 ? "" : "s");
        for (size_t k = 0; k < n; k++) {
            char when[40];
            format_time(v[k].created, when, sizeof when);
            size_t lines = 0;
            for (const char *p = v[k].spec; *p; p++) lines += *p == '\n';
            util_buf_printf(&b, "  version %d  %s  %zu lines%s\n", v[k].version, when, lines,
                            k == n - 1 ? "  (current)" : "");
        }
        util_buf_printf(&b, "`scalelab sweep versions %s --show N` prints version N's YAML\n", sweep);
    }
    if (!rc && !b.data) rc = util_err(err, errlen, "out of memory");
    if (!rc) fputs(b.data, stdout);
    util_buf_free(&b);
    store_sweep_versions_free(v, n);
    return rc;
}

int sweep_stale_print(store *st, const char *sweep, int json, char *err, size_t errlen) {
    int64_t *ids;
    int *versions;
    size_t n;
    if (store_sweep_dropped(st, sweep, &ids, &versions, &n, err, errlen)) return -1;
    util_buf b = {0};
    int rc = 0;
    if (json) {
        util_buf_puts(&b, "{\"sweep\":");
        util_buf_json_str(&b, sweep);
        util_buf_puts(&b, ",\"stale\":[");
    } else {
        util_buf_printf(&b, "sweep %s: %zu run%s left out by a newer spec version (data kept)\n", sweep, n,
                        n == 1 ? "" : "s");
    }
    for (size_t i = 0; i < n && !rc; i++) {
        store_run r;
        if ((rc = store_run_get(st, ids[i], &r, err, errlen))) break;
        if (json) {
            util_buf_printf(&b, "%s{\"id\":%lld,\"left_out_by_version\":%d,\"status\":\"%s\",\"config_hash\":",
                            i ? "," : "", (long long)r.id, versions[i], store_status_name(r.status));
            util_buf_json_str(&b, r.config_hash);
            util_buf_puts(&b, ",\"final_eval_loss\":");
            util_buf_json_num(&b, r.final_eval_loss);
            util_buf_puts(&b, ",\"run_dir\":");
            util_buf_json_str(&b, r.run_dir);
            util_buf_puts(&b, "}");
        } else {
            char loss[32] = "-";
            if (isfinite(r.final_eval_loss)) snprintf(loss, sizeof loss, "%.4f", r.final_eval_loss);
            util_buf_printf(&b, "  run %lld  %-9s  left out by version %d  hash %s  eval loss %s  %s\n",
                            (long long)r.id, store_status_name(r.status), versions[i], r.config_hash, loss,
                            *r.run_dir ? r.run_dir : "-");
        }
        store_run_clear(&r);
    }
    if (json) util_buf_puts(&b, "]}\n");
    if (!rc && !b.data) rc = util_err(err, errlen, "out of memory");
    if (!rc) fputs(b.data, stdout);
    util_buf_free(&b);
    free(ids);
    free(versions);
    return rc;
}
