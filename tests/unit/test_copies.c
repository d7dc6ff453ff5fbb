/* kernels/cuda/copies.h, the bookkeeping of the bf16 matmul's kept copies, on the host (no GPU):
 * which writes forget which copies (range edges byte by byte), when an unaccounted device call
 * forgets them all, which slot a new copy takes, and which buffers are freed to stay within
 * the budget. Every expectation is derived by hand from the rules in copies.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "kernels/cuda/copies.h"

static kcu_copies T; /* 256 slots: too large for the stack of every test */

/* Fake device buffers: distinct addresses, never dereferenced. */
static char arena[64][16];
static void *fake_buf(int i) { return arena[i]; }

static void reset(size_t budget) {
    memset(&T, 0, sizeof T);
    T.budget = budget;
}
/* Slot i given a buffer of cap bytes (kept_bytes counts it). */
static void give(int i, size_t cap) { kcu_copies_grown(&T, i, fake_buf(i % 64), cap); }

static void test_written_edges(void **state) {
    (void)state;
    reset(1 << 20);
    float src[100], other[10];
    give(0, 1000), give(1, 1000);
    kcu_copies_set(&T, 0, src + 10, 4, 5); /* [src + 10, src + 30) */
    kcu_copies_set(&T, 1, other, 2, 5);
    assert_int_equal(kcu_copies_find(&T, src + 10, 4, 5), 0);
    assert_int_equal(kcu_copies_find(&T, src + 10, 5, 4), -1); /* the shape is part of the key */
    assert_int_equal(kcu_copies_find(&T, other, 2, 5), 1);
    kcu_copies_written(&T, src + 30, 4 * sizeof(float)); /* just after: kept */
    kcu_copies_written(&T, src, 10 * sizeof(float));     /* just before: kept */
    assert_int_equal(kcu_copies_find(&T, src + 10, 4, 5), 0);
    kcu_copies_written(&T, (char *)(src + 30) - 1, 1); /* the last byte */
    assert_int_equal(kcu_copies_find(&T, src + 10, 4, 5), -1);
    assert_int_equal(kcu_copies_find(&T, other, 2, 5), 1); /* another source stays */
    kcu_copies_set(&T, 0, src + 10, 4, 5);
    kcu_copies_written(&T, src + 10, 1); /* the first byte */
    assert_int_equal(kcu_copies_find(&T, src + 10, 4, 5), -1);
    kcu_copies_set(&T, 0, src + 10, 4, 5);
    kcu_copies_written(&T, src, 100 * sizeof(float)); /* around it */
    assert_int_equal(kcu_copies_find(&T, src + 10, 4, 5), -1);
    assert_int_equal(T.slot[0].cap, 1000); /* forgetting keeps the buffer */
}

static void test_calls(void **state) {
    (void)state;
    reset(1 << 20);
    float a[8], b[8], c[8];
    give(0, 100), give(1, 100);
    kcu_copies_account(&T, 5);
    kcu_copies_set(&T, 0, a, 1, 8);
    kcu_copies_set(&T, 1, b, 1, 8);
    kcu_copies_check(&T, 5); /* nothing since: both stay */
    assert_int_equal(kcu_copies_find(&T, a, 1, 8), 0);
    /* an op that began at 5, wrote c and ended at 9: both stay, 9 accounted for */
    kcu_span wc = {c, sizeof c};
    kcu_copies_op_wrote(&T, 5, 9, &wc, 1);
    assert_int_equal(kcu_copies_find(&T, a, 1, 8), 0);
    assert_int_equal(kcu_copies_find(&T, b, 1, 8), 1);
    assert_int_equal((int)T.calls, 9);
    /* one that wrote b, with a NULL range beside it: only b's copy goes */
    kcu_span wb[2] = {{NULL, 100}, {b, sizeof b}};
    kcu_copies_op_wrote(&T, 9, 12, wb, 2);
    assert_int_equal(kcu_copies_find(&T, a, 1, 8), 0);
    assert_int_equal(kcu_copies_find(&T, b, 1, 8), -1);
    /* a call nobody accounted for (12 -> 13) before an op that began at 13: all go */
    kcu_copies_op_wrote(&T, 13, 14, &wc, 1);
    assert_int_equal(kcu_copies_find(&T, a, 1, 8), -1);
    kcu_copies_set(&T, 0, a, 1, 8);
    kcu_copies_check(&T, 15); /* 14 was accounted for, 15 was not */
    assert_int_equal(kcu_copies_find(&T, a, 1, 8), -1);
}

static void test_claim_ranks(void **state) {
    (void)state;
    float s[4];
    int grow, rel[KCU_COPIES], n_rel;
    reset(1 << 30);
    for (int i = 0; i < KCU_COPIES; i++) give(i, 10), kcu_copies_set(&T, i, s, 1, 1); /* all kept, small */
    /* rank 2 beats 3 and 4: the least recently used kept copy with room */
    kcu_copies_freed(&T, 9), give(9, 200), kcu_copies_set(&T, 9, s + 1, 1, 1); /* newer */
    kcu_copies_freed(&T, 8), give(8, 200), kcu_copies_set(&T, 8, s + 2, 1, 1);
    T.slot[8].used = 1; /* older than 9 */
    kcu_copies_freed(&T, 20), give(20, 10); /* empty, too small: rank 3 */
    assert_int_equal(kcu_copies_claim(&T, 100, -1, &grow, rel, &n_rel), 8);
    assert_int_equal(grow, 0);
    assert_null(T.slot[8].src); /* its copy is forgotten */
    /* keep excludes a slot: 8 is now empty with room (rank 0); keep = 8 leaves 9 (rank 2) */
    assert_int_equal(kcu_copies_claim(&T, 100, 8, &grow, rel, &n_rel), 9);
    /* rank 1 (empty, no buffer) beats rank 2 */
    kcu_copies_set(&T, 8, s + 2, 1, 1), kcu_copies_set(&T, 9, s + 1, 1, 1);
    kcu_copies_freed(&T, 30);
    T.slot[30].used = 1000; /* the most recent: only its rank can make it win */
    assert_int_equal(kcu_copies_claim(&T, 100, -1, &grow, rel, &n_rel), 30);
    assert_int_equal(grow, 1);
    assert_int_equal(n_rel, 0); /* within the budget */
    /* without ranks 0-2, rank 3 (empty, to grow) beats rank 4 */
    kcu_copies_grown(&T, 30, fake_buf(30), 10), kcu_copies_set(&T, 30, s, 1, 1);
    assert_int_equal(kcu_copies_claim(&T, 1000, -1, &grow, rel, &n_rel), 20);
    assert_int_equal(grow, 1);
    /* and rank 4: the least recently used copy */
    kcu_copies_set(&T, 20, s, 1, 1);
    T.slot[100].used = -9;
    assert_int_equal(kcu_copies_claim(&T, 1000, -1, &grow, rel, &n_rel), 100);
    assert_int_equal(grow, 1);
}

static void test_budget(void **state) {
    (void)state;
    float s[4];
    int grow, rel[KCU_COPIES], n_rel;
    reset(1000);
    /* slots 0-3 hold buffers of 200 bytes (800 in all); the others none */
    for (int i = 0; i < 4; i++) give(i, 200), kcu_copies_set(&T, i, s + i, 1, 1);
    T.slot[0].used = 4, T.slot[1].used = 1, T.slot[2].used = 3, T.slot[3].used = 2;
    kcu_copies_forget(&T), kcu_copies_set(&T, 0, s, 1, 1), kcu_copies_set(&T, 1, s + 1, 1, 1);
    T.slot[0].used = 4, T.slot[1].used = 1; /* 0 and 1 kept, 2 and 3 empty */
    /* 500 more: slot 4 (no buffer) grows; 800 + 500 > 1000: free 300+ bytes, empty ones first
     * (2 and 3; either order of theirs is allowed by the rule, the least recent first: 3 then 2) */
    assert_int_equal(kcu_copies_claim(&T, 500, -1, &grow, rel, &n_rel), 4);
    assert_int_equal(grow, 1);
    assert_int_equal(n_rel, 2);
    assert_int_equal(rel[0], 3);
    assert_int_equal(rel[1], 2);
    /* as the caller does: free them, grow slot 4 */
    kcu_copies_freed(&T, 3), kcu_copies_freed(&T, 2), kcu_copies_grown(&T, 4, fake_buf(4), 500);
    kcu_copies_set(&T, 4, s + 2, 1, 1);
    assert_int_equal((int)T.kept_bytes, 900);
    /* 400 more, keep = 1: the slot is an empty one without a buffer, the least recently used of
     * them (5: never used; 2 and 3 were, at 3 and 2); no empty slot has a buffer left, so kept
     * copies 0 (used 4) and 4 (newest) are freed in LRU order, never 1:
     * 900 + 400 > 1000 -> free 0 (700 left + 400 > 1000) -> free 4 */
    assert_int_equal(kcu_copies_claim(&T, 400, 1, &grow, rel, &n_rel), 5);
    assert_int_equal(grow, 1);
    assert_int_equal(n_rel, 2);
    assert_int_equal(rel[0], 0);
    assert_int_equal(rel[1], 4);
    /* nothing left to free: the list ends (the caller's allocation may still succeed) */
    reset(10);
    give(0, 200), kcu_copies_set(&T, 0, s, 1, 1);
    assert_int_equal(kcu_copies_claim(&T, 100, 0, &grow, rel, &n_rel), 1);
    assert_int_equal(n_rel, 0);
}

/* The records (copies.h): found only as the place and shape they were made with, -2 for any
 * other read that overlaps them; forgotten by a write over any byte of them, kept by writes just
 * before and just after; an add takes the first free entry, and fails when all are taken. */
static kcu_records R;
static void test_records(void **state) {
    (void)state;
    memset(&R, 0, sizeof R);
    float c[100] = {0}, d[8] = {0}; /* only their addresses are used */
    assert_int_equal(kcu_records_find(&R, c, 4, 5), -1);
    assert_int_equal(kcu_records_add(&R, c + 10, 4, 5), 0); /* [c + 10, c + 30) */
    assert_int_equal(kcu_records_add(&R, d, 2, 4), 0);
    assert_int_equal(kcu_records_find(&R, c + 10, 4, 5), 0);
    assert_int_equal(kcu_records_find(&R, d, 2, 4), 1);
    assert_int_equal(kcu_records_find(&R, c + 10, 5, 4), -2); /* the same bytes, another shape */
    assert_int_equal(kcu_records_find(&R, c + 12, 2, 5), -2); /* inside it */
    assert_int_equal(kcu_records_find(&R, c, 2, 6), -2);      /* [c, c + 12): its first two floats */
    assert_int_equal(kcu_records_find(&R, c, 2, 5), -1);      /* [c, c + 10): just before */
    assert_int_equal(kcu_records_find(&R, c + 30, 2, 5), -1); /* just after */
    kcu_records_written(&R, c, 10 * sizeof(float));           /* just before: kept */
    kcu_records_written(&R, c + 30, sizeof(float));           /* just after: kept */
    assert_int_equal(kcu_records_find(&R, c + 10, 4, 5), 0);
    kcu_records_written(&R, (char *)(c + 30) - 1, 1); /* its last byte */
    assert_int_equal(kcu_records_find(&R, c + 10, 4, 5), -1);
    assert_int_equal(kcu_records_find(&R, d, 2, 4), 1); /* the other stays */
    assert_int_equal(kcu_records_add(&R, c, 1, 8), 0);  /* the freed entry 0 is taken again */
    assert_int_equal(kcu_records_find(&R, c, 1, 8), 0);
    for (int i = 2; i < KCU_RECORDS; i++) assert_int_equal(kcu_records_add(&R, c + 50, 1, 1), 0);
    assert_int_equal(kcu_records_add(&R, c + 60, 1, 1), -1); /* full */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_written_edges), cmocka_unit_test(test_calls), cmocka_unit_test(test_claim_ranks),
        cmocka_unit_test(test_budget), cmocka_unit_test(test_records),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
