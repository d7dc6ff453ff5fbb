/* kernels/cuda/copies: the bookkeeping of the bf16 matmul's kept operand copies (matmul.cu
 * says why it keeps them), and of its records (below): which slot holds the bf16 copy of which
 * source, which copies a write or an unaccounted device call forgets, which slot a new copy takes
 * and which buffers are freed to make room for it. Host arithmetic only, built with or without CUDA: matmul.cu does the
 * device work (rounding, cudaMalloc, cudaFree) as these functions decide, and
 * tests/unit/test_copies.c checks the rules on any machine. The caller owns the table; a
 * zero-filled one is empty, with no budget (set `budget` before the first claim). */
#ifndef SCALELAB_KERNELS_CUDA_COPIES_H
#define SCALELAB_KERNELS_CUDA_COPIES_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

enum { KCU_COPIES = 256 };

/* A range of device memory an op wrote. */
typedef struct kcu_span {
    const void *p;
    size_t bytes;
} kcu_span;

typedef struct kcu_copy {
    const void *src;  /* the source: rows x cols floats, dense; NULL: the slot holds no copy */
    long long rows, cols;
    void *buf;        /* the slot's buffer (device memory, never dereferenced here); NULL: none */
    size_t cap;       /* its bytes */
    long long used;   /* the table's clock when the copy was last made or served */
} kcu_copy;

typedef struct kcu_copies {
    kcu_copy slot[KCU_COPIES];
    size_t kept_bytes;        /* the buffers together */
    size_t budget;            /* their limit */
    unsigned long long calls; /* the device-call count after the last call accounted for */
    long long clock;
} kcu_copies;

/* The slot holding src's copy as a rows x cols operand, or -1. */
int kcu_copies_find(const kcu_copies *t, const void *src, long long rows, long long cols);
/* Slot i's copy serves (or was just made): it becomes the most recently used. */
void kcu_copies_touch(kcu_copies *t, int i);
/* Slot i now holds the copy of src (rows x cols), the most recently used. */
void kcu_copies_set(kcu_copies *t, int i, const void *src, long long rows, long long cols);

/* Every copy forgotten (the buffers stay for new copies). */
void kcu_copies_forget(kcu_copies *t);
/* The copies whose source overlaps [p, p + bytes) forgotten: something wrote there. */
void kcu_copies_written(kcu_copies *t, const void *p, size_t bytes);

/* Device calls (kcu_device_calls, `now`) that nobody accounted for may have written anywhere:
 * check forgets every copy when now differs from the count after the last accounted call;
 * account records now as accounted for (the caller's own calls since the check). */
void kcu_copies_check(kcu_copies *t, unsigned long long now);
void kcu_copies_account(kcu_copies *t, unsigned long long now);
/* An op that declares what it wrote: `before` the count when it began. If a call nobody
 * accounted for came before it, every copy is forgotten; then those of the n ranges w (NULL
 * pointers skipped); then now is accounted for. */
void kcu_copies_op_wrote(kcu_copies *t, unsigned long long before, unsigned long long now, const kcu_span *w, int n);

/* The slot a new copy of `bytes` takes, never slot keep (-1: none), its old copy forgotten. In
 * this order: an empty slot whose buffer is large enough (the smallest such), an empty slot
 * without a buffer, the least recently used copy whose buffer is large enough, then a slot
 * whose buffer must grow (empty ones first, then the least recently used). *grow = 1 when the
 * slot's buffer is too small: the caller frees it, frees the buffers of the slots listed in
 * release[0 .. *n_release) (the least recently used others, empty ones first, while the buffers
 * would pass the budget; never keep's), calling kcu_copies_freed for each, then allocates
 * `bytes` and calls kcu_copies_grown. Growing is last because freeing a buffer waits for the
 * device. */
int kcu_copies_claim(kcu_copies *t, size_t bytes, int keep, int *grow, int *release, int *n_release);
/* After the caller freed slot i's buffer. */
void kcu_copies_freed(kcu_copies *t, int i);
/* After the caller allocated buf (bytes) for slot i. */
void kcu_copies_grown(kcu_copies *t, int i, void *buf, size_t bytes);

/* The bf16 matmul's records (matmul.cu says why): op outputs held as bf16 in the first half of
 * their own bytes, c (rows x cols floats, dense) each. A zero-filled table is empty. Unlike a
 * copy, a record is not forgotten by a device call nobody accounted for (its data is in c, not
 * in a buffer that might be stale): only by a write over c. */
enum { KCU_RECORDS = 128 }; /* a model keeps three a layer (two norms' outputs, the MLP's hidden) */
typedef struct kcu_record {
    const void *c; /* NULL: free */
    long long rows, cols;
} kcu_record;
typedef struct kcu_records {
    kcu_record r[KCU_RECORDS];
} kcu_records;

/* The records whose c overlaps [p, p + bytes) forgotten: something wrote there. */
void kcu_records_written(kcu_records *t, const void *p, size_t bytes);
/* The record that is src as a rows x cols operand: its index; -1 when no record overlaps src's
 * rows x cols floats; -2 when one overlaps them as another place or shape (a read of bf16 pairs
 * as floats, which the caller refuses). */
int kcu_records_find(const kcu_records *t, const void *src, long long rows, long long cols);
/* c (rows x cols) recorded in the first free entry (the caller forgot what c's write overlapped,
 * kcu_records_written): 0, or -1 when every entry is taken. */
int kcu_records_add(kcu_records *t, const void *c, long long rows, long long cols);

#ifdef __cplusplus
}
#endif

#endif
