/* The intra-chunk part of power retention (MATH.md step 1) as tiled tensor-core kernels,
 * forward and backward, for the bf16 backend (the default; SCALELAB_POWER_INTRA=0 opts
 * out): the c x c matrices raw, A and dA of the cuBLAS path (power.cu, power_backward.cu) are never written; every
 * score lives in registers for one 64 x 64 tile.
 *
 * Per chunk (rows ch c .. ch c + c of the [pair][token] layout of power.h) and head of the
 * group, with S_ij = s q_i . k_j and A_ij = S_ij^p exp(G'_i - G'_j) for j <= i:
 *   forward   N'_i = sum_j A_ij [v_j | 1]        (np rows overwritten, padding zero)
 *   backward  dA_ij = dN_i . v_j + dM_i           (dN' = [dN | dM], power_backward.cu)
 *             dS_ij = dA_ij p S_ij^(p-1) exp(G'_i - G'_j)
 *             dqc_i += s sum_j dS_ij k_j,  dkc_j += s sum_i dS_ij q_i,  dvp_j += sum_i A_ij dN_i,
 *             dg_i += sum_j A_ij dA_ij - sum_k A_ki dA_ki   (the gate terms; gated only)
 * which is what pw_intra_weights, the A [V|1] product and intra_colsum/intra_rows compute.
 *
 * Precision as the cuBLAS FAST_16BF path: q, k, v, dN go through bf16 (q and dN rounded as
 * they are loaded into registers, k, v and the streamed operands from bf16 copies in work),
 * A and dS are rounded to bf16 as the operands of the second products, every accumulation is
 * FP32. The gate factor exp(G'_i - G'_j) is exp2f of a float difference: gl2 holds each row's
 * gate sum from its 64-row tile's first row, times log2 e, in float (from the double gcum), and
 * the difference of the two tiles' first rows is taken in double once per tile pair. The
 * exponent's rounding error is then ~2^-24 of those few magnitudes, like intra_mask_kernel's
 * (float)(G'_i - G'_j), without a double subtraction and conversion per score (1/2 and 1/8
 * of the FP32 instruction rate on sm_90).
 * Two things are more exact than the cuBLAS path: the denominator M_i = sum_j A_ij and the dM_i
 * term of dA are FP32 sums of unrounded values, not a product with a rounded column of ones.
 *
 * Launch bounds: without a minimum ptxas capped some kernels at 128 registers and spilled; the
 * minimums given (3 blocks of 4 warps per multiprocessor at head dim <= 64 for the forward and
 * the query side, 1 elsewhere) compile without spills.
 *
 * Layout: blocks of 4 warps, 64-row tiles; a warp owns 16 rows with its operand in registers
 * (mma.sync m16n8k16, fragments as flash.cu) and streams the other side's 64-row tiles
 * through shared memory (cp.async, two stages, ldmatrix). Forward and the query-side backward
 * (dq, row sums): one block per (chunk, 64 queries), key tiles j0 <= i0. Key-side backward
 * (dk, dv, column sums): one block per (chunk, 64 keys), query tiles i0 >= j0. Every output
 * element has one owner and a fixed summation order: no atomics, bit-reproducible.
 * Any chunk size: rows past the chunk's end load as zeros and are masked or not stored.
 *
 * Implementation FLOPs beyond DESIGN section 4's intra count (h 2d(c+1) per token forward,
 * twice that backward): products run on whole 16 x 16 blocks of a warp's 16 rows, so on a
 * diagonal 64 x 64 tile 2560 scores are formed for its 2080 (j <= i): per chunk c(c+16)/2
 * instead of c(c+1)/2 (1.01x at c = 1024, 1.23x at c = 64; chunks not a multiple of 16 round
 * up to 16). The backward runs 7 products of that size, not 4 (S and dN v^T are formed by
 * both backward kernels: recomputation for determinism without dq atomics): per token
 * 3.5 x 2d(c+16) instead of 2 x 2d(c+1), 1.78x DESIGN's backward at c = 1024. The
 * denominator column is FP32 adds, not tensor-core work. */
#include <cuda_bf16.h>

#include "kernels/cuda/mma.h"
#include "kernels/cuda/power.h"

namespace {

/* 64-row tiles (plan.h's: the FLOP count and kcu_power_paths_of read it there); 4 warps of 16 rows */
constexpr int BT = KCU_PW_INTRA_BT, NTHR = 128;
constexpr double LOG2E = 1.4426950408889634;

struct pi_args {
    const float *qc, *dnp;
    const double *gcum;
    const float *gl2;
    const __nv_bfloat16 *q16, *k16, *v16, *dn16;
    float *np, *dqc, *dkc, *dvp, *dg;
    int c, ld1, gated;
    float scale;
};

/* Rows [r0, r0 + 64) of a chunk's bf16 [c, D] matrix into shared [64][D + 8], asynchronously;
 * rows past the chunk (n rows) are zeros. */
template <int D>
__device__ __forceinline__ void load_tile(__nv_bfloat16 *dst, const __nv_bfloat16 *src, int r0, int n) {
    constexpr int CH = D / 8;
    for (int idx = threadIdx.x; idx < BT * CH; idx += NTHR) {
        int r = idx / CH, col = idx % CH * 8;
        bool ok = r0 + r < n;
        cp16(dst + r * (D + 8) + col, src + (size_t)(ok ? r0 + r : 0) * D + col, ok);
    }
}


/* x^P and d/dx x^P, P = 1..4 a template parameter: with p at run time the selects between
 * the four cost as much per score as the rest of the score's arithmetic. */
template <int P> __device__ __forceinline__ float powp(float x) {
    if constexpr (P == 1) return x;
    else if constexpr (P == 2) return x * x;
    else if constexpr (P == 3) return x * x * x;
    else return (x * x) * (x * x);
}
template <int P> __device__ __forceinline__ float dpowp(float x) {
    if constexpr (P == 1) return 1.f;
    else if constexpr (P == 2) return 2.f * x;
    else if constexpr (P == 3) return 3.f * x * x;
    else return 4.f * x * x * x;
}

/* Clears a warp's [D / 8][4] accumulator. */
template <int D> __device__ __forceinline__ void zero(float acc[D / 8][4]) {
#pragma unroll
    for (int i = 0; i < D / 8; i++) acc[i][0] = acc[i][1] = acc[i][2] = acc[i][3] = 0.f;
}

/* s[nt] (16 x 64) = A (16 x D) X^T for the 64 rows of X (shared [64][D + 8]); A's fragments
 * come from frag(kk, a) (registers or shared memory), each fetched once. Only the 16-column
 * groups lo .. hi - 1 are formed (the rest stay 0): on a diagonal tile the others are all
 * masked for this warp (warp-uniform branches; the loops stay unrolled). */
template <int D, class F>
__device__ __forceinline__ void scores(float s[BT / 8][4], F frag, const __nv_bfloat16 *X, int lo, int hi) {
    const int lane = threadIdx.x % 32;
#pragma unroll
    for (int nt = 0; nt < BT / 8; nt++) s[nt][0] = s[nt][1] = s[nt][2] = s[nt][3] = 0.f;
#pragma unroll
    for (int kk = 0; kk < D / 16; kk++) {
        uint32_t a[4];
        frag(kk, a);
#pragma unroll
        for (int nt = 0; nt < BT / 8; nt += 2) {
            if (nt / 2 < lo || nt / 2 >= hi) continue;
            uint32_t r[4];
            ldsm_x4(r, X + (nt * 8 + (lane / 16) * 8 + lane % 8) * (D + 8) + kk * 16 + (lane / 8 % 2) * 8);
            mma16816(s[nt], a, r[0], r[1]);
            mma16816(s[nt + 1], a, r[2], r[3]);
        }
    }
}
template <int D>
__device__ __forceinline__ void scores(float s[BT / 8][4], const uint32_t (&a)[D / 16][4], const __nv_bfloat16 *X,
                                       int lo, int hi) {
    scores<D>(s, [&](int kk, uint32_t f[4]) { f[0] = a[kk][0], f[1] = a[kk][1], f[2] = a[kk][2], f[3] = a[kk][3]; }, X,
              lo, hi);
}
/* The same with A the warp's 16 rows in shared memory (stride D + 8). */
template <int D>
__device__ __forceinline__ void scores(float s[BT / 8][4], const __nv_bfloat16 *A, const __nv_bfloat16 *X, int lo,
                                       int hi) {
    const int lane = threadIdx.x % 32;
    scores<D>(s, [&](int kk, uint32_t f[4]) { ldsm_x4(f, A + (lane % 16) * (D + 8) + kk * 16 + (lane / 16) * 8); }, X,
              lo, hi);
}

/* acc (16 x D) += W (16 x 64, FP32 registers in the layout of scores, rounded to bf16 here) X
 * for X shared [64][D + 8], over W's 16-column groups lo .. hi - 1 (the others are 0). */
template <int D>
__device__ __forceinline__ void accumulate(float acc[D / 8][4], const float w[BT / 8][4], const __nv_bfloat16 *X,
                                           int lo, int hi) {
    const int lane = threadIdx.x % 32;
#pragma unroll
    for (int kk = 0; kk < BT / 16; kk++) {
        if (kk < lo || kk >= hi) continue;
        uint32_t pa[4] = {pack2(w[2 * kk][0], w[2 * kk][1]), pack2(w[2 * kk][2], w[2 * kk][3]),
                          pack2(w[2 * kk + 1][0], w[2 * kk + 1][1]), pack2(w[2 * kk + 1][2], w[2 * kk + 1][3])};
#pragma unroll
        for (int dt = 0; dt < D / 8; dt += 2) {
            uint32_t r[4];
            ldsm_x4_t(r, X + (kk * 16 + (lane / 8 % 2) * 8 + lane % 8) * (D + 8) + (dt + lane / 16) * 8);
            mma16816(acc[dt], pa, r[0], r[1]);
            mma16816(acc[dt + 1], pa, r[2], r[3]);
        }
    }
}

/* Sum over the 4 lanes of a quad (the lanes holding one row of a C fragment). */
__device__ __forceinline__ float quad_sum(float x) {
    x += __shfl_xor_sync(0xffffffffu, x, 1);
    return x + __shfl_xor_sync(0xffffffffu, x, 2);
}

/* Stage buf of the streamed key tile at row kt of the chunk (the forward's and the query
 * side's stream): its K and V rows and, gated, its first row's gate sum and its rows' gl2,
 * all by cp.async. */
template <int D>
__device__ __forceinline__ void issue_keys(const pi_args &a, size_t row0, int kt, int buf, __nv_bfloat16 *Ks,
                                           __nv_bfloat16 *Vs, double *g0, float *gs) {
    constexpr int RS = D + 8;
    load_tile<D>(Ks + buf * BT * RS, a.k16 + row0 * D, kt, a.c);
    load_tile<D>(Vs + buf * BT * RS, a.v16 + row0 * D, kt, a.c);
    if (a.gated && threadIdx.x < BT) {
        bool ok = kt + threadIdx.x < a.c;
        cp_small<4>(gs + buf * BT + threadIdx.x, a.gl2 + row0 + (ok ? kt + threadIdx.x : 0), ok);
        if (threadIdx.x == 0) cp_small<8>(g0 + buf, a.gcum + row0 + kt, true);
    }
}

/* Shared memory: two stages of two [64][D + 8] bf16 tiles; two stages of the streamed tile's
 * first gate sum (double), its 64 gl2 and (key side) its 64 dM; then (key side) the block's
 * own two [64][D + 8] tiles (16-byte aligned: 2 x 8 + 2 x 64 x 4 x 2 = 1040 bytes before). */
template <int D> constexpr size_t smem_bytes(bool own) {
    return (size_t)(own ? 6 : 4) * BT * (D + 8) * 2 + 2 * 8 + 2 * BT * 4 * 2;
}

/* Forward (blockIdx.x = chunk, blockIdx.y = 64-query tile counted from the chunk's end: the
 * tiles with the most key tiles start first, so the last wave is short). */
template <int D, int P> __global__ void __launch_bounds__(NTHR, D <= 64 ? 3 : 1) fwd_kernel(pi_args a) {
    extern __shared__ __align__(16) unsigned char smem[];
    constexpr int RS = D + 8;
    __nv_bfloat16 *Ks = reinterpret_cast<__nv_bfloat16 *>(smem), *Vs = Ks + 2 * BT * RS; /* [2][64][RS] */
    double *g0 = reinterpret_cast<double *>(Vs + 2 * BT * RS); /* [2]: G' at the key tile's first row */
    float *gs = reinterpret_cast<float *>(g0 + 2);              /* [2][64]: gl2 of its rows */
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, g = lane / 4, t = lane % 4, c = a.c;
    const size_t row0 = (size_t)blockIdx.x * c;
    const int q0 = (gridDim.y - 1 - blockIdx.y) * BT, wr = q0 + warp * 16; /* longest blocks first */
    const double gq0 = a.gated ? a.gcum[row0 + q0] : 0.0;
    uint32_t qa[D / 16][4];
    load_a<D>(a.qc + row0 * D, D, wr, c, qa);
    float gi[2];
#pragma unroll
    for (int r = 0; r < 2; r++) gi[r] = a.gated && wr + g + 8 * r < c ? a.gl2[row0 + wr + g + 8 * r] : 0.f;
    float acc[D / 8][4], l[2] = {0.f, 0.f};
    zero<D>(acc);
    const int ntiles = q0 / BT + 1; /* key tiles 0 .. q0: the last one is the diagonal */
    auto issue = [&](int it) { issue_keys<D>(a, row0, it * BT, it & 1, Ks, Vs, g0, gs); };
    issue(0);
    cp_commit();
    for (int it = 0; it < ntiles; it++) {
        const int kt = it * BT, buf = it & 1;
        if (it + 1 < ntiles) issue(it + 1);
        cp_commit();
        cp_wait<1>();
        __syncthreads();
        /* On the diagonal tile warp w sees keys 0 .. 16 w + 15 of it; a warp past the chunk none. */
        const float *gk = gs + buf * BT, tab = a.gated ? (float)((gq0 - g0[buf]) * LOG2E) : 0.f;
        const float ar[2] = {gi[0] + tab, gi[1] + tab}; /* (G'_i - G'_kt) log2 e */
        const int hi = wr >= c ? 0 : kt == q0 ? warp + 1 : BT / 16;
        float s[BT / 8][4];
        scores<D>(s, qa, Ks + buf * BT * RS, 0, hi);
#pragma unroll
        for (int nt = 0; nt < BT / 8; nt++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                int jl = nt * 8 + 2 * t + (e & 1), i = wr + g + 8 * (e >> 1), r = e >> 1;
                float w = powp<P>(s[nt][e] * a.scale);
                if (a.gated) w *= exp2f(ar[r] - gk[jl]);
                w = kt + jl <= i ? w : 0.f; /* a select: the masked gate factor may be inf */
                s[nt][e] = w;
                l[r] += w;
            }
        accumulate<D>(acc, s, Vs + buf * BT * RS, 0, hi);
        __syncthreads();
    }
#pragma unroll
    for (int r = 0; r < 2; r++) {
        float m = quad_sum(l[r]);
        int i = wr + g + 8 * r;
        if (i >= c) continue;
        float *nr = a.np + (row0 + i) * a.ld1;
#pragma unroll
        for (int dt = 0; dt < D / 8; dt++)
            *reinterpret_cast<float2 *>(nr + dt * 8 + 2 * t) = make_float2(acc[dt][2 * r], acc[dt][2 * r + 1]);
        if (t == 0) { /* M, and zeros in the padding (power.cu keeps it zero: products run ld1 wide) */
            nr[D] = m;
            for (int x = D + 1; x < a.ld1; x++) nr[x] = 0.f;
        }
    }
}

/* Backward, query side (blockIdx.x = chunk, blockIdx.y = 64-query tile from the chunk's end, as
 * the forward): dqc += s dS K and the row sums of A dA into dg. */
template <int D, int P> __global__ void __launch_bounds__(NTHR, D <= 64 ? 3 : 1) bwd_q_kernel(pi_args a) {
    extern __shared__ __align__(16) unsigned char smem[];
    constexpr int RS = D + 8;
    __nv_bfloat16 *Ks = reinterpret_cast<__nv_bfloat16 *>(smem), *Vs = Ks + 2 * BT * RS; /* [2][64][RS] */
    double *g0 = reinterpret_cast<double *>(Vs + 2 * BT * RS); /* [2]: G' at the key tile's first row */
    float *gs = reinterpret_cast<float *>(g0 + 2);              /* [2][64]: gl2 of its rows */
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, g = lane / 4, t = lane % 4, c = a.c;
    const size_t row0 = (size_t)blockIdx.x * c;
    const int q0 = (gridDim.y - 1 - blockIdx.y) * BT, wr = q0 + warp * 16; /* longest blocks first */
    const double gq0 = a.gated ? a.gcum[row0 + q0] : 0.0;
    uint32_t qa[D / 16][4], na[D / 16][4];
    load_a<D>(a.qc + row0 * D, D, wr, c, qa);
    load_a<D>(a.dnp + row0 * a.ld1, a.ld1, wr, c, na);
    float gi[2], dm[2], rs[2] = {0.f, 0.f};
#pragma unroll
    for (int r = 0; r < 2; r++) {
        int i = wr + g + 8 * r;
        gi[r] = a.gated && i < c ? a.gl2[row0 + i] : 0.f;
        dm[r] = i < c ? a.dnp[(row0 + i) * a.ld1 + D] : 0.f;
    }
    float dq[D / 8][4];
    zero<D>(dq);
    const int ntiles = q0 / BT + 1;
    auto issue = [&](int it) { issue_keys<D>(a, row0, it * BT, it & 1, Ks, Vs, g0, gs); };
    issue(0);
    cp_commit();
    for (int it = 0; it < ntiles; it++) {
        const int kt = it * BT, buf = it & 1;
        if (it + 1 < ntiles) issue(it + 1);
        cp_commit();
        cp_wait<1>();
        __syncthreads();
        const float *gk = gs + buf * BT, tab = a.gated ? (float)((gq0 - g0[buf]) * LOG2E) : 0.f;
        const float ar[2] = {gi[0] + tab, gi[1] + tab};
        const int hi = wr >= c ? 0 : kt == q0 ? warp + 1 : BT / 16;
        /* From head dim 64 the tile goes in two halves of 32 keys (as the key side's queries). */
        constexpr int NH = D >= 64 ? 2 : 1, GH = BT / 16 / NH;
#pragma unroll
        for (int h = 0; h < NH; h++) {
            const int l = h * GH, u = min(hi, (h + 1) * GH);
            float s[BT / 8][4], dp[BT / 8][4];
            scores<D>(s, qa, Ks + buf * BT * RS, l, u);
            scores<D>(dp, na, Vs + buf * BT * RS, l, u);
#pragma unroll
            for (int nt = 2 * h * GH; nt < 2 * (h + 1) * GH; nt++)
#pragma unroll
                for (int e = 0; e < 4; e++) {
                    int jl = nt * 8 + 2 * t + (e & 1), i = wr + g + 8 * (e >> 1), r = e >> 1;
                    float x = s[nt][e] * a.scale, gt = a.gated ? exp2f(ar[r] - gk[jl]) : 1.f;
                    float da = dp[nt][e] + dm[r];
                    bool vis = kt + jl <= i;
                    rs[r] += vis ? powp<P>(x) * gt * da : 0.f;
                    s[nt][e] = vis ? da * dpowp<P>(x) * gt : 0.f;
                }
            accumulate<D>(dq, s, Ks + buf * BT * RS, l, u);
        }
        __syncthreads();
    }
#pragma unroll
    for (int r = 0; r < 2; r++) {
        float sum = quad_sum(rs[r]);
        int i = wr + g + 8 * r;
        if (i >= c) continue;
        float *qr = a.dqc + (row0 + i) * D;
#pragma unroll
        for (int dt = 0; dt < D / 8; dt++) {
            float2 *o = reinterpret_cast<float2 *>(qr + dt * 8 + 2 * t), x = *o;
            *o = make_float2(x.x + a.scale * dq[dt][2 * r], x.y + a.scale * dq[dt][2 * r + 1]);
        }
        if (a.gated && t == 0) a.dg[row0 + i] += sum;
    }
}

/* Backward, key side (blockIdx.x = chunk, blockIdx.y = 64-key tile, the first ones the longest):
 * dkc += s dS^T Q, dvp += A^T dN and the column sums of A dA out of dg. The warp's tiles are
 * transposed: element e of tile nt is key wk + g + 8 (e >> 1), query qt + nt 8 + 2t + (e & 1). */
template <int D, int P> __global__ void __launch_bounds__(NTHR, 1) bwd_k_kernel(pi_args a) {
    extern __shared__ __align__(16) unsigned char smem[];
    constexpr int RS = D + 8;
    __nv_bfloat16 *Qs = reinterpret_cast<__nv_bfloat16 *>(smem), *Ns = Qs + 2 * BT * RS; /* [2][64][RS] */
    double *g0 = reinterpret_cast<double *>(Ns + 2 * BT * RS); /* [2]: G' at the query tile's first row */
    float *gs = reinterpret_cast<float *>(g0 + 2);              /* [2][64]: gl2 of its rows */
    float *ms = gs + 2 * BT;                                    /* [2][64]: dM of its rows */
    __nv_bfloat16 *Kb = reinterpret_cast<__nv_bfloat16 *>(ms + 2 * BT), *Vb = Kb + BT * RS; /* [64][RS] */
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, g = lane / 4, t = lane % 4, c = a.c;
    const size_t row0 = (size_t)blockIdx.x * c;
    const int k0 = blockIdx.y * BT, wk = k0 + warp * 16;
    /* The block's keys and values stay in shared memory (A operands fetched per product):
     * in registers they would leave dk, dv, S and dP too few at head dim 128. */
    load_tile<D>(Kb, a.k16 + row0 * D, k0, c);
    load_tile<D>(Vb, a.v16 + row0 * D, k0, c);
    const __nv_bfloat16 *Kw = Kb + warp * 16 * RS, *Vw = Vb + warp * 16 * RS;
    const double gk0 = a.gated ? a.gcum[row0 + k0] : 0.0;
    float gj[2];
#pragma unroll
    for (int r = 0; r < 2; r++) gj[r] = a.gated && wk + g + 8 * r < c ? a.gl2[row0 + wk + g + 8 * r] : 0.f;
    float dk[D / 8][4], dv[D / 8][4], cs[2] = {0.f, 0.f};
    zero<D>(dk);
    zero<D>(dv);
    const __nv_bfloat16 *qb = a.q16 + row0 * D, *nb = a.dn16 + row0 * D;
    const int ntiles = (c - 1 - k0) / BT + 1; /* query tiles k0 .. the chunk's end */
    auto issue = [&](int it) {
        int qt = k0 + it * BT, buf = it & 1;
        load_tile<D>(Qs + buf * BT * RS, qb, qt, c);
        load_tile<D>(Ns + buf * BT * RS, nb, qt, c);
        if (threadIdx.x < BT) {
            bool ok = qt + threadIdx.x < c;
            size_t i = row0 + (ok ? qt + threadIdx.x : 0);
            if (a.gated) cp_small<4>(gs + buf * BT + threadIdx.x, a.gl2 + i, ok);
            if (a.gated && threadIdx.x == 0) cp_small<8>(g0 + buf, a.gcum + row0 + qt, true);
            cp_small<4>(ms + buf * BT + threadIdx.x, a.dnp + i * a.ld1 + D, ok);
        }
    };
    issue(0);
    cp_commit();
    for (int it = 0; it < ntiles; it++) {
        const int qt = k0 + it * BT, buf = it & 1;
        if (it + 1 < ntiles) issue(it + 1);
        cp_commit();
        cp_wait<1>();
        __syncthreads();
        const float *gq = gs + buf * BT, *mq = ms + buf * BT;
        const float tab = a.gated ? (float)((g0[buf] - gk0) * LOG2E) : 0.f;
        const float kr[2] = {gj[0] - tab, gj[1] - tab}; /* (G'_j - G'_qt) log2 e */
        /* On the diagonal tile warp w's keys are seen by queries 16 w .. 63 of it; queries
         * past the chunk see nothing, nor do keys past it. */
        const int lo = wk >= c ? BT / 16 : qt == k0 ? warp : 0, hi = min(BT / 16, (c - qt + 15) / 16);
        /* At head dim 128 the tile goes in two halves of 32 queries (S and dP half as many
         * registers live beside dk and dv: no spills). */
        constexpr int NH = D >= 128 ? 2 : 1, GH = BT / 16 / NH;
#pragma unroll
        for (int h = 0; h < NH; h++) {
            const int l = max(lo, h * GH), u = min(hi, (h + 1) * GH);
            float s[BT / 8][4], dp[BT / 8][4];
            scores<D>(s, Kw, Qs + buf * BT * RS, l, u);
            scores<D>(dp, Vw, Ns + buf * BT * RS, l, u);
#pragma unroll
            for (int nt = 2 * h * GH; nt < 2 * (h + 1) * GH; nt++)
#pragma unroll
                for (int e = 0; e < 4; e++) {
                    int il = nt * 8 + 2 * t + (e & 1), j = wk + g + 8 * (e >> 1), r = e >> 1;
                    float x = s[nt][e] * a.scale, gt = a.gated ? exp2f(gq[il] - kr[r]) : 1.f;
                    float da = dp[nt][e] + mq[il];
                    bool vis = j <= qt + il && qt + il < c; /* queries past the chunk: gate factor may be inf */
                    float w = vis ? powp<P>(x) * gt : 0.f;
                    cs[r] += w * da;
                    s[nt][e] = w;
                    dp[nt][e] = vis ? da * dpowp<P>(x) * gt : 0.f;
                }
            accumulate<D>(dv, s, Ns + buf * BT * RS, l, u);
            accumulate<D>(dk, dp, Qs + buf * BT * RS, l, u);
        }
        __syncthreads();
    }
#pragma unroll
    for (int r = 0; r < 2; r++) {
        float sum = quad_sum(cs[r]);
        int j = wk + g + 8 * r;
        if (j >= c) continue;
        float *kr = a.dkc + (row0 + j) * D, *vr = a.dvp + (row0 + j) * a.ld1;
#pragma unroll
        for (int dt = 0; dt < D / 8; dt++) {
            float2 *o = reinterpret_cast<float2 *>(kr + dt * 8 + 2 * t), x = *o;
            *o = make_float2(x.x + a.scale * dk[dt][2 * r], x.y + a.scale * dk[dt][2 * r + 1]);
            o = reinterpret_cast<float2 *>(vr + dt * 8 + 2 * t), x = *o;
            *o = make_float2(x.x + dv[dt][2 * r], x.y + dv[dt][2 * r + 1]);
        }
        if (a.gated && t == 0) a.dg[row0 + j] -= sum;
    }
}

/* gl2 = (G'_row - G' at the first row of the row's 64-row tile) log2 e. */
__global__ void gate_tiles_kernel(size_t rows, int c, const double *gcum, float *gl2) {
    size_t row = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (row >= rows) return;
    size_t first = row - row % c % BT;
    gl2[row] = (float)((gcum[row] - gcum[first]) * LOG2E);
}

pi_args args_of(const pw_layout &L, float *base) {
    pi_args a = {};
    a.qc = base + L.qc;
    a.gcum = pw_doubles(base, L.gcum);
    a.gl2 = base + L.gl2;
    a.q16 = (const __nv_bfloat16 *)pw_h(base, L.q16), a.k16 = (const __nv_bfloat16 *)pw_h(base, L.k16);
    a.v16 = (const __nv_bfloat16 *)pw_h(base, L.v16), a.dn16 = (const __nv_bfloat16 *)pw_h(base, L.dn16);
    a.np = base + L.np, a.dqc = base + L.dqc, a.dkc = base + L.dkc, a.dvp = base + L.dvp, a.dg = base + L.dg;
    a.c = L.c, a.ld1 = L.ld1, a.gated = L.gated;
    a.scale = L.scale;
    return a;
}

/* Launches a kernel over (chunk, 64-row tile), raising its shared-memory limit once. */
template <int D, void (*K)(pi_args)> void launch(const pw_layout &L, const pi_args &a, bool own) {
    size_t sm = smem_bytes<D>(own);
    static bool set = [&] {
        KCU_CHECK(cudaFuncSetAttribute(K, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)sm));
        return true;
    }();
    (void)set;
    dim3 grid((unsigned)L.R, (unsigned)((L.c + BT - 1) / BT));
    K<<<grid, NTHR, sm>>>(a);
    KCU_LAUNCHED();
}

enum stage { FWD, BWD_Q, BWD_K };
template <int D, int P> void run(stage st, const pw_layout &L, const pi_args &a) {
    switch (st) {
    case FWD: launch<D, fwd_kernel<D, P>>(L, a, false); break;
    case BWD_Q: launch<D, bwd_q_kernel<D, P>>(L, a, false); break;
    default: launch<D, bwd_k_kernel<D, P>>(L, a, true); break;
    }
}
template <int D> void run_p(stage st, const pw_layout &L, const pi_args &a) {
    switch (L.p) {
    case 1: run<D, 1>(st, L, a); break;
    case 2: run<D, 2>(st, L, a); break;
    case 3: run<D, 3>(st, L, a); break;
    default: run<D, 4>(st, L, a); break;
    }
}
void run_d(stage st, const pw_layout &L, const pi_args &a) {
    kcu_by_head_dim(L.d, [&](auto D) { run_p<decltype(D)::value>(st, L, a); });
}

} // namespace

void pw_intra_keys(const pw_layout &L, float *base) {
    if (L.gated) {
        gate_tiles_kernel<<<kcu_blocks(L.rows, 256), 256>>>(L.rows, L.c, pw_doubles(base, L.gcum), base + L.gl2);
        KCU_LAUNCHED();
    }
    pw_to_bf16(L, base + L.kc, L.c, L.d, L.d, pw_h(base, L.k16), L.d, L.R);
    pw_to_bf16(L, base + L.vp, L.c, L.ld1, L.d, pw_h(base, L.v16), L.d, L.R);
}

void pw_intra_forward(const pw_layout &L, float *base) { run_d(FWD, L, args_of(L, base)); }

void pw_intra_backward(const pw_layout &L, float *base, const float *dnp) {
    pw_to_bf16(L, base + L.qc, L.c, L.d, L.d, pw_h(base, L.q16), L.d, L.R);
    pw_to_bf16(L, dnp, L.c, L.ld1, L.d, pw_h(base, L.dn16), L.d, L.R);
    pi_args a = args_of(L, base);
    a.dnp = dnp;
    run_d(BWD_Q, L, a);
    run_d(BWD_K, L, a);
}
