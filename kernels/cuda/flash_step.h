/* The online softmax step (FlashAttention-2) that both bf16 flash forwards take per key
 * (sub-)tile: flash.cu's fwd_kernel (mma.sync, 32-key sub-tiles) and flash_wg.cu's (wgmma,
 * 64-key tiles). Both hold a warp's 16 query rows of scores in mma.sync's C layout (rows g and
 * g + 8, columns 2t, 2t + 1 of each n8 tile; wgmma's accumulators repeat it over n). Private
 * to kernels/cuda/; every function is forced inline. */
#ifndef SCALELAB_KERNELS_CUDA_FLASH_STEP_H
#define SCALELAB_KERNELS_CUDA_FLASH_STEP_H

#include <cmath>

#include "kernels/cuda/mma.h"

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

#endif
