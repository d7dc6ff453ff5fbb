/* The launch facts of the GPU mixers that their FLOP count (kernels/cuda/flops.c) needs:
 * which path a power call takes and the padded extents its products run over, the dphi
 * kernel's padded triangle, flash.cu's tiles, the attn.cu blocking. power.cu's pw_plan,
 * attn.cu's plan_of, flash.cu, power_intra.cu and power_dphi.cu read them from here, so the
 * count and the kernels cannot disagree.
 *
 * Plain C (host arithmetic, getenv): compiles as C17 in every build, CUDA or not, and under
 * nvcc (kern_shape.h's KERN_HD makes kcu_dphi_rowoff callable from device code). */
#ifndef SCALELAB_KERNELS_CUDA_PLAN_H
#define SCALELAB_KERNELS_CUDA_PLAN_H

#include <stdlib.h>
#include <string.h>

#include "kernels/kern_shape.h"

/* An opt-out switch of the bf16 backend's paths (SCALELAB_MM_BF16, SCALELAB_MM_EPILOGUE,
 * SCALELAB_POWER_INTRA, SCALELAB_POWER_FUSED, SCALELAB_POWER_DPHI, SCALELAB_FLASH_BWD,
 * SCALELAB_FLASH_WG, SCALELAB_FLASH_BWD_WG): set to
 * "0" in the environment, the older path runs. */
static inline int kcu_opted_out(const char *name) {
    const char *e = getenv(name);
    return e && strcmp(e, "0") == 0;
}

/* The head dims the tiled kernels (power_intra, power_phi, power_dphi, flash) are built for. */
static inline int kcu_tiled_head_dim(int d) { return d == 16 || d == 32 || d == 64 || d == 128; }

/* The keys a query sees, counting itself: the window, or every earlier key (softmax, or a
 * window at least the sequence). */
static inline int kcu_attn_window(const kern_mixer_shape *s) {
    return (s->kind == KERN_MIXER_WINDOW && s->window > 0 && s->window < s->seq) ? s->window : s->seq;
}

/* power_intra.cu: 64-row tiles, 16-row warp blocks. */
#define KCU_PW_INTRA_BT 64
/* power_phi.cu: a chunk's tokens padded to a multiple of 64, phiT_mm's token stage; phi_mm's
 * token blocks (128 tokens, or 64 where 128 does not divide the padded chunk) tile it too. */
#define KCU_PW_PHI_KT 64
/* power_dphi.cu (dp_dims takes them from here): k = d + 1 rounded up to 16; tokens per block
 * (6 warps of 16 up to head dim 64, 4 at 128: power_dphi.cu says why). */
#define KCU_DPHI_KP(d) (((d) + 16) / 16 * 16)
#define KCU_DPHI_TOK(d) ((d) <= 64 ? 96 : 64)

/* First padded feature of dphi's triangle row a: rows 8m .. 8m + 7 each hold d - 8m features
 * (padded on the left to a multiple of 8); kcu_dphi_rowoff(d, d) is the padded feature count. */
static inline KERN_HD int kcu_dphi_rowoff(int d, int a) {
    int m = a / 8, r = a % 8;
    return 8 * (m * d - 4 * m * (m - 1)) + r * (d - 8 * m);
}

/* Which kernels a power call runs and the extents they run over (pw_plan copies these). */
typedef struct kcu_power_paths {
    int ld1;   /* d + 1 rounded up to 4: the [. | 1]-wide rows of the cuBLAS products */
    int Dpad;  /* D rounded up to 128 (fused state products) */
    int cpad;  /* chunk rounded up to KCU_PW_PHI_KT = 64 (fused state products) */
    int np8;   /* ld1 rounded up to 8 (fused state products' n8 tiles) */
    int intra; /* power_intra.cu's tiled intra-chunk kernels (else cuBLAS over c x c) */
    int fused; /* power_phi.cu's state products with phi in registers (else phi rows + cuBLAS) */
    int dphi;  /* power_dphi.cu's backward through phi (else dphi rows + cuBLAS) */
} kcu_power_paths;

/* For a shape kern_mixer_shape_check accepted; bf16: the bf16 backend (the FP32 one runs
 * cuBLAS throughout). The tiled kernels need head dim 16, 32, 64 or 128 and grid rows within
 * 65535; each has an opt-out read here, at every call, as pw_plan always has. */
static inline kcu_power_paths kcu_power_paths_of(const kern_mixer_shape *s, int bf16) {
    kcu_power_paths w;
    int d = s->head_dim, p = s->p, c = s->chunk, D = kern_mx_phi_dim(d, p);
    size_t R = (size_t)s->batch * s->n_kv_head * (size_t)(s->seq / c);
    int dh = kcu_tiled_head_dim(d);
    w.ld1 = (d + 1 + 3) / 4 * 4;
    w.Dpad = (D + 127) / 128 * 128;
    w.cpad = (c + KCU_PW_PHI_KT - 1) / KCU_PW_PHI_KT * KCU_PW_PHI_KT;
    w.np8 = (w.ld1 + 7) / 8 * 8;
    w.intra = bf16 && p >= 1 && p <= 4 && dh && (c + KCU_PW_INTRA_BT - 1) / KCU_PW_INTRA_BT <= 65535 &&
              !kcu_opted_out("SCALELAB_POWER_INTRA");
    /* pad16's int index: Dpad np8 below 2^30 (d128 p4 has no fused kernel) */
    w.fused = bf16 && p >= 2 && p <= 4 && dh && R <= 65535 && (size_t)w.Dpad * w.np8 < (1u << 30) &&
              !kcu_opted_out("SCALELAB_POWER_FUSED");
    w.dphi = bf16 && p == 2 && dh && R <= 65535 && !kcu_opted_out("SCALELAB_POWER_DPHI");
    return w;
}

/* flash.cu (bf16): the shapes it takes, and its tiles (the FLOP count walks them too): the
 * forward's 128-query blocks of 64-key tiles, each in sub-tiles of 32 keys that a warp skips
 * when none of its rows sees one; bwd2_kernel's 128-key blocks of 4 warps of 32 keys, in passes
 * of 32 queries over 64-query tiles; bwd_kernel's warps of 16 keys (8 a block, 4 at head dim
 * 16), passes of 16 queries. Scale > 0 only: fwd_kernel folds scale log2(e) into the exponent
 * and keeps the running max of the raw scores, which is the max of the scaled ones only for a
 * positive scale; attn.cu (FP32) takes the rest. */
#define KCU_FLASH_BQ 128
#define KCU_FLASH_BK 64
#define KCU_FLASH_KH 32
#define KCU_FLASH_QT 64
#define KCU_FLASH_BWD2_KB 128
#define KCU_FLASH_BWD2_QP 32
#define KCU_FLASH_BWD_QP 16
static inline int kcu_flash_ok(const kern_mixer_shape *s) {
    return s->kind != KERN_MIXER_POWER && s->scale > 0 && kcu_tiled_head_dim(s->head_dim);
}
/* flash_wg.cu's forward on Hopper's warpgroup MMA at head dims 64 and 128 unless
 * SCALELAB_FLASH_WG=0 (then fwd_kernel): the same 128-query blocks and 64-key tiles, taken by 2
 * warpgroups of KCU_FLASH_WG_ROWS queries, each skipping a tile none of its rows sees. */
#define KCU_FLASH_WG_ROWS 64
static inline int kcu_flash_wg(int head_dim) {
    return (head_dim == 64 || head_dim == 128) && !kcu_opted_out("SCALELAB_FLASH_WG");
}
/* flash_wg_bwd.cu's backward on warpgroup MMA at head dim 64 unless SCALELAB_FLASH_BWD_WG=0:
 * blocks of KCU_FLASH_WGB_KB keys (2 warpgroups x 64) over every 64-query tile that can see them. */
#define KCU_FLASH_WGB_KB 128
static inline int kcu_flash_bwd_wg(int head_dim) {
    return head_dim == 64 && !kcu_opted_out("SCALELAB_FLASH_BWD_WG");
}
/* Otherwise bwd2_kernel at head dims 32 and 64 unless SCALELAB_FLASH_BWD=0 (then bwd_kernel). */
static inline int kcu_flash_bwd2(int head_dim) {
    return (head_dim == 32 || head_dim == 64) && !kcu_opted_out("SCALELAB_FLASH_BWD");
}

/* attn.cu (FP32, cuBLAS): queries in blocks of qb (the smallest divisor of seq at least the
 * window W; W = seq for softmax), each against nk = min(seq, qb + W - 1) keys. */
static inline void kcu_attn_blocking(const kern_mixer_shape *s, int *W, int *qb, int *nk) {
    int T = s->seq;
    *W = kcu_attn_window(s);
    *qb = T;
    for (int c = *W; c <= T; c++)
        if (T % c == 0) {
            *qb = c;
            break;
        }
    *nk = *qb + *W - 1 < T ? *qb + *W - 1 : T;
}

#endif
