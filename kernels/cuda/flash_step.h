/* What the bf16 flash kernels share: the online softmax step (FlashAttention-2) that both
 * forwards take per key (sub-)tile, flash.cu's fwd_kernel (mma.sync, 32-key sub-tiles) and
 * flash_wg.cu's (wgmma, 64-key tiles); the forwards' last step; the backwards' dQ add; the
 * argument structs' shape. The kernels hold a warp's 16 query rows in mma.sync's C layout (rows
 * g and g + 8, columns 2t, 2t + 1 of each n8 tile; wgmma's accumulators repeat it over n).
 * Private to kernels/cuda/; every device function is forced inline. */
#ifndef SCALELAB_KERNELS_CUDA_FLASH_STEP_H
#define SCALELAB_KERNELS_CUDA_FLASH_STEP_H

#include <cmath>

#include "kernels/cuda/mma.h"
#include "kernels/cuda/plan.h"

/* The shape every flash kernel's argument struct carries (fields T, nh, nkv, group, W, B, scale):
 * flash.cu's fa_args and flash_wg*.cu's wg_args and wgb_args, filled here once from the mixer's. */
template <class A> static inline void kcu_flash_shape(A &a, const kern_mixer_shape *s) {
    a.B = s->batch, a.T = s->seq, a.nh = s->n_head, a.nkv = s->n_kv_head, a.group = a.nh / a.nkv;
    a.W = kcu_attn_window(s);
    a.scale = (float)s->scale;
}

/* log2(e) and ln(2): the flash kernels' exponentials are base 2 (ex2), their log-sum-exp natural. */
constexpr float KCU_LOG2E = 1.4426950408889634f, KCU_LN2 = 0.6931471805599453f;

/* 2^x, one MUFU.EX2 (ftz: results below 2^-126 are 0, far under bf16's resolution). */
static __device__ __forceinline__ float ex2(float x) {
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
    return y;
}

/* Scores s of the warp's rows wr .. wr + 15 against keys kh .. kh + 8 NT - 1 (raw: not yet
 * scaled): masks what a row does not see, takes each row's max, moves the running max m (log2
 * units, scaled by sl2 = scale log2(e), so scale > 0) and rescales the running sum l and the
 * output acc when some row's max moved. Returns in base what p = 2^(s sl2 - base) subtracts:
 * the new max, or 0 for a row that has seen nothing yet. Key j is visible from row i < T iff
 * i - W < j <= i; a row at or past T sees nothing. Masks run only where some (row, key) of the
 * warp's 16 x 8NT is not visible, with bounds relative to this thread's first key kh + 2t, so
 * each test compares with a constant. */
template <int NT, int NO>
static __device__ __forceinline__ void online_step(float (&s)[NT][4], int kh, int wr, int g, int t, int T, int W,
                                                   float sl2, float (&m)[2], float (&l)[2], float (&acc)[NO][4],
                                                   float (&base)[2]) {
    constexpr int KH = 8 * NT;
    if (!(kh + KH - 1 <= wr && kh > wr + 15 - W && kh + KH <= T && wr + 16 <= T)) {
        int lo[2], hi[2];
#pragma unroll
        for (int r = 0; r < 2; r++) {
            const int i = wr + g + 8 * r, j0 = kh + 2 * t;
            hi[r] = (i < T ? i : -1 - KH) - j0;
            lo[r] = i - W + 1 - j0;
        }
#pragma unroll
        for (int nt = 0; nt < NT; nt++)
#pragma unroll
            for (int c = 0; c < 4; c++) {
                const int jr = nt * 8 + (c & 1);
                if (jr > hi[c >> 1] || jr < lo[c >> 1]) s[nt][c] = -INFINITY;
            }
    }
    float mx[2] = {s[0][0], s[0][2]};
#pragma unroll
    for (int nt = 0; nt < NT; nt++) {
        mx[0] = fmaxf(mx[0], fmaxf(s[nt][0], s[nt][1]));
        mx[1] = fmaxf(mx[1], fmaxf(s[nt][2], s[nt][3]));
    }
    float alpha[2];
#pragma unroll
    for (int r = 0; r < 2; r++) {
        mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 1));
        mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 2));
        float mn = fmaxf(m[r], mx[r] * sl2);
        base[r] = mn == -INFINITY ? 0.f : mn; /* a row with nothing visible yet */
        alpha[r] = ex2(m[r] - base[r]);
        m[r] = mn;
    }
    if (__any_sync(0xffffffffu, alpha[0] != 1.f || alpha[1] != 1.f)) {
        l[0] *= alpha[0], l[1] *= alpha[1];
#pragma unroll
        for (int i = 0; i < NO; i++) {
            acc[i][0] *= alpha[0], acc[i][1] *= alpha[0];
            acc[i][2] *= alpha[1], acc[i][3] *= alpha[1];
        }
    }
}

/* One n8 tile x of scores as probabilities, rounded to a bf16 pair per row (lo: row g, hi: row
 * g + 8, the halves of an A fragment), their FP32 values added to the row sums l. */
static __device__ __forceinline__ void probs(const float (&x)[4], float sl2, float nb0, float nb1, float (&l)[2],
                                             uint32_t &lo, uint32_t &hi) {
    const float p0 = ex2(fmaf(x[0], sl2, nb0)), p1 = ex2(fmaf(x[1], sl2, nb0));
    const float p2 = ex2(fmaf(x[2], sl2, nb1)), p3 = ex2(fmaf(x[3], sl2, nb1));
    l[0] += p0 + p1;
    l[1] += p2 + p3;
    lo = pack2(p0, p1);
    hi = pack2(p2, p3);
}

/* The forward's last step for a warp's rows r0 = wr + g and r0 + 8 of batch b, head h (rows at
 * or past T are skipped): completes the row sums l over the quad, writes y = acc / l (FP32, and
 * its bf16 copy when y16 is set; layout [B, T, nh, D]) and the natural log-sum-exp ([B, nh, T]).
 * Both forwards end here. */
template <int D>
static __device__ __forceinline__ void finish_rows(const float (&acc)[D / 8][4], float (&l)[2], const float (&m)[2],
                                                   int r0, int t, int b, int h, int T, int nh, float *y,
                                                   __nv_bfloat16 *y16, float *lse) {
    const size_t ld = (size_t)nh * D;
#pragma unroll
    for (int r = 0; r < 2; r++) {
        l[r] += __shfl_xor_sync(0xffffffffu, l[r], 1);
        l[r] += __shfl_xor_sync(0xffffffffu, l[r], 2);
        const int row = r0 + 8 * r;
        if (row >= T) continue;
        const float inv = 1.f / l[r];
        const size_t yi = ((size_t)b * T + row) * ld + (size_t)h * D;
#pragma unroll
        for (int dt = 0; dt < D / 8; dt++) {
            const float2 v = make_float2(acc[dt][2 * r] * inv, acc[dt][2 * r + 1] * inv);
            *reinterpret_cast<float2 *>(y + yi + dt * 8 + 2 * t) = v;
            if (y16) *reinterpret_cast<__nv_bfloat162 *>(y16 + yi + dt * 8 + 2 * t) = __float22bfloat162_rn(v);
        }
        if (t == 0) lse[((size_t)b * nh + h) * T + row] = (m[r] + log2f(l[r])) * KCU_LN2;
    }
}

/* Adds scale x to dst, x a warp's 16 x 8N tile in mma.sync's C layout (rows r0 = base + g and
 * r0 + 8; rows at or past T are skipped), dst at row 0 of the tile's first column, row stride ld:
 * four consecutive floats per atomic (sm_90 float4 atomicAdd). Lanes t and t ^ 1 swap halves, so
 * even t holds row r0, columns 4 (t / 2) .. + 3 of each n8 tile and odd t row r0 + 8. Both
 * backwards add their dQ so. */
template <int N>
static __device__ __forceinline__ void add_tile_atomic(const float (&x)[N][4], float scale, float *dst, size_t ld,
                                                       int r0, int t, int T) {
    const int odd = t & 1, row = r0 + 8 * odd;
#pragma unroll
    for (int dt = 0; dt < N; dt++) {
        const float send0 = odd ? x[dt][0] : x[dt][2], send1 = odd ? x[dt][1] : x[dt][3];
        const float got0 = __shfl_xor_sync(0xffffffffu, send0, 1);
        const float got1 = __shfl_xor_sync(0xffffffffu, send1, 1);
        float4 v = odd ? make_float4(got0, got1, x[dt][2], x[dt][3]) : make_float4(x[dt][0], x[dt][1], got0, got1);
        v.x *= scale, v.y *= scale, v.z *= scale, v.w *= scale;
        if (row < T) atomicAdd(reinterpret_cast<float4 *>(dst + (size_t)row * ld + dt * 8 + 4 * (t >> 1)), v);
    }
}

#endif
