/* sweep/slurm_opts: the checks of a spec's slurm: values (sweep_slurm_check,
 * sweep_slurm_time_seconds) and their release. Apart from slurm.c because the spec reader
 * calls them, and the backend reads specs: a leaf, so that neither depends on the other. */
#include "sweep/sweep_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

long sweep_slurm_time_seconds(const char *t) {
    /* D-H[:M[:S]] or M, M:S, H:M:S */
    long v[4];
    int n = 0, days = -1;
    const char *p = t;
    if (!*p) return -1;
    for (;;) {
        if (*p < '0' || *p > '9') return -1;
        char *end;
        long x = strtol(p, &end, 10);
        if (x > 10000000 || n == 4) return -1;
        p = end;
        if (*p == '-' && days < 0 && n == 0) { days = (int)(x > 100000 ? 100000 : x); p++; continue; }
        v[n++] = x;
        if (!*p) break;
        if (*p != ':') return -1;
        p++;
    }
    if (days >= 0) { /* D-H, D-H:M, D-H:M:S */
        if (n > 3) return -1;
        return days * 86400L + v[0] * 3600 + (n > 1 ? v[1] * 60 : 0) + (n > 2 ? v[2] : 0);
    }
    if (n == 1) return v[0] * 60;
    if (n == 2) return v[0] * 60 + v[1];
    if (n == 3) return v[0] * 3600 + v[1] * 60 + v[2];
    return -1;
}

static int only(const char *v, const char *allowed) {
    for (const unsigned char *p = (const unsigned char *)v; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || strchr(allowed, *p)))
            return 0;
    return 1;
}

int sweep_slurm_check(const char *key, const char *v, char *err, size_t errlen) {
    size_t n = strlen(v);
    if (n == 0) return util_err(err, errlen, "empty value");
    if (n > 256) return util_err(err, errlen, "%zu characters, longer than 256", n);
    for (const unsigned char *p = (const unsigned char *)v; *p; p++)
        if (*p < 0x21 || *p > 0x7e || strchr("'\"\\$`;<>", *p))
            return util_err(err, errlen, "character %zu (byte 0x%02x) is not allowed: no whitespace, "
                            "newlines, quotes, backslash, $, `, ;, < or > (values go into #SBATCH lines as they are)",
                            (size_t)(p - (const unsigned char *)v) + 1, *p);
    char *end;
    if (!strcmp(key, "account") || !strcmp(key, "qos")) {
        if (!only(v, "._-")) return util_err(err, errlen, "'%s': expected a name of [A-Za-z0-9._-]", v);
    } else if (!strcmp(key, "partition")) {
        if (!only(v, "._-,")) return util_err(err, errlen, "'%s': expected partition names of [A-Za-z0-9._-], "
                                              "comma-separated", v);
    } else if (!strcmp(key, "time")) {
        if (sweep_slurm_time_seconds(v) <= 0)
            return util_err(err, errlen, "'%s': expected a Slurm time limit (minutes, M:S, H:M:S, D-H, D-H:M or "
                            "D-H:M:S) above 0", v);
    } else if (!strcmp(key, "mem")) {
        long x = strtol(v, &end, 10);
        if (end == v || x < 0 || (*end && (end[1] || !strchr("KMGTkmgt", *end))))
            return util_err(err, errlen, "'%s': expected megabytes or a number with K, M, G or T (e.g. 16G)", v);
    } else if (!strcmp(key, "constraint")) {
        if (!only(v, "._-&|,*[]():!"))
            return util_err(err, errlen, "'%s': expected features of [A-Za-z0-9._-] joined by & | , * [ ] ( ) :", v);
    } else if (!strcmp(key, "gres")) {
        if (!only(v, "._:,=-")) return util_err(err, errlen, "'%s': expected a gres list such as gpu:1 or gpu:h100:2", v);
    } else if (!strcmp(key, "cpus_per_task") || !strcmp(key, "runs_per_task") || !strcmp(key, "signal")) {
        /* runs_per_task: a task holds at most SWEEP_SLURM_TASK_MAX_RUNS runs */
        long x = strtol(v, &end, 10), lo = strcmp(key, "signal") ? 1 : 0,
             hi = !strcmp(key, "signal") ? 65535 : !strcmp(key, "runs_per_task") ? SWEEP_SLURM_TASK_MAX_RUNS : 100000;
        if (end == v || *end || x < lo || x > hi)
            return util_err(err, errlen, "'%s': expected a whole number from %ld to %ld%s", v, lo, hi,
                            strcmp(key, "signal") ? "" : " (seconds before the time limit; 0: no signal)");
    } else if (!strcmp(key, "extra")) {
        static const char *const owned[] = {"array", "output", "error", "job-name", "parsable", "wrap", "signal",
                                            "o", "e", "J", "a"};
        const char *name = v + 2;
        size_t name_len = strncmp(v, "--", 2) ? 0 : strcspn(name, "=");
        if (name_len == 0)
            return util_err(err, errlen, "'%s': expected a long sbatch option, --name or --name=value", v);
        for (size_t i = 0; i < name_len; i++)
            if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9') || name[i] == '-'))
                return util_err(err, errlen, "'%s': an option name uses [a-z0-9-]", v);
        for (size_t i = 0; i < sizeof owned / sizeof *owned; i++)
            if (strlen(owned[i]) == name_len && !strncmp(name, owned[i], name_len))
                return util_err(err, errlen, "'%s': scalelab sets --%s itself%s", v, owned[i],
                                strcmp(owned[i], "signal") ? "" : " (use slurm.signal or --signal SECONDS)");
    } else {
        return util_err(err, errlen, "unknown Slurm option %s", key);
    }
    return 0;
}

void sweep_slurm_spec_free(sweep_slurm_spec *s) {
    free(s->account), free(s->qos), free(s->partition), free(s->time), free(s->mem), free(s->constraint);
    free(s->gres);
    for (size_t i = 0; i < s->n_extra; i++) free(s->extra[i]);
    free(s->extra);
    memset(s, 0, sizeof *s);
}
