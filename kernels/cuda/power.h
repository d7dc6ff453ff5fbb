/* Private to kernels/cuda/power*.cu: the work layout of the chunked power
 * retention mixer on the GPU and the stages forward and backward share.
 *
 * Everything is batched over all (batch, kv head) pairs and all chunks at once.
 * Rows are ordered [pair][token] (pair = b * n_kv_head + g), so chunk m of pair
 * P is rows P*T + m*c .. + c, and "chunk index" R' = P * nc + m. Per-chunk
 * matrices are contiguous, so every product is one strided-batched SGEMM over
 * the R = pairs * nc chunks; queries go one head of the group at a time. */
#ifndef SCALELAB_KERNELS_CUDA_POWER_H
#define SCALELAB_KERNELS_CUDA_POWER_H

#include "kernels/cuda/cuda_common.h"
#include "kernels/cuda/plan.h"

/* One feature of phi: its p indices (unused ones 0; int16: kern_power_check caps head_dim at
 * KERN_POWER_HEAD_DIM_MAX) and sqrt(p! / prod c_r!). */
struct pw_feat {
    int16_t idx[KERN_POWER_P_MAX];
    float coef;
};

struct pw_layout {
    int B, T, d, d1, D, p, c, nc, nh, nkv, group, P, gated, rms;
    /* bf16: every product of pw_gemm takes bf16 operands on the tensor cores with FP32
     * accumulation (cuBLAS 32F_FAST_16BF on the FP32 buffers); 0: FP32 SGEMM. */
    int bf16;
    /* intra (bf16; kcu_power_paths_of; the default, SCALELAB_POWER_INTRA=0 opts out): the
     * intra-chunk part runs in power_intra.cu, so raw, a and da are neither written nor
     * reserved. It streams bf16 copies (rows x d, unpadded) of qc, kc, V and dN, kept at
     * q16, k16, v16, dn16, and gl2 (rows floats): each row's gate sum from its 64-row
     * tile's first row, times log2 e. */
    int intra;
    size_t q16, k16, v16, dn16, gl2;
    /* fused (bf16; kcu_power_paths_of; the default, SCALELAB_POWER_FUSED=0 opts out): the four
     * state products run in power_phi.cu with phi built in registers, so no phi row is written: pu is
     * not reserved and the forward leaves phibuf alone.
     * Dpad: D rounded up to 128; cpad: c rounded up to 128; np8: ld1 rounded up to 8. They
     * keep ftab (Dpad 16-byte phi entries), xt (x per chunk transposed, R x d x cpad), y16
     * ([V|1] or dN' as bf16, R x cpad x np8) and s16 (S' or dS' as bf16, R x Dpad x np8). */
    int fused, Dpad, cpad, np8;
    size_t ftab, xt, y16, s16;
    /* dphi (p = 2, bf16; kcu_power_paths_of; the default, SCALELAB_POWER_DPHI=0 opts out): the
     * backward through phi runs in power_dphi.cu, so no dphi row is written. With fused and
     * dphi phibuf holds only power_dphi.cu's staged S (189 MB instead of 4.4 GB at T = 64k). */
    int dphi;
    /* Row stride of the [. | 1]-wide matrices ([V|1], N', dN', d[V|1], S', dS'):
     * d + 1 rounded up to 4 floats, so their rows start 16-byte aligned and
     * cuBLAS takes its vectorised paths. The padding columns are kept zero and the
     * FP32-storage products run over them (n or k = ld1; see pw_plan). */
    int ld1;
    float scale, eps;
    size_t R, rows, SZ; /* chunks, rows (pairs * T), state size D * ld1 */
    /* offsets (floats) from the aligned base; gcum and gamma hold doubles, egamma = (float)exp(gamma) */
    size_t gcum, gamma, egamma, feat, kc, u, pu, vp, states, qc, qt, phibuf, a, raw, np;
    size_t dso, dnp, dvp, du, dkc, dqc, da, dg, dgamma, part; /* part: 2 x 16 doubles per chunk */
    size_t forward_total, total;
};

pw_layout pw_plan(const kern_mixer_shape *s, int bf16 = 0);
/* The work pointer aligned to 256 bytes (callers may pass any float offset;
 * pw_plan's total includes the slack). */
float *pw_base(float *work);
static inline double *pw_doubles(float *base, size_t off) { return (double *)(base + off); }

/* phi table, gate sums, [V|1], copies of K and U = exp((Gamma - G')/p) K, phi(U) (fused: the
 * 16-byte table instead). */
void pw_prepare_keys(const pw_layout &L, float *base, const float *k, const float *v, const float *log_g);
/* states[R'] = the state S' entering chunk R' (zero for m = 0). */
void pw_states(const pw_layout &L, float *base);
/* Head r of every group: qc = q, qt = s exp(G'/p) q, and phi(qt) into phibuf when with_phi (and
 * not fused). */
void pw_prepare_queries(const pw_layout &L, float *base, const float *q, int r, int with_phi);
/* raw = s qc kc^T per chunk; a = raw^p exp(G'_i - G'_j) below the diagonal, 0 above. */
void pw_intra_weights(const pw_layout &L, float *base);
/* dx = J_phi(x)^T dphi, rows x d. */
void pw_phi_backward(const pw_layout &L, float *base, int rows, const float *x, const float *dphi, float *dx);
static inline void *pw_h(float *base, size_t off) { return (void *)(base + off); }
/* FP32 [R][rows_per x ld] (first cols columns) -> bf16 [R][rows_per x ldh]. */
void pw_to_bf16(const pw_layout &L, const float *src, int rows_per, int ld, int cols, void *dst, int ldh, size_t n_mat);
/* Strided-batched gemm over the R chunks (strides in floats); bf16 operands when L.bf16
 * (cuBLAS 32F_FAST_16BF on the FP32 buffers). */
void pw_gemm(const pw_layout &L, int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
             size_t sa, const float *b, int ldb, size_t sb, float beta, float *c, int ldc, size_t sc);

#define PW_THREADS 256
/* Chunks whose state loads the scans keep in flight at once (registers per thread). */
#define PW_SCAN_G 8

/* Stage times for profiling (SCALELAB_POWER_PROFILE=1): pw_mark records an event
 * after the work issued so far; pw_report waits and prints the gaps to stderr. */
void pw_mark(const char *stage);
void pw_report(const char *what);

/* power_intra.cu (L.intra; the layouts it takes: kcu_power_paths_of, plan.h): the bf16
 * copies of kc and V and gl2 (once per call, after pw_prepare_keys), the forward (np = A [V|1],
 * overwritten: what pw_intra_weights and the A [V|1] product give) and, for the head whose dN'
 * is dnp (after pw_prepare_queries), the
 * backward: dqc, dkc, dvp (columns 0..d) += the intra-chunk terms, and dg += the gate terms
 * when gated (what the cuBLAS path's intra section adds). */
void pw_intra_keys(const pw_layout &L, float *base);
void pw_intra_forward(const pw_layout &L, float *base);
void pw_intra_backward(const pw_layout &L, float *base, const float *dnp);

/* power_phi.cu (L.fused; the layouts it takes: kcu_power_paths_of, plan.h): the table (once
 * per call, after the phi table), out[R'] (D x ld1, stride SZ) = phi(x)^T y (+ beta out) for
 * y [. | 1]-wide, S' or dS' (stride SZ) copied to bf16 for the next pw_phi_mm calls,
 * and out[R'] (c x ld1) = phi(x) S (+ beta out) with S the last pw_fused_state16's. */
void pw_fused_table(const pw_layout &L, float *base);
void pw_phiT_mm(const pw_layout &L, float *base, const float *x, const float *y, float *out, float beta);
void pw_fused_state16(const pw_layout &L, float *base, const float *s);
void pw_phi_mm(const pw_layout &L, float *base, const float *x, float *out, float beta);

/* Forward and backward at either precision (kcu_power_forward/backward are bf16 = 0). */
void kcu_power_forward_prec(const kern_mixer_shape *s, const float *q, const float *k, const float *v,
                            const float *log_g, float *y, float *saved, float *work, int bf16);
void kcu_power_backward_prec(const kern_mixer_shape *s, const float *q, const float *k, const float *v,
                             const float *log_g, const float *y, const float *saved, const float *dy, float *dq,
                             float *dk, float *dv, float *dlog_g, float *work, int bf16);

/* power_dphi.cu (L.dphi): dx = J_phi(x)^T (Y S^T) per chunk (Y: c x ld1 rows, S: D x ld1 per
 * chunk, strides L.SZ; x, dx: rows x d) without dphi in global memory, in place of pw_gemm +
 * pw_phi_backward (the layouts it takes: kcu_power_paths_of, plan.h), and the floats of phibuf
 * it needs as scratch. */
size_t pw_dphi_scratch(const pw_layout &L);
void pw_dphi_backward(const pw_layout &L, float *base, const float *y, const float *s, const float *x, float *dx);

#endif
