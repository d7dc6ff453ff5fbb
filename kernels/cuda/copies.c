/* The kept copies' bookkeeping (copies.h). */
#include "kernels/cuda/copies.h"

int kcu_copies_find(const kcu_copies *t, const void *src, long long rows, long long cols) {
    for (int i = 0; i < KCU_COPIES; i++) {
        const kcu_copy *c = &t->slot[i];
        if (c->src && c->src == src && c->rows == rows && c->cols == cols) return i;
    }
    return -1;
}

void kcu_copies_touch(kcu_copies *t, int i) { t->slot[i].used = ++t->clock; }

void kcu_copies_set(kcu_copies *t, int i, const void *src, long long rows, long long cols) {
    kcu_copy *c = &t->slot[i];
    c->src = src, c->rows = rows, c->cols = cols;
    kcu_copies_touch(t, i);
}

void kcu_copies_forget(kcu_copies *t) {
    for (int i = 0; i < KCU_COPIES; i++) t->slot[i].src = NULL;
}

void kcu_copies_written(kcu_copies *t, const void *p, size_t bytes) {
    const char *lo = p, *hi = lo + bytes;
    for (int i = 0; i < KCU_COPIES; i++) {
        kcu_copy *c = &t->slot[i];
        const char *s = c->src;
        if (s && s < hi && lo < s + (size_t)(c->rows * c->cols) * sizeof(float)) c->src = NULL;
    }
}

void kcu_copies_check(kcu_copies *t, unsigned long long now) {
    if (now != t->calls) kcu_copies_forget(t);
}

void kcu_copies_account(kcu_copies *t, unsigned long long now) { t->calls = now; }

void kcu_copies_op_wrote(kcu_copies *t, unsigned long long before, unsigned long long now, const kcu_span *w, int n) {
    kcu_copies_check(t, before);
    for (int i = 0; i < n; i++)
        if (w[i].p && w[i].bytes) kcu_copies_written(t, w[i].p, w[i].bytes);
    kcu_copies_account(t, now);
}

/* Lower is better: 0 empty with room, 1 empty without a buffer, 2 a copy with room, 3 empty
 * with a buffer to grow, 4 a copy with a buffer to grow. */
static int rank_of(const kcu_copy *c, size_t bytes) {
    if (c->cap >= bytes) return c->src ? 2 : 0;
    if (!c->src) return c->buf ? 3 : 1;
    return 4;
}

int kcu_copies_claim(kcu_copies *t, size_t bytes, int keep, int *grow, int *release, int *n_release) {
    int best = -1, best_rank = 0;
    for (int i = 0; i < KCU_COPIES; i++) {
        if (i == keep) continue;
        const kcu_copy *c = &t->slot[i];
        int r = rank_of(c, bytes), better = best < 0 || r < best_rank;
        if (!better && r == best_rank) {
            const kcu_copy *b = &t->slot[best];
            better = r == 0 ? c->cap < b->cap : c->used < b->used; /* best fit; else least recent */
        }
        if (better) best = i, best_rank = r;
    }
    kcu_copy *c = &t->slot[best];
    c->src = NULL;
    *n_release = 0;
    *grow = c->cap < bytes;
    if (!*grow) return best;
    /* Past the budget, free the least recently used other buffers, empty ones first. */
    size_t kept = t->kept_bytes - c->cap;
    while (kept + bytes > t->budget) {
        int lru = -1;
        for (int i = 0; i < KCU_COPIES; i++) {
            const kcu_copy *x = &t->slot[i];
            if (i == keep || i == best || !x->buf) continue;
            int listed = 0;
            for (int j = 0; j < *n_release && !listed; j++) listed = release[j] == i;
            if (listed) continue;
            if (lru < 0) {
                lru = i;
                continue;
            }
            const kcu_copy *l = &t->slot[lru];
            if ((!x->src && l->src) || (!x->src == !l->src && x->used < l->used)) lru = i;
        }
        if (lru < 0) break;
        release[(*n_release)++] = lru;
        kept -= t->slot[lru].cap;
    }
    return best;
}

void kcu_copies_freed(kcu_copies *t, int i) {
    kcu_copy *c = &t->slot[i];
    t->kept_bytes -= c->cap;
    c->buf = NULL, c->cap = 0, c->src = NULL;
}

void kcu_copies_grown(kcu_copies *t, int i, void *buf, size_t bytes) {
    kcu_copy *c = &t->slot[i];
    c->buf = buf, c->cap = bytes;
    t->kept_bytes += bytes;
}

/* Whether r's c (its rows x cols floats) overlaps [lo, hi). */
static int overlaps(const kcu_record *r, const char *lo, const char *hi) {
    const char *c = r->c;
    return c && c < hi && lo < c + (size_t)(r->rows * r->cols) * sizeof(float);
}

void kcu_records_written(kcu_records *t, const void *p, size_t bytes) {
    const char *lo = p, *hi = lo + bytes;
    for (int i = 0; i < KCU_RECORDS; i++)
        if (overlaps(&t->r[i], lo, hi)) t->r[i].c = NULL;
}

int kcu_records_find(const kcu_records *t, const void *src, long long rows, long long cols) {
    const char *lo = src, *hi = lo + (size_t)(rows * cols) * sizeof(float);
    for (int i = 0; i < KCU_RECORDS; i++) {
        const kcu_record *r = &t->r[i];
        if (!overlaps(r, lo, hi)) continue;
        return r->c == src && r->rows == rows && r->cols == cols ? i : -2;
    }
    return -1;
}

int kcu_records_add(kcu_records *t, const void *c, long long rows, long long cols) {
    for (int i = 0; i < KCU_RECORDS; i++)
        if (!t->r[i].c) {
            t->r[i] = (kcu_record){c, rows, cols};
            return 0;
        }
    return -1;
}
