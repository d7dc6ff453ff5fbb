/* model/data_shard: reading token shards (DESIGN.md section 8).
 *
 * Layout, little endian, 32-byte header then the body:
 *   0  magic "SLTOKENS"     8 bytes
 *   8  version              uint32 (1)
 *  12  vocabulary size      uint32
 *  16  token width          uint32, bytes per token: 1, 2 or 4
 *  20  reserved             uint32 (0)
 *  24  token count          uint64
 *  32  tokens               count * width bytes, unsigned
 * Documents are separated by MODEL_DATA_DOC_SEP. The file is memory-mapped, so
 * a corpus larger than memory still loads.
 *
 * Split: document i (0-based, empty documents dropped) belongs to validation
 * when i % 20 == 19; when that leaves a split empty and there are >= 2
 * documents, the last document is validation and the rest train. A shard of
 * one document is split by position instead: its last 5% (at least one token)
 * is validation. Each split is the concatenation of its documents, each with
 * the separator that followed it; windows wrap around the end of a split. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/data.h"
#include "model/data_internal.h"
#include "util/util.h"

typedef struct split_index {
    int64_t *start, *cum; /* segment start in the body; tokens before the segment in the split */
    int64_t n_seg, n_docs, n_tokens;
} split_index;

struct data_shard {
    unsigned char *map;
    size_t map_len;
    const unsigned char *body;
    int width;
    int64_t n_tokens;
    split_index split[2];
};

static uint32_t le32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const unsigned char *p) { return le32(p) | (uint64_t)le32(p + 4) << 32; }

static uint32_t token_at(const data_shard *s, int64_t i) {
    const unsigned char *p = s->body + i * s->width;
    return s->width == 1 ? p[0] : s->width == 2 ? (uint32_t)(p[0] | p[1] << 8) : le32(p);
}

static int check_header(const char *path, const unsigned char *h, size_t file_len, int vocab_size,
                        int *width, int64_t *count, char *err, size_t errlen) {
    if (file_len < DATA_HEADER_BYTES || memcmp(h, DATA_MAGIC, 8))
        return util_err(err, errlen, "%s: not a token shard (no SLTOKENS magic number; make one with "
                        "scalelab data prepare)", path);
    uint32_t version = le32(h + 8), vocab = le32(h + 12), w = le32(h + 16);
    uint64_t n = le64(h + 24);
    if (version != DATA_VERSION)
        return util_err(err, errlen, "%s: shard format version %" PRIu32 ", this build reads version %d", path,
                        version, DATA_VERSION);
    if (w != 1 && w != 2 && w != 4)
        return util_err(err, errlen, "%s: token width %" PRIu32 " bytes (expected 1, 2 or 4)", path, w);
    if ((int64_t)vocab != vocab_size)
        return util_err(err, errlen, "%s: vocabulary size %" PRIu32 " in the shard, but model.vocab_size is %d",
                        path, vocab, vocab_size);
    if (w < 4 && vocab > (1u << (8 * w)))
        return util_err(err, errlen, "%s: vocabulary %" PRIu32 " does not fit %" PRIu32 "-byte tokens", path, vocab, w);
    uint64_t body = file_len - DATA_HEADER_BYTES;
    if (n > body / w || n * w != body)
        return util_err(err, errlen, "%s: %s: the header says %" PRIu64 " tokens (%" PRIu64 " bytes), the body "
                        "has %" PRIu64 " bytes", path, n * w > body ? "truncated" : "trailing bytes", n,
                        n * (uint64_t)w, body);
    if (n == 0) return util_err(err, errlen, "%s: the shard holds no tokens", path);
    *width = (int)w;
    *count = (int64_t)n;
    return 0;
}

static int add_segment(split_index *x, int64_t start, int64_t len) {
    if (x->n_seg % 1024 == 0) {
        int64_t *a = realloc(x->start, (size_t)(x->n_seg + 1024) * sizeof *a);
        if (!a) return -1;
        x->start = a;
        int64_t *b = realloc(x->cum, (size_t)(x->n_seg + 1025) * sizeof *b);
        if (!b) return -1;
        x->cum = b;
        if (x->n_seg == 0) x->cum[0] = 0;
    }
    x->start[x->n_seg] = start;
    x->cum[x->n_seg + 1] = x->cum[x->n_seg] + len;
    x->n_seg++;
    x->n_tokens += len;
    return 0;
}

/* Documents as (start, length incl. the following separator), in order. */
static int build_splits(data_shard *s, const char *path, uint32_t vocab, char *err, size_t errlen) {
    int64_t n_docs = 0, doc_start = 0;
    int64_t last_start = -1, last_len = 0;
    for (int64_t i = 0; i <= s->n_tokens; i++) {
        uint32_t t = i < s->n_tokens ? token_at(s, i) : MODEL_DATA_DOC_SEP;
        if (t >= vocab)
            return util_err(err, errlen, "%s: token %" PRId64 " is %" PRIu32 ", outside the vocabulary of %" PRIu32,
                            path, i, t, vocab);
        if (t != MODEL_DATA_DOC_SEP) continue;
        if (i > doc_start) { /* a non-empty document [doc_start, i) */
            int64_t len = (i < s->n_tokens ? i + 1 : i) - doc_start;
            int split = n_docs % 20 == 19 ? MODEL_SPLIT_VALID : MODEL_SPLIT_TRAIN;
            if (add_segment(&s->split[split], doc_start, len)) return util_err(err, errlen, "out of memory");
            s->split[split].n_docs++;
            last_start = doc_start, last_len = len;
            n_docs++;
        }
        doc_start = i + 1;
    }
    if (n_docs == 0) return util_err(err, errlen, "%s: the shard holds only document separators", path);
    split_index *tr = &s->split[MODEL_SPLIT_TRAIN], *va = &s->split[MODEL_SPLIT_VALID];
    if (n_docs >= 2 && va->n_docs == 0) {
        /* Fewer than 20 documents: the last one (the end of train) moves to validation. */
        tr->n_seg--, tr->n_docs--, tr->n_tokens -= last_len;
        if (add_segment(va, last_start, last_len)) return util_err(err, errlen, "out of memory");
        va->n_docs = 1;
    } else if (n_docs == 1) {
        int64_t n_valid = last_len / 20 ? last_len / 20 : 1;
        if (last_len < 2) return util_err(err, errlen, "%s: one document of one token cannot be split", path);
        tr->n_seg = 0, tr->n_tokens = 0;
        if (add_segment(tr, last_start, last_len - n_valid) ||
            add_segment(va, last_start + last_len - n_valid, n_valid))
            return util_err(err, errlen, "out of memory");
        va->n_docs = 1;
    }
    return 0;
}

int model_data_shard_open(const char *path, int vocab_size, data_shard **out, char *err, size_t errlen) {
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return util_err(err, errlen, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
        close(fd);
        return util_err(err, errlen, "%s: not a regular file", path);
    }
    data_shard *s = calloc(1, sizeof *s);
    if (!s) {
        close(fd);
        return util_err(err, errlen, "out of memory");
    }
    s->map_len = (size_t)st.st_size;
    if (s->map_len) {
        s->map = mmap(NULL, s->map_len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (s->map == MAP_FAILED) {
            s->map = NULL;
            close(fd);
            free(s);
            return util_err(err, errlen, "%s: mmap: %s", path, strerror(errno));
        }
    }
    close(fd);
    static const unsigned char empty[DATA_HEADER_BYTES];
    if (check_header(path, s->map ? s->map : empty, s->map_len, vocab_size, &s->width, &s->n_tokens, err, errlen) ||
        (s->body = s->map + DATA_HEADER_BYTES, build_splits(s, path, (uint32_t)vocab_size, err, errlen))) {
        model_data_shard_close(s);
        return -1;
    }
    *out = s;
    return 0;
}

void model_data_shard_close(data_shard *s) {
    if (!s) return;
    for (int i = 0; i < 2; i++) {
        free(s->split[i].start);
        free(s->split[i].cum);
    }
    if (s->map) munmap(s->map, s->map_len);
    free(s);
}

int64_t model_data_shard_documents(const data_shard *s, int split) { return s->split[split].n_docs; }

int64_t model_data_shard_tokens(const data_shard *s, int split) { return s->split[split].n_tokens; }

void model_data_shard_window(const data_shard *s, int split, data_rng *r, int32_t *tokens, int n) {
    const split_index *x = &s->split[split];
    int64_t pos = (int64_t)model_data_rng_below(r, (uint64_t)x->n_tokens);
    /* The segment holding pos: the last with cum <= pos. */
    int64_t lo = 0, hi = x->n_seg - 1;
    while (lo < hi) {
        int64_t mid = (lo + hi + 1) / 2;
        if (x->cum[mid] <= pos) lo = mid;
        else hi = mid - 1;
    }
    int64_t seg = lo, off = pos - x->cum[seg];
    for (int i = 0; i < n; i++) {
        tokens[i] = (int32_t)token_at(s, x->start[seg] + off);
        if (++off == x->cum[seg + 1] - x->cum[seg]) {
            off = 0;
            seg = (seg + 1) % x->n_seg;
        }
    }
}
