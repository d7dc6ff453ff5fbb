#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int util_err(char *err, size_t errlen, const char *fmt, ...) {
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

void util_buf_free(util_buf *b) {
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void util_buf_reset(util_buf *b) {
    b->len = 0;
    if (b->data) b->data[0] = 0;
}

static int buf_reserve(util_buf *b, size_t extra) {
    if (b->len + extra + 1 <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1) cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p) return -1;
    b->data = p;
    b->cap = cap;
    return 0;
}

int util_buf_append(util_buf *b, const char *s, size_t n) {
    if (buf_reserve(b, n)) return -1;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = 0;
    return 0;
}

int util_buf_puts(util_buf *b, const char *s) { return util_buf_append(b, s, strlen(s)); }

int util_buf_printf(util_buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || buf_reserve(b, (size_t)n)) return -1;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

int util_buf_json_str(util_buf *b, const char *s) {
    if (!s) return util_buf_puts(b, "null");
    int rc = util_buf_puts(b, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p && !rc; p++) {
        switch (*p) {
        case '"': rc = util_buf_puts(b, "\\\""); break;
        case '\\': rc = util_buf_puts(b, "\\\\"); break;
        case '\n': rc = util_buf_puts(b, "\\n"); break;
        case '\r': rc = util_buf_puts(b, "\\r"); break;
        case '\t': rc = util_buf_puts(b, "\\t"); break;
        default:
            rc = *p < 0x20 ? util_buf_printf(b, "\\u%04x", *p) : util_buf_append(b, (const char *)p, 1);
        }
    }
    return rc ? rc : util_buf_puts(b, "\"");
}

int util_buf_json_num(util_buf *b, double x) {
    if (!isfinite(x)) return util_buf_puts(b, "null");
    /* Range first: converting a double beyond long long's range is undefined, and
     * training FLOPs reach 1e23. Below 2^53 every integer is exact in a double. */
    if (fabs(x) < 9e15 && x == (double)(long long)x) return util_buf_printf(b, "%lld", (long long)x);
    return util_buf_printf(b, "%.17g", x);
}

int util_buf_csv_field(util_buf *b, const char *s) {
    if (!s) return 0;
    if (!strpbrk(s, ",\"\r\n")) return util_buf_puts(b, s);
    int rc = util_buf_puts(b, "\"");
    for (const char *p = s; *p && !rc; p++)
        rc = *p == '"' ? util_buf_puts(b, "\"\"") : util_buf_append(b, p, 1);
    return rc ? rc : util_buf_puts(b, "\"");
}

uint64_t util_hash64(const void *data, size_t n) {
    const unsigned char *p = data;
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

double util_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double util_monotonic(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int util_mkdir_p(const char *path, char *err, size_t errlen) {
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp)
        return util_err(err, errlen, "%s: path too long", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(tmp, 0755) && errno != EEXIST)
            return util_err(err, errlen, "%s: cannot create folder: %s", tmp, strerror(errno));
        *p = '/';
    }
    if (mkdir(tmp, 0755) && errno != EEXIST)
        return util_err(err, errlen, "%s: cannot create folder: %s", tmp, strerror(errno));
    return 0;
}

int util_read_file(const char *path, char **data, size_t *len, char *err, size_t errlen) {
    FILE *f = fopen(path, "rb");
    if (!f) return util_err(err, errlen, "%s: cannot open: %s", path, strerror(errno));
    util_buf b = {0};
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (util_buf_append(&b, chunk, n)) {
            fclose(f);
            util_buf_free(&b);
            return util_err(err, errlen, "%s: out of memory", path);
        }
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        util_buf_free(&b);
        return util_err(err, errlen, "%s: read error", path);
    }
    if (!b.data && util_buf_append(&b, "", 0)) return util_err(err, errlen, "%s: out of memory", path);
    *data = b.data;
    if (len) *len = b.len;
    return 0;
}

int util_write_file_atomic(const char *path, const void *data, size_t len, char *err, size_t errlen) {
    char tmp[4096], dir[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp)
        return util_err(err, errlen, "%s: path too long", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return util_err(err, errlen, "%s: cannot create: %s", tmp, strerror(errno));
    const char *p = data;
    size_t left = len;
    while (left) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            int e = errno;
            close(fd);
            unlink(tmp);
            return util_err(err, errlen, "%s: write failed: %s", path, strerror(e));
        }
        p += w;
        left -= (size_t)w;
    }
    if (fsync(fd) || close(fd)) {
        unlink(tmp);
        return util_err(err, errlen, "%s: fsync failed: %s", path, strerror(errno));
    }
    if (rename(tmp, path)) {
        int e = errno;
        unlink(tmp);
        return util_err(err, errlen, "%s: rename failed: %s", path, strerror(e));
    }
    snprintf(dir, sizeof dir, "%s", path);
    int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return 0;
}

void util_reexec_with_env(char **argv, const char *name, const char *value) {
    if (getenv(name) || setenv(name, value, 1)) return;
    fflush(NULL);
    execv("/proc/self/exe", argv);
    unsetenv(name); /* exec failed: carry on unchanged */
}

size_t util_edit_distance(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (lb > 255) lb = 255; /* names, not texts: a longer one is far from everything anyway */
    size_t row[256];
    for (size_t j = 0; j <= lb; j++) row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j], best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best) best = up + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            diag = up;
            row[j] = best;
        }
    }
    return row[lb];
}

const char *util_closest(const char *name, const char *const *names, size_t n) {
    const char *best = NULL;
    size_t best_d = (size_t)-1, len = strlen(name);
    for (size_t i = 0; i < n; i++) {
        size_t d = util_edit_distance(name, names[i]);
        if (d < best_d) best_d = d, best = names[i];
    }
    /* A suggestion only when it is plausibly a typo: at most a third of the name changed. */
    return best && best_d <= (len + 2) / 3 ? best : NULL;
}
