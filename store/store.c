/* store: opening, the schema and its migrations, transactions, helpers.
 *
 * Opening is two-phase so that a file we must refuse is never written: a
 * read-only probe decides (not SQLite / another program's / newer schema), and
 * only then is the file opened read-write, switched to WAL and migrated inside
 * one BEGIN IMMEDIATE transaction that re-checks the version it read. */
#include "store/store_internal.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include <stdint.h>
#include <time.h>

#include "util/util.h"

/* Per attempt of a lock; sqlite's busy handler sleeps and retries within it. */
#define BUSY_TIMEOUT_MS 5000
/* How long a writer keeps retrying BEGIN IMMEDIATE before giving up. A lock
 * held this long means a stuck process, which is worth an error. */
#define WRITE_DEADLINE_S 600.0

/* migrations[v] takes a store from version v to v + 1. Append only: a file
 * written by an older scalelab replays the tail of this list. */
static const char *const migrations[STORE_SCHEMA_VERSION] = {
    /* v0 -> v1: the initial tables. */
    "CREATE TABLE sweeps ("
    "  name TEXT PRIMARY KEY NOT NULL CHECK (name <> ''),"
    "  spec TEXT NOT NULL,"
    "  created REAL NOT NULL);"
    "CREATE TABLE runs ("
    "  id INTEGER PRIMARY KEY,"
    "  sweep TEXT NOT NULL DEFAULT '',"
    "  config_json TEXT NOT NULL CHECK (json_valid(config_json)),"
    "  config_hash TEXT NOT NULL UNIQUE CHECK (config_hash <> ''),"
    "  status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN"
    "    ('pending','running','done','failed','diverged','cancelled')),"
    "  attempt INTEGER NOT NULL DEFAULT 0,"
    "  host TEXT, device TEXT, error TEXT,"
    "  created REAL NOT NULL, started REAL, finished REAL, heartbeat REAL,"
    "  params REAL, params_non_embedding REAL,"
    "  weight_flops_per_token REAL, state_flops_per_token REAL, wsfr REAL,"
    "  state_dim REAL, state_size REAL, tokens REAL, training_flops REAL,"
    "  final_train_loss REAL, final_eval_loss REAL, best_context_loss REAL);"
    "CREATE INDEX runs_status ON runs (status, id);"
    /* Every sweep that asked for a run; runs.sweep keeps the first one. */
    "CREATE TABLE sweep_runs ("
    "  sweep TEXT NOT NULL,"
    "  run INTEGER NOT NULL REFERENCES runs (id),"
    "  PRIMARY KEY (sweep, run)) WITHOUT ROWID;"
    "CREATE TABLE metrics ("
    "  run INTEGER NOT NULL REFERENCES runs (id),"
    "  step INTEGER NOT NULL CHECK (step >= 0),"
    "  tokens REAL, wall_seconds REAL, loss REAL, lr REAL, grad_norm REAL,"
    "  tokens_per_second REAL, eval_loss REAL,"
    "  PRIMARY KEY (run, step)) WITHOUT ROWID;"
    "CREATE TABLE position_loss ("
    "  run INTEGER NOT NULL REFERENCES runs (id),"
    "  step INTEGER NOT NULL, position INTEGER NOT NULL, loss REAL,"
    "  PRIMARY KEY (run, step, position)) WITHOUT ROWID;"
    "CREATE TABLE fits ("
    "  id INTEGER PRIMARY KEY, created REAL NOT NULL,"
    "  form TEXT NOT NULL CHECK (form <> ''), source TEXT NOT NULL DEFAULT '',"
    "  inputs_json TEXT, params_json TEXT, intervals_json TEXT, residuals_json TEXT,"
    "  objective REAL, rmse_log REAL, n_points INTEGER NOT NULL DEFAULT 0);",
    /* v1 -> v2: runs remember their run directory; heartbeat expiry scans
     * running runs by heartbeat age instead of the whole table. */
    "ALTER TABLE runs ADD COLUMN run_dir TEXT;"
    "CREATE INDEX runs_heartbeat ON runs (status, heartbeat);",
    /* v2 -> v3: a fit says how far it can be trusted (fit/fit.h: fit_verdict);
     * recommend reads the verdict before it answers. Older fits have NULL there
     * and are treated as unchecked. */
    "ALTER TABLE fits ADD COLUMN verdict TEXT CHECK (verdict IN ('ok', 'weak', 'unconstrained'));"
    "ALTER TABLE fits ADD COLUMN diagnostics_json TEXT;",
    /* v3 -> v4: the store has an identity (meta.store_id, random), which run
     * folders record so that a new store never takes an old store's checkpoint
     * for its own work; and one scheduler per sweep is claimed here, in the
     * store, whatever folder it runs from (store_scheduler_claim). */
    "CREATE TABLE meta (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL) WITHOUT ROWID;"
    "INSERT INTO meta (key, value) VALUES ('store_id', lower(hex(randomblob(8))));"
    "CREATE TABLE schedulers ("
    "  sweep TEXT PRIMARY KEY NOT NULL,"
    "  host TEXT NOT NULL, pid INTEGER NOT NULL,"
    "  started REAL NOT NULL, heartbeat REAL NOT NULL,"
    "  runs_dir TEXT NOT NULL DEFAULT '');",
    /* v4 -> v5: a sweep's spec has versions. Running a changed spec under the same
     * name used to overwrite sweeps.spec and keep runs the new spec no longer plans;
     * now every text is kept (sweep_specs; sweeps.spec stays the current one, for the
     * queries people already have), and runs a newer version leaves out move from
     * sweep_runs (the sweep's current membership, which every claim, count and list
     * reads) to sweep_runs_dropped, their data untouched (store_sweep_update). A
     * store's existing spec becomes version 1, dated when the sweep was created. */
    "CREATE TABLE sweep_specs ("
    "  sweep TEXT NOT NULL REFERENCES sweeps (name),"
    "  version INTEGER NOT NULL CHECK (version >= 1),"
    "  spec TEXT NOT NULL,"
    "  created REAL NOT NULL,"
    "  PRIMARY KEY (sweep, version)) WITHOUT ROWID;"
    "INSERT INTO sweep_specs (sweep, version, spec, created) SELECT name, 1, spec, created FROM sweeps;"
    "CREATE TABLE sweep_runs_dropped ("
    "  sweep TEXT NOT NULL,"
    "  run INTEGER NOT NULL REFERENCES runs (id),"
    "  version INTEGER NOT NULL,"
    "  PRIMARY KEY (sweep, run)) WITHOUT ROWID;",
};

/* ---------------------------------------------------------------- helpers */

int store_db_err(store *s, const char *what, char *err, size_t errlen) {
    return util_err(err, errlen, "%s: %s: %s", s->path, what, sqlite3_errmsg(s->db));
}

int store_prepare(store *s, const char *sql, sqlite3_stmt **st, char *err, size_t errlen) {
    if (sqlite3_prepare_v2(s->db, sql, -1, st, NULL) != SQLITE_OK) {
        *st = NULL;
        return store_db_err(s, "prepare", err, errlen);
    }
    return 0;
}

int store_exec(store *s, const char *sql, char *err, size_t errlen) {
    if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK) return store_db_err(s, sql, err, errlen);
    return 0;
}

void store_bind_real(sqlite3_stmt *st, int idx, double x) {
    if (isnan(x)) sqlite3_bind_null(st, idx);
    else sqlite3_bind_double(st, idx, x);
}

double store_column_real(sqlite3_stmt *st, int col) {
    return sqlite3_column_type(st, col) == SQLITE_NULL ? NAN : sqlite3_column_double(st, col);
}

void store_bind_text(sqlite3_stmt *st, int idx, const char *s) {
    if (s) sqlite3_bind_text(st, idx, s, -1, SQLITE_TRANSIENT);
    else sqlite3_bind_null(st, idx);
}

char *store_column_dup(sqlite3_stmt *st, int col) {
    const char *t = (const char *)sqlite3_column_text(st, col);
    return strdup(t ? t : "");
}

static int is_busy(int rc) {
    rc &= 0xff;
    return rc == SQLITE_BUSY || rc == SQLITE_LOCKED;
}

static void sleep_ms(double ms) {
    struct timespec ts = {(time_t)(ms / 1000), (long)(fmod(ms, 1000) * 1e6)};
    nanosleep(&ts, NULL);
}

/* --------------------------------------------------------- transactions */

/* Runs sql (BEGIN IMMEDIATE / COMMIT / a pragma) until it is not busy. */
static int exec_retrying(store *s, const char *sql, char *err, size_t errlen) {
    double t0 = util_monotonic(), pause = 1;
    for (;;) {
        int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
        if (rc == SQLITE_OK) return 0;
        if (!is_busy(rc) || util_monotonic() - t0 > WRITE_DEADLINE_S)
            return store_db_err(s, sql, err, errlen);
        sleep_ms(pause);
        pause = pause < 50 ? pause * 2 : 50;
    }
}

int store_tx_write(store *s, store_tx_body body, void *ctx, char *err, size_t errlen) {
    if (exec_retrying(s, "BEGIN IMMEDIATE", err, errlen)) return -1;
    int rc = body(s, ctx, err, errlen);
    if (rc == 0 && exec_retrying(s, "COMMIT", err, errlen) == 0) return 0;
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

/* ------------------------------------------------------------- probing */

typedef struct probe {
    int exists;       /* a non-empty file is there */
    int app_id, version;
    int n_tables, has_ours; /* has_ours: sweeps, runs and metrics all present */
    char tables[256];       /* some table names, for the error message */
    int had_wal, had_shm;   /* PATH-wal, PATH-shm existed before we looked */
} probe;

static int pragma_int(sqlite3 *db, const char *sql, int *out) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) return -1;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) *out = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : -1;
}

static int side_exists(const char *path, const char *suffix) {
    char side[4200];
    snprintf(side, sizeof side, "%s%s", path, suffix);
    return access(side, F_OK) == 0;
}

static long side_size(const char *path, const char *suffix) {
    char side[4200];
    struct stat sb;
    snprintf(side, sizeof side, "%s%s", path, suffix);
    return stat(side, &sb) ? -1 : (long)sb.st_size;
}

/* The folder holding path ("." for a bare name). */
static void parent_dir(const char *path, char *out, size_t outlen) {
    snprintf(out, outlen, "%s", path);
    char *slash = strrchr(out, '/');
    if (!slash) snprintf(out, outlen, ".");
    else if (slash == out) out[1] = 0;
    else *slash = 0;
}

/* Why SQLite could not read (or create) path, in words a user can act on: a
 * folder that is not writable, a full disk, or (only then) a damaged file. */
static int open_failure(const char *path, int sqlite_rc, const char *msg, const char *what, char *err,
                        size_t errlen) {
    char dir[4200];
    parent_dir(path, dir, sizeof dir);
    struct statvfs vfs;
    int primary = sqlite_rc & 0xff;
    /* root may write into the reserved blocks, others stop at f_bavail */
    int full = primary == SQLITE_FULL ||
               (!statvfs(dir, &vfs) && (vfs.f_bfree == 0 || (vfs.f_bavail == 0 && geteuid() != 0)));
    if (full)
        return util_err(err, errlen, "%s: cannot %s store: the disk holding %s is full (%s)", path, what, dir, msg);
    if (access(dir, W_OK) && (primary == SQLITE_CANTOPEN || primary == SQLITE_READONLY || primary == SQLITE_IOERR))
        return util_err(err, errlen,
                        "%s: cannot %s store: its folder %s is not writable, and SQLite needs to create %s-wal "
                        "and %s-shm beside it (%s)",
                        path, what, dir, path, path, msg);
    if (primary == SQLITE_CANTOPEN || primary == SQLITE_READONLY || primary == SQLITE_PERM)
        return util_err(err, errlen, "%s: cannot %s store: %s (check the permissions of the file and its folder)",
                        path, what, msg);
    if (primary == SQLITE_IOERR || primary == SQLITE_NOMEM || primary == SQLITE_BUSY || primary == SQLITE_LOCKED)
        return util_err(err, errlen, "%s: cannot %s store: %s", path, what, msg);
    return util_err(err, errlen, "%s: not a readable SQLite database: %s", path, msg);
}

/* Side files a read-only look created beside a file we then refuse: an empty
 * PATH-wal that was not there before (and its PATH-shm) hold nothing, and leaving
 * them would contradict "the file was not touched". */
static void remove_our_side_files(const char *path, const probe *p) {
    char side[4200];
    if (p->had_wal || side_size(path, "-wal") != 0) return;
    snprintf(side, sizeof side, "%s-wal", path);
    unlink(side);
    if (!p->had_shm) {
        snprintf(side, sizeof side, "%s-shm", path);
        unlink(side);
    }
}

/* Big-endian 32-bit field of the SQLite file header. */
static int header_int(const unsigned char *h, int off) {
    return (int)((uint32_t)h[off] << 24 | (uint32_t)h[off + 1] << 16 | (uint32_t)h[off + 2] << 8 | h[off + 3]);
}

/* Opens path read-only for the probe. Without a PATH-wal the file itself is
 * complete, and a file we will refuse anyway is opened immutable (no locks, no
 * side files at all). */
static int open_ro(const char *path, int immutable, sqlite3 **db) {
    if (!immutable) return sqlite3_open_v2(path, db, SQLITE_OPEN_READONLY, NULL);
    char *uri = sqlite3_mprintf("file:%s?mode=ro&immutable=1", path);
    /* a path with URI specials (?, #, %) is opened the plain way */
    int rc = uri && !strpbrk(path, "?#%") ? sqlite3_open_v2(uri, db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL)
                                          : sqlite3_open_v2(path, db, SQLITE_OPEN_READONLY, NULL);
    sqlite3_free(uri);
    return rc;
}

/* Reads what the file is without writing to it (not even a journal). With check,
 * also PRAGMA quick_check. */
static int probe_file(const char *path, probe *p, int check, int immutable_ok, char *err, size_t errlen) {
    memset(p, 0, sizeof *p);
    struct stat sb;
    if (stat(path, &sb)) {
        if (errno == ENOENT) return 0;
        return util_err(err, errlen, "%s: cannot open store: %s", path, strerror(errno));
    }
    if (S_ISDIR(sb.st_mode)) return util_err(err, errlen, "%s: cannot open store: is a directory", path);
    if (sb.st_size == 0) return 0;
    p->exists = 1;
    p->had_wal = side_exists(path, "-wal");
    p->had_shm = side_exists(path, "-shm");
    FILE *f = fopen(path, "rb");
    if (!f) return util_err(err, errlen, "%s: cannot open store: %s", path, strerror(errno));
    unsigned char head[100] = {0};
    size_t got = fread(head, 1, sizeof head, f);
    fclose(f);
    if (got < 16 || memcmp(head, "SQLite format 3", 16))
        return util_err(err, errlen, "%s: not a SQLite database (refusing to touch it)", path);
    /* Without a WAL file the header is the truth: a file we refuse by its header
     * is looked into immutable, so not even a -shm appears beside it. */
    int refuse_by_header = 0;
    if (!p->had_wal && got == sizeof head) {
        int app_id = header_int(head, 68), version = header_int(head, 60);
        refuse_by_header = (app_id != 0 && app_id != STORE_APPLICATION_ID) || version > STORE_SCHEMA_VERSION;
    }
    int immutable = !p->had_wal && (refuse_by_header || immutable_ok);

    sqlite3 *db = NULL;
    int rc = open_ro(path, immutable, &db);
    if (rc == SQLITE_OK) sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
    /* One read transaction for every read below: another process may be creating
     * the store right now, and the id, the version and the tables must come from
     * the same snapshot (else: tables seen, id not yet, "another program's file"). */
    if (rc == SQLITE_OK) rc = sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
    if (rc != SQLITE_OK || pragma_int(db, "PRAGMA application_id", &p->app_id) ||
        pragma_int(db, "PRAGMA user_version", &p->version)) {
        int code = db ? sqlite3_extended_errcode(db) : SQLITE_NOMEM;
        open_failure(path, code, db ? sqlite3_errmsg(db) : "out of memory", "open", err, errlen);
        sqlite3_close(db);
        remove_our_side_files(path, p);
        return -1;
    }
    sqlite3_stmt *st;
    rc = sqlite3_prepare_v2(db, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name", -1, &st,
                            NULL);
    int ours = 0;
    while (rc == SQLITE_OK || rc == SQLITE_ROW) {
        if ((rc = sqlite3_step(st)) != SQLITE_ROW) break;
        const char *name = (const char *)sqlite3_column_text(st, 0);
        p->n_tables++;
        ours += !strcmp(name, "sweeps") + !strcmp(name, "runs") + !strcmp(name, "metrics");
        size_t used = strlen(p->tables);
        if (used + strlen(name) + 3 < sizeof p->tables)
            snprintf(p->tables + used, sizeof p->tables - used, "%s%s", used ? ", " : "", name);
    }
    if (rc != SQLITE_DONE) {
        util_err(err, errlen, "%s: not a readable SQLite database: %s", path, sqlite3_errmsg(db));
        sqlite3_finalize(st);
        sqlite3_close(db);
        remove_our_side_files(path, p);
        return -1;
    }
    sqlite3_finalize(st);
    int bad = 0;
    if (check) { /* quick_check: every page and index readable and well formed (no full index compare) */
        char first[512] = "";
        rc = sqlite3_prepare_v2(db, "PRAGMA quick_check(5)", -1, &st, NULL);
        while (rc == SQLITE_OK || rc == SQLITE_ROW) {
            if ((rc = sqlite3_step(st)) != SQLITE_ROW) break;
            const char *msg = (const char *)sqlite3_column_text(st, 0);
            if (msg && strcmp(msg, "ok") && !*first) { /* its first complaint, on one line */
                const char *skip = "*** in database main ***\n";
                if (!strncmp(msg, skip, strlen(skip))) msg += strlen(skip);
                snprintf(first, sizeof first, "%.*s", (int)strcspn(msg, "\n"), msg);
            }
        }
        if (rc != SQLITE_DONE && !*first) snprintf(first, sizeof first, "%s", sqlite3_errmsg(db));
        sqlite3_finalize(st);
        if (*first) {
            bad = 1;
            util_err(err, errlen,
                     "%s: the store failed SQLite's integrity check (%s); refusing to write to it (the file was "
                     "not touched): restore it from a backup, or salvage it with `sqlite3 %s .recover`",
                     path, first, path);
        }
    }
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    sqlite3_close(db);
    p->has_ours = ours == 3;
    if (bad) remove_our_side_files(path, p);
    return bad ? -1 : 0;
}

/* The refusals of DESIGN section 5, decided from the probe alone. */
static int probe_check(const char *path, const probe *p, char *err, size_t errlen) {
    if (!p->exists) return 0;
    if (p->app_id != STORE_APPLICATION_ID) {
        int empty = p->app_id == 0 && p->n_tables == 0 && p->version == 0;
        /* An id of 0 with our tables: a store made by hand (sqlite3 CLI) or
         * copied through a tool that dropped the header field. */
        int ours_by_tables = p->app_id == 0 && p->has_ours && p->version >= 1;
        if (!empty && !ours_by_tables)
            return util_err(err, errlen,
                            "%s: not a scalelab store: SQLite file of another program "
                            "(application_id 0x%08x, tables: %s); refusing to touch it",
                            path, (unsigned)p->app_id, p->n_tables ? p->tables : "none");
    }
    if (p->version > STORE_SCHEMA_VERSION)
        return util_err(err, errlen,
                        "%s: store schema version %d is newer than this scalelab knows (%d); "
                        "upgrade scalelab (the file was not touched)",
                        path, p->version, STORE_SCHEMA_VERSION);
    return 0;
}

/* ------------------------------------------------------------ migrating */

static int migrate_body(store *s, void *ctx, char *err, size_t errlen) {
    int *from = ctx, version = 0, app_id = 0;
    if (pragma_int(s->db, "PRAGMA user_version", &version) ||
        pragma_int(s->db, "PRAGMA application_id", &app_id))
        return store_db_err(s, "reading schema version", err, errlen);
    /* Another process may have created or upgraded it since the probe. */
    if (version > STORE_SCHEMA_VERSION)
        return util_err(err, errlen, "%s: store schema version %d is newer than this scalelab knows (%d)",
                        s->path, version, STORE_SCHEMA_VERSION);
    if (app_id != 0 && app_id != STORE_APPLICATION_ID)
        return util_err(err, errlen, "%s: not a scalelab store (application_id 0x%08x)", s->path,
                        (unsigned)app_id);
    *from = version;
    for (int v = version; v < STORE_SCHEMA_VERSION; v++) {
        if (sqlite3_exec(s->db, migrations[v], NULL, NULL, NULL) != SQLITE_OK) {
            char what[64];
            snprintf(what, sizeof what, "migration from schema version %d to %d", v, v + 1);
            return store_db_err(s, what, err, errlen);
        }
    }
    char sql[96];
    snprintf(sql, sizeof sql, "PRAGMA user_version = %d; PRAGMA application_id = %d", STORE_SCHEMA_VERSION,
             STORE_APPLICATION_ID);
    return store_exec(s, sql, err, errlen);
}

/* meta.store_id into s->id ("" before v4, which a read-only open may meet). */
static void read_store_id(store *s) {
    sqlite3_stmt *st;
    s->id[0] = 0;
    if (sqlite3_prepare_v2(s->db, "SELECT value FROM meta WHERE key = 'store_id'", -1, &st, NULL) != SQLITE_OK)
        return;
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
        snprintf(s->id, sizeof s->id, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
}

/* True when this process cannot write the store's file or create files beside it. */
static int cannot_write(const char *path) {
    char dir[4200];
    parent_dir(path, dir, sizeof dir);
    return access(dir, W_OK) != 0 || (access(path, F_OK) == 0 && access(path, W_OK) != 0);
}

int store_open_flags(const char *path, int flags, store **out, char *err, size_t errlen) {
    *out = NULL;
    if (!path || !*path) return util_err(err, errlen, "store path is empty");
    /* Read-only use of a store we cannot write (a read-only folder or file): no WAL
     * switch, no migration, no side files when the file is complete on its own. */
    int ro = (flags & STORE_OPEN_READONLY) && access(path, F_OK) == 0 && cannot_write(path);
    probe p;
    if (probe_file(path, &p, flags & STORE_OPEN_CHECK, ro, err, errlen)) return -1;
    if (probe_check(path, &p, err, errlen)) {
        remove_our_side_files(path, &p);
        return -1;
    }
    if (ro && p.exists && p.version < STORE_SCHEMA_VERSION)
        return util_err(err, errlen,
                        "%s: store schema version %d is older than this scalelab's (%d) and the store cannot be "
                        "written here to upgrade it; run `scalelab init --db %s` where it can",
                        path, p.version, STORE_SCHEMA_VERSION, path);

    store *s = calloc(1, sizeof *s);
    if (!s || !(s->path = strdup(path))) {
        free(s);
        return util_err(err, errlen, "%s: out of memory", path);
    }
    if (ro) {
        int rc = open_ro(path, !p.had_wal, &s->db);
        if (rc != SQLITE_OK) {
            open_failure(path, rc, s->db ? sqlite3_errmsg(s->db) : "out of memory", "open", err, errlen);
            store_close(s);
            return -1;
        }
        sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
        s->readonly = 1;
        s->initial_version = p.version;
        read_store_id(s);
        *out = s;
        return 0;
    }
    int rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc != SQLITE_OK) {
        open_failure(path, rc, s->db ? sqlite3_errmsg(s->db) : "out of memory", p.exists ? "open" : "create", err,
                     errlen);
        store_close(s);
        return -1;
    }
    sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
    /* WAL: readers never block the writer; NORMAL sync is durable across
     * process crashes (only a power loss may drop the last commits). */
    char werr[1024];
    if (exec_retrying(s, "PRAGMA journal_mode = WAL", werr, sizeof werr) ||
        store_exec(s, "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON", werr, sizeof werr)) {
        open_failure(path, sqlite3_extended_errcode(s->db), sqlite3_errmsg(s->db), p.exists ? "open" : "create",
                     err, errlen);
        store_close(s);
        return -1;
    }
    int journal = 0;
    sqlite3_stmt *st;
    if (store_prepare(s, "PRAGMA journal_mode", &st, err, errlen) == 0) {
        journal = sqlite3_step(st) == SQLITE_ROW && !strcmp((const char *)sqlite3_column_text(st, 0), "wal");
        sqlite3_finalize(st);
    }
    if (!journal) {
        util_err(err, errlen, "%s: cannot switch the store to WAL mode (is the filesystem local?)", path);
        store_close(s);
        return -1;
    }
    int needs_write = p.version < STORE_SCHEMA_VERSION || p.app_id != STORE_APPLICATION_ID;
    s->initial_version = p.version;
    if (needs_write && store_tx_write(s, migrate_body, &s->initial_version, werr, sizeof werr)) {
        int code = sqlite3_extended_errcode(s->db) & 0xff;
        if (code == SQLITE_FULL || code == SQLITE_IOERR || code == SQLITE_READONLY || code == SQLITE_CANTOPEN)
            open_failure(path, code, sqlite3_errmsg(s->db), p.exists ? "upgrade" : "create", err, errlen);
        else
            util_err(err, errlen, "%s", werr);
        store_close(s);
        return -1;
    }
    read_store_id(s);
    *out = s;
    return 0;
}

int store_open(const char *path, store **out, char *err, size_t errlen) {
    return store_open_flags(path, 0, out, err, errlen);
}

const char *store_id(store *s) { return s->id; }

void store_close(store *s) {
    if (!s) return;
    sqlite3_close(s->db);
    free(s->path);
    free(s);
}

int store_schema_version(store *s) {
    int v = -1;
    pragma_int(s->db, "PRAGMA user_version", &v);
    return v;
}

int store_initial_version(store *s) { return s->initial_version; }

void store_set_fault_hook(store *s, store_fault_hook hook, void *ctx) {
    s->hook = hook;
    s->hook_ctx = ctx;
}

int store_integrity_check(store *s, char *err, size_t errlen) {
    sqlite3_stmt *st;
    if (store_prepare(s, "PRAGMA integrity_check", &st, err, errlen)) return -1;
    int rc = sqlite3_step(st), ok = 0;
    if (rc == SQLITE_ROW) {
        const char *msg = (const char *)sqlite3_column_text(st, 0);
        ok = msg && !strcmp(msg, "ok");
        if (!ok) util_err(err, errlen, "%s: integrity check: %s", s->path, msg ? msg : "(no message)");
    } else {
        store_db_err(s, "integrity check", err, errlen);
    }
    sqlite3_finalize(st);
    return ok ? 0 : -1;
}

int store_stmt_body(store *s, void *vstmt, char *err, size_t errlen) {
    store_stmt *c = vstmt;
    sqlite3_stmt *st;
    if (store_prepare(s, c->sql, &st, err, errlen)) return -1;
    for (int k = 0; k < c->nargs; k++) {
        const store_bound *b = &c->args[k];
        if (b->kind == 'i') sqlite3_bind_int64(st, k + 1, b->i);
        else if (b->kind == 'r') store_bind_real(st, k + 1, b->r);
        else store_bind_text(st, k + 1, b->t);
    }
    int rc, rows = 0;
    c->result = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        if (rows++ == 0) c->result = sqlite3_column_int64(st, 0);
    if (rc != SQLITE_DONE) {
        sqlite3_finalize(st);
        return store_db_err(s, c->what, err, errlen);
    }
    if (sqlite3_column_count(st) == 0) c->result = sqlite3_changes64(s->db);
    sqlite3_finalize(st);
    return 0;
}

int store_run_stmt(store *s, const char *what, const char *sql, const store_bound *args, int nargs,
                   int64_t *result, char *err, size_t errlen) {
    store_stmt c = {sql, args, nargs, 0, what};
    if (store_tx_write(s, store_stmt_body, &c, err, errlen)) return -1;
    if (result) *result = c.result;
    return 0;
}
