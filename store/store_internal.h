/* store internals shared by the store/ sources: the handle, the write-transaction
 * wrapper with its busy retry, and binding/reading helpers that map NaN <-> NULL. */
#ifndef SCALELAB_STORE_INTERNAL_H
#define SCALELAB_STORE_INTERNAL_H

#include <sqlite3.h>

#include "store/store.h"

struct store {
    sqlite3 *db;
    char *path;
    int initial_version;      /* user_version found at open; 0 when created */
    int readonly;             /* opened read-only (STORE_OPEN_READONLY on a store we cannot write) */
    char id[40];              /* meta.store_id; "" when the store has none */
    store_fault_hook hook;    /* tests only: see store_set_fault_hook */
    void *hook_ctx;
};

/* Body of a write transaction: 0 to commit, non-zero (err filled) to roll back. */
typedef int (*store_tx_body)(store *s, void *ctx, char *err, size_t errlen);

/* BEGIN IMMEDIATE, body, COMMIT. Taking the write lock up front means the body
 * never meets SQLITE_BUSY half-way; BEGIN itself is retried (busy timeout, then
 * a loop with a long deadline) so contention never reaches the caller. */
int store_tx_write(store *s, store_tx_body body, void *ctx, char *err, size_t errlen);

/* "PATH: what: sqlite's message"; returns -1. */
int store_db_err(store *s, const char *what, char *err, size_t errlen);
int store_prepare(store *s, const char *sql, sqlite3_stmt **st, char *err, size_t errlen);
int store_exec(store *s, const char *sql, char *err, size_t errlen);

/* NaN binds as NULL (SQLite has no NaN); NULL reads back as NaN. */
void store_bind_real(sqlite3_stmt *st, int idx, double x);
double store_column_real(sqlite3_stmt *st, int col);
/* NULL text binds as SQL NULL. */
void store_bind_text(sqlite3_stmt *st, int idx, const char *s);
/* A malloc'd copy of a text column, "" for NULL; NULL only when out of memory. */
char *store_column_dup(sqlite3_stmt *st, int col);

/* A bound value: integer, real (NaN -> NULL) or text (NULL -> NULL). */
typedef struct store_bound {
    char kind; /* 'i', 'r', 't' */
    int64_t i;
    double r;
    const char *t;
} store_bound;
#define STORE_B_INT(x) ((store_bound){'i', (x), 0, NULL})
#define STORE_B_REAL(x) ((store_bound){'r', 0, (x), NULL})
#define STORE_B_TEXT(x) ((store_bound){'t', 0, 0, (x)})

/* One statement with parameters ?1..?n. result: the first column of the first row when
 * the statement returns rows (RETURNING), else the number of rows changed. what names
 * the work in an error ("updating runs"). store_stmt_body runs it inside the caller's
 * write transaction; store_run_stmt in a write transaction of its own. */
typedef struct store_stmt {
    const char *sql;
    const store_bound *args;
    int nargs;
    int64_t result;
    const char *what;
} store_stmt;
int store_stmt_body(store *s, void *stmt, char *err, size_t errlen);
int store_run_stmt(store *s, const char *what, const char *sql, const store_bound *args, int nargs,
                   int64_t *result, char *err, size_t errlen);

#endif
