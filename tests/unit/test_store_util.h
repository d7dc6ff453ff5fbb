/* Helpers shared by the store tests: a scratch folder per test, raw SQLite
 * access for checks the API does not offer, and file fingerprints. */
#ifndef SCALELAB_TEST_STORE_UTIL_H
#define SCALELAB_TEST_STORE_UTIL_H

#include <ftw.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/util.h"

typedef struct scratch {
    char dir[256];
    char db[300];
} scratch;

static inline int scratch_make(scratch *t) {
    const char *tmp = getenv("TMPDIR");
    snprintf(t->dir, sizeof t->dir, "%s/scalelab-store-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(t->dir)) return -1;
    snprintf(t->db, sizeof t->db, "%s/s.db", t->dir);
    return 0;
}

static inline int scratch_rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

static inline void scratch_remove(scratch *t) { nftw(t->dir, scratch_rm_entry, 8, FTW_DEPTH | FTW_PHYS); }

/* cmocka setup/teardown: a fresh scratch folder as the test's state. */
static inline int scratch_setup(void **state) {
    scratch *t = calloc(1, sizeof *t);
    if (!t || scratch_make(t)) {
        free(t);
        return -1;
    }
    *state = t;
    return 0;
}

static inline int scratch_teardown(void **state) {
    scratch_remove(*state);
    free(*state);
    return 0;
}

/* Runs sql on path through a plain SQLite connection; -1 on error (printed). */
static inline int raw_exec(const char *path, const char *sql) {
    sqlite3 *db;
    int rc = sqlite3_open(path, &db);
    if (rc == SQLITE_OK) {
        sqlite3_busy_timeout(db, 10000);
        rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    }
    if (rc != SQLITE_OK) fprintf(stderr, "raw_exec %s: %s\n", path, sqlite3_errmsg(db));
    sqlite3_close(db);
    return rc == SQLITE_OK ? 0 : -1;
}

/* The first column of the first row of a query, as an integer (-1 on error). */
static inline long long raw_int(const char *path, const char *sql) {
    sqlite3 *db;
    sqlite3_stmt *st;
    long long v = -1;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
        sqlite3_busy_timeout(db, 10000);
        if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
            if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int64(st, 0);
            sqlite3_finalize(st);
        }
    }
    if (v == -1) fprintf(stderr, "raw_int %s: %s: %s\n", path, sql, sqlite3_errmsg(db));
    sqlite3_close(db);
    return v;
}

/* Whole-file fingerprint: length and FNV-1a of the bytes (0/0 when missing). */
typedef struct fingerprint {
    size_t len;
    uint64_t hash;
} fingerprint;

static inline fingerprint file_fingerprint(const char *path) {
    fingerprint f = {0, 0};
    char *data;
    size_t len;
    char err[256];
    if (util_read_file(path, &data, &len, err, sizeof err) == 0) {
        f.len = len;
        f.hash = util_hash64(data, len);
        free(data);
    }
    return f;
}

static inline int file_exists(const char *path) { return access(path, F_OK) == 0; }

#endif
