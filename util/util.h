/* util: small helpers every module may use (errors, growable text buffers,
 * JSON/CSV output, hashing, files). Depends on nothing but libc.
 *
 * Error convention used across scalelab (GSL-like, one voice):
 *   int module_verb(..., char *err, size_t errlen);
 * returns 0 on success and a non-zero code on failure, after writing a
 * one-line, human-readable reason into err (never NULL-terminated garbage:
 * err may be NULL/0 when the caller does not care).
 *
 * Out of memory is such a failure, in every module: a function whose malloc,
 * calloc, realloc or strdup fails frees what it allocated so far, writes a reason
 * that says "out of memory" (with the place, where that helps) and returns
 * non-zero; it never calls abort() or exit(). A helper that cannot take err
 * returns NULL or non-zero and its caller writes the message. CUDA is the one
 * exception: a failing CUDA call reports file and line and exits (kernels.h). */
#ifndef SCALELAB_UTIL_H
#define SCALELAB_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Formats into err and returns -1, so callers can `return util_err(...)`. */
int util_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Growable NUL-terminated byte buffer. Zero-initialise, free with util_buf_free. */
typedef struct util_buf {
    char *data;
    size_t len, cap;
} util_buf;

void util_buf_free(util_buf *b);
void util_buf_reset(util_buf *b);
int util_buf_append(util_buf *b, const char *s, size_t n);
int util_buf_puts(util_buf *b, const char *s);
int util_buf_printf(util_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A JSON string literal with escapes, quotes included. NULL writes null. */
int util_buf_json_str(util_buf *b, const char *s);
/* A JSON number; NaN and infinities (not representable in JSON) write null.
 * Uses %.17g so a double survives the round trip exactly. */
int util_buf_json_num(util_buf *b, double x);
/* One RFC 4180 CSV field: quoted when it holds a comma, quote, CR or LF. */
int util_buf_csv_field(util_buf *b, const char *s);

/* Levenshtein distance of two names (the second is read up to 255 characters). */
size_t util_edit_distance(const char *a, const char *b);
/* The name of names[0..n) nearest to name, or NULL when none is near enough to be a
 * likely typo (edit distance above a third of name's length): for "did you mean". */
const char *util_closest(const char *name, const char *const *names, size_t n);

/* FNV-1a, 64 bit. Used for config hashes (16 hex digits). */
uint64_t util_hash64(const void *data, size_t n);

/* Wall-clock seconds since the Unix epoch, and a monotonic clock for timing. */
double util_now(void);
double util_monotonic(void);
/* For settings a library reads only when it is loaded (OMP_WAIT_POLICY): when the
 * environment lacks NAME, sets NAME=VALUE and replaces the process with a fresh
 * run of the same program (/proc/self/exe) and argv (same PID). Returns only when
 * NAME was already set or the exec failed (the program then runs on as it is). */
void util_reexec_with_env(char **argv, const char *name, const char *value);

/* mkdir -p. */
int util_mkdir_p(const char *path, char *err, size_t errlen);
/* Reads a whole file; *data is malloc'd and NUL-terminated; caller frees. */
int util_read_file(const char *path, char **data, size_t *len, char *err, size_t errlen);
/* Writes path atomically: a temporary file in the same folder, fsync, rename,
 * fsync of the folder. A crash leaves either the old or the new file. */
int util_write_file_atomic(const char *path, const void *data, size_t len,
                           char *err, size_t errlen);

/* ---- expressions (util/expr.c) --------------------------------------------
 * The one small expression language of scalelab: sweep specs' derived values and
 * constraints, fit's --derive and --where. Numbers, strings in quotes, references
 * (${any key}, [any key] or a bare dotted.key), + - * / // % ** (Python
 * semantics: // floors, % takes the divisor's sign, ** binds tighter than unary
 * minus and to the right), unary minus, parentheses, min(...), max(...),
 * log(x) (natural), exp(x), == != < <= > >=, and/or/not (short circuit), true/false.
 * Nothing is ever passed to a shell. */
enum { UTIL_EXPR_MAX_DEPTH = 48 }; /* nesting of one expression (each level is a C stack frame) */

/* A value: a number, or a string (not NUL-terminated: s, len). */
typedef struct util_value {
    int is_str;
    double num;
    const char *s;
    size_t len;
} util_value;

/* Looks a key up; returns 0 with *out filled, or non-zero with err. The strings it
 * returns must live until util_expr_eval returns. */
typedef int (*util_expr_lookup_fn)(void *ctx, const char *key, util_value *out, char *err, size_t errlen);

/* Evaluates expr. On an error, err says what and *err_col (when not NULL) is the
 * 0-based column of expr where it happened. */
int util_expr_eval(const char *expr, util_expr_lookup_fn lookup, void *ctx, util_value *out,
                   size_t *err_col, char *err, size_t errlen);
/* Checks expr's syntax only (no lookups, no arithmetic): the errors util_expr_eval would
 * give for any values of its references. */
int util_expr_check(const char *expr, size_t *err_col, char *err, size_t errlen);
/* Text form of a value: an integral number without a fraction ("4"), others %.17g;
 * a string as is. out must hold 64 bytes for numbers; strings are copied up to outlen. */
void util_value_format(const util_value *v, char *out, size_t outlen);
/* True when text is a sweep-spec expression (holds "${"). */
int util_expr_marked(const char *text);

#endif
