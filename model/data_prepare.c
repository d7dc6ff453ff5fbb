/* model/data_prepare: `scalelab data prepare`, byte-level shards from text.
 *
 * Paths are walked depth-first with the entries of every folder sorted by
 * byte order (strcmp, not the locale), so the same tree gives the same shard
 * on any machine. Symbolic links and special files are skipped (no cycles, no
 * devices). One file is one document; its bytes 1..255 are its tokens and
 * documents are separated by token 0. A file is skipped as binary when it holds
 * a NUL byte or more than 1% of its bytes are not valid UTF-8 (so a Latin-1
 * comment does not lose a C file, but an image does); empty files are skipped
 * too. The shard is streamed to a temporary file beside the output and renamed
 * over it at the end, so a crash or error leaves the old output (or none). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/data.h"
#include "model/data_internal.h"
#include "util/util.h"

typedef struct prepare {
    FILE *out;
    const char *out_path;
    dev_t tmp_dev;
    ino_t tmp_ino;
    model_data_prepare_stats *stats;
    char *err;
    size_t errlen;
} prepare;

/* Bytes that are not part of a well-formed UTF-8 sequence. */
static size_t invalid_utf8(const unsigned char *s, size_t n) {
    size_t bad = 0;
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        size_t ok = len && i + len <= n;
        for (size_t j = 1; ok && j < len; j++) ok = (s[i + j] & 0xc0) == 0x80;
        if (ok) i += len;
        else bad++, i++;
    }
    return bad;
}

static int is_text(const unsigned char *s, size_t n) {
    if (memchr(s, 0, n)) return 0;
    return invalid_utf8(s, n) * 100 <= n;
}

static int add_file(prepare *p, const char *path) {
    char *data;
    size_t len;
    if (util_read_file(path, &data, &len, p->err, p->errlen)) return -1;
    if (!len || !is_text((const unsigned char *)data, len)) {
        p->stats->files_skipped++;
        free(data);
        return 0;
    }
    int rc = 0;
    if (p->stats->documents > 0 && fputc(MODEL_DATA_DOC_SEP, p->out) == EOF) rc = -1;
    if (!rc && fwrite(data, 1, len, p->out) != len) rc = -1;
    free(data);
    if (rc) return util_err(p->err, p->errlen, "%s: write: %s", p->out_path, strerror(errno));
    p->stats->files_read++;
    p->stats->documents++;
    p->stats->bytes += (int64_t)len;
    return 0;
}

static int by_name(const struct dirent **a, const struct dirent **b) { return strcmp((*a)->d_name, (*b)->d_name); }

static int skip_dots(const struct dirent *e) { return strcmp(e->d_name, ".") && strcmp(e->d_name, ".."); }

static int walk(prepare *p, const char *path, int top) {
    struct stat st;
    if (lstat(path, &st)) return util_err(p->err, p->errlen, "%s: %s", path, strerror(errno));
    /* A named top-level link is what the user asked for: follow it. */
    if (top && S_ISLNK(st.st_mode) && stat(path, &st))
        return util_err(p->err, p->errlen, "%s: %s", path, strerror(errno));
    if (st.st_dev == p->tmp_dev && st.st_ino == p->tmp_ino) return 0; /* our own output */
    if (S_ISREG(st.st_mode)) return add_file(p, path);
    if (!S_ISDIR(st.st_mode)) {
        p->stats->files_skipped++;
        return 0;
    }
    struct dirent **entries;
    int n = scandir(path, &entries, skip_dots, by_name);
    if (n < 0) return util_err(p->err, p->errlen, "%s: %s", path, strerror(errno));
    int rc = 0;
    for (int i = 0; i < n; i++) {
        if (!rc) {
            util_buf child = {0};
            size_t plen = strlen(path);
            int slash = plen && path[plen - 1] == '/';
            if (util_buf_printf(&child, "%s%s%s", path, slash ? "" : "/", entries[i]->d_name))
                rc = util_err(p->err, p->errlen, "out of memory");
            else
                rc = walk(p, child.data, 0);
            util_buf_free(&child);
        }
        free(entries[i]);
    }
    free(entries);
    return rc;
}

static void put_le32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static int write_header(FILE *f, uint64_t count) {
    unsigned char h[DATA_HEADER_BYTES] = {0};
    memcpy(h, DATA_MAGIC, 8);
    put_le32(h + 8, DATA_VERSION);
    put_le32(h + 12, 256);
    put_le32(h + 16, 1);
    put_le32(h + 24, (uint32_t)count);
    put_le32(h + 28, (uint32_t)(count >> 32));
    return fseek(f, 0, SEEK_SET) || fwrite(h, 1, sizeof h, f) != sizeof h ? -1 : 0;
}

static int finish(prepare *p, const char *tmp) {
    uint64_t count = (uint64_t)(p->stats->bytes + (p->stats->documents ? p->stats->documents - 1 : 0));
    int fd = fileno(p->out);
    if (write_header(p->out, count) || fflush(p->out) || fchmod(fd, 0644) || fsync(fd))
        return util_err(p->err, p->errlen, "%s: write: %s", p->out_path, strerror(errno));
    if (fclose(p->out)) {
        p->out = NULL;
        return util_err(p->err, p->errlen, "%s: close: %s", p->out_path, strerror(errno));
    }
    p->out = NULL;
    if (rename(tmp, p->out_path)) return util_err(p->err, p->errlen, "%s: rename: %s", p->out_path, strerror(errno));
    /* The rename is durable once the folder is synced. */
    char *copy = strdup(p->out_path);
    int dfd = copy ? open(dirname(copy), O_RDONLY | O_DIRECTORY) : -1;
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    free(copy);
    return 0;
}

int model_data_prepare(const char *const *paths, size_t n_paths, const char *out_path,
                       model_data_prepare_stats *stats, char *err, size_t errlen) {
    memset(stats, 0, sizeof *stats);
    if (n_paths == 0) return util_err(err, errlen, "no input paths (--from PATH)");
    util_buf tmp = {0};
    if (util_buf_printf(&tmp, "%s.tmp.XXXXXX", out_path)) return util_err(err, errlen, "out of memory");
    int fd = mkstemp(tmp.data);
    if (fd < 0) {
        util_err(err, errlen, "%s: cannot create a temporary file beside it: %s", out_path, strerror(errno));
        util_buf_free(&tmp);
        return -1;
    }
    prepare p = {.out = fdopen(fd, "wb"), .out_path = out_path, .stats = stats, .err = err, .errlen = errlen};
    struct stat st;
    int rc = 0;
    if (!p.out) {
        rc = util_err(err, errlen, "%s: %s", tmp.data, strerror(errno));
        close(fd);
    } else if (fstat(fd, &st) || write_header(p.out, 0)) {
        rc = util_err(err, errlen, "%s: %s", tmp.data, strerror(errno));
    } else {
        p.tmp_dev = st.st_dev;
        p.tmp_ino = st.st_ino;
    }
    for (size_t i = 0; i < n_paths && !rc; i++) rc = walk(&p, paths[i], 1);
    if (!rc && stats->documents == 0)
        rc = util_err(err, errlen, "no text files among the inputs (%" PRId64 " skipped as binary or empty)",
                      stats->files_skipped);
    if (!rc) rc = finish(&p, tmp.data);
    if (p.out) fclose(p.out);
    if (rc) unlink(tmp.data);
    util_buf_free(&tmp);
    return rc;
}
